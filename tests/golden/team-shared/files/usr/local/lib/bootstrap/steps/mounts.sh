#!/usr/bin/env bash
# bootstrap step mounts: mount /shared
# phase every_boot, scope instance, feature mounts, hash 815338fc2d3bfd38
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

# fstab_entry MOUNTPOINT LINE: exactly one fstab line for MOUNTPOINT.
fstab_entry() {
  local mountpoint=$1 line=$2
  touch /etc/fstab
  if grep -qxF -- "$line" /etc/fstab; then
    return 0
  fi
  local existing field mp
  # Plain bash, not awk: minimal images may lack it.
  while IFS= read -r existing || [ -n "$existing" ]; do
    read -r field mp _ <<<"$existing" || true
    if [ "${field:0:1}" = "#" ] || [ "$mp" != "$mountpoint" ]; then
      printf '%s\n' "$existing"
    fi
  done </etc/fstab >/etc/fstab.bootstrap
  printf '%s\n' "$line" >>/etc/fstab.bootstrap
  mv -f /etc/fstab.bootstrap /etc/fstab
  log "fstab: $line"
}

# mount_point MOUNTPOINT: create it, unless a machine user could redirect it (mount, chown and chmod
# follow links: a home folder's data/ swapped for a link to /etc would put the disk over /etc).
mount_point() {
  root_only "$1" \
    || die "refusing to mount on $1: $UNSAFE_DIR can be changed by a user other than root; mount it where only root can change the folders on the way (not in a home folder, a scratch folder every user may write, or a mount that a user owns or may write; e.g. under /mnt) and link to it from there"
  mkdir -p -- "$1"
}

# finish MOUNTPOINT OWNER MODE: owner and mode of the mounted filesystem's root.
finish() {
  [ -z "$2" ] || chown "$2" "$1"
  [ -z "$3" ] || chmod "$3" "$1"
}

# mount_block MOUNTPOINT DEVICE FS FORMAT WAIT OPTIONS OWNER MODE
mount_block() {
  local mountpoint=$1 device=$2 fs=$3 format=$4 wait=$5 options=$6 owner=$7 mode=$8 waited=0 existing uuid source
  while [ ! -e "$device" ]; do
    if [ "$waited" -ge "$wait" ]; then
      case "$device" in
        /dev/disk/by-label/* | /dev/disk/by-uuid/*)
          die "$device did not appear within ${wait}s: no attached disk holds a filesystem of that label or UUID (a new, blank disk has neither, so format: cannot find it: label it once, e.g. mkfs.$fs -L NAME, or in a command with before: [mounts]; or name the disk by its id: ebs_volume_id, gce_disk or path)" ;;
        *) die "$device did not attach within ${wait}s (is the disk attached to this instance?)" ;;
      esac
    fi
    [ "$waited" -gt 0 ] || log "waiting up to ${wait}s for $device"
    sleep 2
    waited=$((waited + 2))
  done
  existing=$(blkid -o value -s TYPE "$device" 2>/dev/null || true)
  if [ -z "$existing" ]; then
    [ "$format" = yes ] || die "$device holds no filesystem and format is off"
    log "$device holds no filesystem: creating $fs"
    "mkfs.$fs" "$device"
  elif [ "$existing" != "$fs" ]; then
    log "$device already holds $existing (profile says $fs): using it as it is, never reformatting"
    fs=$existing
  else
    log "$device already holds $fs: keeping its data"
  fi
  uuid=$(blkid -o value -s UUID "$device" 2>/dev/null || true)
  source=$device
  if [ -n "$uuid" ]; then
    source="UUID=$uuid"  # stable whatever name the kernel gives the disk next time
  fi
  mount_point "$mountpoint"
  fstab_entry "$mountpoint" "$source $mountpoint $fs $options 0 2"
  mountpoint -q "$mountpoint" || mount "$mountpoint"
  finish "$mountpoint" "$owner" "$mode"
}

# mount_nfs MOUNTPOINT SOURCE OPTIONS OWNER MODE
mount_nfs() {
  mount_point "$1"
  fstab_entry "$1" "$2 $1 nfs4 $3 0 0"
  if ! mountpoint -q "$1"; then
    log "mounting $2 on $1 (waiting up to 90s)"
    timeout 90 mount "$1" || die "could not mount $2 on $1 within 90s"
  fi
  finish "$1" "$4" "$5"
}

# imds PATH: a value from EC2's instance metadata service (IMDSv2), e.g. meta-data/placement/region.
imds() {
  local imds_token
  imds_token=$(retry curl --fail --silent --show-error --connect-timeout 2 --max-time 5 -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token) || return 1
  imds_token="X-aws-ec2-metadata-token: $imds_token"
  retry curl_auth imds_token --fail --silent --show-error --connect-timeout 2 --max-time 5 \
    "http://169.254.169.254/latest/$1"
}

# fuse_ids OWNER: the FUSE tools' --uid/--gid for OWNER (user or user:group), numbers of this machine;
# none for root, whom the service runs as.
fuse_ids() {
  local user=${1%%:*} group uid gid
  group=${1#*:}
  [ -n "$1" ] || return 0
  uid=$(id -u -- "$user") || die "mount owner $user does not exist"
  if [ "$group" = "$1" ]; then
    gid=$(id -g -- "$user")
  else
    gid=$(getent group "$group" | cut -d: -f3)
    [ -n "$gid" ] || die "mount group $group does not exist"
  fi
  [ "$uid" = 0 ] || printf ' --uid %s' "$uid"
  [ "$gid" = 0 ] || printf ' --gid %s' "$gid"
}

# mount_fuse UNIT MOUNTPOINT COMMAND BUCKET OWNER: a FUSE mount as a service that cannot hang the boot;
# its files get OWNER's ids (their mode is in COMMAND).
mount_fuse() {
  local unit=$1 mountpoint=$2 command waited=0
  command="$3$(fuse_ids "$5") $4 $mountpoint"
  mount_point "$mountpoint"
  write_file "/etc/systemd/system/$unit.service" 0644 root:root "[Unit]
Description=bootstrap mount $mountpoint
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=$command
ExecStop=/bin/umount $mountpoint
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
"
  systemctl daemon-reload
  systemctl enable --now "$unit.service"
  mountpoint -q "$mountpoint" || log "waiting up to 60s for $unit.service to mount $mountpoint"
  until mountpoint -q "$mountpoint"; do
    [ "$waited" -lt 60 ] || die "$mountpoint is not mounted 60s after starting $unit.service (journalctl -u $unit)"
    sleep 2
    waited=$((waited + 2))
  done
}

region=$(imds meta-data/placement/region) || die "cannot tell the AWS region for EFS fs-0123456789abcdef0: set region: in the profile"
mount_nfs /shared fs-0123456789abcdef0".efs.$region.amazonaws.com:/" nfsvers=4.1,_netdev,nofail,x-systemd.mount-timeout=60s,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,nosuid,nodev root:team 2775
