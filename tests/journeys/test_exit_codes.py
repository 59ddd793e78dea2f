"""One exit-code table for every command (issue 23): 0 ok, 1 findings, 2 bad input or usage (a missing
cloud extra included, with its install hint), 3 backend or cloud failure. Each row is the installed
command as a user types it; none may print a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run

pytest.importorskip("boto3")

GOOD = "name: good\npackages: [jq]\n"
BAD = "name: bad\npackages: jq\n"  # a string where a list is expected
FINDING = "name: finding\ncommands:\n  first_boot: [{name: go, run: 'echo ('}]\n"  # bash -n refuses it
GCE = ["--project", "p", "--zone", "europe-west1-b"]


@pytest.fixture
def files(repo: Path) -> Path:
    for name, text in (("good", GOOD), ("bad", BAD), ("finding", FINDING)):
        (repo / f"{name}.yaml").write_text(text)
    (repo / "profiles").mkdir()
    (repo / "profiles" / "good.yaml").write_text(GOOD)
    return repo


@pytest.fixture
def without_gcp(tmp_path: Path) -> dict[str, str]:
    """An environment in which google-cloud-compute is not installed (as after a plain pip install .)."""
    folder = tmp_path / "without-gcp"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text("import sys\nsys.modules['google.cloud.compute_v1'] = None\n")
    return {"PYTHONPATH": str(folder)}


ROWS = [
    (["validate", "good.yaml"], 0), (["validate", "bad.yaml"], 2), (["validate", "missing.yaml"], 2),
    (["render", "good.yaml", "-t", "bash"], 0), (["render", "bad.yaml"], 2),
    (["explain", "good.yaml"], 0), (["explain", "bad.yaml"], 2),
    (["check", "good.yaml"], 0), (["check", "finding.yaml"], 1), (["check", "bad.yaml"], 2),
    (["diff", "good.yaml", "good.yaml"], 0), (["diff", "good.yaml", "finding.yaml"], 1),
    (["diff", "good.yaml", "bad.yaml"], 2), (["diff", "-- --output=x:good.yaml", "good.yaml"], 2),
    (["export", "packer", "good.yaml", "-o", "out"], 0), (["export", "packer", "bad.yaml", "-o", "out"], 2),
    (["test", "bad.yaml"], 2), (["bake", "bad.yaml", "--dry-run"], 2),
    (["rebuild", "missing-folder"], 2), (["list"], 0), (["schema"], 0),
    (["no-such-command"], 2), (["render"], 2),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code"), ROWS, ids=[" ".join(a) for a, _ in ROWS])
def test_each_command_exits_by_the_table(files: Path, bootstrap: Run, args: list[str], code: int) -> None:
    bootstrap(*[word for arg in args for word in arg.split()], expect=code)


@pytest.mark.parametrize("args", [["images", "list", "good", "-b", "gce", *GCE],
                                  ["reap", "-b", "gce", "--dry-run", *GCE],
                                  ["bake", "good.yaml", "-b", "gce", "--dry-run", *GCE],
                                  ["rebuild", "profiles", "-b", "gce", "--dry-run", *GCE]],
                         ids=["images", "reap", "bake", "rebuild"])  # fmt: skip
def test_a_missing_cloud_extra_is_bad_input_with_the_install_hint(files: Path, bootstrap: Run, without_gcp,
                                                                  args: list[str]) -> None:  # fmt: skip
    result = bootstrap(*args, expect=2, env=without_gcp)
    assert "pip install 'bootstrap-profiles[gcp]'" in result.stderr + result.stdout


def test_a_cloud_that_fails_is_exit_3_for_bake_rebuild_and_images(files: Path, bootstrap: Run, aws) -> None:
    """moto answers, but the source image does not exist: the cloud refuses the bake."""
    cloud = ["-b", "ec2", "--region", "us-east-1", "--endpoint-url", aws.endpoint]
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
    bootstrap("bake", "good.yaml", *cloud, "--source", "ssm:/no/such/parameter", expect=3, env=env)
    failed = bootstrap("rebuild", "profiles", *cloud, "--source", "ssm:/no/such/parameter", expect=3, env=env)
    assert "failed" in failed.stdout
    bootstrap("images", "list", "good", *cloud, expect=0, env=env)
    bootstrap("images", "delete", "good", "--image", "ami-12345678", *cloud, expect=3, env=env)
