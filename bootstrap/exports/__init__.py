"""Exports to the engines teams already run at scale: Packer templates and Terraform templates.

Each export writes its template beside the rendered user data it uses (files, not inline
strings, so that Packer and Terraform see a change to the profile as a change to a file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..plan import Plan
from ..targets import Variant, render


@dataclass(frozen=True)
class Written:
    """One file of an export: computed here, written by the caller (atomically, see output.py)."""

    path: Path
    what: str
    data: bytes


def write(folder: Path, name: str, data: bytes, what: str) -> Written:
    return Written(folder / name, what, data)


def user_data_files(plan: Plan, folder: Path, variant: Variant = Variant.USER_DATA) -> tuple[Written, Written]:
    """The EC2 user data (gzipped when over 16 KiB) and the GCE startup script, for a variant."""
    suffix = "bake." if variant.bakes else ""
    ec2 = render(plan, "ec2", variant=variant)
    gce = render(plan, "gce", variant=variant)
    return (
        write(folder, f"{plan.profile}.{suffix}ec2-user-data", ec2.data,
              "EC2 user data" + (" (gzip)" if ec2.gzipped else "")),
        write(folder, f"{plan.profile}.{suffix}gce-startup.sh", gce.data, "GCE startup script"),
    )  # fmt: skip


class Template(str):
    """A string Packer or Terraform fills in (``${local.stamp}``): written as it is, not escaped."""


def hcl_string(text: str) -> str:
    """An HCL string literal: JSON's escapes, with template sequences escaped too (not in a Template)."""
    if isinstance(text, Template):
        return json.dumps(text)
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


def hcl_map(values: dict[str, str], indent: int) -> str:
    width = max(len(hcl_string(k)) for k in values)
    return "\n".join(f"{' ' * indent}{hcl_string(k):<{width}} = {hcl_string(v)}" for k, v in values.items())


def hcl_variable(name: str, kind: str, default: str, description: str = "") -> str:
    """A Packer ``variable`` block and the blank line after it; ``default``: an HCL expression. Its ``=``
    aligned as `packer fmt` aligns them."""
    fields = {"type": kind, "default": default, **({"description": hcl_string(description)} if description else {})}
    width = max(map(len, fields))
    body = "".join(f"  {field:<{width}} = {value}\n" for field, value in fields.items())
    return f"variable {hcl_string(name)} {{\n{body}}}\n\n"


def hcl_list(values: list[str], indent: int) -> str:
    return "\n".join(f"{' ' * indent}{hcl_string(v)}," for v in values)
