#!/usr/bin/env bash
# bootstrap step ssh-keys: authorize SSH keys for 2 accounts
# phase first_boot, scope instance, feature users, hash 1f5eb21208cf68bf
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

# _authorize HOME KEY...: add each key to HOME/.ssh/authorized_keys, keeping keys already there.
_authorize() {
  local home=$1 keys key
  shift
  umask 077
  keys=$home/.ssh/authorized_keys
  mkdir -p -- "$home/.ssh"
  chmod 0700 -- "$home/.ssh"
  touch -- "$keys"
  for key in "$@"; do
    grep -qxF -- "$key" "$keys" || printf '%s\n' "$key" >>"$keys"
  done
  chmod 0600 -- "$keys"
}

# authorize NAME KEY...: as NAME, never as root: the home folder and everything in it is theirs
# to change, links included, so root must not write there.
authorize() {
  local name=$1 home
  shift
  home=$(getent passwd "$name" | cut -d: -f6)
  [ -n "$home" ] || die "user $name does not exist"
  as_user "$name" bash -c "set -euo pipefail; $(declare -f _authorize); _authorize \"\$@\"" _authorize "$home" "$@" \
    || die "could not update $home/.ssh/authorized_keys as $name (does $home exist and belong to $name?)"
}

authorize alice \
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlicePublicKeyExampleOnlyReplaceMe0000 alice@example'
authorize bob \
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBobPublicKeyExampleOnlyReplaceMe00000 bob@example'
