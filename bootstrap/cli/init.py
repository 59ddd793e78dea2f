"""`bootstrap init [DIR]`: a team's repository of profiles in one command.

What it writes comes from package data: the starter profile and the team's README from
``templates/init/``; the pre-commit config and the CI workflows from ``examples/team-ml/`` (the
example team repository is their one source), each pin moved to this installation's version; the
schema as `bootstrap schema` prints it. Nothing is ever overwritten: every file is checked first.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from .. import __version__, options
from ..errors import Problem, UsageError

# Written path -> (data folder, path in it); None: the schema, generated.
FILES: dict[str, tuple[str, str] | None] = {
    "profiles/team.yaml": ("templates", "init/profiles/team.yaml"),
    "profile.schema.json": None,
    ".pre-commit-config.yaml": ("examples", "team-ml/.pre-commit-config.yaml"),
    ".github/workflows/check-profiles.yml": ("examples", "team-ml/.github/workflows/check-profiles.yml"),
    ".github/workflows/rebuild-images.yml": ("examples", "team-ml/.github/workflows/rebuild-images.yml"),
    "README.md": ("templates", "init/README.md"),
    ".gitignore": ("templates", "init/gitignore"),  # a dot file's name would hide it in the package data
}
PIN = re.compile(r"(rev:\s*|bootstrap@)v\d+\.\d+\.\d+")  # as tests/test_releases.py finds them


def add_parser(commands: Any) -> None:
    init = commands.add_parser("init", help="start a team's repository: a starter profile, the schema, "
                               "pre-commit hooks, CI workflows")  # fmt: skip
    options.completes(init.add_argument("folder", nargs="?", default=".", metavar="DIR",
                                        help="where (default .; made if missing)"), options.FOLDER)  # fmt: skip
    init.set_defaults(handler=_init)


def contents() -> dict[str, bytes]:
    """Each file init writes, by its path in the new repository."""
    from ..paths import data_dir
    from ..schema import schema_json

    found = {}
    for name, source in FILES.items():
        if source is None:
            found[name] = schema_json().encode()
        else:
            text = (data_dir(source[0]) / source[1]).read_text(encoding="utf-8")
            found[name] = PIN.sub(rf"\g<1>v{__version__}", text).encode()
    return found


def _in_the_way(folder: Path, name: str) -> bool:
    """Whether writing ``name`` would replace something, or go through a link or a file where a folder
    goes (a link is never followed: it could point anywhere)."""
    parts = Path(name).parts
    folders = [folder.joinpath(*parts[:end]) for end in range(1, len(parts))]
    return os.path.lexists(folder / name) or any(os.path.lexists(f) and (f.is_symlink() or not f.is_dir())
                                                 for f in folders)  # fmt: skip


def _init(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"init {args.folder}: not a folder")
    files = contents()
    there = [name for name in files if _in_the_way(folder, name)]
    if there:
        raise UsageError(Problem(f"init {args.folder}: would overwrite {', '.join(there)}; nothing written", None,
                                 "move them away, or init another folder"))
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as out:  # "x": a file that appeared since the check is not overwritten either
            out.write(data)
        print(f"wrote {path}")
    shown = "" if folder == Path(".") else f"cd {args.folder} && "
    print(f"\nnext:\n  {shown}git init && pre-commit install\n  bootstrap validate profiles/*.yaml\n"
          "  bootstrap check profiles/*.yaml\n  bootstrap render profiles/team.yaml --target ec2 -o user-data.txt")
    return 0
