"""`bootstrap check`'s secret scan as a user meets it: a value filled in at boot (a printf format, a
shell expansion, a template placeholder) in a URL's password is not a literal password, a real one
still fails the check, and a finding the user judged fine is silenced by detect-secrets' inline
allowlist comment on its profile line, and that finding only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import Run

CORPUS = Path(__file__).resolve().parent.parent / "semantic" / "corpus"
LITERAL = "looks like a literal password in a URL"


@pytest.fixture(autouse=True)
def _tools() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")


def test_the_pip_index_printf_format_is_not_a_literal_password(repo: Path, bootstrap: Run) -> None:
    """The corpus profile: first boot writes pip.conf with printf 'https://__token__:%s@...' "$token"."""
    shutil.copy(CORPUS / "secrets-pip-index.yaml", repo)
    (repo / "envs").mkdir()
    shutil.copy(CORPUS / "envs" / "private-index.yml", repo / "envs")
    checked = bootstrap("check", "secrets-pip-index.yaml", "-t", "gce")
    assert "[secrets]" not in checked.stdout and "ok: 0 errors" in checked.stdout, checked.stdout


PLACEHOLDERS = ["%s", "%d", "%b", "%q", "%-20s", "%1$s", "%(token)s", "%{token}", "$TOKEN", "${TOKEN}",
                "${TOKEN:-none}", "$(token)", "{token}", "{0}", "{{token}}", "<token>"]  # fmt: skip


def test_placeholders_in_the_password_are_not_literals(repo: Path, bootstrap: Run) -> None:
    lines = "".join(f"      https://deploy:{value}@git.internal/team/repo.git\n" for value in PLACEHOLDERS)
    (repo / "p.yaml").write_text(f"name: p\nfiles:\n  - path: /etc/app/remotes.tmpl\n    content: |\n{lines}"
                                 "commands:\n  first_boot:\n    - name: index\n      run: >-\n"
                                 "        printf 'https://__token__:%s@pypi.internal/simple\\n'\n"
                                 '        "$(cat /run/bootstrap/secrets/pypi)" >/etc/pip.index\n')  # fmt: skip
    checked = bootstrap("check", "p.yaml", "-t", "bash")
    assert "[secrets]" not in checked.stdout, checked.stdout


@pytest.mark.parametrize("url", ["https://bob:hunter2@host/", "https://bob:%shunter2@host/",
                                 "https://bob:hunter2%s@host/", "https://bob:123456@host/"])  # fmt: skip
def test_a_literal_password_still_fails_the_check(repo: Path, bootstrap: Run, url: str) -> None:
    (repo / "p.yaml").write_text(f"name: p\nenv:\n  MIRROR: {url}\n")
    checked = bootstrap("check", "p.yaml", "-t", "bash", expect=1)
    assert f"p.yaml:3:11: error: [secrets] env.MIRROR: {LITERAL}" in checked.stdout, checked.stdout


def test_an_allowlist_comment_silences_that_finding_only(repo: Path, bootstrap: Run) -> None:
    (repo / "p.yaml").write_text(
        "name: p\n"
        "env:\n"
        "  MIRROR: https://bob:hunter2@mirror.internal/  # pragma: allowlist secret\n"  # a YAML comment
        "  OTHER: https://carol:hunter3@mirror.internal/\n"
        "commands:\n"
        "  first_boot:\n"
        "    - name: fetch\n"
        "      run: |\n"
        "        curl -fsS https://dave:hunter4@files.internal/a  # pragma: allowlist secret\n"  # a shell comment
        "        curl -fsS https://erin:hunter5@files.internal/b\n"
        "    - name: again\n"
        "      # pragma: allowlist nextline secret\n"
        "      run: curl -fsS https://frank:hunter6@files.internal/c\n"
    )
    checked = bootstrap("check", "p.yaml", "-t", "bash", expect=1)
    found = [line.strip() for line in checked.stdout.splitlines() if "[secrets]" in line]
    assert found == [f"p.yaml:4:10: error: [secrets] env.OTHER: {LITERAL}",
                     f"p.yaml:10:9: error: [secrets] commands.first_boot.0.run: {LITERAL}"], checked.stdout  # fmt: skip


def test_an_allowlist_comment_in_an_embedded_file_silences_it(repo: Path, bootstrap: Run) -> None:
    (repo / "netrc").write_text("# the team's mirrors\n"
                                "mirror https://gina:hunter7@pkgs.internal/  // pragma: allowlist secret\n"
                                "// pragma: allowlist nextline secret\n"
                                "mirror https://hal:hunter8@pkgs.internal/\n")  # fmt: skip
    (repo / "p.yaml").write_text("name: p\nfiles:\n  - {path: /root/.mirrors, source: netrc}\n")
    bootstrap("check", "p.yaml", "-t", "bash")


def test_a_private_key_is_refused_whatever_a_comment_says(repo: Path, bootstrap: Run) -> None:
    key = "-----BEGIN " + "PRIVATE KEY-----\\nMC4CAQ\\n"
    item = f'{{path: /root/id, content: "{key}"}}'
    (repo / "p.yaml").write_text(f"name: p\nfiles:\n  - {item}  # pragma: allowlist secret\n")
    refused = bootstrap("check", "p.yaml", "-t", "bash", expect=2)
    assert "would carry a literal private key block" in refused.stderr, refused.stderr


def test_a_literal_after_an_empty_expansion_is_still_a_literal(repo: Path, bootstrap: Run) -> None:
    """$() expands to nothing: the password is the literal after it (the filters judged the start)."""
    (repo / "p.yaml").write_text("name: p\ncommands:\n  first_boot:\n"
                                 "    - 'git clone https://deploy:$()hunter2isMyRealPassw0rd@git.internal/x'\n")
    checked = bootstrap("check", "p.yaml", "-t", "bash", expect=1)
    assert LITERAL in checked.stdout, checked.stdout


def test_an_allowlist_comment_on_another_line_silences_nothing(repo: Path, bootstrap: Run) -> None:
    """A hostile change put the comment on an innocent line that a miscount took for the secret's: a
    quoted value's escaped newlines, an anchor before a block scalar. The finding is located at the
    secret's own line, and only a comment there silences it."""
    (repo / "a.yaml").write_text(
        "name: a\nenv:\n"
        '  A: "first\\nsecond\\nhttps://deploy:hunter2isMyRealPassw0rd@git.internal/x"\n'
        "  B: plain\n"
        "  C: also plain  # pragma: allowlist secret\n")  # fmt: skip
    checked = bootstrap("check", "a.yaml", "-t", "bash", expect=1)
    assert f"a.yaml:3:3: error: [secrets] env.A: {LITERAL}" in checked.stdout, checked.stdout
    (repo / "b.yaml").write_text(
        "name: b\ncommands:\n  first_boot:\n    - name: x\n      run: &cmd |\n"
        "        echo one  # pragma: allowlist secret\n"
        "        curl -fsS https://deploy:hunter2isMyRealPassw0rd@git.internal/x\n")  # fmt: skip
    checked = bootstrap("check", "b.yaml", "-t", "bash", expect=1)
    assert f"b.yaml:7:9: error: [secrets] commands.first_boot.0.run: {LITERAL}" in checked.stdout, checked.stdout
