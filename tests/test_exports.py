"""Packer and Terraform exports: parsed back, their file references real, what they give the machine.
(Every attribute name is checked against the providers' own packages in test_exports_real_tools.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bootstrap.checks.output import check_rendered
from bootstrap.cli import main
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import Variant, render

hcl2 = pytest.importorskip("hcl2")


def unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    return value


def test_packer_template_boots_the_external_bake_variant_and_seals(tmp_path: Path, capsys) -> None:
    assert main(["export", "packer", "gpu-pytorch", "-o", str(tmp_path)]) == 0
    assert "Packer template" in capsys.readouterr().out
    template = unquote(hcl2.loads((tmp_path / "gpu-pytorch.pkr.hcl").read_text()))
    sources = {name: body for block in template["source"] for kind, named in block.items()
               for name, body in ((f"{kind}.{n}", b) for n, b in named.items())}  # fmt: skip
    assert set(sources) == {"amazon-ebs.bootstrap", "googlecompute.bootstrap"}
    plan = build_plan(load_profile("gpu-pytorch"))
    ec2_file = sources["amazon-ebs.bootstrap"]["user_data_file"].replace("${path.root}", str(tmp_path))
    gce_file = sources["googlecompute.bootstrap"]["startup_script_file"].replace("${path.root}", str(tmp_path))
    assert Path(ec2_file).read_bytes() == render(plan, "ec2", variant=Variant.EXTERNAL_BAKE).data
    gce_script = Path(gce_file).read_text()
    assert gce_script == render(plan, "gce", variant=Variant.EXTERNAL_BAKE).data.decode()
    assert "runner bake" in gce_script and "systemd-run" not in gce_script  # Packer stops and images it
    tags = sources["amazon-ebs.bootstrap"]["tags"]
    assert tags["bootstrap:image-hash"] == plan.image_hash and tags["bootstrap:role"] == "image"
    assert sources["googlecompute.bootstrap"]["image_labels"]["bootstrap-image-hash"] == plan.image_hash
    [build] = template["build"]
    [provisioner] = build["provisioner"]
    inline = provisioner["shell"]["inline"]
    assert inline[-1] == "sudo BOOTSTRAP_SEAL_POWEROFF=no /usr/local/lib/bootstrap/seal"
    assert any('"result": "ok"' in line for line in inline)
    assert build["sources"] == ["source.amazon-ebs.bootstrap", "source.googlecompute.bootstrap"]
    assert all("default" in body for block in template["variable"] for body in block.values())


def test_the_external_bake_variant_passes_the_output_checks() -> None:
    plan = build_plan(load_profile("base"))
    for target in ("cloud-init", "gce"):
        artifact = render(plan, target, variant=Variant.EXTERNAL_BAKE)
        assert [f for f in check_rendered(plan, artifact) if f.severity == "error"] == []


def test_terraform_templates_use_known_arguments_and_file_based_user_data(tmp_path: Path) -> None:
    assert main(["export", "terraform", "team-shared", "-o", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "team-shared.tf.json").read_text())
    [template] = document["resource"]["aws_launch_template"].values()
    [instance] = document["resource"]["google_compute_instance_template"].values()
    plan = build_plan(load_profile("team-shared"))
    assert template["user_data"] == '${filebase64("${path.module}/team-shared.ec2-user-data")}'
    assert (tmp_path / "team-shared.ec2-user-data").read_bytes() == render(plan, "ec2").data
    assert instance["metadata"]["startup-script"] == '${file("${path.module}/team-shared.gce-startup.sh")}'
    assert (tmp_path / "team-shared.gce-startup.sh").read_bytes() == render(plan, "gce").data
    assert document["variable"]["team_shared_channel"]["default"] == "latest"
    assert document["data"]["aws_ssm_parameter"]["team_shared_image"]["name"] == (
        "/bootstrap/team-shared/${var.team_shared_channel}"
    )  # what bootstrap images promote moves
    image = document["data"]["google_compute_image"]["team_shared_image"]
    wanted = ('family = "bootstrap-team-shared" AND labels.bootstrap-profile = "team-shared" AND '
              "labels.bootstrap-channel-${var.team_shared_channel}:*")
    assert image["filter"] == wanted and image["most_recent"]
    # Every reference names something this document declares.
    declared = {f"var.{name}" for name in document["variable"]}
    declared |= {f"data.{kind}.{name}" for kind, named in document["data"].items() for name in named}
    declared |= {f"{kind}.{name}" for kind, named in document["resource"].items() for name in named}
    references = set(re.findall(r"\b((?:var|data\.\w+|aws_\w+|google_\w+)\.\w+)", json.dumps(document["resource"])
                                + json.dumps(document["output"]) + json.dumps(document["data"])))  # fmt: skip
    assert references and references <= declared


# -- what a deployed machine needs besides its user data ------------------------------------------

EVERYTHING = """\
name: ml-box
nvidia: {driver: "550", cuda: "12.4"}
conda: {environments: [{name: ds, spec: {dependencies: [python=3.11, jupyterlab]}}]}
secrets:
  - {name: hf-token, from: "aws-ssm:/team/hf-token"}
  - {name: db, from: "aws-secretsmanager:prod/db"}
  - {name: api, from: "gcp-secretmanager:projects/team-1/secrets/api-key/versions/latest"}
mounts:
  - {path: /data, type: block, device: {ebs_volume_id: vol-0123456789abcdef0}}
  - {path: /scratch, type: block, device: {gce_disk: ml-scratch}}
  - {path: /lake, type: s3, bucket: team-lake, prefix: raw/, read_only: true}
  - {path: /models, type: gcs, bucket: team-models}
"""


def terraform_of(tmp_path: Path, text: str) -> dict:
    (tmp_path / "ml-box.yaml").write_text(text)
    assert main(["export", "terraform", str(tmp_path / "ml-box.yaml"), "-o", str(tmp_path / "out")]) == 0
    return json.loads((tmp_path / "out" / "ml-box.tf.json").read_text())


def test_terraform_gives_the_machine_its_role_disk_gpu_and_data_disks(tmp_path: Path) -> None:
    """The exports lacked all four: the machine booted, then failed to read its secrets, filled its disk,
    waited for a GPU it did not have, or mounted nothing."""
    document = terraform_of(tmp_path, EVERYTHING)
    variables, resources = document["variable"], document["resource"]
    # Root disk: 10 GB + 20 for the NVIDIA stack + 10 per conda environment, on both clouds.
    assert variables["ml_box_root_disk_gb"]["default"] == 40
    template = resources["aws_launch_template"]["ml_box"]
    [root] = template["block_device_mappings"]
    assert root["ebs"]["volume_size"] == "${var.ml_box_root_disk_gb}"
    instance = resources["google_compute_instance_template"]["ml_box"]
    assert instance["disk"][0]["disk_size_gb"] == "${var.ml_box_root_disk_gb}"
    # GPU: a GPU instance type, an accelerator that stops for host maintenance.
    assert variables["ml_box_aws_instance_type"]["default"].startswith("g")
    assert instance["guest_accelerator"] == [{"type": "${var.ml_box_gcp_gpu_type}",
                                              "count": "${var.ml_box_gcp_gpu_count}"}]  # fmt: skip
    assert instance["scheduling"]["on_host_maintenance"] == "TERMINATE"
    # AWS: an instance profile allowed exactly the profile's secrets and bucket, unless the user names one.
    policy = json.loads(resources["aws_iam_role_policy"]["ml_box"]["policy"])
    allowed = {(tuple(s["Action"]), s["Resource"]) for s in policy["Statement"]}
    assert allowed == {
        (("ssm:GetParameter",), "arn:aws:ssm:*:*:parameter/team/hf-token"),
        (("secretsmanager:GetSecretValue",), "arn:aws:secretsmanager:*:*:secret:prod/db-*"),
        (("s3:ListBucket",), "arn:aws:s3:::team-lake"),
        (("s3:GetObject",), "arn:aws:s3:::team-lake/raw/*"),  # read-only: no PutObject
    }
    assert resources["aws_iam_role"]["ml_box"]["count"] == '${var.ml_box_aws_instance_profile == "" ? 1 : 0}'
    assert "var.ml_box_aws_instance_profile" in template["iam_instance_profile"]["name"]
    # GCP: a service account granted the secret and the bucket, on the instance template.
    assert instance["service_account"][0]["scopes"] == ["cloud-platform"]
    [secret] = resources["google_secret_manager_secret_iam_member"].values()
    assert (secret["project"], secret["secret_id"], secret["role"]) == (
        "team-1", "api-key", "roles/secretmanager.secretAccessor")  # fmt: skip
    [bucket] = resources["google_storage_bucket_iam_member"].values()
    assert (bucket["bucket"], bucket["role"]) == ("team-models", "roles/storage.objectUser")
    # Data disks: GCE attaches the disk under the device name the mount's by-id path expects; EC2 can
    # only attach a volume to an instance, so an optional one (off by default) launches beside it.
    [scratch] = [d for d in instance["disk"] if not d["boot"]]
    assert scratch["device_name"] == "ml-scratch" and scratch["auto_delete"] is False
    assert variables["ml_box_gcp_disk_ml_scratch"]["default"] == "ml-scratch"
    [attachment] = resources["aws_volume_attachment"].values()
    assert attachment["volume_id"] == "${var.ml_box_aws_volume_vol_0123456789abcdef0}"
    assert variables["ml_box_aws_volume_vol_0123456789abcdef0"]["default"] == "vol-0123456789abcdef0"
    assert variables["ml_box_aws_instance"]["default"] is False
    # Every reference names something this document declares.
    declared = {f"var.{name}" for name in variables}
    declared |= {f"data.{kind}.{name}" for kind, named in document["data"].items() for name in named}
    declared |= {f"{kind}.{name}" for kind, named in resources.items() for name in named}
    text = json.dumps(resources) + json.dumps(document["output"]) + json.dumps(document["data"])
    assert set(re.findall(r"\b((?:var|data\.\w+|aws_\w+|google_\w+)\.\w+)", text)) <= declared


def test_a_profile_that_needs_nothing_gets_no_role_no_gpu_and_the_base_disk(tmp_path: Path) -> None:
    document = terraform_of(tmp_path, "name: ml-box\npackages: [jq]\n")
    resources = document["resource"]
    assert not {"aws_iam_role", "google_service_account", "aws_instance", "aws_volume_attachment"} & set(resources)
    instance = resources["google_compute_instance_template"]["ml_box"]
    assert "guest_accelerator" not in instance and "service_account" not in instance
    assert document["variable"]["ml_box_root_disk_gb"]["default"] == 10


def packer_of(tmp_path: Path, reference: str) -> tuple[dict, dict]:
    assert main(["export", "packer", reference, "-o", str(tmp_path)]) == 0
    [written] = [p for p in tmp_path.glob("*.pkr.hcl") if p.stem.removesuffix(".pkr") == Path(reference).stem]
    template = unquote(hcl2.loads(written.read_text()))
    defaults = {name: body.get("default") for block in template["variable"] for name, body in block.items()}
    sources = {kind: body for block in template["source"] for kind, named in block.items() for body in named.values()}
    return defaults, sources


def test_packer_bakes_the_driver_on_a_gpu_builder_with_room_for_it(tmp_path: Path) -> None:
    (tmp_path / "ml-box.yaml").write_text('name: ml-box\nnvidia: {driver: "550"}\n')
    defaults, sources = packer_of(tmp_path, str(tmp_path / "ml-box.yaml"))
    assert defaults["gcp_accelerator_count"] == 1 and defaults["gcp_accelerator_type"] == "nvidia-tesla-t4"
    assert defaults["aws_instance_type"].startswith("g") and defaults["root_disk_gb"] == 30
    [mapping] = sources["amazon-ebs"]["launch_block_device_mappings"]
    assert mapping["volume_size"] == "${var.root_disk_gb}"
    assert sources["googlecompute"]["disk_size"] == "${var.root_disk_gb}"
    assert "TERMINATE" in sources["googlecompute"]["on_host_maintenance"]
    # gpu-pytorch says install_without_gpu: a CPU builder, but the disk still has room for CUDA and conda.
    defaults, _ = packer_of(tmp_path, "gpu-pytorch")
    environments = len(load_profile("gpu-pytorch").data["conda"]["environments"])
    assert defaults["gcp_accelerator_count"] == 0 and defaults["root_disk_gb"] == 30 + 10 * environments
    defaults, _ = packer_of(tmp_path, "base")
    assert defaults["gcp_accelerator_count"] == 0 and defaults["aws_instance_type"] == "t3.small"
