"""An engineer who keeps a GPU profile in git asks, before a bake, how much of the image a change
costs (issue #25): `explain` lists the image's layers, `diff` between commits names the first layer a
change invalidates, so a change to the message of the day rebuilds only its layer, a new driver every
layer above the driver's, and a change of an instance's own step none."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Run, git

PROFILE = """\
name: gpu
extends: [base]
users: [{name: trainer}]
nvidia: {driver: "535", cuda: "12.2"}
conda:
  environments:
    - name: ds
      spec: {channels: [conda-forge], dependencies: [python=3.11, numpy]}
idle_shutdown:
  after_minutes: 60
files:
  - path: /etc/team.conf
    content: "team = ml\\n"
"""


def test_diff_names_the_first_layer_a_change_invalidates(repo: Path, bootstrap: Run) -> None:
    profile = repo / "gpu.yaml"
    profile.write_text(PROFILE)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "gpu profile")

    explained = bootstrap("explain", "gpu.yaml").stdout
    assert "layers of a baked image" in explained
    layers = json.loads(bootstrap("explain", "gpu.yaml", "--json").stdout)["layers"]["layers"]
    names = [layer["name"] for layer in layers]
    assert names[:3] == ["timezone", "packages", "nvidia-install"] and "conda" in names, names
    for layer in layers:
        assert f"{layer['index']}      {layer['name']}" in explained and layer["key"][:12] in explained
    last = len(layers)

    profile.write_text(PROFILE.replace("team = ml", "team = vision"))  # the last layer's file
    said = bootstrap("diff", "HEAD:gpu.yaml", "gpu.yaml", expect=1).stdout
    assert f"layers: layer {last} of {last} ({names[-1]}) changed: step file-etc-team.conf's script " \
           f"(layers 1-{last - 1} of {last} unchanged)" in said, said  # fmt: skip

    profile.write_text(PROFILE.replace('driver: "535"', 'driver: "550"'))
    said = bootstrap("diff", "HEAD:gpu.yaml", "gpu.yaml", expect=1).stdout
    assert f"layers: layer 3 of {last} (nvidia-install) changed: step nvidia-install's script " \
           f"(layers 1-2 of {last} unchanged)" in said, said  # fmt: skip

    profile.write_text(PROFILE.replace("after_minutes: 60", "after_minutes: 30"))  # every boot, on the instance
    answer = bootstrap("diff", "--json", "HEAD:gpu.yaml", "gpu.yaml", expect=1).stdout
    change = json.loads(answer)["layers"]
    assert change["first_invalidated"] is None and change["reused"] == last
    assert change["reason"] == "nothing image-scope changed: every layer reused"
    assert "layers:" not in bootstrap("diff", "HEAD:gpu.yaml", "gpu.yaml", expect=1).stdout
