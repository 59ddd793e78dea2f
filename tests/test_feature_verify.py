"""verify: every check runs, each is reported, and any failure fails the step."""

from __future__ import annotations

from .conftest import render_text
from .sandbox import Sandbox


def test_checks_report_each_and_fail_together(sandbox: Sandbox, write_profile) -> None:
    profile = write_profile("""\
        name: v
        files: [{path: /etc/ok.conf, content: "x"}]
        verify:
          - test -f /etc/ok.conf
          - test -f /etc/missing.conf
          - "grep -q x /etc/ok.conf && echo 'quotes $(fine)'"
        """)
    result = sandbox.boot(render_text(profile, "bash"))
    assert result.returncode == 1
    assert "VERIFY ok: test -f /etc/ok.conf" in result.stdout
    assert "VERIFY FAILED: test -f /etc/missing.conf" in result.stdout
    assert "VERIFY ok: grep -q x /etc/ok.conf && echo 'quotes $(fine)'" in result.stdout
    assert "1 verify checks failed" in result.stdout
    assert {s["id"]: s["status"] for s in sandbox.status()["steps"]}["verify"] == "failed"
