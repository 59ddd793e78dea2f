#!/usr/bin/env bash
# bootstrap seal: after a bake, make this disk a clean image and power off. Runs from a unit
# ordered after the boot's scripts, so cloud-init's own bookkeeping is complete before it is
# wiped. Baked-step markers under /var/lib/bootstrap/image stay: instances skip those steps.
# BOOTSTRAP_SEAL_POWEROFF=no: seal only (an outside image builder stops the machine itself).
set -euo pipefail
STATE_DIR=/var/lib/bootstrap

echo "bootstrap: sealing the image" | tee /dev/console 2>/dev/null || true
if command -v cloud-init >/dev/null 2>&1; then
  timeout 600 cloud-init status --wait >/dev/null 2>&1 || true
fi
rm -rf "$STATE_DIR/instances" "$STATE_DIR/status.json" "$STATE_DIR/status.json.tmp" /var/log/bootstrap.log
if command -v cloud-init >/dev/null 2>&1; then
  cloud-init clean --logs # the next boot is a new instance for cloud-init too
fi
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
: >/etc/machine-id # empty, not absent: systemd makes a new one on the next boot
if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then
  rm -f /var/lib/dbus/machine-id
fi
if command -v apt-get >/dev/null 2>&1; then
  apt-get clean
fi
sync
printf 'BOOTSTRAP-RESULT sealed -\n' >/dev/console 2>/dev/null || true
if [ "${BOOTSTRAP_SEAL_POWEROFF:-yes}" = no ]; then
  exit 0
fi
if command -v systemctl >/dev/null 2>&1; then systemctl poweroff; else poweroff; fi
