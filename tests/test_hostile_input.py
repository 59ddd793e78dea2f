"""Hostile profile text: trailing newlines past patterns, floats for integers, size and extends bombs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bootstrap.cli import main
from bootstrap.profile import load_profile
from bootstrap.schema import profile_schema, validator_class


def patterned(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """(schema path, node) of every schema node with a pattern."""
    if isinstance(node, dict):
        if "pattern" in node:
            yield path, node
        for key, value in node.items():
            yield from patterned(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from patterned(value, (*path, index))


def example_for(path: tuple[Any, ...]) -> list[str]:
    """Valid values for the node at ``path``: its own examples, else read out of an ancestor's."""
    schema = profile_schema()
    for cut in range(len(path), -1, -1):
        node: Any = schema
        for step in path[:cut]:
            node = node[step]
        if not isinstance(node, dict) or "examples" not in node:
            continue
        values = list(node["examples"])
        for step in path[cut:]:  # follow the rest of the path through the example data
            if step in ("properties", "additionalProperties", "anyOf", "oneOf") or isinstance(step, int):
                continue
            if step == "propertyNames":
                values = [key for value in values if isinstance(value, dict) for key in value]
            elif step == "items":
                values = [item for value in values if isinstance(value, list) for item in value]
            else:
                values = [value[step] for value in values if isinstance(value, dict) and step in value]
        found = [v for v in values if isinstance(v, str)]
        if found:
            return found
    return []


FIELDS = list(patterned(profile_schema()))


def test_the_schema_has_patterned_fields() -> None:
    assert len(FIELDS) > 20


@pytest.mark.parametrize(("path", "node"), FIELDS, ids=["/".join(map(str, p)) for p, _ in FIELDS])
def test_no_pattern_accepts_a_trailing_newline(path: tuple[Any, ...], node: dict[str, Any]) -> None:
    examples = example_for(path)
    assert examples, f"give the field at {path} an example, so this test can try it"
    validator = validator_class()(node)
    for value in examples:
        assert validator.is_valid(value), (value, node["pattern"])
        for tail in ("\n", "\r\n", "\n\n"):
            assert not validator.is_valid(value + tail), f"{path}: {value + tail!r} passed {node['pattern']}"


def test_a_user_name_ending_in_a_newline_is_refused(write_profile, capsys) -> None:
    profile = write_profile('name: p\nusers:\n  - {name: "alice\\n"}\n')
    assert main(["validate", str(profile)]) == 2
    assert "profile.yaml:3:" in capsys.readouterr().err


@pytest.mark.parametrize("text", ['name: "p\\n"\n', 'name: p\nenv: {"KEY\\n": x}\n',
                                  "name: p\nmounts:\n  - {path: /data, type: nfs, server: h, export: /e, "
                                  'options: ["ro\\n"]}\n'])  # fmt: skip
def test_trailing_newlines_are_refused_in_names_keys_and_options(write_profile, capsys, text: str) -> None:
    assert main(["validate", str(write_profile(text))]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_float_is_not_an_integer(write_profile, capsys) -> None:
    profile = write_profile("name: p\nidle_shutdown: {after_minutes: 60.0}\n")
    assert main(["render", str(profile), "--target", "bash"]) == 2
    err = capsys.readouterr().err
    assert "profile.yaml:2:" in err and "write 60" in err


def test_an_integer_renders_as_an_integer(write_profile, capsys) -> None:
    assert main(["render", str(write_profile("name: p\nidle_shutdown: {after_minutes: 60}\n")), "-t", "bash"]) == 0
    out = capsys.readouterr().out
    assert "3600" in out and "3600.0" not in out


@pytest.mark.parametrize("value", ["9" * 5000, "!!python/object:os.system x", "!custom x"])
def test_values_yaml_cannot_build_are_located_errors(write_profile, value: str) -> None:
    profile = write_profile(f"name: p\nhostname: {value}\n")
    proc = subprocess.run([sys.executable, "-m", "bootstrap", "validate", str(profile)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "profile.yaml:2:" in proc.stderr and "Traceback" not in proc.stderr


def test_a_lone_surrogate_is_a_located_error(write_profile, capsys) -> None:
    profile = write_profile('name: p\ndescription: "a\\ud800b"\nfiles: [{path: /etc/x, content: "\\udc00"}]\n')
    assert main(["render", str(profile), "-t", "bash"]) == 2
    err = capsys.readouterr().err
    assert "profile.yaml:2:" in err and "profile.yaml:3:" in err and "surrogate" in err


def test_a_set_override_with_a_tag_is_a_usage_error(capsys) -> None:
    assert main(["render", "base", "--set", "hostname=!!python/name:os.system"]) == 2
    assert "--set" in capsys.readouterr().err


BOMB = """\
name: p
a: &a "{text}"
b: &b [{b}]
c: &c [{c}]
env: {{BOMB: *c}}
"""


def test_an_alias_bomb_is_refused_quickly_and_small(tmp_path: Path) -> None:
    # 5 KB of text, 100 x 100 aliases: 50 MB expanded, few enough values to pass the node limit.
    text = BOMB.format(text="x" * 5000, b=", ".join(["*a"] * 100), c=", ".join(["*b"] * 100))
    profile = tmp_path / "bomb.yaml"
    profile.write_text(text)
    assert profile.stat().st_size < 60_000
    code = (
        "import sys, time\n"
        "from bootstrap.cli import main\n"
        "start = time.monotonic()\n"
        f"rc = main(['validate', {str(profile)!r}])\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) pytest parent
        "peak = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0] // 1024\n"
        "print(rc, peak, round(time.monotonic() - start, 2))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    rc, peak_mb, seconds = proc.stdout.split()
    assert rc == "2", proc.stderr
    assert "expands to more than" in proc.stderr and "bomb.yaml:" in proc.stderr
    assert int(peak_mb) < 200, f"peak memory {peak_mb} MB"
    assert float(seconds) < 10  # a loose bound against the old unbounded expansion; the target is 2 s


def test_a_plan_that_multiplies_embedded_files_is_refused(write_profile, tmp_path: Path, capsys) -> None:
    (tmp_path / "big").write_bytes(b"y" * 250_000)
    entries = "".join(f"  - {{path: /srv/f{i}, source: big}}\n" for i in range(40))
    assert main(["render", str(write_profile("name: p\nfiles:\n" + entries)), "-t", "bash"]) == 2
    err = capsys.readouterr().err
    assert "rendered steps reach" in err and "profile.yaml:" in err


def diamond(folder: Path, depth: int) -> Path:
    """Level k extends both profiles of level k+1: 2^depth paths to the bottom."""
    for level in range(depth, 0, -1):
        for side in "ab":
            parents = "" if level == depth else f"extends: [l{level + 1}a, l{level + 1}b]\n"
            (folder / f"l{level}{side}.yaml").write_text(
                f"name: l{level}{side}\n{parents}packages: [pkg{level}{side}]\n"
                f"commands: {{first_boot: [{{name: c{level}{side}, run: 'true'}}]}}\n"
            )
    top = folder / "top.yaml"
    top.write_text("name: top\nextends: [l1a, l1b]\n")
    return top


def test_diamond_extends_load_each_parent_once(tmp_path: Path) -> None:
    top = diamond(tmp_path, 18)
    start = time.monotonic()
    profile = load_profile(str(top))
    elapsed = time.monotonic() - start
    assert len(profile.chain) == 2 * 18 + 1
    assert len(profile.data["packages"]) == 36  # each parent's package once, not 2^k times
    assert len(profile.data["commands"]["first_boot"]) == 36
    assert elapsed < 5  # exponential loading took hours at this depth


def test_an_extends_cycle_points_at_the_entry_that_closes_it(tmp_path: Path, capsys) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nextends: [b]\n")
    (tmp_path / "b.yaml").write_text("name: b\ndescription: x\nextends:\n  - a\n")
    assert main(["validate", str(tmp_path / "a.yaml")]) == 2
    err = capsys.readouterr().err
    assert "b.yaml:4:5" in err and "extends cycle" in err


def test_json_of_the_schema_still_uses_ecma_dollar() -> None:
    text = json.dumps(profile_schema())
    assert "\\\\Z" not in text  # editors read ECMA regexes: \\Z would be invalid there


@pytest.mark.parametrize(("text", "expected", "hint"), [
    ("name: p\ncommands:\n  first_boot:\n    - {name: a, run: echo key: value}\n", "YAML syntax", "quote the whole"),
    ("name: p\ncommands:\n  first_boot:\n    - name: a\n      run: echo key: value\n", "YAML syntax",
     "quote the whole"),
    ("name: p\npackages:\n  - jq: 1\n", "expected a string, got mapping", "quote the whole command"),
    ("name: p\ncommands:\n  first_boot:\n    - echo hello: world\n", "got mapping", "quote the whole command"),
    ("name: p\ntimezone: 5\n", "expected a string, got integer", "YAML read this as an integer"),
])  # fmt: skip
def test_a_colon_inside_a_command_says_to_quote_it(write_profile, capsys, text: str, expected: str,
                                                   hint: str) -> None:  # fmt: skip
    """issue 22.7: YAML's key/value confusion in an unquoted command is named as what it is."""
    from bootstrap.cli import main

    assert main(["validate", str(write_profile(text))]) == 2
    err = capsys.readouterr().err
    assert expected in err and hint in err, err


def test_counts_read_as_words(write_profile, capsys) -> None:
    from bootstrap.cli import main

    assert main(["explain", str(write_profile("name: p\nhostname: p.example.com\n"))]) == 0
    assert "1 step," in capsys.readouterr().out


def test_a_secret_pasted_where_its_reference_goes_is_not_echoed(write_profile, capsys) -> None:
    """A value in secrets[].from that is not a reference is likely the secret itself: the error says
    what is wrong without printing it into a terminal or a CI log."""
    from bootstrap.cli import main

    assert main(["validate", str(write_profile("name: p\nsecrets: [{name: db, from: hunter2-s3cr3t}]\n"))]) == 2
    err = capsys.readouterr().err
    assert "secrets[0].from: not valid" in err and "hunter2" not in err
