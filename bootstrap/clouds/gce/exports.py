"""GCE's export fragments: the Packer googlecompute source, and Terraform's google_compute_instance_template
(with the lookup of its image by family and channel label, its GPU, the service account its secrets and
buckets are read with, and its data disks)."""

from __future__ import annotations

import re
from typing import Any

from ...exports import Template, hcl_map, hcl_string, hcl_variable
from ...exports.deploy import DEFAULT_GPU, slug
from ...exports.packer import PackerBuild, PackerSource
from ...exports.terraform import Stage, TerraformBuild, TerraformFragment, TerraformPart, yours_or_ours
from .vocabulary import DEBIAN_FAMILY, DEBIAN_PROJECT, DEFAULT_MACHINE_TYPE, channel_filter, family, tags

ACCELERATOR = (
    'var.gcp_accelerator_type == "" ? "" : '
    '"projects/${var.gcp_project_id}/zones/${var.gcp_zone}/acceleratorTypes/${var.gcp_accelerator_type}"'
)
# googlecompute sets its labels before it resolves the family to an image: the label names the family
# (a bake's names the image, so a bake's unchanged-check never takes a Packer image for its own).
PACKER_SOURCE = Template("${var.gcp_source_image_family}")


def packer(build: PackerBuild) -> PackerSource:
    gpu = build.gpu
    variables = "".join((
        hcl_variable("gcp_project_id", "string", hcl_string("")),
        hcl_variable("gcp_zone", "string", hcl_string("europe-west1-b")),
        hcl_variable("gcp_machine_type", "string",
                     hcl_string(DEFAULT_GPU["gcp_machine_type"] if gpu else DEFAULT_MACHINE_TYPE)),
        hcl_variable("gcp_accelerator_type", "string", hcl_string(DEFAULT_GPU["gcp_gpu"] if gpu else ""),
                     "builder GPU (empty: none); the profile's NVIDIA driver is baked only on a GPU builder"),
        hcl_variable("gcp_accelerator_count", "number", str(1 if gpu else 0)),
        hcl_variable("gcp_service_account_email", "string", hcl_string(""),
                     "builder's service account (empty: the project's default)"),
        hcl_variable("gcp_source_image_family", "string", hcl_string(DEBIAN_FAMILY)),
    ))  # fmt: skip
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


def terraform(build: TerraformBuild) -> TerraformFragment:
    key, name, facts = build.key, build.profile, build.facts
    template = {
        "name_prefix": f"bootstrap-{name}-",
        "machine_type": f"${{var.{key}_gcp_machine_type}}",
        "disk": [{"source_image": f'${{var.{key}_gcp_image != "" ? var.{key}_gcp_image : '
                  f"data.google_compute_image.{key}_image.self_link}}",
                  "disk_size_gb": f"${{var.{key}_root_disk_gb}}", "boot": True, "auto_delete": True}],
        "network_interface": [{"network": "default"}],
        "metadata": {"startup-script": f'${{file("${{path.module}}/{build.user_data["gce"].path.name}")}}'},
        "labels": tags(build.tags),
        "lifecycle": {"create_before_destroy": True},
    }  # fmt: skip
    launch = TerraformPart(
        variable={
            **build.root_disk(),
            f"{key}_gcp_project": {"type": "string", "description": "project that holds the baked images"},
            f"{key}_gcp_image": {"type": "string", "default": "",
                                 "description": f"image; empty: the one labelled with the channel in family "
                                 f"{family(name)}"},
            f"{key}_gcp_machine_type": {"type": "string",
                                        "default": DEFAULT_GPU["gcp_machine_type"] if facts.gpu else "e2-standard-4"},
        },
        data={"google_compute_image": {f"{key}_image": {
            "filter": channel_filter(name, build.channel),
            "most_recent": True, "project": f"${{var.{key}_gcp_project}}"}}},
        resource={"google_compute_instance_template": {key: template}},
        output={f"{key}_instance_template": {"value": f"${{google_compute_instance_template.{key}.self_link}}"}},
    )  # fmt: skip
    fragment = {Stage.TEMPLATE: launch}
    if facts.gpu:
        fragment[Stage.ACCELERATOR] = _gpu(build, template)
    if facts.gcp_account:
        fragment[Stage.IDENTITY] = _account(build, template)
    if any(d.cloud == "gcp" for d in facts.data_disks):
        fragment[Stage.DISKS] = _disks(build, template)
    return fragment


def _gpu(build: TerraformBuild, template: dict[str, Any]) -> TerraformPart:
    """A GPU profile launches with an accelerator (which then cannot live-migrate, so it stops for host
    maintenance)."""
    key = build.key
    part = TerraformPart(variable={
        f"{key}_gcp_gpu_type": {
            "type": "string",
            "default": DEFAULT_GPU["gcp_gpu"],
            "description": "accelerator type (the profile installs the NVIDIA driver)",
        },
        f"{key}_gcp_gpu_count": {"type": "number", "default": 1},
    })  # fmt: skip
    template["guest_accelerator"] = [{"type": f"${{var.{key}_gcp_gpu_type}}", "count": f"${{var.{key}_gcp_gpu_count}}"}]
    template["scheduling"] = {"on_host_maintenance": "TERMINATE", "automatic_restart": True}
    return part


def _account(build: TerraformBuild, template: dict[str, Any]) -> TerraformPart:
    """The service account the machine reads its secrets and buckets with, granted exactly those."""
    key, name, part = build.key, build.profile, TerraformPart()
    variable = f"{key}_gcp_service_account"
    count = yours_or_ours(part.variable, variable, "service account email; empty: one this template creates, "
                          "granted what the profile's secrets and buckets need")  # fmt: skip
    email = f'var.{variable} != "" ? var.{variable} : one(google_service_account.{key}[*].email)'
    account_id = ("bs-" + re.sub(r"[^a-z0-9-]", "-", name.lower()))[:30].rstrip("-").ljust(6, "0")
    resources = part.resource
    resources["google_service_account"] = {
        key: {
            "count": count,
            "account_id": account_id,
            "display_name": f"bootstrap {name}",
            "project": f"${{var.{key}_gcp_project}}",
        }
    }
    for grant in build.facts.gcp_grants:
        member = {"role": grant.role, "member": f"serviceAccount:${{{email}}}"}
        if grant.kind == "secret":
            resources.setdefault("google_secret_manager_secret_iam_member", {})[f"{key}_{slug(grant.name)}"] = {
                "project": grant.project,
                "secret_id": grant.name,
                **member,
            }
        else:
            resources.setdefault("google_storage_bucket_iam_member", {})[f"{key}_{slug(grant.name)}"] = {
                "bucket": grant.name,
                **member,
            }
    template["service_account"] = [{"email": f"${{{email}}}", "scopes": ["cloud-platform"]}]
    return part


def _disks(build: TerraformBuild, template: dict[str, Any]) -> TerraformPart:
    """The persistent data disks the profile mounts, attached by the instance template under the device
    name the profile's by-id path expects."""
    part = TerraformPart()
    for disk in (d for d in build.facts.data_disks if d.cloud == "gcp"):
        variable = f"{build.key}_gcp_disk_{slug(disk.ident)}"
        part.variable[variable] = {
            "type": "string",
            "default": disk.ident,
            "description": f"persistent disk mounted at {disk.path} (same zone as the instance)",
        }
        template["disk"].append(
            {
                "source": f"${{var.{variable}}}",
                "device_name": disk.ident,
                "boot": False,
                "auto_delete": False,
                "mode": "READ_WRITE",
            }
        )
    return part
