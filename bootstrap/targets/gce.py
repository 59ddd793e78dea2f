"""``gce``: a ``startup-script`` metadata value, which Google's guest agent runs on every boot."""

from __future__ import annotations

from . import _heredoc
from ._record import Gzip, SizeLimit, Target
from .limits import GCE_METADATA_VALUE

TARGET = Target(
    name="gce",
    rank=30,
    carrier=_heredoc.CARRIER,
    template="targets/gce.sh.j2",
    instance_id="targets/instance-id/gce.sh.j2",
    layer_wait="targets/layer-wait/gce.sh.j2",
    size=SizeLimit(
        GCE_METADATA_VALUE, "GCE metadata value", "error", Gzip.NO, "GCE",
        refusal=f"the GCE startup-script is {{sizes}}; GCE allows {GCE_METADATA_VALUE:,} bytes per metadata value "
        "and does not decompress it. Move large files out of the profile (fetch them at boot from a bucket) or "
        "bake an image with the heavy steps.",
    ),
    bake_checked=True,
    # and GCE's user-data variant: cloud-init's bytes in GCE metadata (`bake -b gce --gce-user-data`)
    clients=("gce", "gce-user-data"),
    provider="gcp",
    handoff_hint="to launch: gcloud compute instances create NAME --metadata-from-file startup-script={file}",
)
