"""What a bake cannot carry, refused before any machine starts (a dry run included).

A builder runs the image-scope first-boot steps only (see bootstrap/plan.py): not the host name,
the mounts, the secrets or any other instance-scope or every-boot step. A baked step that needs
one of those ran without it, and an instance of the image then skips that step as done: the
golden image is wrong, silently. So a bake refuses, at the profile line:

* a stated order (``before:``/``after:``) that puts an unbaked step before a baked one;
* a baked file under a mount point: written onto the builder's root disk, then hidden by the mount;
* a baked conda under a mount point, or a secret the conda step reads (pip's and conda's
  configuration, .netrc): the builder has neither the disk nor the secret.
A profile that is never baked may do any of these: ``render``, ``validate`` and ``check`` accept them.
"""

from __future__ import annotations

import posixpath
from typing import Any

from . import layout
from .errors import Problem, ProfileError
from .features import all_features, problem
from .features._mount_rules import below, normal
from .ordering import stated_edges
from .plan import Phase, Plan, Scope, Step
from .profile import Profile

SCOPE_HINT = "set scope: instance on {step} (it then runs on every new instance), or drop the order"
# Files the conda step's tools read: pip (pip.conf, pip.ini), conda and micromamba (.condarc, .mambarc), netrc.
CONDA_READS = {"pip.conf", "pip.ini", ".condarc", ".mambarc", "condarc", "mambarc", ".netrc"}
CONDA_READS_FROM = {"PIP_CONFIG_FILE", "CONDARC", "MAMBARC", "NETRC"}  # env: the file they name is read


def baked(step: Step) -> bool:
    return step.phase == Phase.FIRST_BOOT and step.scope == Scope.IMAGE


def refuse_unbakeable(profile: Profile, plan: Plan) -> None:
    """Raise a ProfileError listing every reason the image would not hold what the profile says."""
    problems = (_stated_problems(plan) + _mount_problems(profile.data) + _secret_problems(profile.data)
                + _sealed_problems(profile.data))
    if problems:
        raise ProfileError(problems)


def _stated_problems(plan: Plan) -> list[Problem]:
    by_id = {s.id: s for s in plan.steps}
    problems = []
    for edge in stated_edges(plan.steps, all_features()):
        first, then = by_id[edge.first], by_id[edge.then]
        if baked(then) and not baked(first):
            problems.append(Problem(
                f"{then.id} is baked into the image (image scope, first boot) but is to run after {first.id}, "
                f"which a bake does not run ({first.phase.value.replace('_', ' ')}, {first.scope.value} scope): the "
                f"builder runs {then.id} without it, and instances of the image skip {then.id} as done",
                edge.mark, _hint(then, first, edge.mark)))  # fmt: skip
    return problems


def _hint(baked_step: Step, unbaked: Step, mark: object) -> str:
    """Where the statement is on a baked command or file, its scope can move; else only the bake can."""
    said_by_baked = mark is not None and mark in baked_step.order_marks.values()
    if said_by_baked and baked_step.feature in ("commands", "files"):
        return SCOPE_HINT.format(step=baked_step.id)
    return (f"a builder runs only image-scope first-boot steps: give {baked_step.id} what it needs from "
            f"{unbaked.id} another way in the image, or do not bake this profile (render it as user data)")


# What the seal (templates/runner/seal.sh.j2) wipes from the image: cloud-init's state (cloud-init clean),
# the SSH host keys, bootstrap's instance state and log.
SEALED = ("/var/lib/cloud", "/etc/ssh/ssh_host_", layout.LOG_FILE, f"{layout.STATE_DIR}/instances")


def _sealed_problems(data: Any) -> list[Problem]:
    problems = []
    for item in data.get("files") or []:
        path = normal(item["path"])
        wiped = next((w for w in SEALED if path == w or path.startswith(w if w.endswith("_") else w + "/")), None)
        if wiped and item.get("phase", "first_boot") == "first_boot" and item.get("scope", "image") == "image":
            problems.append(problem(item, "path", f"file {item['path']} is baked into the image (image scope), but "
                                    "the bake's seal wipes it (cloud-init clean, host keys, bootstrap's instance "
                                    "state) before the image is taken; instances skip the step as done",
                                    "set scope: instance on this file"))  # fmt: skip
    return problems


def _mount_points(data: Any) -> list[str]:
    return [normal(m["path"]) for m in data.get("mounts") or []]


def _under(path: str, mounts: list[str]) -> str | None:
    """The mount point ``path`` is at or in."""
    path = normal(path)
    return next((m for m in mounts if path == m or below(path, m)), None)


def _mount_problems(data: Any) -> list[Problem]:
    mounts = _mount_points(data)
    if not mounts:
        return []
    problems = []
    for item in data.get("files") or []:
        mount = _under(item["path"], mounts)
        if mount and item.get("phase", "first_boot") == "first_boot" and item.get("scope", "image") == "image":
            problems.append(problem(item, "path", f"file {item['path']} is baked into the image (image scope) but "
                                    f"lies under mount point {mount}: the builder writes it on its root disk, and "
                                    "the mounted filesystem hides it on every instance",
                                    "set scope: instance on this file (written onto the mounted filesystem "
                                    "on each new instance)"))  # fmt: skip
    conda = data.get("conda")
    inside = [m for m in mounts if below(m, layout.CONDA_PREFIX)]  # /opt/conda/envs on a disk
    mount = (_under(layout.CONDA_PREFIX, mounts) or next(iter(inside), None)) if conda is not None else None
    if mount:
        problems.append(problem(data, "conda", f"conda is baked into the image under {layout.CONDA_PREFIX}, but "
                                f"{mount} is a mount point: the builder installs it on its root disk, and the mounted "
                                "filesystem hides it on every instance", f"mount the disk elsewhere than {mount}"))
    return problems


def _secret_problems(data: Any) -> list[Problem]:
    if data.get("conda") is None:
        return []
    from .features.secrets import secret_path

    named = {str(v) for k, v in (data.get("env") or {}).items() if k in CONDA_READS_FROM}
    problems = []
    for item in data.get("secrets") or []:
        path = secret_path(item)
        root_reads = path.startswith(("/etc/", "/root/", layout.CONDA_PREFIX + "/"))  # not alice's ~/.netrc
        by_name = posixpath.basename(path) in CONDA_READS or "/condarc.d/" in path
        if (root_reads and by_name) or path in named:
            problems.append(problem(item, "path" if "path" in item else "name", f"secret {item['name']!r} is "
                                    f"written to {path}, which the conda step's tools read (pip, conda, netrc), but a "
                                    "bake does not fetch secrets: the builder builds the environments without it",
                                    "give the environments' index or channel credentials another way for the "
                                    "bake, or do not bake this profile (render it as user data)"))  # fmt: skip
    return problems
