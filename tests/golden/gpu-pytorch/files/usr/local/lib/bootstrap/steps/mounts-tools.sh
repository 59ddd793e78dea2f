#!/usr/bin/env bash
# bootstrap step mounts-tools: install mount tools
# phase first_boot, scope image, feature mounts, hash 20d2784978a0ec1d
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh


