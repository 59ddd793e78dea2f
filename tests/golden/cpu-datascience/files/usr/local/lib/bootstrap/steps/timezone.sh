#!/usr/bin/env bash
# bootstrap step timezone: set time zone UTC
# phase first_boot, scope image, feature timezone, hash 0cc033e671cb6ba4
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

tz=UTC
if [ ! -e "/usr/share/zoneinfo/$tz" ]; then
  apt_install tzdata
fi
[ -e "/usr/share/zoneinfo/$tz" ] || die "unknown time zone $tz (no /usr/share/zoneinfo/$tz)"
if [ "$(readlink /etc/localtime 2>/dev/null || true)" != "/usr/share/zoneinfo/$tz" ]; then
  ln -sfn "/usr/share/zoneinfo/$tz" /etc/localtime
  log "time zone set to $tz"
fi
printf '%s\n' "$tz" >/etc/timezone
