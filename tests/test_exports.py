"""Packer and Terraform exports: parsed back, their file references real, their arguments known."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bootstrap.checks.output import check_rendered
from bootstrap.cli import main
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import render

hcl2 = pytest.importorskip("hcl2")

# Arguments of the Terraform resources we emit, from the providers' documentation (aws 5.x,
# google 5.x): every key we write must be one of them.
AWS_LAUNCH_TEMPLATE = {
    "name", "name_prefix", "description", "image_id", "instance_type", "user_data", "update_default_version",
    "metadata_options", "tag_specifications", "tags", "iam_instance_profile", "key_name", "vpc_security_group_ids",
    "network_interfaces", "block_device_mappings", "ebs_optimized", "monitoring", "default_version",
}  # fmt: skip
AWS_METADATA_OPTIONS = {"http_endpoint", "http_tokens", "http_put_response_hop_limit", "instance_metadata_tags",
                        "http_protocol_ipv6"}  # fmt: skip
AWS_TAG_SPECIFICATION = {"resource_type", "tags"}
GOOGLE_INSTANCE_TEMPLATE = {
    "name", "name_prefix", "description", "machine_type", "disk", "network_interface", "metadata",
    "metadata_startup_script", "labels", "tags", "service_account", "scheduling", "guest_accelerator",
    "lifecycle", "project", "region", "can_ip_forward",
}  # fmt: skip
GOOGLE_DISK = {"source_image", "boot", "auto_delete", "disk_size_gb", "disk_type", "device_name", "type", "mode"}


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
    assert Path(ec2_file).read_bytes() == render(plan, "ec2", bake="external").data
    gce_script = Path(gce_file).read_text()
    assert gce_script == render(plan, "gce", bake="external").data.decode()
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
        artifact = render(plan, target, bake="external")
        assert [f for f in check_rendered(plan, artifact) if f.severity == "error"] == []


def test_terraform_templates_use_known_arguments_and_file_based_user_data(tmp_path: Path) -> None:
    assert main(["export", "terraform", "team-shared", "-o", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "team-shared.tf.json").read_text())
    [template] = document["resource"]["aws_launch_template"].values()
    assert set(template) <= AWS_LAUNCH_TEMPLATE
    assert set(template["metadata_options"]) <= AWS_METADATA_OPTIONS
    assert all(set(spec) <= AWS_TAG_SPECIFICATION for spec in template["tag_specifications"])
    [instance] = document["resource"]["google_compute_instance_template"].values()
    assert set(instance) <= GOOGLE_INSTANCE_TEMPLATE
    assert all(set(disk) <= GOOGLE_DISK for disk in instance["disk"])
    plan = build_plan(load_profile("team-shared"))
    assert template["user_data"] == '${filebase64("${path.module}/team-shared.ec2-user-data")}'
    assert (tmp_path / "team-shared.ec2-user-data").read_bytes() == render(plan, "ec2").data
    assert instance["metadata"]["startup-script"] == '${file("${path.module}/team-shared.gce-startup.sh")}'
    assert (tmp_path / "team-shared.gce-startup.sh").read_bytes() == render(plan, "gce").data
    assert document["data"]["aws_ssm_parameter"]["team_shared_image"]["name"] == "/bootstrap/team-shared/latest"
    assert document["data"]["google_compute_image"]["team_shared_image"]["family"] == "bootstrap-team-shared"
    # Every reference names something this document declares.
    declared = {f"var.{name}" for name in document["variable"]}
    declared |= {f"data.{kind}.{name}" for kind, named in document["data"].items() for name in named}
    declared |= {f"{kind}.{name}" for kind, named in document["resource"].items() for name in named}
    references = set(re.findall(r"\b((?:var|data\.\w+|aws_\w+|google_\w+)\.\w+)", json.dumps(document["resource"])
                                + json.dumps(document["output"]) + json.dumps(document["data"])))  # fmt: skip
    assert references and references <= declared
