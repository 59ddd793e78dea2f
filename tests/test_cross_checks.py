"""Mistakes the schema alone lets through, or explains badly: each a located error with a hint."""

from __future__ import annotations

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile


def problems(write_profile, text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(text)))
    return [(p.mark.line if p.mark else 0, p.message, p.hint or "") for p in caught.value.problems]


JUPYTER = "services: {jupyter: {user: root, conda_env: %s}}\n"


def test_timezone_must_be_an_iana_name(write_profile) -> None:
    assert problems(write_profile, "name: t\ntimezone: Europe/Pariss\n") == [
        (2, "'Europe/Pariss' is not an IANA time zone name", "did you mean 'Europe/Paris'?")
    ]
    ((line, message, _),) = problems(write_profile, "name: t\ntimezone: Mars/Olympus\n")
    assert (line, message) == (2, "'Mars/Olympus' is not an IANA time zone name")
    for good in ("UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"):
        load_profile(str(write_profile(f"name: t\ntimezone: {good}\n")))


def test_jupyter_conda_env_must_exist_and_hold_jupyterlab(write_profile) -> None:
    conda = "conda: {environments: [{name: ds, spec: {dependencies: [%s]}}]}\n"
    found = problems(write_profile, "name: t\n" + JUPYTER % "dss" + conda % "jupyterlab")
    assert found == [(2, "conda_env 'dss' is not in conda.environments", "did you mean 'ds'?")]
    ((line, message, hint),) = problems(write_profile, "name: t\n" + JUPYTER % "ds" + conda % "numpy")
    assert line == 2 and "'ds' has no jupyterlab" in message and "add jupyterlab" in hint
    for holds in ("jupyterlab", "'jupyterlab>=4'", "'jupyterlab=4.2.5'", "{pip: [jupyterlab]}", "jupyter",
                  "'conda-forge::jupyterlab>=4'", "'JupyterLab 4.*'"):  # conda's own reading of the names
        load_profile(str(write_profile("name: t\n" + JUPYTER % "ds" + conda % holds)))
    # A spec from a file or a URL is the author's to get right: only its existence is checked.
    load_profile(str(write_profile("name: t\n" + JUPYTER % "ds" + "conda: {environments: [{name: ds, url: "
                                   "'s3://b/ds.yml'}]}\n")))  # fmt: skip


def test_an_unquoted_no_where_the_word_is_expected_says_quote_it(write_profile) -> None:
    units = "name: t\nservices: {units: [{name: db, command: 'sleep 1', restart: no}]}\n"
    ((line, message, hint),) = problems(write_profile, units)
    assert line == 2 and "False is not one of" in message
    assert hint == "YAML read an unquoted no as false: quote it, 'no'"


def test_an_unquoted_number_where_text_is_expected_says_quote_it(write_profile) -> None:
    ((line, message, hint),) = problems(write_profile, "name: t\nnvidia: {driver: 550}\n")
    assert line == 2 and "550 is not one of" in message
    assert hint == "YAML read 550 as a number: quote it, '550'"  # not "did you mean '550'?"


@pytest.mark.parametrize(
    ("text", "opened"),
    [
        ("name: t\npackages: [git, jq\nusers: []\n", "'[' opened at line 2, column 11 is not closed"),
        ("name: t\nenv: {A: '1',\n  B: '2'\nusers: []\n", "'{' opened at line 2, column 6 is not closed"),
    ],
)
def test_an_unclosed_bracket_names_where_it_opened(write_profile, text: str, opened: str) -> None:
    ((line, message, hint),) = problems(write_profile, text)
    assert message.startswith("YAML syntax") and line > 2
    assert hint == opened
