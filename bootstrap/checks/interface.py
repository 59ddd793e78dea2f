"""lib.sh as the steps see it, for shellcheck: its top level as it is, each function reduced to the
globals it sets and reads.

Every step sources lib.sh, and shellcheck analyses a sourced file again for each file that sources
it: about 0.16 s each, most of a cold `check`. What a step's own findings depend on in lib.sh is its
interface: which functions exist (calls), which globals it sets (a step reading them is not
SC2154) and reads (a step setting them is not SC2034). lib.sh itself is checked in full, as a script
of its own. Names are read off the text as shellcheck counts them (a function's locals too; not what
sits in single quotes); a name it misses (one read only in arithmetic) could add a finding to a step,
never hide one. tests/test_check_cache.py holds the findings equal to the full library's on every
built-in profile and example and on commands that lean on lib.sh's names.
"""

from __future__ import annotations

import re

FUNCTION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(\) \{\n(.*?)^\}\n", re.M | re.S)
LOCAL = re.compile(r"^\s*local\s+(?:-\w+\s+)*(.*)$", re.M)
ASSIGNED = re.compile(r"(?:^|[\s;(])([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=", re.M)
READ = re.compile(r"\$\{?#?([A-Za-z_][A-Za-z0-9_]*)")


def interface(library: str) -> str:
    """The library with each function's body replaced by its global assignments and reads."""

    def reduce(match: re.Match[str]) -> str:
        name, body = match.group(1), match.group(2)
        locals_ = {word.split("=", 1)[0] for line in LOCAL.findall(body) for word in line.split()
                   if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(=.*)?", word)}  # fmt: skip
        code = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("#"))
        code = re.sub(r"'[^']*'", "''", code)  # '${Status}' is dpkg-query's, not a read of the shell's
        # shellcheck does not scope a function's locals when it looks at another file's names: a local
        # (declared or assigned) counts as set, and its reads as reads, as in the full library.
        sets = sorted(({*ASSIGNED.findall(code)} | locals_) - {"local"})
        reads = sorted(set(READ.findall(code)))
        quoted = " ".join('"${' + n + '-}"' for n in reads)
        lines = [f"  {n}=" for n in sets] + ([f"  : {quoted}"] if reads else [])
        return f"{name}() {{\n" + "\n".join([*lines, "  :"]) + "\n}\n"

    return FUNCTION.sub(reduce, library)
