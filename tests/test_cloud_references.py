"""`check` says where a profile names one cloud's service and is rendered for the other (issue 22: a
newcomer's aws-ssm secret checked clean for gce, and its step asked EC2's metadata service on GCE)."""

from __future__ import annotations

from bootstrap.checks.clouds import findings
from bootstrap.profile import load_profile

PROFILE = """\
name: c
secrets:
  - {name: tok, from: "aws-ssm:/x/tok"}
  - {name: key, from: "gcp-secretmanager:projects/p/secrets/key/versions/1"}
mounts:
  - {path: /b, type: gcs, bucket: my-bucket}
  - {path: /d, type: block, device: {ebs_volume_id: vol-0123456789abcdef0}}
"""


def test_each_cloud_target_is_told_of_the_other_cloud_s_services(write_profile) -> None:
    profile = load_profile(str(write_profile(PROFILE)))
    said = {
        (f.where.rsplit("/", 1)[-1], f.targets) for f in findings(profile.data, ["ec2", "gce", "cloud-init", "bash"])
    }
    assert said == {("profile.yaml:3:23", ("gce",)), ("profile.yaml:7:53", ("gce",)),
                    ("profile.yaml:4:23", ("ec2",)), ("profile.yaml:6:22", ("ec2",))}  # fmt: skip
    assert all(f.severity == "warning" for f in findings(profile.data, ["gce"]))


def test_a_profile_for_one_cloud_is_clean_there(write_profile) -> None:
    aws_only = PROFILE.split("  - {name: key")[0] + "mounts: []\n"
    assert findings(load_profile(str(write_profile(aws_only))).data, ["ec2", "cloud-init", "bash"]) == []
