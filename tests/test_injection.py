"""Property: profile values reach the machine verbatim and never run.

Arbitrary text (both quote kinds, ``$(...)``, backticks, ``;``, ``&&``, newlines, carriage
returns, backslashes, unicode, leading dashes, ``{{ }}``, ``{% %}``, ``${VAR}``) goes into every
profile field that reaches a shell or a file. The profile is written as YAML, loaded, rendered
to the bash target and executed in the sandbox. Each value must land exactly where it
belongs, and a canary command embedded in the text must never fire.

In the suite the property runs a small, fixed set: the explicit examples below (every fragment in every
field at once, and each field alone holding them all) and 25 derandomized ones, the same on every run.
Its long run draws fresh examples: ``python benchmarks/injection.py`` (10,000; ``--examples N``), or
BOOTSTRAP_INJECTION_EXAMPLES=N for this file.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bootstrap.errors import ProfileError
from bootstrap.planner import build_plan
from bootstrap.profile import load_profile
from bootstrap.targets import render

from . import sandbox as sandbox_module

SUITE_EXAMPLES = 25
EXAMPLES = int(os.environ.get("BOOTSTRAP_INJECTION_EXAMPLES", SUITE_EXAMPLES))
CANARY = "/var/tmp/canary"
FRAGMENTS = [
    f"$(touch {CANARY})", f"`touch {CANARY}`", f"'; touch {CANARY}; '", f'"; touch {CANARY}; "',
    f"\ntouch {CANARY}\n", f"&& touch {CANARY}", f"|| touch {CANARY}", f"; touch {CANARY} #", "${HOME}",
    "$HOME", "${IFS}", "{{ 7*7 }}", "{% if true %}x{% endif %}", "\\", "\\n", "\r", "\r\n", "'", '"', "--help",
    "-rf", "é✓𝄞", "\t", "EOF", "BOOTSTRAP_EOF_", "$'\\x41'", "!!", "*", "~", "%s%n",
]  # fmt: skip
# Text YAML and UTF-8 can carry: no surrogates, no NUL (refused at validation, tested below).
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(CHARS, max_size=12)), max_size=6).map("".join)
# A file name: any character but '/', control characters and NUL; not '.' or '..'.
NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/")
FILE_NAME = st.text(NAME_CHARS, min_size=1, max_size=20).filter(lambda n: n not in (".", "..") and n.strip())
KEY_COMMENT = TEXT.map(lambda t: t.replace("\n", " ").replace("\r", " "))
EVERY_FRAGMENT = "".join(FRAGMENTS)
FLAT = EVERY_FRAGMENT.replace("\n", " ").replace("\r", " ")  # a key comment is one line
# Every fragment as a file name can carry it (no '/'), and names a shell reads as options or globs.
HOSTILE_NAME = "-rf $(id) `id` ';' \"x\" * ~ é✓𝄞 {{ 7*7 }} ${HOME}"


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> sandbox_module.Sandbox:
    if reason := sandbox_module.available():
        pytest.skip(reason)
    return sandbox_module.Sandbox(tmp_path_factory.mktemp("injection"))


def profile_of(env_value: str, file_name: str, content: str, comment: str, command_note: str) -> dict:
    return {
        "name": "injection",
        "env": {"VALUE": env_value},
        "files": [{"path": f"/srv/data/{file_name}", "content": content, "mode": "0640"}],
        "users": [{"name": "inj", "ssh_authorized_keys": [f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 {comment}".rstrip()]}],
        "commands": {"first_boot": [{"name": "note", "run": f"# {_first_line(command_note)}\ntrue"}]},
    }  # fmt: skip


def _first_line(text: str) -> str:
    """A command's first line becomes a comment in the step header: it must stay one line."""
    return text.split("\n")[0].split("\r")[0]


@settings(
    max_examples=EXAMPLES, deadline=None, report_multiple_bugs=False, suppress_health_check=[HealthCheck.too_slow],
    derandomize=EXAMPLES == SUITE_EXAMPLES,  # the suite's run is the same every time; the long run explores
)
@given(env_value=TEXT, file_name=FILE_NAME, content=TEXT, comment=KEY_COMMENT, command_note=TEXT)
@example(env_value=EVERY_FRAGMENT, file_name=HOSTILE_NAME, content=EVERY_FRAGMENT, comment=FLAT,
         command_note=EVERY_FRAGMENT)  # fmt: skip
@example(env_value=EVERY_FRAGMENT, file_name="--help", content="", comment="", command_note="")
@example(env_value="", file_name="EOF", content=EVERY_FRAGMENT, comment="", command_note="")
@example(env_value="", file_name="BOOTSTRAP_EOF_", content="BOOTSTRAP_EOF_\nEOF\n", comment=FLAT,
         command_note=EVERY_FRAGMENT)  # fmt: skip
@example(env_value="\r\n\\", file_name="é✓𝄞", content="\r", comment="", command_note="\r$(touch /var/tmp/canary)")
@pytest.mark.sandbox
def test_values_arrive_verbatim_and_never_run(
    machine: sandbox_module.Sandbox, tmp_path_factory, env_value, file_name, content, comment, command_note
) -> None:
    data = profile_of(env_value, file_name, content, comment, command_note)
    path = tmp_path_factory.mktemp("p") / "injection.yaml"
    # Escaped, not raw: YAML 1.1 reads a raw U+0085 (and friends) inside a scalar as a line break.
    path.write_text(yaml.safe_dump(data, allow_unicode=False), encoding="utf-8")
    script = render(build_plan(load_profile(str(path))), "bash").data
    result = machine.run_script(script)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert not machine.exists(CANARY), "a profile value ran as a command"
    # The file: exact bytes, exact mode.
    written = machine.path(f"/srv/data/{file_name}")
    assert written.read_bytes().decode("utf-8") == content
    assert oct(written.stat().st_mode & 0o777) == "0o640"
    # The env value: sourcing the profile.d file in a real shell gives it back exactly.
    shown = machine.run("bash", "-c", '. /etc/profile.d/bootstrap-env.sh && printf %s "$VALUE"')
    assert shown.stdout == env_value
    # The key line, verbatim, in authorized_keys.
    keys = machine.path("/home/inj/.ssh/authorized_keys").read_bytes().decode().split("\n")
    assert data["users"][0]["ssh_authorized_keys"][0] in keys


@given(value=TEXT)
@settings(max_examples=100, deadline=None, derandomize=True)
def test_values_never_render_as_templates(value: str) -> None:
    from bootstrap.features import env

    [step] = env.steps({"V": value}, None)
    # Unquote the step's write_file line as a POSIX shell would: the content argument holds the
    # value, quoted once more for the profile.d file; nothing was evaluated on the way.
    line = next(line for line in shlex.split(step.script, comments=False, posix=True) if "export V=" in line)
    assert f"export V={shlex.quote(value)}\n" in line


def test_nul_is_refused_at_validation(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_text('name: x\nfiles: [{path: /etc/a, content: "a\\0b"}]\n')
    with pytest.raises(ProfileError, match="NUL bytes cannot be represented"):
        load_profile(str(path))


@pytest.mark.sandbox
def test_sandbox_really_detects_a_canary(machine: sandbox_module.Sandbox) -> None:
    """The property above would be vacuous if the canary could not fire: show that it can."""
    machine.run("bash", "-c", f"rm -f {CANARY}; eval 'touch {CANARY}'")
    assert machine.exists(CANARY)
    subprocess.run(["rm", "-f", str(machine.path(CANARY))], check=True)
