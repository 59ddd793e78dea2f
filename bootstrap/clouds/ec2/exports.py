"""EC2's export fragments: the Packer amazon-ebs source, and Terraform's aws_launch_template (with the SSM
lookup of its image, the instance profile its secrets and buckets are read with, and an instance for the
data volumes a launch template cannot attach)."""

from __future__ import annotations

import json
from typing import Any

from ...exports import hcl_map, hcl_string, hcl_variable
from ...exports.deploy import DEFAULT_GPU, slug
from ...exports.packer import PackerBuild, PackerSource
from ...exports.terraform import Stage, TerraformBuild, TerraformFragment, TerraformPart, yours_or_ours
from .vocabulary import DEBIAN_AMI_NAMES, DEBIAN_OWNER, DEFAULT_INSTANCE_TYPE, PACKER_SOURCE, parameter, tags


def packer(build: PackerBuild) -> PackerSource:
    image = tags(build.image_tags(PACKER_SOURCE))  # amazon-ebs fills {{ .SourceAMI }} in tags itself
    variables = "".join((
        hcl_variable("aws_region", "string", hcl_string("eu-west-1")),
        hcl_variable("aws_instance_type", "string",
                     hcl_string(DEFAULT_GPU["aws_instance_type"] if build.gpu else DEFAULT_INSTANCE_TYPE)),
        hcl_variable("aws_root_device", "string", hcl_string("/dev/xvda"),
                     "the source AMI's root device name (Debian's AMIs: /dev/xvda)"),
        hcl_variable("aws_iam_instance_profile", "string", hcl_string(""),
                     "builder's instance profile (image-scope steps that read from S3 need one)"),
        hcl_variable("aws_source_ami_owner", "string", hcl_string(DEBIAN_OWNER),
                     "Debian's AWS account (official Debian AMIs)"),
        hcl_variable("aws_source_ami_name", "string", hcl_string(DEBIAN_AMI_NAMES)),
        hcl_variable("aws_subnet_id", "string", hcl_string("")),
    ))  # fmt: skip
    source = f"""\
source "amazon-ebs" "bootstrap" {{
  region               = var.aws_region
  instance_type        = var.aws_instance_type
  subnet_id            = var.aws_subnet_id
  iam_instance_profile = var.aws_iam_instance_profile
  launch_block_device_mappings {{
    device_name           = var.aws_root_device
    volume_size           = var.root_disk_gb
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }}
  source_ami_filter {{
    filters = {{
      name                = var.aws_source_ami_name
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }}
    owners      = [var.aws_source_ami_owner]
    most_recent = true
  }}
  ssh_username   = "admin"
  user_data_file = "${{path.root}}/{build.user_data["ec2"].path.name}"
  ami_name       = local.image_name
  metadata_options {{
    http_endpoint = "enabled"
    http_tokens   = "required"
  }}
  tags = {{
{hcl_map(image, 4)}
  }}
  snapshot_tags = {{
{hcl_map(image, 4)}
  }}
  run_tags = {{
{hcl_map(tags(build.builder_tags()), 4)}
  }}
}}
"""
    return PackerSource("amazon-ebs", ("amazon", "github.com/hashicorp/amazon", ">= 1.3.0"), variables, source)


def terraform(build: TerraformBuild) -> TerraformFragment:
    key, name, facts = build.key, build.profile, build.facts
    labels = tags(build.tags)
    template = {
        "name_prefix": f"bootstrap-{name}-",
        "image_id": f'${{var.{key}_aws_image_id != "" ? var.{key}_aws_image_id : '
        f"data.aws_ssm_parameter.{key}_image.value}}",
        "instance_type": f"${{var.{key}_aws_instance_type}}",
        "user_data": f'${{filebase64("${{path.module}}/{build.user_data["ec2"].path.name}")}}',
        "update_default_version": True,
        "metadata_options": {"http_endpoint": "enabled", "http_tokens": "required"},
        "block_device_mappings": [{"device_name": f"${{var.{key}_aws_root_device}}",
                                   "ebs": {"volume_size": f"${{var.{key}_root_disk_gb}}",
                                           "volume_type": "gp3", "encrypted": True,
                                           "delete_on_termination": True}}],
        "tag_specifications": [{"resource_type": "instance", "tags": labels},
                               {"resource_type": "volume", "tags": labels}],
        "tags": labels,
    }  # fmt: skip
    launch = TerraformPart(
        variable={
            f"{key}_aws_image_id": {"type": "string", "default": "", "description":
                                    f"AMI; empty: the SSM parameter {parameter(name, 'CHANNEL')}"},
            f"{key}_aws_instance_type": {"type": "string",
                                         "default": DEFAULT_GPU["aws_instance_type"] if facts.gpu else "t3.large"},
            f"{key}_aws_root_device": {"type": "string", "default": "/dev/xvda",
                                       "description": "the AMI's root device name (Debian's AMIs: /dev/xvda)"},
            **build.root_disk(),
        },
        data={"aws_ssm_parameter": {f"{key}_image": {"name": parameter(name, build.channel)}}},
        resource={"aws_launch_template": {key: template}},
        output={f"{key}_launch_template_id": {"value": f"${{aws_launch_template.{key}.id}}"}},
    )  # fmt: skip
    fragment = {Stage.TEMPLATE: launch}
    if facts.aws_role:
        fragment[Stage.IDENTITY] = _role(build, template)
    if any(d.cloud == "aws" for d in facts.data_disks):
        fragment[Stage.INSTANCE] = _volumes(build, labels)
    return fragment


def _role(build: TerraformBuild, template: dict[str, Any]) -> TerraformPart:
    """The instance profile the machine reads its secrets and buckets with: the user's, or one this
    template creates, allowed exactly what the profile reads."""
    key, name, part = build.key, build.profile, TerraformPart()
    variable = f"{key}_aws_instance_profile"
    count = yours_or_ours(part.variable, variable, "IAM instance profile; empty: the one this template creates, "
                          "allowed what the profile's secrets and buckets need (a customer-managed KMS key also "
                          "needs kms:Decrypt)")  # fmt: skip
    assume = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    policy = {"Version": "2012-10-17", "Statement": build.facts.aws_statements}
    resources = part.resource
    resources["aws_iam_role"] = {
        key: {"count": count, "name_prefix": f"bootstrap-{name}-"[:38], "assume_role_policy": json.dumps(assume)}
    }
    resources["aws_iam_role_policy"] = {
        key: {
            "count": count,
            "name": f"bootstrap-{name}",
            "role": f"${{aws_iam_role.{key}[0].id}}",
            "policy": json.dumps(policy),
        }
    }
    resources["aws_iam_instance_profile"] = {
        key: {"count": count, "name_prefix": f"bootstrap-{name}-"[:38], "role": f"${{aws_iam_role.{key}[0].name}}"}
    }
    template["iam_instance_profile"] = {
        "name": f'${{var.{variable} != "" ? var.{variable} : one(aws_iam_instance_profile.{key}[*].name)}}'
    }
    part.output[f"{key}_aws_policy"] = {"value": json.dumps(policy)}
    return part


def _volumes(build: TerraformBuild, labels: dict[str, str]) -> TerraformPart:
    """A launch template cannot attach an existing volume: an optional instance (off by default) launches
    in the first volume's zone with the data volumes the profile mounts attached."""
    key, part = build.key, TerraformPart()
    variables, resources = part.variable, part.resource
    volumes = [d for d in build.facts.data_disks if d.cloud == "aws"]
    launch = f"{key}_aws_instance"
    variables[launch] = {
        "type": "bool",
        "default": False,
        "description": "launch one instance from the launch "
        "template with the data volumes attached, in the first volume's availability zone",
    }
    count = f"${{var.{launch} ? 1 : 0}}"
    first = f"{key}_aws_volume_{slug(volumes[0].ident)}"
    part.data["aws_ebs_volume"] = {
        first: {"count": count, "filter": [{"name": "volume-id", "values": [f"${{var.{first}}}"]}]}
    }
    resources["aws_instance"] = {
        key: {
            "count": count,
            "availability_zone": f"${{data.aws_ebs_volume.{first}[0].availability_zone}}",
            "launch_template": {"id": f"${{aws_launch_template.{key}.id}}", "version": "$Latest"},
            "tags": labels,
        }
    }
    attachments = resources.setdefault("aws_volume_attachment", {})
    for letter, disk in zip("fghijklmnop", volumes, strict=False):
        variable = f"{key}_aws_volume_{slug(disk.ident)}"
        variables[variable] = {
            "type": "string",
            "default": disk.ident,
            "description": f"EBS volume mounted at {disk.path}",
        }
        attachments[variable] = {
            "count": count,
            "device_name": f"/dev/sd{letter}",
            "volume_id": f"${{var.{variable}}}",
            "instance_id": f"${{aws_instance.{key}[0].id}}",
        }
    part.output[f"{key}_aws_instance_id"] = {"value": f"${{one(aws_instance.{key}[*].id)}}"}
    return part
