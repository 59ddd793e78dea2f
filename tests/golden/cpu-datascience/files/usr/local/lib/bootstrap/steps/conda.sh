#!/usr/bin/env bash
# bootstrap step conda: micromamba and environment ds
# phase first_boot, scope image, feature conda, hash 753c3fe5490d7ab8
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

export MAMBA_ROOT_PREFIX=/opt/conda
MICROMAMBA="$MAMBA_ROOT_PREFIX/bin/micromamba"
MICROMAMBA_VERSION=2.0.5-0
MICROMAMBA_SHA256=cdf5a2e18d213617b6c5c32d8763b4e8fc05f8173b4f4017997683cb984357eb
CONDA_GROUP=''

install_micromamba() {
  if [ -x "$MICROMAMBA" ] && [ "$("$MICROMAMBA" --version 2>/dev/null)" = "${MICROMAMBA_VERSION%-*}" ]; then
    return 0
  fi
  mkdir -p "$MAMBA_ROOT_PREFIX/bin" "$MAMBA_ROOT_PREFIX/specs"
  fetch "https://github.com/mamba-org/micromamba-releases/releases/download/$MICROMAMBA_VERSION/micromamba-linux-64" \
    "$MICROMAMBA.download"
  if ! printf '%s  %s\n' "$MICROMAMBA_SHA256" "$MICROMAMBA.download" | sha256sum --check --status; then
    rm -f "$MICROMAMBA.download"
    die "micromamba $MICROMAMBA_VERSION does not match its sha256 $MICROMAMBA_SHA256: refusing to run it"
  fi
  chmod 0755 "$MICROMAMBA.download"
  mv -f "$MICROMAMBA.download" "$MICROMAMBA"
  log "micromamba $MICROMAMBA_VERSION installed (sha256 verified)"
}

# ensure_aws_cli WHY: the AWS CLI, from apt where the image lacks it; else stop, saying what needs it.
# Included by the steps that use it (secrets, conda), not lib.sh: every profile's user data carries lib.
ensure_aws_cli() {
  command -v aws >/dev/null 2>&1 && return 0
  apt_install awscli || true
  command -v aws >/dev/null 2>&1 || die "the AWS CLI is needed $1: install it in the image (apt install awscli, or AWS's installer)"
}

# fetch_spec URL DEST: https with retries, s3:// and gs:// with the machine's own credentials.
fetch_spec() {
  case "$1" in
    s3://*)
      ensure_aws_cli "to fetch $1"
      retry aws s3 cp --only-show-errors "$1" "$2" ;;
    gs://*)
      command -v gcloud >/dev/null 2>&1 || die "the Google Cloud CLI (gcloud) is needed to fetch $1: GCE's images carry it; install it in the image, or use an https:// URL"
      retry gcloud storage cp "$1" "$2" ;;
    *) fetch "$1" "$2" ;;
  esac
}

# ensure_env NAME SPEC_FILE KIND KERNEL DISPLAY_NAME: (re)build when the spec's hash changed.
ensure_env() {
  local name=$1 spec=$2 kind=$3 kernel=$4 display=$5 env hash marker built="" legacy copy=()
  env="$MAMBA_ROOT_PREFIX/envs/$name"
  marker=/var/lib/bootstrap/conda"/$name.spec-sha256"
  legacy="$env/.bootstrap-spec-sha256" # the former place: trusted only in a tree root alone can change
  root_only "$env" || die "environment $name: $UNSAFE_DIR is not root's alone ($(owner_mode "$UNSAFE_DIR")): a user could swap what root builds there"
  hash=$(sha256sum "$spec" | cut -d' ' -f1)
  if [ -f "$marker" ]; then
    built=$(cat "$marker")
  elif root_only "$legacy" && [ -f "$legacy" ] && [ ! -L "$legacy" ]; then
    built=$(cat "$legacy")
  fi
  if [ -d "$env" ] && [ "$built" = "$hash" ]; then
    log "environment $name is up to date (spec $hash)"
    return 0
  fi
  [ ! -e "$env" ] || log "environment $name: spec changed, rebuilding"
  retire_env "$env"
  # the group's files are copies, never hardlinks to root's package cache
  [ -z "$CONDA_GROUP" ] || copy=(--always-copy)
  if [ "$kind" = lock ]; then
    retry "$MICROMAMBA" create -y -n "$name" -f "$spec" "${copy[@]}"
  else
    retry "$MICROMAMBA" env create -y -n "$name" -f "$spec" "${copy[@]}"
  fi
  mkdir -p "$env"
  # root runs the environment's python only while the tree is root's alone
  if [ "$kernel" = yes ]; then
    [ -x "$env/bin/python" ] || die "environment $name: kernel: true needs python (and ipykernel) in the environment"
    "$env/bin/python" -m ipykernel install --prefix /usr/local --name "$name" --display-name "$display"
  fi
  [ -z "$CONDA_GROUP" ] || open_to_group "$env"
  write_file "$marker" 0644 root:root "$hash
"
  log "environment $name built (spec $hash)"
}

# retire_env ENV: out of everyone's reach at once (into a fresh folder of root's), then removed with
# rm, which follows no link; so is whatever an earlier boot that lost power left retired.
retire_env() {
  local old
  if [ -e "$1" ] || [ -L "$1" ]; then
    old=$(mktemp -d "$MAMBA_ROOT_PREFIX/envs/.retired.XXXXXX")
    mv -T -- "$1" "$old/env"
  fi
  rm -rf --one-file-system -- "$MAMBA_ROOT_PREFIX"/envs/.retired.*
}

# open_to_group ENV: hand the fresh tree root built to the group.
open_to_group() {
  getent group "$CONDA_GROUP" >/dev/null || groupadd "$CONDA_GROUP"
  chmod -R go-w -- "$1"
  find "$1" \( -type d -o -links 1 \) -exec chgrp -h -- "$CONDA_GROUP" {} +
  find "$1" -type f -links 1 -exec chmod g+rwX -- {} +
  find "$1" -type d -exec chmod g+rxs -- {} +
  find "$1" -depth -type d -exec chmod g+w -- {} +
}

install_micromamba
mkdir -p "$MAMBA_ROOT_PREFIX/specs"
write_file "$MAMBA_ROOT_PREFIX/specs/"ds.yml 0644 root:root 'name: ds
channels:
- conda-forge
dependencies:
- python=3.11
- numpy
- pandas
- scipy
- scikit-learn
- matplotlib
- pyarrow
- jupyterlab
- ipykernel
'
ensure_env ds "$MAMBA_ROOT_PREFIX/specs/"ds.yml yaml yes 'Python 3.11 (data science)'
