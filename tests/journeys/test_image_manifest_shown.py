"""`bootstrap images show`: a person asks what an image is, its tags, its channels and what it holds
(the manifest its bake kept beside it), and is told when that file no longer matches its record."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from bootstrap.bake.manifest import parse_manifest

from ..test_image_manifest import SIMPLE, manifest_bytes
from .conftest import Run

TAGS = {"bootstrap:owner": "bootstrap", "bootstrap:profile": "box", "bootstrap:role": "image",
        "bootstrap:image-hash": "0123456789abcdef", "bootstrap:promoted": "1"}  # fmt: skip


def _images(repo: Path) -> Path:
    """Two images of box: the older without a manifest, the newer (latest) with one."""
    output = repo / "images"
    output.mkdir()
    data = gzip.compress(manifest_bytes({"bash": "5.2", "jq": "1.6"}, SIMPLE), mtime=0)
    for number, name in enumerate(("bootstrap-box-1", "bootstrap-box-2"), start=1):
        (output / f"{name}.qcow2").write_bytes(b"disk")
        record = {"format": "bootstrap-local-image", "name": name, "created": number, "disk": f"{name}.qcow2",
                  "tags": {**TAGS, "bootstrap:channel:latest": str(number)}}  # fmt: skip
        if number == 2:
            (output / f"{name}.manifest.gz").write_bytes(data)
            record["contents"] = {"file": f"{name}.manifest.gz", **parse_manifest(data).summary()}
        (output / f"{name}.json").write_text(json.dumps(record))
    return output


def test_images_show_says_what_an_image_holds(repo: Path, bootstrap: Run) -> None:
    (repo / "box.yaml").write_text("name: box\npackages: [jq]\n")
    output = _images(repo)
    shown = bootstrap("images", "show", "box").stdout
    assert shown.startswith("bootstrap-box-2\n") and "channels latest" in shown, shown
    assert "tag bootstrap:image-hash = 0123456789abcdef" in shown
    assert "manifest: bootstrap-box-2.manifest.gz: 2 packages, 4 entries (0 volatile), stable sha256 " in shown
    assert shown.rstrip().endswith("verified"), shown

    older = json.loads(bootstrap("images", "show", "box", "--image", "bootstrap-box-1", "--json").stdout)
    assert [i["image"] for i in older["images"]] == ["bootstrap-box-1"] and older["images"][0]["manifest"] is None
    assert "manifest: none kept" in bootstrap("images", "show", "box", "--image", "bootstrap-box-1").stdout

    latest = json.loads(bootstrap("images", "show", "box", "--json").stdout)["images"][0]
    assert latest["manifest"]["packages"] == 2 and latest["manifest"]["verified"] is True
    assert latest["tags"]["bootstrap:profile"] == "box"

    (output / "bootstrap-box-2.manifest.gz").write_bytes(gzip.compress(manifest_bytes({"bash": "5.3"}, SIMPLE)))
    assert "NOT matching its file" in bootstrap("images", "show", "box").stdout
    (output / "bootstrap-box-2.manifest.gz").unlink()
    assert "NOT matching its file" in bootstrap("images", "show", "box").stdout

    missing = bootstrap("images", "show", "box", "--image", "bootstrap-box-9", expect=3)
    assert "no image bootstrap-box-9 of box" in missing.stderr
    refused = bootstrap("images", "show", "bx", expect=2)
    assert "did you mean box?" in refused.stderr
