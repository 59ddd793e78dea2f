#!/usr/bin/env bash
# bootstrap step packages: install 8 apt packages
# phase first_boot, scope image, feature packages, hash c0d634b7ddfb29b2
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

packages=(
  build-essential
  ca-certificates
  curl
  git
  htop
  jq
  tmux
  unzip
)
apt_install "${packages[@]}"
