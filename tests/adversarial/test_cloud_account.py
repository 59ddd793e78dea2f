"""Attacks on the cloud account: names a pull request chooses that make bootstrap's lookups take one
profile's image for another's. Each test is the attack; its assertion fails when the attack works.
SECURITY.md, "The cloud account"."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bootstrap.bake.backend import TAG_ROLE, Identity
from bootstrap.cli import main
from bootstrap.clouds.gce import vocabulary as gce


def _matches(labels: dict[str, str], family: str, expression: str) -> bool:
    """A GCE images.list filter of the forms the exports write: ``family = "F"``, ``labels.K = "V"`` and
    ``labels.K:*`` (has the label), joined by AND."""
    for term in expression.split(" AND "):
        if has := re.fullmatch(r"labels\.([\w-]+):\*", term.strip()):
            if has.group(1) not in labels:
                return False
            continue
        key, value = re.fullmatch(r'([\w.-]+)\s*=\s*"([^"]*)"', term.strip()).groups()  # type: ignore[union-attr]
        actual = labels.get(key.removeprefix("labels.")) if key.startswith("labels.") else family
        if actual != value:
            return False
    return True


def _gce_image(profile: str) -> tuple[dict[str, str], str]:
    """The labels and family the GCE backend gives a promoted image of ``profile`` that holds latest."""
    tags = {**Identity(profile, "0" * 64, "debian-12").tags(), TAG_ROLE: "image"}
    return {**gce.labels(tags), gce.channel_label("latest"): "1"}, gce.family(profile)


def test_a_long_profile_name_cannot_take_over_anothers_terraform_image(tmp_path: Path) -> None:
    """GCE families are at most 63 characters: ``bootstrap-`` and two 63-character profile names that
    share their first 53 make one family. The attacker's profile, baked, holds latest in that family;
    the victim's Terraform lookup (family and channel label, most recent) must not launch it."""
    victim, attacker = "a" * 53 + "-victim", "a" * 53 + "-attack"
    assert gce.family(victim) == gce.family(attacker)  # the precondition: one family
    (tmp_path / "v.yaml").write_text(f"name: {victim}\n")
    assert main(["export", "terraform", str(tmp_path / "v.yaml"), "-o", str(tmp_path / "out")]) == 0
    [document] = (tmp_path / "out").glob("*.tf.json")
    [lookup] = json.loads(document.read_text())["data"]["google_compute_image"].values()
    expression = lookup["filter"].replace("${var." + victim.replace("-", "_") + "_channel}", "latest")
    assert _matches(*_gce_image(victim), expression)  # it finds the victim's own
    assert not _matches(*_gce_image(attacker), expression), "the victim's template launches the attacker's image"
