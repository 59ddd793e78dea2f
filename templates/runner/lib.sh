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

# write_file PATH MODE OWNER CONTENT: write atomically, only when something differs.
write_file() {
  local path=$1 mode=$2 owner=$3 content=$4 tmp
  mkdir -p -- "$(dirname -- "$path")"
  if [ -f "$path" ] && [ "$(cat -- "$path"; printf x)" = "${content}x" ]; then
    chmod -- "$mode" "$path"
    chown -- "$owner" "$path"
    return 0
  fi
  tmp=$(mktemp -- "$path.bootstrap.XXXXXX")
  printf '%s' "$content" >"$tmp"
  chmod -- "$mode" "$tmp"
  chown -- "$owner" "$tmp"
  mv -f -- "$tmp" "$path"
  log "wrote $path"
}

# write_file_b64 PATH MODE OWNER BASE64: the same for binary content.
write_file_b64() {
  local path=$1 mode=$2 owner=$3 tmp
  mkdir -p -- "$(dirname -- "$path")"
  tmp=$(mktemp -- "$path.bootstrap.XXXXXX")
  printf '%s' "$4" | base64 -d >"$tmp"
  if [ -f "$path" ] && cmp -s -- "$tmp" "$path"; then
    rm -f -- "$tmp"
  else
    mv -f -- "$tmp" "$path"
    log "wrote $path"
  fi
  chmod -- "$mode" "$path"
  chown -- "$owner" "$path"
}

# ensure_line FILE LINE: append LINE unless FILE already has it (exact match).
ensure_line() {
  local file=$1 line=$2
  touch -- "$file"
  if ! grep -qxF -- "$line" "$file"; then
    printf '%s\n' "$line" >>"$file"
  fi
}
