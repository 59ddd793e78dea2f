"""The output checks themselves: real cloud-init and shellcheck, on good and on broken input."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.checks import cloudinit_schema, mime, shell
from bootstrap.checks.output import check_rendered
from bootstrap.planner import build_plan
from bootstrap.profile import builtin_profiles, load_profile
from bootstrap.targets import TARGETS, render

REPO = Path(__file__).resolve().parent.parent
PROFILES = [str(p) for p in builtin_profiles().values()] + sorted(
    str(p) for p in (REPO / "examples").rglob("profiles/*.yaml")
)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: Path(p).stem)
def test_every_builtin_and_example_passes_every_check(profile: str) -> None:
    plan = build_plan(load_profile(profile))
    findings = []
    for target in TARGETS:
        findings += check_rendered(plan, render(plan, target))
    assert [str(f) for f in findings] == []


def test_cloud_init_validator_reports_real_errors() -> None:
    findings = cloudinit_schema.validate([
        ("good", "#cloud-config\npackages: [htop]\n"),
        ("bad", "#cloud-config\nwrite_files: [{path: /x, permissions: 644, bogus: 1}]\n"),
        ("headless", "packages: [htop]\n"),
    ])  # fmt: skip
    wheres = {f.where.split(":")[0] for f in findings}
    assert wheres == {"bad", "headless"}
    assert any("bogus" in f.message or "Additional properties" in f.message for f in findings)


def test_shellcheck_and_bash_syntax_report_real_errors() -> None:
    findings = shell.check_scripts({
        "ok": "#!/bin/bash\necho \"$1\"\n",
        "syntax": "#!/bin/bash\nif then\n",
        "warn": "#!/bin/bash\ncd /tmp\nfor f in $(ls); do echo \"$f\"; done\nread x\n",
    })  # fmt: skip
    by_check = {(f.check, f.where.split(":")[0]) for f in findings}
    assert ("bash-syntax", "syntax") in by_check
    assert ("shellcheck", "warn") in by_check
    assert not any(f.where.startswith("ok") for f in findings)


def test_mime_split_reports_unknown_types_and_bad_gzip() -> None:
    parts, findings = mime.split(b"\x1f\x8bnot gzip")
    assert parts == [] and "gzip" in findings[0].message
    text = 'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/x-unknown\n\nhello\n--B--\n'
    parts, findings = mime.split(text.encode())
    assert len(parts) == 1 and "unknown to cloud-init" in findings[0].message
    _, findings = mime.split(
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/x-shellscript\n\nx\n'
    )
    assert any("closing boundary" in f.message for f in findings)


def test_user_commands_with_shell_bugs_are_reported(write_profile) -> None:
    plan = build_plan(
        load_profile(
            str(write_profile("name: c\ncommands: {first_boot: ['tmp=$(mktemp); trap \"rm -f $tmp\" EXIT']}\n"))
        )
    )
    findings = check_rendered(plan, render(plan, "bash"))
    assert any(f.check == "shellcheck" and "cmd-first-boot-01" in f.where and "SC2064" in f.message
               for f in findings)  # fmt: skip
