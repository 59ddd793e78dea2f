"""EC2's export fragments: the Packer amazon-ebs source, and the names the Terraform export looks up."""

from __future__ import annotations

from ...exports import hcl_map, hcl_string
from ...exports.deploy import DEFAULT_GPU
from ...exports.packer import PackerBuild, PackerSource
from .vocabulary import DEBIAN_AMI_NAMES, DEBIAN_OWNER, DEFAULT_INSTANCE_TYPE, PACKER_SOURCE, tags


def packer(build: PackerBuild) -> PackerSource:
    image = tags(build.image_tags(PACKER_SOURCE))  # amazon-ebs fills {{ .SourceAMI }} in tags itself
    variables = f"""\
variable "aws_region" {{
  type    = string
  default = "eu-west-1"
}}

variable "aws_instance_type" {{
  type    = string
  default = {hcl_string(DEFAULT_GPU["aws_instance_type"] if build.gpu else DEFAULT_INSTANCE_TYPE)}
}}

variable "aws_root_device" {{
  type        = string
  default     = "/dev/xvda"
  description = "the source AMI's root device name (Debian's AMIs: /dev/xvda)"
}}

variable "aws_iam_instance_profile" {{
  type        = string
  default     = ""
  description = "builder's instance profile (image-scope steps that read from S3 need one)"
}}

variable "aws_source_ami_owner" {{
  type        = string
  default     = {hcl_string(DEBIAN_OWNER)}
  description = "Debian's AWS account (official Debian AMIs)"
}}

variable "aws_source_ami_name" {{
  type    = string
  default = {hcl_string(DEBIAN_AMI_NAMES)}
}}

variable "aws_subnet_id" {{
  type    = string
  default = ""
}}

"""
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
