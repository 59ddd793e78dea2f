"""secrets: references only, fetched at boot into 0600 files, never printed."""

from __future__ import annotations

import base64
import json

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile

from .conftest import render_text
from .sandbox import Sandbox

VALUE = "s3cr3t-'$(touch /var/tmp/canary)'-value"


@pytest.mark.parametrize(
    "reference",
    [
        "hunter2",
        "aws-ssm:relative",
        "gcp-secretmanager:projects/p/secrets/s",
        "s3://bucket/key",
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_literal_values_where_a_reference_belongs_are_refused(write_profile, reference: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(f"name: s\nsecrets: [{{name: t, from: {json.dumps(reference)}}}]\n")))
    assert "never the secret itself" in str(caught.value)


def test_aws_ssm_secret_lands_in_a_private_file_and_never_in_logs(sandbox: Sandbox, write_profile) -> None:
    sandbox.answer("curl", "/latest/api/token", "TOKEN")
    sandbox.answer("curl", "placement/region", "eu-west-1")
    sandbox.answer("aws", "ssm get-parameter", VALUE)
    script = render_text(write_profile("name: s\nsecrets: [{name: hf-token, from: 'aws-ssm:/team/hf'}]\n"), "bash")
    result = sandbox.boot(script)
    assert result.returncode == 0, result.stdout
    path = sandbox.path("/run/bootstrap/secrets/hf-token")
    assert path.read_text() == VALUE and oct(path.stat().st_mode & 0o777) == "0o600"
    [call] = sandbox.calls("aws")
    assert call == ["aws", "ssm", "get-parameter", "--region", "eu-west-1", "--with-decryption", "--name", "/team/hf",
                    "--query", "Parameter.Value", "--output", "text"]  # fmt: skip
    assert VALUE not in result.stdout + result.stderr + sandbox.read("/var/log/bootstrap.log")
    assert VALUE not in script and not sandbox.exists("/var/tmp/canary")


def test_gcp_secret_manager_through_the_metadata_token(sandbox: Sandbox, write_profile) -> None:
    sandbox.answer("curl", "service-accounts/default/token", json.dumps({"access_token": "ya29.tok"}))
    payload = {"payload": {"data": base64.b64encode(VALUE.encode()).decode()}}
    sandbox.answer(
        "curl", "secretmanager.googleapis.com/v1/projects/p1/secrets/db/versions/3:access", json.dumps(payload)
    )
    profile = write_profile("""\
        name: s
        users: [{name: alice}]
        secrets:
          - {name: db, from: 'gcp-secretmanager:projects/p1/secrets/db/versions/3', owner: alice, mode: '0400',
             path: /etc/app/db-password}
        """)
    assert sandbox.boot(render_text(profile, "gce")).returncode == 0
    path = sandbox.path("/etc/app/db-password")
    assert path.read_text() == VALUE and oct(path.stat().st_mode & 0o777) == "0o400"
    # the access token reaches curl on its standard input: never an argument (ps shows those to everyone)
    assert not any("ya29.tok" in arg for call in sandbox.calls() for arg in call)
    assert "-H" in sandbox.calls("curl")[-1] and "@-" in sandbox.calls("curl")[-1]


def test_refetched_on_every_boot_so_rotation_applies(sandbox: Sandbox, write_profile) -> None:
    sandbox.answer("curl", "/latest/api/token", "TOKEN")
    sandbox.answer("curl", "placement/region", "us-east-1")
    sandbox.set_stub("aws", output="v1")
    assert (
        sandbox.boot(
            render_text(write_profile("name: s\nsecrets: [{name: k, from: 'aws-ssm:/k'}]\n"), "bash")
        ).returncode
        == 0
    )
    sandbox.set_stub("aws", output="v2")
    assert sandbox.boot().returncode == 0
    assert sandbox.read("/run/bootstrap/secrets/k") == "v2"


def test_an_empty_secret_fails_the_step_where_it_is_read(sandbox: Sandbox, write_profile) -> None:
    """An empty value was written as a 0-byte file: the failure came later and elsewhere (JupyterLab's
    script refusing its token, restarted every 5 s)."""
    sandbox.answer("curl", "/latest/api/token", "TOKEN")
    sandbox.answer("curl", "placement/region", "us-east-1")
    sandbox.answer("aws", "ssm get-parameter", "\n")
    result = sandbox.boot(render_text(write_profile("name: s\nsecrets: [{name: k, from: 'aws-ssm:/k'}]\n"), "bash"))
    assert result.returncode == 1
    assert "secret k: aws-ssm:/k is empty (set its value in the secret manager)" in result.stdout + result.stderr
    assert list(sandbox.path("/run/bootstrap/secrets").iterdir()) == []


def test_unreadable_secret_fails_the_step_and_leaves_no_partial_file(sandbox: Sandbox, write_profile) -> None:
    sandbox.answer("curl", "/latest/api/token", "TOKEN")
    sandbox.answer("curl", "placement/region", "us-east-1")
    sandbox.set_stub("aws", exit_code=254, output="AccessDeniedException\n")
    result = sandbox.boot(render_text(write_profile("name: s\nsecrets: [{name: k, from: 'aws-ssm:/k'}]\n"), "bash"))
    assert result.returncode == 1
    assert "secret k: could not read aws-ssm:/k (check the instance's role / service account)" in result.stdout
    assert list(sandbox.path("/run/bootstrap/secrets").iterdir()) == []
