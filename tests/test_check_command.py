"""`bootstrap check`: secrets, size budgets, located findings, exit codes and JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from bootstrap.checks import secrets
from bootstrap.checks.run import check_profile
from bootstrap.errors import ProfileError
from bootstrap.yamlload import load_text


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "value",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        '{"type": "service_account", "project_id": "p", "private_key": "-----BEGIN"}',
        "ghp_" + "a1B2" * 9,
        "xoxb-123456789012-abcdefghij",
        "postgres://app:s3cret@db.internal/app",
        "AIza" + "Sy" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    ],
)
def test_literal_secrets_are_found_where_they_are(value: str) -> None:
    data = load_text(f"name: x\nenv:\n  SOMETHING: {json.dumps(value)}\n", "p.yaml")
    [finding] = secrets.scan_profile(data)
    assert finding.severity == "error" and finding.where == "p.yaml:3:14"
    assert "describe rights" in finding.hint


@pytest.mark.parametrize(
    ("name", "value", "severity"),
    [
        ("DB_PASSWORD", "hunter2", "error"),
        ("API_KEY", "abc", "error"),
        ("SESSION_SEED", "Zx9qL2mN8vB4cX7kJ1hG5fD3sA6pQ0wE", "warning"),
    ],
)
def test_secret_names_and_random_values(name: str, value: str, severity: str) -> None:
    [finding] = secrets.scan_profile(load_text(f"name: x\nenv: {{{name}: {value}}}\n", "p.yaml"))
    assert finding.severity == severity


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOKEN_PATH", "aws-ssm:/team/token"),  # a reference, resolved at boot
        ("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000"),
        ("PYTHONPATH", "/opt/lib/python3.11/site-packages"),
        ("GIT_SHA", "0123456789abcdef0123"),  # short hex ids are common and harmless
        ("PASSWORD_FILE", ""),
    ],
)
def test_ordinary_values_are_not_flagged(name: str, value: str) -> None:
    assert secrets.scan_profile(load_text(f"name: x\nenv: {{{name}: {json.dumps(value)}}}\n", "p.yaml")) == []


def test_public_ssh_keys_are_not_secrets() -> None:
    text = "name: x\nusers: [{name: a, ssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0ZXN0 a@b']}]\n"
    assert secrets.scan_profile(load_text(text, "p.yaml")) == []


def test_secret_in_a_source_file_is_found_through_the_step(write_profile, tmp_path) -> None:
    (tmp_path / "key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n")
    profile = write_profile("name: x\nfiles:\n  - path: /root/.ssh/id\n    source: key\n")
    with pytest.raises(ProfileError) as caught:  # certainly a credential: refused before any check
        check_profile(str(profile), ["bash"])
    assert f"{profile}:3:5: error: step file-root-.ssh-id would carry a literal private key block" in str(caught.value)
    (tmp_path / "key").write_text("token=ghp_" + "a1B2" * 9 + "\n")  # likely, not certain: a check finding
    report = check_profile(str(profile), ["bash"])
    [finding] = [f for f in report.findings if f.check == "secrets"]
    assert finding.where.startswith(f"{profile}:3:5 (step file-root-.ssh-id, its line ") and not report.ok


def test_builtin_profile_checks_clean_with_budgets() -> None:
    report = check_profile("base", ["cloud-init", "ec2", "gce", "bash"])
    assert report.ok and report.findings == []
    budgets = {b.target: b for b in report.budgets}
    assert budgets["ec2"].sent == budgets["ec2"].gzip or budgets["ec2"].raw <= 16_384
    assert budgets["gce"].limit == 262_144 and budgets["gce"].fits
    assert report.contributors[0][0] == "runner"


def test_oversize_profile_is_an_error_naming_the_largest_parts(write_profile) -> None:
    import base64
    import os

    text = base64.b64encode(os.urandom(30_000)).decode()
    report = check_profile(str(write_profile(f"name: big\nfiles: [{{path: /etc/big, content: '{text}'}}]\n")), ["ec2"])
    [finding] = [f for f in report.findings if f.check == "size"]
    assert finding.severity == "error" and "16,384" in finding.message
    assert "file-etc-big" in finding.hint


def test_check_cli_exit_codes_and_json(write_profile) -> None:
    assert run("check", "base", "--target", "bash").returncode == 0
    # each limited row says whether it fits, and by how much (a newcomer read base64's column as over)
    ec2 = next(line for line in run("check", "base", "--target", "ec2").stdout.splitlines() if "EC2 user data" in line)
    assert re.search(r"16,384 EC2 user data .*  fits \([\d,]+ to spare\)$", ec2), ec2
    leaky = write_profile("name: leaky\nenv: {AWS_KEY: AKIAIOSFODNN7EXAMPLE}\n", "leaky.yaml")
    result = run("check", str(leaky), "--target", "bash")
    assert result.returncode == 1 and f"{leaky}:2:16: error: [secrets]" in result.stdout
    report = json.loads(run("check", "--json", str(leaky), "--target", "bash").stdout)
    assert report[0]["ok"] is False and report[0]["findings"][0]["check"] == "secrets"
    bad = write_profile("name: x\npakages: []\n", "bad.yaml")
    result = run("check", str(bad))
    assert result.returncode == 2 and "did you mean 'packages'" in result.stderr


@pytest.mark.parametrize("profile", __import__("tests.test_checks", fromlist=["PROFILES"]).PROFILES,
                         ids=lambda p: p.rsplit("/", 1)[-1])  # fmt: skip
def test_every_builtin_and_example_checks_clean(profile: str) -> None:
    report = check_profile(profile, ["cloud-init", "ec2", "gce", "bash"])
    assert [str(f) for f in report.findings if f.severity == "error"] == []
    assert all(b.fits for b in report.budgets if b.limit)


def test_a_missing_checker_is_exit_2_with_the_install_command(monkeypatch, capsys) -> None:
    from bootstrap.checks import shell
    from bootstrap.cli import main

    monkeypatch.setattr(shell.shutil, "which", lambda name: None)
    assert main(["check", "base", "--target", "bash"]) == 2
    err = capsys.readouterr().err
    assert "shellcheck is not installed" in err and "apt-get install -y shellcheck" in err
    assert "Traceback" not in err


def test_a_problem_in_every_target_is_one_finding_naming_them(write_profile, capsys) -> None:
    """issue 22.4: one mistake in a command, found in each target's output, was said once per target
    and variant ("12 errors" for 7 problems); now once, with the targets it applies to."""
    import json

    from bootstrap.cli import main

    profile = write_profile("name: p\ncommands:\n  first_boot: [{name: broken, run: 'echo ('}]\n")
    assert main(["check", str(profile), "--json"]) == 1
    [report] = json.loads(capsys.readouterr().out)
    syntax = [f for f in report["findings"] if f["check"] == "bash-syntax"]
    assert len(syntax) == 1, syntax
    assert {"cloud-init", "ec2", "gce", "bash"} <= set(syntax[0]["targets"])
    assert main(["check", str(profile)]) == 1
    out = capsys.readouterr().out
    assert out.count("[bash-syntax]") == 1 and "(in cloud-init, " in out


def test_all_shell_that_reaches_the_machine_is_checked_at_its_own_line(write_profile, capsys) -> None:
    """issue 22.4: verify entries and service commands run through `bash -c` at boot, so shellcheck
    never saw inside them; and a finding in a block scalar belongs to its own line, not the key's."""
    from bootstrap.cli import main

    profile = write_profile(
        "name: p\n"
        "commands:\n"
        "  first_boot:\n"
        "    - name: go\n"
        "      run: |\n"
        "        echo fine\n"
        "        echo (\n"
        "verify:\n"
        '  - "test -d /srv && echo ("\n'
        "services:\n"
        "  units:\n"
        "    - name: web\n"
        "      command: python3 -m http.server 8000 | (\n"
    )
    assert main(["check", str(profile)]) == 1
    out = capsys.readouterr().out
    assert f"{profile}:7:9 (command cmd-go): error: [bash-syntax]" in out  # the block's 2nd line, not 5
    assert any(line.startswith(f"  {profile}:9:") and "[shellcheck] SC1036" in line for line in out.splitlines())
    assert f"{profile}:13:16: error: [bash-syntax]" in out


def test_an_unclosed_block_is_located_at_its_last_line_not_the_next_key(write_profile, capsys) -> None:
    """bash and shellcheck say "unexpected end of file" one line past the shell: that line is the
    profile's next key (here verify's entry), which had nothing wrong; the finding belongs to the
    block's last line, and its message no longer carries the generated script's line number."""
    from bootstrap.cli import main

    profile = write_profile(
        "name: p\n"
        "services:\n"
        "  units:\n"
        "    - name: web\n"
        "      command: |\n"
        "        cd /srv\n"
        "        if [ -f x ]; then echo hi\n"
        "commands:\n"
        "  first_boot:\n"
        "    - name: go\n"
        "      run: |\n"
        "        cd /srv\n"
        "        if [ -f x ]; then echo hi\n"
        "verify:\n"
        "  - test -f /etc/x\n"
    )
    assert main(["check", str(profile)]) == 1
    out = capsys.readouterr().out
    findings = [line for line in out.splitlines() if "error:" in line]
    assert findings, out
    for line in findings:
        assert line.strip().startswith((f"{profile}:7:", f"{profile}:13:")), line
    assert f"{profile}:7:9: error: [bash-syntax] syntax error: unexpected end of file" in out
    assert f"{profile}:13:9 (command cmd-go): error: [bash-syntax] syntax error: unexpected end of file" in out


def test_check_warns_of_what_bake_would_refuse(write_profile, capsys) -> None:
    """The pre-commit hooks run check: a profile that bakes wrong was first refused by the nightly
    rebuild. Fine as user data, so a warning (exit 0), at the statement's line."""
    from bootstrap.cli import main

    profile = write_profile(
        "name: p\nusers: [{name: alice}]\n"
        "mounts: [{path: /data, type: block, device: {label: data}, owner: 'alice:alice'}]\n"
        "commands:\n  first_boot:\n    - name: seed\n      run: 'touch /data/seed'\n      scope: image\n"
        "      after: [mounts]\n"
    )
    assert main(["check", str(profile), "-t", "bash"]) == 0
    out = capsys.readouterr().out
    assert f"{profile}:9:15: warning: [bake] bake would refuse: cmd-seed is baked into the image" in out
