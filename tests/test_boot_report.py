"""The boot report `bootstrap test` and `bake` keep: its folder, its JSON, its page; from canned consoles
(no VM boots: prove and the bake's backend are stand-ins). The page in a browser: test_boot_report_browser.py."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from bootstrap.boot_report import BootRun, boot_labels, from_proof, new_folder, write_report
from bootstrap.cli import main
from bootstrap.localvm.proof import proof_json
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile

from . import boot_reports
from .fake_backend import FakeBackend
from .guest_sim import console_lines


@pytest.fixture
def plan():  # type: ignore[no-untyped-def]
    return build_plan(load_profile("base"))


@pytest.fixture
def no_vm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plan):  # type: ignore[no-untyped-def]
    """`bootstrap test` in tmp_path with prove answering a canned proof (the last step failing on the relaunch)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    canned = boot_reports.proof(plan, fail_at=plan.ordered[-1].id)
    monkeypatch.setattr("bootstrap.localvm.proof.prove", lambda *args, **kwargs: canned)
    monkeypatch.setattr("bootstrap.cli.bake.guest_choice", lambda *args, **kwargs: SimpleNamespace(
        lines=[], apt_packages=[], setup=lambda: None))  # fmt: skip
    return canned


class Texts(HTMLParser):
    """The text of each SVG <text>, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.tags: list[str] = []
        self._in_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "text":
            self._in_text, self.texts = True, [*self.texts, ""]

    def handle_endtag(self, tag: str) -> None:
        self._in_text = self._in_text and tag != "text"

    def handle_data(self, data: str) -> None:
        if self._in_text:
            self.texts[-1] += data


def parsed(html: str) -> Texts:
    texts = Texts()
    texts.feed(html)
    return texts


def test_the_folder_holds_each_boots_console_the_json_and_one_page(tmp_path: Path, plan) -> None:
    proof = boot_reports.proof(plan, fail_at=plan.ordered[-1].id)
    folder = write_report(from_proof(proof, proof_json(proof)), tmp_path / "report")
    assert sorted(p.name for p in folder.iterdir()) == ["boot-1-first-boot.log", "boot-2-reboot-1.log",
                                                        "boot-3-relaunch-a-new-instance.log", "index.html",
                                                        "report.json"]  # fmt: skip
    assert (folder / "boot-3-relaunch-a-new-instance.log").read_text() == proof.boots[2].console
    assert json.loads((folder / "report.json").read_text()) == json.loads(json.dumps(proof_json(proof)))
    page = (folder / "index.html").read_text()
    shown = parsed(page).texts
    for step in plan.ordered:  # each step on each boot: its name, then its phase, duration and result
        assert shown.count(step.id) == 3, step.id
    assert f"{plan.ordered[-1].phase.value} · 12 ms · failed (exit 100)" in shown
    for words in ("ok: ran and exited 0", "failed: exited non-zero", "baked: ran in the image"):
        assert words in page  # the legend in words: it reads without colour
    for said in ("DataSourceNoCloud [seed=/dev/vdb]", "4,321", "5e" * 32, f"boot 3: step {plan.ordered[-1].id} failed",
                 "first boot", "reboot 1", "relaunch (a new instance)"):  # fmt: skip
        assert said in page, said
    assert all((p.stat().st_mode & 0o077) == 0 for p in folder.iterdir())  # a console may show a secret


def test_the_page_is_self_contained(tmp_path: Path, plan) -> None:
    """No script, and nothing fetched from elsewhere: it opens from a CI artifact, offline."""
    proof = boot_reports.proof(plan)
    page = (write_report(from_proof(proof, proof_json(proof)), tmp_path / "r") / "index.html").read_text()
    tags = set(parsed(page).tags)
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "foreignobject"}, tags
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(|@import""", page, re.I)
    assert "default-src 'none'" in page  # and the browser is told so


def test_each_boot_is_named_by_what_it_was() -> None:
    assert boot_labels(["ok", "ok", "ok"], ["i-1", "i-1", "i-2"]) == ["first boot", "reboot 1",
                                                                      "relaunch (a new instance)"]  # fmt: skip
    assert boot_labels(["rebooting", "ok", "ok", "ok"], ["a", "a", "a", "b"]) == [
        "first boot", "after the runner's own reboot", "reboot 1", "relaunch (a new instance)"]


def test_a_report_never_overwrites_another(tmp_path: Path) -> None:
    run = BootRun("test", "base", True, {"ok": True})
    first, second = (new_folder(tmp_path, "base", "test", now=0) for _ in range(2))
    assert first != second and first.name == "base-test-19700101-000000" and second.name.endswith("-2")
    write_report(run, first)
    with pytest.raises(Exception, match="holds files already"):
        write_report(run, first)


def test_test_keeps_a_report_where_said_and_prints_its_page(no_vm, tmp_path: Path, capsys) -> None:
    assert main(["test", "base", "--report", "out"]) == 1  # the relaunch failed: findings
    said = capsys.readouterr()
    assert f"report: {Path('out') / 'index.html'}" in said.err
    assert (tmp_path / "out" / "index.html").is_file()


def test_the_report_json_is_what_json_prints(no_vm, tmp_path: Path, capsys) -> None:
    assert main(["test", "base", "--json", "-q"]) == 1
    said = capsys.readouterr()
    [folder] = (tmp_path / ".bootstrap" / "reports").iterdir()  # the default: a new folder here
    assert json.loads((folder / "report.json").read_text()) == json.loads(said.out)
    assert "report:" not in said.err  # -q: errors only


def test_a_report_folder_with_files_is_refused_before_any_boot(no_vm, tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "index.html").write_text("someone's")

    def boots(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("booted")

    monkeypatch.setattr("bootstrap.localvm.proof.prove", boots)
    assert main(["test", "base", "--report", "out"]) == 2
    assert "holds files already" in capsys.readouterr().err
    assert (tmp_path / "out" / "index.html").read_text() == "someone's"


class BuilderSays(FakeBackend):
    """The fake backend, its builder printing the image-scope steps as our runner does before sealing."""

    def console(self, instance):  # type: ignore[no-untyped-def]
        if instance.role == "builder" and self.behaviour["builder"] == "ok":
            self._call("console", instance.role)
            return console_lines(self.plan, "builder")
        return super().console(instance)


@pytest.fixture
def fake_bake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plan):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    backend = BuilderSays(plan)
    monkeypatch.setattr("bootstrap.cli.bake.make_backend", lambda *args, **kwargs: backend)
    monkeypatch.setattr("bootstrap.cli.bake.guest_choice", lambda *args, **kwargs: SimpleNamespace(
        lines=[], apt_packages=[], setup=lambda: None))  # fmt: skip
    return backend


def test_bake_keeps_the_builder_and_the_golden_image_test_boot(fake_bake, tmp_path: Path, plan, capsys) -> None:
    assert main(["bake", "base", "--report", "out", "--json"]) == 0
    said = capsys.readouterr()
    events = [json.loads(line) for line in said.err.splitlines()]  # stderr stays JSON lines, the report's too
    assert events[-1]["event"] == "report" and events[-1]["page"] == str(Path("out") / "index.html")
    folder = tmp_path / "out"
    assert sorted(p.name for p in folder.glob("*.log")) == ["boot-1-builder-bakes-the-image.log",
                                                            "boot-2-golden-image-test-boot.log"]  # fmt: skip
    report = json.loads((folder / "report.json").read_text())
    assert {k: v for k, v in report.items() if k != "boots"} == json.loads(said.out)
    assert [b["result"] for b in report["boots"]] == ["sealed", "ok"]
    page = (folder / "index.html").read_text()
    baked = [s.id for s in plan.ordered if s.phase.value == "first_boot" and s.scope.value == "image"]
    assert baked and parsed(page).texts.count("first_boot · 0 ms · baked") == len(baked)  # the test boot skipped them
    assert "golden image test boot" in page and "user data of the builder" in page


def test_a_failed_bake_keeps_what_its_machines_said(fake_bake, tmp_path: Path, plan, capsys) -> None:
    fake_bake.behaviour["test"] = f"fail:{plan.ordered[-1].id}"
    assert main(["bake", "base", "--report", "out"]) == 3
    err = capsys.readouterr().err
    assert "bake: report: out" in err and "bake failed at step test" in err
    page = (tmp_path / "out" / "index.html").read_text()
    assert "FAILED" in page and "bake failed at step test" in page
    assert json.loads((tmp_path / "out" / "report.json").read_text())["status"] == "failed"


def test_a_dry_run_keeps_no_report(fake_bake, tmp_path: Path) -> None:
    assert main(["bake", "base", "--dry-run"]) == 0
    assert not (tmp_path / ".bootstrap").exists()  # nothing booted, nothing to look at


def test_what_the_guest_received_is_the_values_digest_not_the_whole_response() -> None:
    """GCE's agent reads all attributes in one response: the report's bytes and hash are the script's."""
    from bootstrap.boot_report import received

    gce = {"path": "/computeMetadata/v1/instance/attributes/?recursive=true", "user_agent": "GoogleGuestAgent",
           "size": 9000, "sha256": "0" * 64, "startup-script": {"size": 1234, "sha256": "a" * 64}}  # fmt: skip
    assert received([gce, boot_reports.DELIVERED[0]]) == [
        {"path": gce["path"], "user_agent": "GoogleGuestAgent", "size": 1234, "sha256": "a" * 64},
        {"path": "seed disk: user-data", "user_agent": "", "size": 4321, "sha256": "5e" * 32}]


def test_a_reboot_without_steps_says_why_rather_than_looking_broken(tmp_path) -> None:
    """The newcomer's reading: a reboot of `base` ran no step (its first-boot steps done earlier), and the
    page said only "No step reported", which reads as a failure."""
    from bootstrap.boot_report import Boot, BootRun, write_report
    from bootstrap.console import GuestReport

    boot = Boot("reboot 1", GuestReport("ok", None, [], "console\n", 52.0), "i-1")
    run = BootRun("test", "base", True, {"ok": True}, [boot], target="cloud-init", client="DataSourceNoCloud")
    page = (write_report(run, tmp_path / "report") / "index.html").read_text()
    assert "every first-boot step had run on this instance already" in page
