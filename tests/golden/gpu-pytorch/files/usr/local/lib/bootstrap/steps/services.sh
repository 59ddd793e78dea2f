#!/usr/bin/env bash
# bootstrap step services: run service jupyter
# phase every_boot, scope instance, feature services, hash d322909a524a92f8
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

# start_service NAME SCRIPT UNIT: write both, reload systemd when they changed, (re)start.
# The unit is not enabled: this step starts it every boot, in the profile's order, once what it
# needs (secrets on /run, mounts, commands) is there. One an earlier bootstrap enabled is disabled.
start_service() {
  local name=$1 script=$2 unit=$3 services_dir=/usr/local/lib/bootstrap/services before after
  before=$(cat "$services_dir/$name.sh" "/etc/systemd/system/$name.service" 2>/dev/null || true)
  write_file "$services_dir/$name.sh" 0755 root:root "$script"
  write_file "/etc/systemd/system/$name.service" 0644 root:root "$unit"
  after=$(cat "$services_dir/$name.sh" "/etc/systemd/system/$name.service")
  if compgen -G "/etc/systemd/system/*.wants/$name.service" >/dev/null; then
    rm -f /etc/systemd/system/*.wants/"$name.service"
    before=enabled
    log "service $name: no longer enabled at power-on; this step starts it"
  fi
  if [ "$before" != "$after" ]; then
    systemctl daemon-reload
    systemctl restart "$name.service"
    log "service $name: (re)started with its new definition"
  else
    systemctl start "$name.service"
  fi
}

start_service jupyter '#!/bin/bash
# Written by bootstrap: the profile'"'"'s service command.
if [ -r /etc/profile.d/bootstrap-env.sh ]; then . /etc/profile.d/bootstrap-env.sh; fi
JUPYTER_TOKEN="$(cat /run/bootstrap/secrets/jupyter-token)" || { echo "no token at "/run/bootstrap/secrets/jupyter-token": the secrets step has not run this boot" >&2; exit 1; }
[ -n "$JUPYTER_TOKEN" ] || { echo "the token at "/run/bootstrap/secrets/jupyter-token" is empty" >&2; exit 1; }
export JUPYTER_TOKEN
exec /opt/conda/envs/ds/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=8888 --ServerApp.root_dir=/data
' '[Unit]
Description=bootstrap service jupyter
Wants=network-online.target
After=network-online.target local-fs.target remote-fs.target

[Service]
User=scientist
ExecStart=/usr/local/lib/bootstrap/services/jupyter.sh
Restart=always
RestartSec=5
'
