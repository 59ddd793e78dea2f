#!/usr/bin/env bash
# bootstrap step nvidia-install: install NVIDIA driver 580, CUDA 13.0
# phase first_boot, scope image, feature nvidia, hash 332fc03cd569c008
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

NVIDIA_BRANCH=580
CUDA_VERSION=13.0
CUDA_PACKAGE=cuda-toolkit-13-0

# has_gpu: an NVIDIA display/3D controller on the PCI bus (or a driver that already sees one).
has_gpu() {
  if command -v lspci >/dev/null 2>&1 && lspci -d 10de: -n 2>/dev/null | grep -Eq ' 03(00|02): '; then
    return 0
  fi
  [ -n "$(ls -A /proc/driver/nvidia/gpus 2>/dev/null)" ]
}

driver_version() {
  nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1
}

# driver_ok: a working driver of the requested branch, however it was installed.
driver_ok() {
  local version
  version=$(driver_version) || return 1
  [ "${version%%.*}" = "$NVIDIA_BRANCH" ]
}

cuda_ok() {
  [ -z "$CUDA_VERSION" ] && return 0
  [ -x "/usr/local/cuda-$CUDA_VERSION/bin/nvcc" ] && return 0
  command -v nvcc >/dev/null 2>&1 && nvcc --version 2>/dev/null | grep -q "release $CUDA_VERSION," && return 0
  pkg_installed "$CUDA_PACKAGE"
}

secure_boot_enabled() {
  command -v mokutil >/dev/null 2>&1 && mokutil --sb-state 2>/dev/null | grep -q 'SecureBoot enabled'
}

cuda_repository() {
  local id version
  id=$(. /etc/os-release && printf '%s' "$ID")
  version=$(. /etc/os-release && printf '%s' "$VERSION_ID")
  case "$id$version" in
    ubuntu22.04) echo ubuntu2204 ;;
    ubuntu24.04) echo ubuntu2404 ;;
    debian12) echo debian12 ;;
    *) return 1 ;;
  esac
}

keyring_sha256() {
  case "$1" in
    ubuntu2404) echo d2a6b11c096396d868758b86dab1823b25e14d70333f1dfa74da5ddaf6a06dba ;;
    *) echo "" ;;
  esac
}

# enable_debian_contrib: NVIDIA's Debian packages depend on packages from the contrib component.
enable_debian_contrib() {
  if grep -rqsE '^[^#]*[[:space:]]contrib([[:space:]]|$)|^Components:.*[[:space:]]contrib([[:space:]]|$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return 0
  fi
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -E 's/^Components:.*/Components: contrib/' /etc/apt/sources.list.d/debian.sources \
      >/etc/apt/sources.list.d/bootstrap-contrib.sources
  elif [ -f /etc/apt/sources.list ]; then
    sed -nE 's/^(deb(-src)?[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+[^[:space:]]+)[[:space:]]+main.*/\1 contrib/p' \
      /etc/apt/sources.list >/etc/apt/sources.list.d/bootstrap-contrib.list
  else
    die "Debian: cannot find the apt sources to enable the contrib component NVIDIA's packages need"
  fi
  apt_sources_changed
  log "enabled Debian's contrib component (NVIDIA's packages need it)"
}

# nvidia_install: repository, kernel headers, driver, toolkit. Returns 194 (reboot) when the new
# module cannot be loaded into the running kernel.
nvidia_install() {
  local repo digest work driver_packages=()
  repo=$(cuda_repository) || die "NVIDIA's CUDA repository has no packages for this OS ($(. /etc/os-release && printf '%s' "$PRETTY_NAME")); supported: Ubuntu 22.04, Ubuntu 24.04, Debian 12"
  if secure_boot_enabled; then
    log "warning: Secure Boot is enabled: DKMS-built NVIDIA modules are unsigned and will not load until their MOK key is enrolled (or Secure Boot is disabled)"
  fi
  if ! pkg_installed cuda-keyring; then
    work_dir work
    fetch "https://developer.download.nvidia.com/compute/cuda/repos/$repo/x86_64/cuda-keyring_1.1-1_all.deb" \
      "$work/cuda-keyring.deb"
    digest=$(keyring_sha256 "$repo")
    if [ -n "$digest" ]; then
      printf '%s  %s\n' "$digest" "$work/cuda-keyring.deb" | sha256sum --check --status \
        || die "cuda-keyring download does not match its published sha256 $digest"
    else
      log "cuda-keyring for $repo: no published checksum on record; trusting the HTTPS download"
    fi
    dpkg -i "$work/cuda-keyring.deb"
    apt_sources_changed
  fi
  if [ "$repo" = debian12 ]; then
    enable_debian_contrib
  fi
  driver_packages=("cuda-drivers-$NVIDIA_BRANCH")
  apt_install "linux-headers-$(uname -r)" dkms "${driver_packages[@]}"
  apt_install "$CUDA_PACKAGE"
  apt_install cudnn9-cuda-13
  if has_gpu && ! driver_ok; then
    if ! modprobe nvidia 2>/dev/null; then
      if secure_boot_enabled; then
        die "the NVIDIA module does not load and Secure Boot is enabled: enroll the DKMS MOK key or disable Secure Boot"
      fi
      log "driver $NVIDIA_BRANCH installed; the module loads after a reboot"
      return 194
    fi
  fi
  return 0
}

if driver_ok && cuda_ok; then
  log "NVIDIA driver $(driver_version) and CUDA ${CUDA_VERSION:-(none asked)} already present: nothing to install"
  exit 0
fi
# Not `nvidia_install || rc=$?`: bash turns errexit off inside a function called from `||`.
set +e
(set -e && nvidia_install)
rc=$?
set -e
exit "$rc"
