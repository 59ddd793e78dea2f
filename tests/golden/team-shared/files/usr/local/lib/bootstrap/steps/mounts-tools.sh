#!/usr/bin/env bash
# bootstrap step mounts-tools: install mount tools
# phase first_boot, scope image, feature mounts, hash 42959d82be79695d
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

apt_install nfs-common
