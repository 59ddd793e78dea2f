#!/bin/bash
# Verify the nvidia feature on a real GPU machine (no network needed there).
# Here:  bootstrap render tests/device/gpu-verify.yaml --target bash -o tests/device/gpu-verify.sh
#        bootstrap render tests/device/gpu-mismatch.yaml --target bash -o tests/device/gpu-mismatch.sh
# There: bash tests/device/run.sh   (as root; writes results to $OUT when set)
set -u
out=${OUT:-/tmp/gpu-verify}
mkdir -p "$out"
here=$(dirname "$0")
uname -a; nvidia-smi -L; command -v lspci || echo "no lspci"; grep PRETTY_NAME /etc/os-release
echo "=== boot 1: driver 580 and CUDA 13.0 asked"
BOOTSTRAP_INSTANCE_ID=verify-1 bash "$here/gpu-verify.sh"; echo "rc=$?"
cp /var/lib/bootstrap/status.json "$out/status-boot1.json"
rm -rf /run/bootstrap # what a reboot clears
echo "=== boot 2: every-boot steps only"
BOOTSTRAP_INSTANCE_ID=verify-1 /usr/local/lib/bootstrap/runner boot; echo "rc=$?"
cp /var/lib/bootstrap/status.json "$out/status-boot2.json"
echo "=== another instance asking for branch 550: must try to install (and fail offline)"
BOOTSTRAP_INSTANCE_ID=mismatch-1 BOOTSTRAP_RETRIES=2 BOOTSTRAP_RETRY_DELAY=1 bash "$here/gpu-mismatch.sh"; echo "rc=$?"
cp /var/log/bootstrap.log "$out/bootstrap.log"
