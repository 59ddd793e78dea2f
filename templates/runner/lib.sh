# shellcheck shell=bash
# bootstrap step library: sourced by every step. Helpers only; nothing runs on load except
# the environment setup below.

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8
# Keep the caller's PATH first (cloud-init and GCE give a sane one); make sure the system dirs are there.
export PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Profile env vars are visible to steps, as they are to login shells.
if [ -r /etc/profile.d/bootstrap-env.sh ]; then
  # shellcheck source=/dev/null
  . /etc/profile.d/bootstrap-env.sh
fi

# apt waits this long for a lock held by unattended-upgrades or cloud-init (seconds).
BOOTSTRAP_APT_LOCK_TIMEOUT=${BOOTSTRAP_APT_LOCK_TIMEOUT:-900}
BOOTSTRAP_RETRIES=${BOOTSTRAP_RETRIES:-5}
BOOTSTRAP_RETRY_DELAY=${BOOTSTRAP_RETRY_DELAY:-2} # seconds before the first retry; doubles each time

log() {
  printf '%s\n' "$*"
  if command -v logger >/dev/null 2>&1; then
    logger -t bootstrap -- "${BOOTSTRAP_STEP:-lib}: $*" 2>/dev/null || true
  fi
}

die() {
  log "error: $*" >&2
  exit 1
}

# retry CMD...: run CMD up to $BOOTSTRAP_RETRIES times with exponential backoff (network, locks).
retry() {
  local attempt=1 delay=$BOOTSTRAP_RETRY_DELAY rc
  while true; do
    if "$@"; then
      return 0
    else
      rc=$?
    fi
    if [ "$attempt" -ge "$BOOTSTRAP_RETRIES" ]; then
      log "giving up after $attempt attempts (exit $rc): $*"
      return "$rc"
    fi
    log "attempt $attempt failed (exit $rc), retrying in ${delay}s: $*"
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done
}

_apt() {
  apt-get -o "DPkg::Lock::Timeout=$BOOTSTRAP_APT_LOCK_TIMEOUT" -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold -y "$@"
}

# apt_update: refresh package lists once per boot (the marker lives on /run, a tmpfs).
apt_update() {
  local marker=/run/bootstrap/apt-updated
  if [ -e "$marker" ]; then
    return 0
  fi
  retry _apt update
  mkdir -p /run/bootstrap && touch "$marker"
}

# pkg_installed NAME[=VERSION]: true when installed (at that version, when one is given).
pkg_installed() {
  local name=${1%%=*} want="" status version
  case "$1" in *=*) want=${1#*=} ;; esac
  status=$(dpkg-query -W -f='${Status}' "$name" 2>/dev/null) || return 1
  [ "$status" = "install ok installed" ] || return 1
  if [ -n "$want" ]; then
    version=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null) || return 1
    [ "$version" = "$want" ] || return 1
  fi
  return 0
}

# apt_install PKG...: install what is missing; nothing (and no network) when all are present.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    pkg_installed "$pkg" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "packages already installed: $*"
    return 0
  fi
  apt_update
  log "installing: ${missing[*]}"
  retry _apt install --no-install-recommends -- "${missing[@]}"
}

# fetch URL DEST: download with retries and backoff.
fetch() {
  local url=$1 dest=$2
  retry curl --fail --silent --show-error --location --connect-timeout 10 --output "$dest.part" -- "$url"
  mv -f -- "$dest.part" "$dest"
}

# -- writing where machine users can reach ---------------------------------------------------
# The runner is root; a machine user controls their home. Root must never write, chown or chmod
# through a path such a user can change (a link at ~/.ssh/authorized_keys pointing at
# /etc/shadow, ~/.config replaced by a link to /etc). root_only tells whether a path is reached
# through folders only root can change; where it is not, the write runs as the file's owner, with
# that user's rights only, and a file meant for root there is refused.

# root_only PATH: true when every folder on the way to PATH is owned by root and writable by no
# one else, links are followed only where they sit in such folders (their target is checked the
# same way), and a missing part would be created by root in such a folder (not in a shared sticky
# folder like /tmp, where another user could plant it first). Otherwise sets UNSAFE_DIR.
root_only() {
  local rest=${1#/} dir=/ kind=root part path info uid mode hops=0 target
  UNSAFE_DIR=""
  while [ -n "$rest" ]; do
    part=${rest%%/*}
    if [ "$part" = "$rest" ]; then rest=""; else rest=${rest#*/}; fi
    case "$part" in "" | .) continue ;; esac
    if [ "$kind" = user ]; then
      UNSAFE_DIR=$dir
      return 1
    fi
    if [ "$part" = .. ]; then
      dir=${dir%/*}
      dir=${dir:-/}
      path=$dir
    else
      path=${dir%/}/$part
    fi
    if ! info=$(stat -c '%u %f' -- "$path" 2>/dev/null); then
      [ "$kind" = root ] && return 0 # root creates the rest, in a folder only root can change
      UNSAFE_DIR=$dir
      return 1
    fi
    uid=${info% *}
    mode=$((16#${info#* }))
    if [ "$kind" = sticky ] && [ "$uid" != 0 ]; then
      UNSAFE_DIR=$path
      return 1
    fi
    if [ $((mode & 8#170000)) -eq $((8#120000)) ]; then # a link only root could place: check its target
      hops=$((hops + 1))
      if [ "$hops" -gt 40 ]; then
        UNSAFE_DIR=$path
        return 1
      fi
      target=$(readlink -- "$path")
      case "$target" in /*) dir=/ kind=root ;; esac
      rest=${target#/}${rest:+/$rest}
      continue
    fi
    dir=$path
    if [ "$uid" != 0 ]; then
      kind=user
    elif [ $((mode & 8#022)) -eq 0 ]; then
      kind=root
    elif [ $((mode & 8#1000)) -ne 0 ]; then
      kind=sticky
    else
      kind=user
    fi
  done
  return 0
}

# _put PATH MODE OWNER: standard input into PATH, atomically, only when it differs; then mode and owner.
_put() {
  local path=$1 mode=$2 owner=$3 tmp
  mkdir -p -- "$(dirname -- "$path")"
  tmp=$(mktemp -- "$path.bootstrap.XXXXXX")
  cat >"$tmp"
  if [ -f "$path" ] && [ ! -L "$path" ] && cmp -s -- "$tmp" "$path"; then
    rm -f -- "$tmp"
  else
    chmod -- "$mode" "$tmp"
    chown -- "$owner" "$tmp"
    mv -f -- "$tmp" "$path"
    log "wrote $path"
  fi
  chmod -- "$mode" "$path"
  chown -- "$owner" "$path"
}

# as_user USER CMD...: CMD with USER's uid, primary group and groups, nothing of root's.
as_user() {
  local user=$1
  shift
  setpriv --reuid="$user" --regid="$(id -g -- "$user")" --init-groups -- "$@"
}

# put_file PATH MODE OWNER: standard input into PATH as root where only root can change the way
# there, else as OWNER's user; refused when a user could redirect a file that root should own.
put_file() {
  local path=$1 user=${3%%:*}
  if root_only "$path"; then
    _put "$@"
    return
  fi
  if [ "$(id -u -- "$user" 2>/dev/null)" = 0 ]; then
    die "refusing to write $path as root: $UNSAFE_DIR can be changed by uid $(stat -c %u -- "$UNSAFE_DIR" 2>/dev/null || echo '?'), not only root"
  fi
  log "writing $path as $user: $UNSAFE_DIR is not root's alone"
  as_user "$user" bash -c "set -euo pipefail; $(declare -f _put log); _put \"\$@\"" _put "$@"
}

# write_file PATH MODE OWNER CONTENT: write atomically, only when something differs.
write_file() {
  printf '%s' "$4" | put_file "$1" "$2" "$3"
}

# write_file_b64 PATH MODE OWNER BASE64: the same for binary content.
write_file_b64() {
  printf '%s' "$4" | base64 -d | put_file "$1" "$2" "$3"
}
