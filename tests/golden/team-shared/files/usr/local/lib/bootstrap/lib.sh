# shellcheck shell=bash
# comments removed; the commented source is bootstrap's templates/runner/lib.sh.j2

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8
export PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
if [ -r /etc/profile.d/bootstrap-env.sh ]; then
  # shellcheck source=/dev/null
  . /etc/profile.d/bootstrap-env.sh
fi

BOOTSTRAP_APT_LOCK_TIMEOUT=${BOOTSTRAP_APT_LOCK_TIMEOUT:-900}
BOOTSTRAP_RETRIES=${BOOTSTRAP_RETRIES:-5}
BOOTSTRAP_RETRY_DELAY=${BOOTSTRAP_RETRY_DELAY:-2}

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

owner_mode() {
  stat -c 'owner uid %u, mode %a' -- "$1" 2>/dev/null || echo 'not there yet'
}

retry() {
  local attempt=1 delay=$BOOTSTRAP_RETRY_DELAY rc
  while true; do
    if "$@"; then
      return 0
    else
      rc=$?
    fi
    if [ "$attempt" -ge "$BOOTSTRAP_RETRIES" ]; then
      log "giving up after $attempt attempts (exit $rc): $(redacted "$@")" >&2
      return "$rc"
    fi
    log "attempt $attempt failed (exit $rc), retrying in ${delay}s: $(redacted "$@")" >&2
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done
}

redacted() {
  local secret='[a-z0-9_.-]*(auth|token|secret|passw|credential|cookie|key|signature)[a-z0-9_.-]*'
  printf '%s\n' "$@" | sed -E "/^-(u|-user|-proxy-user|-$secret)\$/I{
n
s/.*/[redacted]/
b
}
s/^(-*$secret)(: ?|=).*/\\1\\3[redacted]/I
s#^([a-z][a-z0-9+.-]*://[^/:@]*:)[^/@]*@#\\1[redacted]@#I
s/([?&](sig|$secret)=)[^&]*/\\1[redacted]/Ig" | paste -sd ' '
}

_apt() {
  apt-get -o "DPkg::Lock::Timeout=$BOOTSTRAP_APT_LOCK_TIMEOUT" -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold -y "$@"
}

apt_update() {
  local marker=/run/bootstrap/apt-updated
  if [ -e "$marker" ]; then
    return 0
  fi
  retry _apt update
  mkdir -p /run/bootstrap && touch "$marker"
}

apt_sources_changed() {
  rm -f /run/bootstrap/apt-updated
}

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

work_dir() {
  local made
  made=$(mktemp -d /var/lib/bootstrap/work.XXXXXXXX)
  BOOTSTRAP_WORK_DIRS+=("$made")
  trap 'rm -rf -- "${BOOTSTRAP_WORK_DIRS[@]}"' EXIT
  printf -v "$1" '%s' "$made"
}

fetch() {
  local url=$1 dest=$2
  retry curl --fail --silent --show-error --location --connect-timeout 10 --output "$dest.part" -- "$url"
  mv -f -- "$dest.part" "$dest"
}

curl_auth() {
  curl -H @- "${@:2}" <<<"${!1}"
}


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
      [ "$kind" = root ] && return 0
      UNSAFE_DIR=$dir
      return 1
    fi
    uid=${info% *}
    mode=$((16#${info#* }))
    if [ "$kind" = sticky ] && [ "$uid" != 0 ]; then
      UNSAFE_DIR=$path
      return 1
    fi
    if [ $((mode & 8#170000)) -eq $((8#120000)) ]; then
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

_put() {
  local path=$1 mode=$2 owner=$3 tmp
  (umask 022 && mkdir -p -- "$(dirname -- "$path")")
  rm -f -- "$path".bootstrap.??????
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

as_user() {
  local user=$1 dir rc=0
  shift
  work_dir dir
  timeout -k 5 "${BOOTSTRAP_USER_TIMEOUT:=300}" setpriv --reuid="$user" --regid="$(id -g -- "$user")" --init-groups -- \
    "$@" >"$dir/out" 2>&1 || rc=$?
  cat -- "$dir/out"
  [ "$rc" != 124 ] || log "gave up after ${BOOTSTRAP_USER_TIMEOUT}s on a command run as $user"
  return "$rc"
}

put_file() {
  local path=$1 user=${3%%:*}
  if root_only "$path"; then
    _put "$@"
    return
  fi
  if [ "$(id -u -- "$user" 2>/dev/null)" = 0 ]; then
    die "refusing to write $path as root: $UNSAFE_DIR is not root's alone ($(owner_mode "$UNSAFE_DIR")): a user could put a link there; give the file an owner who may write there, or write it elsewhere"
  fi
  log "writing $path as $user: $UNSAFE_DIR is not root's alone"
  as_user "$user" bash -c "set -euo pipefail; $(declare -f _put log); _put \"\$@\"" _put "$@"
}

write_file() {
  printf '%s' "$4" | put_file "$1" "$2" "$3"
}

write_file_b64() {
  printf '%s' "$4" | base64 -d | put_file "$1" "$2" "$3"
}
