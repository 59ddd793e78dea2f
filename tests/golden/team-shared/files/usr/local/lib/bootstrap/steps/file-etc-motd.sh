#!/usr/bin/env bash
# bootstrap step file-etc-motd: write /etc/motd
# phase first_boot, scope image, feature files, hash 2c84dcc819078036
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

write_file /etc/motd 0644 root:root 'This machine is configured by bootstrap. Log: /var/log/bootstrap.log
Status: /var/lib/bootstrap/status.json (sudo /usr/local/lib/bootstrap/runner status)
'
