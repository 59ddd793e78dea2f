"""The semantic tier has teeth: profiles that would fail on a real machine fail in its sandbox, each
for the reason a real machine would give (tests/semantic/emulate.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ..sandbox import available
from .cases import Case
from .test_semantic import boot_outcome

pytestmark = [
    pytest.mark.semantic,
    pytest.mark.sandbox,
    pytest.mark.skipif(available() is not None, reason=str(available())),
]

BROKEN = {
    "written-under-a-mount": (
        """
        name: written-under-a-mount
        mounts: [{path: /data, type: block, device: {label: data}}]
        commands:
          first_boot:
            - {name: early, before: [mounts], run: install -d /data/cache}
        """,
        "mounting UUID=5d1a7c2e-0b6f-4e3a-9c1d-2f8e7a6b5c4d on /data hid what was written there before: ['cache']",
    ),
    "service-folder-missing": (
        """
        name: service-folder-missing
        services:
          units: [{name: api, command: /usr/bin/python3 -m http.server, working_directory: /srv/api}]
        """,
        "api.service is failed: WorkingDirectory=/srv/api does not exist",
    ),
    "cuda-package-without-its-repository": (
        """
        name: cuda-package-without-its-repository
        packages: [cuda-toolkit-12-4]
        """,
        "Unable to locate package cuda-toolkit-12-4 (NVIDIA's CUDA repository (cuda-keyring) is not in the apt sources",
    ),
    "kernel-without-ipykernel": (
        """
        name: kernel-without-ipykernel
        conda:
          environments:
            - {name: ds, kernel: true, spec: {dependencies: [python=3.11, pandas]}}
        """,
        "No module named ipykernel",
    ),
    "jupyter-without-its-folder": (
        """
        name: jupyter-without-its-folder
        users: [{name: ana}]
        secrets: [{name: token, from: "aws-ssm:/ana/token", owner: ana}]
        conda:
          environments: [{name: lab, spec: {dependencies: [python=3.12, jupyterlab]}}]
        services:
          jupyter: {user: ana, conda_env: lab, token_secret: token, notebook_dir: /srv/notebooks}
        """,
        "its root folder /srv/notebooks does not exist",
    ),
    "docker-before-its-package": (
        """
        name: docker-before-its-package
        commands:
          first_boot: [docker pull ghcr.io/acme/tool:1]
        """,
        "docker: command not found",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_profile_that_cannot_work_fails_in_the_sandbox(name: str, tmp_path: Path) -> None:
    text, reason = BROKEN[name]
    profile = tmp_path / f"{name}.yaml"
    profile.write_text(textwrap.dedent(text))
    outcome = boot_outcome(Case(str(profile), "harness"), "bash", tmp_path)
    assert outcome.problems, f"{name} booted fine:\n{outcome}"
    assert reason in str(outcome), str(outcome)
