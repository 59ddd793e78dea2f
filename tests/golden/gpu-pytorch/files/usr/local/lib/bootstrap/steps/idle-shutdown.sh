#!/usr/bin/env bash
# bootstrap step idle-shutdown: power off after 60 idle minutes
# phase every_boot, scope instance, feature idle_shutdown, hash 98d78980e36c698c
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

write_file /usr/local/lib/bootstrap/idle-check 0755 root:root '#!/bin/bash
# bootstrap idle check: run every minute by bootstrap-idle.timer. Powers off when idle too long.
set -euo pipefail
AFTER_SECONDS=3600
GPU_THRESHOLD=5
STATE=/run/bootstrap/idle-since  # on /run: the clock restarts at every boot
install -d -m 0711 /run/bootstrap  # as the runner makes it: root'"'"'s, traversable for secrets/
now=$(date +%s)

note() {
  printf '"'"'%s\n'"'"' "$*"
  logger -t bootstrap-idle -- "$*" 2>/dev/null || true
}

activity=""
sessions=$(ss -Htn state established '"'"'( sport = :22 )'"'"' 2>/dev/null | wc -l)
[ "$sessions" -eq 0 ] || activity+="ssh sessions: $sessions; "
kernels=$(pgrep -fc '"'"'ipykernel_launcher|ipykernel '"'"' 2>/dev/null || true)
[ "${kernels:-0}" -eq 0 ] || activity+="jupyter kernels: $kernels; "
if command -v nvidia-smi >/dev/null 2>&1; then
  # No driver, or a broken one (which can hang: bounded), means no GPU activity: never a reason to fail.
  busiest=$(timeout 30 nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits 2>/dev/null | sort -n | tail -n 1) \
    || busiest=""
  if [ -n "$busiest" ] && [ "$busiest" -gt "$GPU_THRESHOLD" ]; then
    activity+="gpu utilisation: ${busiest}%; "
  fi
fi

if [ -n "$activity" ] || [ ! -s "$STATE" ]; then
  printf '"'"'%s\n'"'"' "$now" >"$STATE"
  note "active (${activity:-boot}); idle clock reset"
  exit 0
fi
idle=$((now - $(cat "$STATE")))
if [ "$idle" -ge "$AFTER_SECONDS" ]; then
  note "idle for ${idle}s (limit ${AFTER_SECONDS}s): powering off"
  systemctl poweroff
else
  note "idle for ${idle}s of ${AFTER_SECONDS}s"
fi
'
write_file /etc/systemd/system/bootstrap-idle.service 0644 root:root '[Unit]
Description=bootstrap: power off when idle

[Service]
Type=oneshot
ExecStart=/usr/local/lib/bootstrap/idle-check
'
write_file /etc/systemd/system/bootstrap-idle.timer 0644 root:root '[Unit]
Description=bootstrap: check for idleness every minute

[Timer]
OnBootSec=5min
OnUnitActiveSec=1min

[Install]
WantedBy=timers.target
'
systemctl daemon-reload
systemctl enable --now bootstrap-idle.timer
