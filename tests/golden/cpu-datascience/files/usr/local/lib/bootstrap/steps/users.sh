#!/usr/bin/env bash
# bootstrap step users: create 1 account
# phase first_boot, scope image, feature users, hash cc46b5b08a175718
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

ensure_group() {
  getent group "$1" >/dev/null || groupadd "$1"
}

# ensure_user NAME SHELL UID SUDO GROUP...
ensure_user() {
  local name=$1 shell=$2 uid=$3 sudo=$4 group
  shift 4
  for group in "$@"; do
    ensure_group "$group"
  done
  local holder
  if [ -n "$uid" ] && holder=$(getent passwd "$uid" | cut -d: -f1) && [ -n "$holder" ] && [ "$holder" != "$name" ]; then
    die "user $name: uid $uid is taken by $holder (made before this step: a cloud's default user, or the image's); give $name another uid in the profile"
  fi
  if getent passwd "$name" >/dev/null && [ -n "$uid" ] && [ "$(id -u "$name")" != "$uid" ]; then
    die "user $name exists with uid $(id -u "$name"), not the profile's $uid; bootstrap does not renumber an account (its files would keep the old owner)"
  fi
  if ! getent passwd "$name" >/dev/null; then
    local args=(--create-home --shell "$shell")
    [ -z "$uid" ] || args+=(--uid "$uid")
    useradd "${args[@]}" "$name"
    log "created user $name"
  elif [ "$(getent passwd "$name" | cut -d: -f7)" != "$shell" ]; then
    usermod --shell "$shell" "$name"
  fi
  for group in "$@"; do
    id -nG "$name" | tr ' ' '\n' | grep -qxF -- "$group" || usermod -a -G "$group" "$name"
  done
  local sudoers="/etc/sudoers.d/90-bootstrap-$name"
  if [ "$sudo" = yes ]; then
    write_file "$sudoers" 0440 root:root "$name ALL=(ALL) NOPASSWD:ALL
"
  elif [ -e "$sudoers" ]; then
    rm -f -- "$sudoers"
  fi
}

ensure_user scientist /bin/bash '' yes users
