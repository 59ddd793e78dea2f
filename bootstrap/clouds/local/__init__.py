"""local: golden qcow2 images baked in QEMU on this host (bootstrap/localvm runs the machines). Its
options and the backend's construction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...options import CLIENT_TARGET
from ...targets import TEST_TARGETS
from .. import BUILDS, Cloud, Context, Option, Values

LAYER_CACHE_HELP = ("where builders' layers are kept and found (default: this user's private cache, "
                    "~/.cache/bootstrap/layers; never a folder a checkout could fill)")
OPTIONS = (
    Option(("-o", "--output"), "folder of golden images (default ./images)",
           arguments={"metavar": "DIR", "default": "images"}),
    Option(("--target", "-t"), CLIENT_TARGET, BUILDS, arguments={"choices": TEST_TARGETS, "default": "cloud-init"},
           refusal="; -b {backend} hands the {backend} user data over to the cloud itself{hint}"),
    Option(("--layer-cache",), LAYER_CACHE_HELP, BUILDS, arguments={"metavar": "DIR", "default": None}),
)  # fmt: skip


def build(values: Values, context: Context) -> Any:
    from .backend import LocalBackend

    cache = values.get("layer_cache")
    return LocalBackend(Path(values["output"]), progress=context.progress, setup=context.setup,
                        client=values["target"], layer_cache=Path(cache) if cache else None)  # fmt: skip


CLOUD = Cloud("local", OPTIONS, build, summary="local QEMU images",
              hint=" (--target gce-user-data boots through GCE's cloud-init datasource)")
