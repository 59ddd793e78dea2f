"""No credential on a command line or in a log. Every user on the machine reads every process's
arguments (ps, /proc/PID/cmdline): a token passed as `curl -H "Authorization: Bearer ..."` is
theirs while curl runs. Tokens reach curl on its standard input; retry's log lines mask whatever
is shaped like a secret.

The curl here logs its arguments like every stub and also keeps what it read on standard input,
so a test sees where the token went.
"""

from __future__ import annotations

import base64
import json

import pytest

from ..conftest import render_text
from ..sandbox import STUB, Sandbox

TOKEN = "ya29.c.b0AXv0zTsecretaccesstoken"
IMDS = "AQAEAImdsSessionToken0123456789=="
VALUE = "hunter2-the-secret-value"
CURL = r"""#!/bin/bash
# what the real curl reads with -H @-: its standard input
if [[ " $* " == *" @- "* ]]; then cat >>/var/log/curl-stdin; printf '\n' >>/var/log/curl-stdin; fi
exec /stubs/real/curl "$@"
"""


@pytest.fixture
def curl(sandbox: Sandbox) -> Sandbox:
    real = sandbox.path("/stubs/real/curl")
    real.parent.mkdir()
    real.write_text(STUB)
    real.chmod(0o755)
    sandbox.path("/stubs/curl").write_text(CURL)
    sandbox.answer("curl", "/latest/api/token", IMDS)
    sandbox.answer("curl", "placement/region", "eu-west-1")
    sandbox.answer("curl", "meta-data/instance-id", "i-0123456789abcdef0")
    sandbox.answer("curl", "service-accounts/default/token", json.dumps({"access_token": TOKEN}))
    payload = json.dumps({"payload": {"data": base64.b64encode(VALUE.encode()).decode()}})
    sandbox.answer("curl", "secretmanager.googleapis.com/", payload)
    sandbox.answer("aws", "get-parameter", VALUE)
    return sandbox


def everything_logged(sandbox: Sandbox, output: str) -> str:
    argv = "\n".join(" ".join(call) for call in sandbox.calls())
    return argv + output + sandbox.read("/var/log/bootstrap.log")


def stdin_of_curl(sandbox: Sandbox) -> str:
    path = sandbox.path("/var/log/curl-stdin")
    return path.read_text() if path.exists() else ""


def test_a_gcp_access_token_never_reaches_an_argument(curl: Sandbox, write_profile) -> None:
    profile = "name: g\nsecrets: [{name: db, from: 'gcp-secretmanager:projects/p/secrets/db/versions/1'}]\n"
    result = curl.boot(render_text(write_profile(profile), "gce"))
    assert result.returncode == 0, result.stdout
    assert curl.read("/run/bootstrap/secrets/db") == VALUE
    seen = everything_logged(curl, result.stdout + result.stderr)
    assert TOKEN not in seen and VALUE not in seen, "the access token was on a command line or in a log"
    assert f"Authorization: Bearer {TOKEN}" in stdin_of_curl(curl)


def test_the_imds_session_token_never_reaches_an_argument(curl: Sandbox, write_profile) -> None:
    # No cloud-init record of the instance: the runner asks EC2's metadata service itself.
    curl.path("/var/lib/cloud/data/instance-id").unlink()
    profile = """\
        name: a
        secrets: [{name: k, from: 'aws-ssm:/team/k'}]
        mounts: [{path: /efs, type: efs, file_system_id: fs-0123abcd}]
        """
    result = curl.boot(render_text(write_profile(profile), "bash"))
    assert result.returncode == 0, result.stdout
    assert "instance i-0123456789abcdef0" in result.stdout  # the runner's own lookup went through
    assert "fs-0123abcd.efs.eu-west-1.amazonaws.com:/ /efs" in curl.read("/etc/fstab")
    seen = everything_logged(curl, result.stdout + result.stderr)
    assert IMDS not in seen and VALUE not in seen, "the IMDSv2 token was on a command line or in a log"
    assert stdin_of_curl(curl).count(f"X-aws-ec2-metadata-token: {IMDS}") >= 3  # runner, secrets, efs


def test_retry_masks_what_looks_like_a_secret(curl: Sandbox, write_profile) -> None:
    profile = """\
        name: r
        secrets: [{name: k, from: 'aws-ssm:/team/k'}]
        commands:
          every_boot:  # after the secrets step
            - name: call-api
              run: |
                BOOTSTRAP_RETRIES=2
                key=$(cat /run/bootstrap/secrets/k)
                retry curl -fsS -H "Authorization: Bearer $key" "https://bot:$key@api.example.com/v1?token=$key&x=1" \\
                  || true
                retry false --api-key "$key" "PASSWORD=$key" --token="$key" -u "me:$key" || true
        """
    result = curl.boot(render_text(write_profile(profile), "bash"))
    assert result.returncode == 0, result.stdout
    log = curl.read("/var/log/bootstrap.log")
    assert "giving up after 2 attempts" in log
    assert VALUE not in result.stdout + result.stderr + log, "retry logged the secret"
    assert "Authorization: [redacted]" in log and "https://bot:[redacted]@api.example.com" in log
    assert "token=[redacted]&x=1" in log and "PASSWORD=[redacted]" in log and "--api-key [redacted]" in log
