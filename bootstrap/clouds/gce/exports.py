"""GCE's export fragments: the Packer googlecompute source, and the names the Terraform export looks up."""

from __future__ import annotations

from ...exports import Template, hcl_map, hcl_string
from ...exports.deploy import DEFAULT_GPU
from ...exports.packer import PackerBuild, PackerSource
from .vocabulary import DEBIAN_FAMILY, DEBIAN_PROJECT, DEFAULT_MACHINE_TYPE, family, tags

ACCELERATOR = (
    'var.gcp_accelerator_type == "" ? "" : '
    '"projects/${var.gcp_project_id}/zones/${var.gcp_zone}/acceleratorTypes/${var.gcp_accelerator_type}"'
)
# googlecompute sets its labels before it resolves the family to an image: the label names the family
# (a bake's names the image, so a bake's unchanged-check never takes a Packer image for its own).
PACKER_SOURCE = Template("${var.gcp_source_image_family}")


def packer(build: PackerBuild) -> PackerSource:
    gpu = build.gpu
    variables = f"""\
variable "gcp_project_id" {{
  type    = string
  default = ""
}}

variable "gcp_zone" {{
  type    = string
  default = "europe-west1-b"
}}

variable "gcp_machine_type" {{
  type    = string
  default = {hcl_string(DEFAULT_GPU["gcp_machine_type"] if gpu else DEFAULT_MACHINE_TYPE)}
}}

variable "gcp_accelerator_type" {{
  type        = string
  default     = {hcl_string(DEFAULT_GPU["gcp_gpu"] if gpu else "")}
  description = "builder GPU (empty: none); the profile's NVIDIA driver is baked only on a GPU builder"
}}

variable "gcp_accelerator_count" {{
  type    = number
  default = {1 if gpu else 0}
}}

variable "gcp_service_account_email" {{
  type        = string
  default     = ""
  description = "builder's service account (empty: the project's default)"
}}

variable "gcp_source_image_family" {{
  type    = string
  default = {hcl_string(DEBIAN_FAMILY)}
}}

"""
    source = f"""\
source "googlecompute" "bootstrap" {{
  project_id              = var.gcp_project_id
  zone                    = var.gcp_zone
  machine_type            = var.gcp_machine_type
  disk_size               = var.root_disk_gb
  accelerator_type        = {ACCELERATOR}
  accelerator_count       = var.gcp_accelerator_count
  on_host_maintenance     = var.gcp_accelerator_count > 0 ? "TERMINATE" : "MIGRATE"
  service_account_email   = var.gcp_service_account_email
  source_image_family     = var.gcp_source_image_family
  source_image_project_id = [{hcl_string(DEBIAN_PROJECT)}]
  ssh_username            = "packer"
  startup_script_file     = "${{path.root}}/{build.user_data["gce"].path.name}"
  image_name              = local.image_name
  image_family            = {hcl_string(family(build.profile))}
  image_labels = {{
{hcl_map(tags(build.image_tags(PACKER_SOURCE)), 4)}
  }}
  labels = {{
{hcl_map(tags(build.builder_tags()), 4)}
  }}
}}
"""
    return PackerSource("googlecompute", ("googlecompute", "github.com/hashicorp/googlecompute", ">= 1.1.0"),
                        variables, source)  # fmt: skip
