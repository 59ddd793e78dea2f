"""`bootstrap completion SHELL`: a static completion script generated from the argparse parser by shtab.

The script is written once (at install or in a shell's startup file) and completes without running
bootstrap: commands, options and their choices (targets, backends) come from the parser; built-in
profile and distro names are listed in it as this installation has them; profile files are the
shell's own `*.yaml` / `*.yml` matching. shtab is imported here only, never by other commands.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import options

SHELLS = ("bash", "zsh", "fish")


def add_parser(commands: Any) -> None:
    completion = commands.add_parser("completion", help="print a shell completion script (bash, zsh or fish)",
                                     epilog="bash: source <(bootstrap completion bash); zsh: bootstrap completion "
                                     "zsh > ~/.zfunc/_bootstrap (a folder on fpath); fish: bootstrap completion "
                                     "fish > ~/.config/fish/completions/bootstrap.fish")  # fmt: skip
    completion.add_argument("shell", choices=SHELLS)
    completion.set_defaults(handler=_completion)


def _completion(args: argparse.Namespace) -> int:
    import sys

    from . import _build_parser

    sys.stdout.write(script(_build_parser(), args.shell))
    return 0


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    import shtab

    from ..distro import all_distros
    from ..profile import builtin_profiles

    kinds = _kinds(sorted(builtin_profiles()), [f"distro={name}" for name in all_distros()])
    for action in _actions(parser):
        kind = getattr(action, "completion", None)
        if kind is not None:
            action.complete = kinds[kind]  # type: ignore[attr-defined]  # shtab's attribute
    text: str = shtab.complete(parser, shell=shell)
    return text if text.endswith("\n") else text + "\n"


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every action of the parser and of its subcommands, at any depth (images list, ...)."""
    found = []
    for action in parser._actions:
        found.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # an alias names the same parser
                found += _actions(sub)
    return found


def _words(names: list[str]) -> str:
    return " ".join(names)  # names are [a-z0-9-=]: the profile and distro name rules


def _kinds(builtins: list[str], overrides: list[str]) -> dict[str, dict[str, Any]]:
    """Each kind of options.completes as shtab's per-shell code. A bash function's name holds `_glob` so
    that shtab tells bash the words are file names (a slash after a folder)."""
    profiles, sets = _words(builtins), _words(overrides)
    profile = {
        "bash": "_bootstrap_profile_glob",
        "zsh": "_bootstrap_profile",
        "fish": "(_bootstrap_profile)",
        "preamble": {
            "bash": f"""
_bootstrap_profile_glob() {{  # $1: the word typed so far
  compgen -W "{profiles}" -- "$1"
  compgen -f -X '!*.yaml' -- "$1"
  compgen -f -X '!*.yml' -- "$1"
  compgen -d -- "$1"
}}
""",
            "zsh": f"""
_bootstrap_profile() {{
  _alternative 'builtin:built-in profile:({profiles})' 'file:profile file:_files -g "*.(yaml|yml)"'
}}
""",
            "fish": f"""
function _bootstrap_profile
  printf '%s\\tbuilt-in profile\\n' {profiles}
  __fish_complete_suffix .yaml
  __fish_complete_suffix .yml
end
""",
        },
    }
    override = {
        "bash": "_bootstrap_override",
        "zsh": f"({sets})",
        "fish": sets,
        "preamble": {"bash": f"""
_bootstrap_override() {{
  compgen -W "{sets}" -- "$1"
}}
"""},
    }
    file = {"bash": "_shtab_compgen_files", "zsh": "_files", "fish": "(__fish_complete_path (commandline -ct))"}
    folder = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/", "fish": "(__fish_complete_directories)"}
    return {options.PROFILE: profile, options.OVERRIDE: override, options.FILE: file, options.FOLDER: folder}
