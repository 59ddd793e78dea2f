#!/usr/bin/env bash
# bootstrap step packages: install 7 apt packages
# phase first_boot, scope image, feature packages, hash b9e8de0903e814db
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

packages=(
  ca-certificates
  curl
  git
  htop
  jq
  tmux
  unzip
)
apt_install "${packages[@]}"
