"""The machine layout has one home (bootstrap/layout.py): no template or module spells a path of it."""

from __future__ import annotations

import re
from pathlib import Path

from bootstrap import layout

ROOT = Path(__file__).resolve().parent.parent
HOMES = ["/usr/local/lib/bootstrap", "/var/lib/bootstrap", "/run/bootstrap", "/var/log/bootstrap"]


def _sources() -> list[Path]:
    files = [p for p in (ROOT / "templates").rglob("*") if p.is_file()]
    files += [p for p in (ROOT / "bootstrap").rglob("*.py") if p.name != "layout.py"]
    return files


def test_only_layout_spells_the_machine_paths() -> None:
    offenders = []
    for path in _sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(home in line for home in HOMES):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use bootstrap.layout (templates: {{ layout.NAME | q }}):\n" + "\n".join(offenders)


def test_layout_names_every_home() -> None:
    values = {value for name, value in vars(layout).items() if name.isupper() and isinstance(value, str)}
    for home in HOMES[:3]:
        assert home in values


def test_no_feature_runs_another_steps_file_by_path() -> None:
    """A step that needs another's work states its order (before:/after:, a feature's AFTER); it never
    runs the other's file, whose place is the runner's business."""
    pattern = re.compile(r"steps/|STEPS_DIR")
    for path in (ROOT / "bootstrap" / "features").glob("*.py"):
        assert not pattern.search(path.read_text(encoding="utf-8")), f"{path.name}: order the steps instead"
    for path in (ROOT / "templates" / "features").rglob("*"):
        if path.is_file():
            assert not pattern.search(path.read_text(encoding="utf-8")), f"{path}: order the steps instead"


def test_features_reach_shell_only_through_the_templates_quoting_filter() -> None:
    """Python decides values; templates lay them out, every one through | q (or | qwords). Reading
    words is not writing shell: shlex.split stays allowed (pip splits a requirements line so)."""
    pattern = re.compile(r"shell_quote|shlex\.(?!split\()|from shlex|f\"(export|exec) |f'(export|exec) ")
    for path in (ROOT / "bootstrap" / "features").glob("*.py"):
        found = pattern.search(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name}: {found.group(0)!r}: render a template instead"
