#!/usr/bin/env bash
# bootstrap step secrets: fetch secret jupyter-token
# phase every_boot, scope instance, feature secrets, hash e3ceff520ae939ba
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/bootstrap/lib.sh

# Secret values, and the tokens that fetch them, pass through pipes and files only: never
# arguments (every user sees those in ps), never output.
set +x
umask 077

# imds PATH: a value from EC2's instance metadata service (IMDSv2), e.g. meta-data/placement/region.
imds() {
  local imds_token
  imds_token=$(retry curl --fail --silent --show-error --connect-timeout 2 --max-time 5 -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token) || return 1
  imds_token="X-aws-ec2-metadata-token: $imds_token"
  retry curl_auth imds_token --fail --silent --show-error --connect-timeout 2 --max-time 5 \
    "http://169.254.169.254/latest/$1"
}


# ensure_aws_cli WHY: the AWS CLI, from apt where the image lacks it; else stop, saying what needs it.
# Included by the steps that use it (secrets, conda), not lib.sh: every profile's user data carries lib.
ensure_aws_cli() {
  command -v aws >/dev/null 2>&1 && return 0
  apt_install awscli || true
  command -v aws >/dev/null 2>&1 || die "the AWS CLI is needed $1: install it in the image (apt install awscli, or AWS's installer)"
}

# fetch_secret KIND REF > value
fetch_secret() {
  local kind=$1 ref=$2
  case "$kind" in
    aws-ssm)
      ensure_aws_cli "to read AWS secrets"
      retry aws ssm get-parameter --region "$(imds meta-data/placement/region)" --with-decryption --name "$ref" \
        --query Parameter.Value --output text
      ;;
    aws-secretsmanager)
      ensure_aws_cli "to read AWS secrets"
      retry aws secretsmanager get-secret-value --region "$(imds meta-data/placement/region)" --secret-id "$ref" \
        --query SecretString --output text
      ;;
    gcp-secretmanager)
      local bearer
      # shellcheck disable=SC2034 # curl_auth reads it by name: the name, not the token, is an argument
      bearer=$(retry curl --fail --silent --show-error --connect-timeout 2 --max-time 10 -H 'Metadata-Flavor: Google' \
        http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token \
        | python3 -I -c 'import json, sys; print("Authorization: Bearer " + json.load(sys.stdin)["access_token"])')
      retry curl_auth bearer --fail --silent --show-error --connect-timeout 10 --max-time 60 \
        "https://secretmanager.googleapis.com/v1/$ref:access" \
        | python3 -I -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["payload"]["data"]))'
      ;;
  esac
}

# install_secret NAME KIND REF PATH OWNER MODE: fetched into root's own folder on /run (a tmpfs: never
# on disk), then put in place (as its owner where a machine user controls the way to PATH, see put_file).
install_secret() {
  local name=$1 kind=$2 ref=$3 path=$4 owner=$5 mode=$6 tmp
  tmp=$(mktemp /run/bootstrap/secret.XXXXXX)
  if ! (set -e && fetch_secret "$kind" "$ref") >"$tmp"; then  # subshell: errexit stays on inside
    rm -f "$tmp"
    die "secret $name: could not read $kind:$ref (check the instance's role / service account)"
  fi
  if [ ! -s "$tmp" ] || [ "$(tr -d '[:space:]' <"$tmp" | head -c 1)" = "" ]; then
    rm -f "$tmp"  # an empty token is no token: JupyterLab would not open, a login would fail later, far from here
    die "secret $name: $kind:$ref is empty (set its value in the secret manager)"
  fi
  if ! (set -e && put_file "$path" "$mode" "$owner" <"$tmp"); then  # subshell: errexit stays on inside
    rm -f "$tmp"
    die "secret $name: could not write $path"
  fi
  log "secret $name: written to $path ($(wc -c <"$tmp") bytes, mode $mode)"
  rm -f "$tmp"
}

mkdir -p /run/bootstrap/secrets
chmod 0711 /run/bootstrap/secrets
install_secret jupyter-token aws-ssm /bootstrap/jupyter-token /run/bootstrap/secrets/jupyter-token scientist 0600
