"""conda: micromamba (pinned, checksum-verified) under /opt/conda, and declared environments.

An environment is (re)built only when its spec's hash changed (the hash is kept in the env), so a
boot with nothing new is cheap. Specs: inline, an environment.yml or explicit lock file beside
the profile (embedded), or a URL fetched at boot (https://, s3://, gs://) with the machine's own
credentials. Image scope: a baked image carries the environments.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml

from .. import layout
from ..boundary import read_text
from ..errors import Mark, Problem, ProfileError
from ..plan import Phase, Scope, Step
from ..schema import type_name
from ..templating import render
from ..yamlload import load_text, plain, value_mark
from . import Context, Needs, aws_cli, describe, named, problem, source_file, source_problems
from ._conda_rules import explicit_url, is_md5, is_sha256, local_channel, pip_line, pip_options, provided_name, scheme
from .users import NAME_HELP, USER_PATTERN

KEY = "conda"
# envs have owners, may fetch with a secret (pip.conf) and may live on a mounted disk
AFTER = frozenset({"users", "secrets", "mounts"})
PREFIX = layout.CONDA_PREFIX
# micromamba-releases 2.0.5-0, linux-64, as pinned in public build scripts.
MICROMAMBA = {"version": "2.0.5-0", "sha256": "cdf5a2e18d213617b6c5c32d8763b4e8fc05f8173b4f4017997683cb984357eb"}
ENV_NAME = {
    "type": "string",
    "pattern": r"^[a-z0-9][a-z0-9_-]{0,40}$",
    "x-help": "lowercase letters, digits, '_', '-'",
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["environments"],
    "additionalProperties": False,
    "description": "micromamba under /opt/conda and declared environments, rebuilt only when their spec changes.",
    "examples": [{"environments": [{"name": "ds", "spec": {"dependencies": ["python=3.11", "pandas", "ipykernel"]},
                                    "kernel": True}]}],
    "properties": {
        "micromamba": {"type": "object", "required": ["version", "sha256"], "additionalProperties": False,
                       "description": "Another micromamba release, with its sha256.", "default": MICROMAMBA,
                       "properties": {"version": {"type": "string", "pattern": r"^[0-9][0-9a-z.-]*$",
                                                  "x-help": "a release tag such as 2.0.5-0"},
                                      "sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$",
                                                 "x-help": "64 hex digits"}}},
        "channels": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z0-9_.:/-]+$",
                     "x-help": "a channel name or URL"}, "default": ["conda-forge"],
                     "description": "Channels for inline specs."},
        "group": {"type": "string", "pattern": USER_PATTERN, "x-help": NAME_HELP,
                  "description": "Make environments group-writable for this group (shared team envs)."},
        "environments": {
            "type": "array",
            "x-merge-key": "name",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": ENV_NAME,
                    "spec": {"type": "object", "description": "Inline environment.yml content."},
                    "file": {"type": "string", "minLength": 1, "description": "environment.yml beside the profile."},
                    "lock": {"type": "string", "minLength": 1, "description": "Explicit lock file beside the profile."},
                    "url": {"type": "string", "pattern": r"^(https|s3|gs)://[^\s'\"]+$",
                            "x-help": "an https://, s3:// or gs:// URL", "description": "Spec fetched at boot."},
                    "kernel": {"type": "boolean", "default": False, "description": "Register as a Jupyter kernel."},
                    "display_name": {"type": "string", "description": "Kernel display name."},
                },
            },
        },
    },
}  # fmt: skip
describe(
    SCHEMA["properties"],
    {
        "micromamba": ("Another micromamba release, with its sha256.", MICROMAMBA),
        "channels": ("Channels for inline specs.", ["conda-forge"]),
        "group": ("Make environments group-writable for this group (shared team envs).", "data-team"),
        "environments": (
            "Environments, each from exactly one of spec, file, lock or url.",
            [{"name": "ds", "spec": {"dependencies": ["python=3.11", "pandas"]}}],
        ),
    },
)
describe(
    SCHEMA["properties"]["micromamba"]["properties"],
    {
        "version": ("A micromamba-releases tag.", MICROMAMBA["version"]),
        "sha256": ("The sha256 of its linux-64 binary.", MICROMAMBA["sha256"]),
    },
)
describe(
    SCHEMA["properties"]["environments"]["items"]["properties"],
    {
        "name": ("Environment name: /opt/conda/envs/NAME.", "ds"),
        "spec": ("Inline environment.yml content.", {"dependencies": ["python=3.11", "pandas", "ipykernel"]}),
        "file": ("environment.yml beside the profile (embedded).", "environment.yml"),
        "lock": ("Explicit lock file beside the profile (embedded).", "conda-linux-64.lock"),
        "url": ("Spec fetched at boot with the machine's own credentials.", "s3://team-config/envs/ds.yml"),
        "kernel": ("Register as a Jupyter kernel (needs ipykernel in the environment).", True),
        "display_name": ("Kernel display name.", "Python (ds)"),
    },
)
SOURCES = ("spec", "file", "lock", "url")
MAX_SPEC_BYTES = 256 * 1024


def check(config: dict[str, Any], context: Context) -> list[Problem]:
    # the profile's channels are those of each inline spec that names none of its own
    used = any(isinstance(e.get("spec"), dict) and "channels" not in e["spec"] for e in config["environments"])
    problems = _channel_problems(config, "conda.channels") if used else []
    for env in config["environments"]:
        given = [s for s in SOURCES if s in env]
        if len(given) != 1:
            problems.append(problem(env, "name", f"environment {env['name']!r}: give exactly one of "
                                    + ", ".join(SOURCES)))  # fmt: skip
        if env["name"] in RESERVED_NAMES:
            problems.append(problem(env, "name", RESERVED_NAMES[env["name"]],
                                    "name it after what it holds, e.g. 'ds' or 'py311'"))  # fmt: skip
        unreadable = []
        for key in ("file", "lock"):
            if key in env:
                unreadable += source_problems(env, key, context, f"conda {key}", MAX_SPEC_BYTES,
                                              "use 'url:' to fetch it at boot")  # fmt: skip
        problems += unreadable
        if len(given) == 1 and not unreadable:
            problems += _content_problems(env, given[0], context)
    return problems


# Names micromamba and conda take for the root prefix itself, not an environment under envs/.
RESERVED_NAMES = {
    # micromamba 2.0.5, libmamba/src/api/configuration.cpp: compute_prefix_from_name maps "base" to the
    # root prefix; create.cpp then stops: "Overwriting root prefix is not permitted", "Aborting.".
    # conda: "CondaValueError: 'base' is a reserved environment name".
    "base": f"environment name 'base' is the root prefix ({PREFIX}), not an environment: micromamba refuses to "
    'create it ("Overwriting root prefix is not permitted"), and so does conda ("\'base\' is a reserved '
    'environment name")',
    # conda's RESERVED_ENV_NAMES are ("base", "root"): 'root' is base's former name.
    "root": f"environment name 'root' is conda's other name for base, the root prefix ({PREFIX}): conda refuses "
    f"to create it, and `conda activate root` or `conda run -n root` reach {PREFIX}, not this environment",
}
EXPLICIT = "@EXPLICIT"
# A line of a package list: a pip requirement or a conda spec (name, then a version, extras, a marker or
# nothing), or a pip option (-r, --index-url...). Never a YAML mapping's 'key:' line.
LIST_LINE = re.compile(
    r"^(-{1,2}[A-Za-z][\w-]*([\s=]|$)|[A-Za-z0-9][\w.-]*(::[\w.-]+)?\s*(\[[^\]]*\])?\s*([=<>!~@;,\s]|$))"
)
# Packages whose environments have ipykernel: itself, and those that depend on it (jupyterlab 4 does,
# "ipykernel>=6.5.0" in its pyproject.toml, and notebook 7 through it; the jupyter metapackage, jupyter-console,
# qtconsole, spyder-kernels and spyder through it, nbclassic and ipyparallel; the anaconda metapackage pins the
# whole distribution, ipykernel in it). nb_conda_kernels is not one: it runs on jupyter_client, and finds the
# kernels other environments have. An unsure one is let through: a refusal must be sure.
KERNEL_PACKAGES = {"ipykernel", "jupyter", "jupyterlab", "notebook", "jupyter-console", "qtconsole", "spyder",
                   "spyder-kernels", "nbclassic", "ipyparallel", "anaconda"}  # fmt: skip
LOCK_HINT = "make one with `conda-lock -p linux-64 -f environment.yml` (conda-lock.yml) or `micromamba env " \
            "export --explicit`, or name an environment.yml under file:"  # fmt: skip
HASH_HINT = "regenerate it with hashes: `conda list --explicit --md5`, or `conda-lock render -k explicit`, end each " \
            "URL with #MD5"  # fmt: skip
CONDA_LOCK_HINT = "regenerate it with conda-lock (`conda-lock -p linux-64 -f environment.yml`), which writes each " \
                  "package's url and hash"  # fmt: skip
PIP_LOCAL_HINT = "list the requirements themselves in the pip section, or give a URL (https://..., git+https://...)"


def _content_problems(env: dict[str, Any], source: str, context: Context) -> list[Problem]:
    """What micromamba would refuse, or silently get wrong, in an environment's spec: read here so that
    validate says it at the profile line, or at the line of the environment file."""
    if source == "url":  # fetched at boot: nothing to read here
        return []
    if source == "spec":
        spec = env["spec"]
        found = _environment_problems(spec, f"the spec of environment {env['name']!r}", spec)
        return found + _kernel_problems(env, dependency_names(spec), "its spec's dependencies", KERNEL_PACKAGES)
    try:
        path = source_file(env, source, context, f"conda {source}")
        display = _display(path)
        text = read_text(path, display)
    except ProfileError as exc:
        return exc.problems
    if source == "file":
        return _file_problems(env, text, display)
    return _lock_problems(env, text, display)


def _display(path: Any) -> str:
    from ..profile import display_path

    return display_path(path)


def _lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each line that is neither blank nor a comment."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()[:1] not in ("", "#")]


def _explicit_at(text: str) -> int | None:
    """The line number of the @EXPLICIT line micromamba looks for (at a line's start), if any."""
    return next((n for n, line in enumerate(text.splitlines(), 1) if line.startswith(EXPLICIT)), None)


def _is_package_list(text: str) -> bool:
    return all(LIST_LINE.match(line) for _, line in _lines(text))


def _is_conda_lock(data: Any) -> bool:
    return isinstance(data, dict) and "package" in data and ("metadata" in data or "version" in data)


def _parse(text: str, display: str) -> tuple[Any, list[Problem]]:
    try:
        return load_text(text, display), []
    except ProfileError as exc:
        return None, exc.problems


def _file_problems(env: dict[str, Any], text: str, display: str) -> list[Problem]:
    """``file:`` must be an environment.yml: micromamba ``env create -f NAME.yml`` reads it as one
    (libmamba's read_yaml_file, micromamba 2.0.5): absent or empty ``dependencies`` build an empty
    environment without a word, a lock file's '@' is a YAML error, a conda-lock file has no dependencies."""
    name = env["file"]
    if not _lines(text):
        return [problem(env, "file", f"environment file {name!r} is empty: micromamba would build an empty "
                        "environment from it (no python, no packages)",
                        "list the packages under dependencies:")]  # fmt: skip
    if _explicit_at(text):
        return [problem(env, "file", f"{name!r} is an explicit lock file ({EXPLICIT}), not an environment.yml: "
                        "under file: micromamba reads it as YAML and stops at its '@'",
                        f"name it under lock: {name}")]  # fmt: skip
    data, problems = _parse(text, display)
    if _is_conda_lock(data):
        return [problem(env, "file", f"{name!r} is a conda-lock file, not an environment.yml: under file: micromamba "
                        "reads it as one, finds no dependencies and builds an empty environment",
                        f"name it under lock: {name}")]  # fmt: skip
    if not isinstance(data, dict) and _is_package_list(text):
        return [problem(env, "file", f"{name!r} is a list of packages (a pip requirements file?), not an "
                        "environment.yml: micromamba takes only a mapping with dependencies: from it",
                        "write them in an environment.yml: dependencies: [python, pip, {pip: [...]}], or inline "
                        "under spec:")]  # fmt: skip
    if problems:
        return problems
    if not isinstance(data, dict):
        return [problem(env, "file", f"{name!r} is not an environment.yml: it holds {type_name(data)}, not a mapping "
                        "with dependencies:", "see conda's environment.yml: name, channels, dependencies")]  # fmt: skip
    found = _environment_problems(data, f"environment file {name!r}", data)
    return found + _kernel_problems(env, dependency_names(data), f"the dependencies in {name!r}", KERNEL_PACKAGES)


def _environment_problems(spec: Any, what: str, root: Any) -> list[Problem]:
    """An environment.yml's dependencies: there, and no pip line naming a file of this host."""
    deps = spec.get("dependencies")
    if "dependencies" not in spec or deps in (None, []):
        return [Problem(f"{what} has no dependencies: micromamba would build an empty environment (no python, no "
                        "packages)", getattr(root, "mark", None), "list the packages under dependencies:")]  # fmt: skip
    if not isinstance(deps, list):
        return [Problem(f"{what}: dependencies must be a list, not {type_name(deps)}: micromamba reads anything else "
                        "as none and builds an empty environment", value_mark(spec, "dependencies"))]  # fmt: skip
    problems = _channel_problems(spec, what)
    for item in deps:
        if not isinstance(item, dict) or "pip" not in item:
            continue
        lines = item["pip"]
        if not isinstance(lines, list):
            problems.append(Problem(f"{what}: pip: must be a list of requirement lines, not {type_name(lines)}",
                                    value_mark(item, "pip")))  # fmt: skip
            continue
        problems += [p for index, line in enumerate(lines) if isinstance(line, str)
                     for p in _pip_line_problems(line, value_mark(lines, index))]  # fmt: skip
    return problems


def _pip_line_problems(line: str, mark: Mark | None) -> list[Problem]:
    """A pip line naming a file of this host, or one pip stops at.

    micromamba writes the pip section into a temporary requirements file beside the environment file
    on the machine (``TemporaryFile specs("mambaf", "", cwd)``, libmamba/src/api/utils.cpp) and runs
    ``python -m pip install -r THAT --no-input --quiet`` there; pip reads nested ``-r``/``-c`` files
    relative to it and local paths relative to the folder, neither of which holds the user's files. pip
    reads each line as its requirements-file parser does (see _conda_rules.pip_line): abbreviated
    options, ``=`` or a glued value (``-rfile.txt``), URL schemes and archive names in any case."""
    local, error = pip_line(line)
    if local:
        return [Problem(f"pip line {line!r} refers to {local} on this host: the environment file travels to the "
                        f"machine alone, and micromamba runs pip from {PREFIX}/specs there, where it is not", mark,
                        PIP_LOCAL_HINT)]  # fmt: skip
    if not error:
        return []
    if error.startswith("ambiguous option"):
        hint = "write the option out in full: one of " + error.split("(", 1)[1].rstrip("?)")
    elif error.startswith("no such option"):
        name = error.split(": ", 1)[1]
        meant = max((o for o in ("--requirement", "--constraint", "--editable", "--find-links", "--index-url",
                                 "--extra-index-url") if name.startswith(o)), key=len)  # fmt: skip
        hint = f"the option is {meant} (in full, or a prefix of it that names no other option)"
    elif "requires" in error:
        hint = "give the option its value on the same line"
    elif "does not take" in error:
        hint = "write the option alone, without '='"
    else:
        hint = "close the quote"
    return [Problem(f"pip line {line!r}: pip stops at it (\"{error}\"), and with it micromamba's build of the "
                    "environment", mark, hint)]  # fmt: skip


def _channel_problems(spec: Any, what: str) -> list[Problem]:
    """A channel that is a folder of this host (a file: URL or a path): the machine has no such folder,
    and micromamba there cannot fetch the channel's index (repodata.json) from it."""
    channels = spec.get("channels") if isinstance(spec, dict) else None
    if not isinstance(channels, list):
        return []
    return [Problem(f"{what}: channel {channel!r} is a folder of this host: the machine does not have it, and "
                    "micromamba there fails to fetch the channel's index (repodata.json) from it",
                    value_mark(channels, index), "serve the channel over https:// (an anaconda.org channel, or a "
                    "bucket or web server holding its linux-64/ and noarch/ folders) and name its URL")
            for index, channel in enumerate(channels)
            if isinstance(channel, str) and local_channel(channel)]  # fmt: skip


def _package_name(spec: str) -> str:
    """'conda-forge::IPyKernel>=6' -> 'ipykernel'; PEP 503 normalised, so jupyter_console = jupyter-console.
    A URL to a package names it by its file: .../ipykernel-6.29.5-pyh3099207_0.conda -> 'ipykernel'."""
    name = provided_name(spec) or re.split(r"[\s=<>!~\[;@,]", spec.split("::")[-1].strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _editable_names(line: str) -> set[str]:
    """What an option line's -e URL installs (-e git+https://...#egg=NAME)."""
    found, _ = pip_options(line)
    return {_package_name(value) for option, value in found if option == "--editable" and value and scheme(value)}


def dependency_names(spec: Any) -> set[str]:
    deps = spec.get("dependencies") if isinstance(spec, dict) else None
    names = set()
    for item in deps if isinstance(deps, list) else []:
        if isinstance(item, str):
            names.add(_package_name(item))
        elif isinstance(item, dict):  # a pip section, or micromamba's selectors ("sel(linux): ipykernel")
            pip = item.get("pip")
            lines = pip if isinstance(pip, list) else []
            names |= {_package_name(line) for line in lines if isinstance(line, str) and line[:1] != "-"}
            names |= {n for line in lines if isinstance(line, str) and line[:1] == "-" for n in _editable_names(line)}
            names |= {_package_name(v) for k, v in item.items() if k.startswith("sel(") and isinstance(v, str)}
    return names


def _kernel_problems(env: dict[str, Any], names: set[str], where: str, providers: set[str]) -> list[Problem]:
    """kernel: true runs ``ENV/bin/python -m ipykernel install`` on the machine (templates/features/conda/
    common.sh.j2): without ipykernel in the environment python stops there, "No module named ipykernel",
    and so does the boot."""
    if not env["kernel"] or names & providers:
        return []
    return [problem(env, "kernel", f"environment {env['name']!r} has kernel: true but no ipykernel in {where}: "
                    f"the boot stops at `{PREFIX}/envs/{env['name']}/bin/python -m ipykernel install` (\"No module "
                    "named ipykernel\")", "add ipykernel to its dependencies, or set kernel: false")]  # fmt: skip


def _lock_problems(env: dict[str, Any], text: str, display: str) -> list[Problem]:
    """``lock:`` goes to ``micromamba create -f``, which takes a conda-lock file by its name (NAME-lock.yml,
    as this feature names one) and any other as a text list: an @EXPLICIT list of package URLs, or
    else, line by line, package specs to solve at boot (not a lock at all). An empty one stops it
    ("Got an empty file"; libmamba/src/api/install.cpp, micromamba 2.0.5)."""
    name = env["lock"]
    if not _lines(text):
        return [problem(env, "lock", f"lock file {name!r} is empty: micromamba stops at it (\"Got an empty file\")",
                        LOCK_HINT)]  # fmt: skip
    at = _explicit_at(text)
    if at is not None:
        return _explicit_problems(env, text, at, display)
    data, _ = _parse(text, display)
    if _is_conda_lock(data):
        return _conda_lock_problems(env, data, display)
    if isinstance(data, dict) and "dependencies" in data:
        return [problem(env, "lock", f"{name!r} is an environment.yml, not a lock file: micromamba would read each "
                        "of its lines as a package spec ('dependencies:' among them)",
                        f"name it under file: {name}, or lock it: conda-lock -p linux-64 -f {name}")]  # fmt: skip
    first = _lines(text)[0][1]
    what = "a list of packages, not a lock file" if _is_package_list(text) else "not a lock file"
    return [problem(env, "lock", f"{name!r} is {what}: it has no {EXPLICIT} line and is not a conda-lock YAML "
                    f"(version, metadata, package), so micromamba would read each line as a package spec ({first!r} "
                    "first) and solve them at boot, unpinned", LOCK_HINT)]  # fmt: skip


def _explicit_problems(env: dict[str, Any], text: str, at: int, display: str) -> list[Problem]:
    """Every line after @EXPLICIT is one package's URL, fetched as it is at boot, and its hash."""
    problems, names = [], set()
    lines = [(n, line) for n, line in _lines(text) if n > at]
    for number, line in lines:
        found = _explicit_line_problem(line, Mark(display, number, 1))
        if found:
            problems.append(found)
        else:
            archive = line.split("#")[0].strip().rsplit("/", 1)[-1]
            names.add(_package_name(archive.rsplit("-", 2)[0]))
    if not lines:
        problems.append(problem(env, "lock", f"lock file {env['lock']!r} lists no package after {EXPLICIT}: micromamba "
                                "would build an empty environment", LOCK_HINT))  # fmt: skip
    elif not problems:
        problems += _kernel_problems(env, names, f"lock file {env['lock']!r}", {"ipykernel"})
    return problems


def _explicit_line_problem(line: str, mark: Mark) -> Problem | None:
    """A line after @EXPLICIT as micromamba's PackageInfo::from_url reads it (libmamba/src/specs/
    package_info.cpp): an archive URL, NAME-VERSION-BUILD.conda or .tar.bz2 ("Missing filename
    extension.", "Missing name and version in filename" otherwise), then '#' and its md5 (32 hex
    digits) or sha256 (64, 'sha256:' before them or not). A missing hash, or one of any other form
    (which from_url drops without a word), leaves the download unverified: nothing pins the bytes
    installed to those locked. conda's explicit format (conda/misc.py, URL_PAT) takes the same.
    A lock's packages come from their channel's http(s) URLs, as conda and conda-lock write them."""
    url, digest, wrong = explicit_url(line)
    if wrong is None:
        return None
    if wrong == "local":
        return Problem(f"package {url!r} is a file of this host: the lock travels to the machine alone, the package "
                       "does not", mark, "lock from the channel's https:// URLs")  # fmt: skip
    if wrong == "not a URL":
        return Problem(f"line {line!r} after {EXPLICIT} is not a package URL: micromamba takes each line there as one "
                       "(https://.../NAME-VERSION-BUILD.conda#MD5)", mark, LOCK_HINT)  # fmt: skip
    if wrong == "not http":
        return Problem(f"package {url!r} is not an http(s) URL: a lock's packages are downloaded at boot from their "
                       "channel's https:// URLs, as conda and conda-lock write them", mark,
                       "lock from the channel's https:// URLs")  # fmt: skip
    if wrong == "not a package":
        return Problem(f"{url!r} after {EXPLICIT} is not a conda package (NAME-VERSION-BUILD.conda or .tar.bz2): "
                       "micromamba refuses it (\"Missing filename extension.\")", mark, LOCK_HINT)  # fmt: skip
    if wrong == "not NAME-VERSION-BUILD":
        return Problem(f"package {url!r} is not named NAME-VERSION-BUILD.conda: micromamba refuses it (\"Missing name "
                       "and version in filename\")", mark, LOCK_HINT)  # fmt: skip
    if wrong == "no hash":
        return Problem(f"package {url!r} has no hash (#MD5, or #sha256:...): micromamba would install whatever the "
                       "server sends for it, unchecked, and the lock would not pin the package's bytes", mark,
                       HASH_HINT)  # fmt: skip
    return Problem(f"package {url!r} has hash {'#' + str(digest)!r}, neither an md5 (32 hex digits) nor a sha256 "
                   "(sha256: and 64 hex digits): micromamba drops it without a word and installs the package "
                   "unverified", mark, HASH_HINT)  # fmt: skip


def _conda_lock_package_problems(packages: list[Any]) -> list[Problem]:
    """Each package of a conda-lock file as micromamba reads them all, every platform's, before it picks
    linux-64's (libmamba/src/core/env_lockfile.cpp, read_package_info): name, version, manager, platform
    and url read as text (a missing one is a YAML error that stops it), and a hash, md5 or sha256: "either
    package 'package.info.hash.md5' or 'package.info.hash.sha256' must be specified, found none"."""
    problems = []
    for index, package in enumerate(packages):
        mark = value_mark(packages, index)
        if not isinstance(package, dict):
            problems.append(Problem(f"conda-lock package must be a mapping (name, version, url, hash...), not "
                                    f"{type_name(package)}", mark, CONDA_LOCK_HINT))  # fmt: skip
            continue
        label = f"{package.get('name')!r} ({package.get('platform')})"
        missing = [k for k in ("name", "version", "manager", "platform", "url")
                   if package.get(k) is None or isinstance(package.get(k), (dict, list))]  # fmt: skip
        if missing:
            problems.append(Problem(f"conda-lock package {label} has no {' or '.join(missing)}: micromamba stops "
                                    "reading the lock (it reads name, version, manager, platform and url of every "
                                    "package)", mark, CONDA_LOCK_HINT))  # fmt: skip
            continue
        url = str(package["url"]).strip()
        if scheme(url) == "file" or (scheme(url) is None and url.startswith(("/", ".", "~"))):
            problems.append(Problem(f"conda-lock package {label} is a file of this host ({url}): the lock travels to "
                                    "the machine alone, the package does not", value_mark(package, "url"),
                                    "lock from the channel's https:// URLs"))  # fmt: skip
        elif scheme(url) not in ("http", "https"):
            problems.append(Problem(f"conda-lock package {label}: url {url!r} is not an http(s) URL: a lock's packages "
                                    "are downloaded at boot from their channel's https:// URLs",
                                    value_mark(package, "url"), CONDA_LOCK_HINT))  # fmt: skip
        hashes = package.get("hash")
        md5, sha256 = (hashes.get("md5"), hashes.get("sha256")) if isinstance(hashes, dict) else (None, None)
        if not md5 and not sha256:
            problems.append(Problem(f"conda-lock package {label} has no hash: micromamba refuses the lock (\"either "
                                    "package 'package.info.hash.md5' or 'package.info.hash.sha256' must be specified, "
                                    "found none\"); without one the download could not be checked against the lock",
                                    value_mark(package, "hash") if "hash" in package else mark,
                                    CONDA_LOCK_HINT))  # fmt: skip
        elif not is_md5(md5) and not is_sha256(sha256):
            shown = ", ".join(f"{k} {v!r}" for k, v in (("md5", md5), ("sha256", sha256)) if v)
            problems.append(Problem(f"conda-lock package {label}: hash {shown} is neither an md5 (32 hex digits) "
                                    "nor a sha256 (64): no download can match it, and micromamba's install fails the "
                                    "package's checksum", value_mark(package, "hash"), CONDA_LOCK_HINT))  # fmt: skip
    return problems


def _conda_lock_problems(env: dict[str, Any], data: Any, display: str) -> list[Problem]:
    """A conda-lock file as micromamba reads it (libmamba/src/core/env_lockfile.cpp): version 1 only
    ("unknown version" otherwise), and packages for the machine's platform, linux-64 (else "The
    lockfile might not be resolved for your platform (linux-64)" and an empty environment)."""
    version = data.get("version")
    if version != 1:
        return [Problem(f"conda-lock version {version!r}: micromamba reads version 1 only (\"unknown version\")",
                        value_mark(data, "version"),
                        "write it with conda-lock's unified format (conda-lock.yml)")]  # fmt: skip
    packages = data.get("package")
    if not isinstance(packages, list):
        return [Problem(f"conda-lock package: must be a list of packages, not {type_name(packages)}",
                        value_mark(data, "package"), CONDA_LOCK_HINT)]  # fmt: skip
    broken = _conda_lock_package_problems(packages)
    if broken:
        return broken
    ours = [p for p in packages if isinstance(p, dict) and p.get("platform") == "linux-64"]
    if not ours:
        metadata = data.get("metadata")
        platforms = metadata.get("platforms") if isinstance(metadata, dict) else None
        shown = ", ".join(map(str, platforms)) if isinstance(platforms, list) and platforms else "none"
        where = value_mark(metadata, "platforms") if isinstance(metadata, dict) else value_mark(data, "package")
        return [Problem(f"conda-lock file {env['lock']!r} has no linux-64 packages (platforms: {shown}): micromamba "
                        "would install nothing on the machine (\"The lockfile might not be resolved for your platform "
                        "(linux-64)\")", where, "lock for the machine too: conda-lock -p linux-64")]  # fmt: skip
    names = {_package_name(str(p.get("name", ""))) for p in ours}
    return _kernel_problems(env, names, f"lock file {env['lock']!r}", {"ipykernel"})


def _spec(env: dict[str, Any], channels: list[str], context: Context) -> tuple[str, str]:
    """(kind, text) of an embedded spec: 'yaml' or 'lock'."""
    if "spec" in env:
        spec = {"name": env["name"], "channels": channels, **plain(env["spec"])}
        return "yaml", yaml.safe_dump(spec, sort_keys=False, default_flow_style=False)
    key = "file" if "file" in env else "lock"
    path = source_file(env, key, context, f"conda {key}")
    text = read_text(path, str(env[key]))  # a Latin-1 file is a located error, not a traceback
    return ("lock" if key == "lock" else "yaml"), text


def _spec_file(name: str, kind: str, text: str) -> str:
    """Its name under specs/: micromamba tells a conda-lock file by its name alone (-lock.yml), and
    reads any other lock as a text list (an @EXPLICIT one)."""
    if kind != "lock":
        return name + ".yml"
    try:
        conda_lock = _is_conda_lock(yaml.safe_load(text))
    except yaml.YAMLError:
        conda_lock = False
    return name + ("-lock.yml" if conda_lock else "-lock.txt")


def steps(config: dict[str, Any], context: Context) -> list[Step]:
    channels = list(config["channels"])
    envs = []
    for env in sorted(config["environments"], key=lambda e: e["name"]):
        entry = {
            "name": env["name"],
            "kernel": "yes" if env["kernel"] else "no",
            "display_name": env.get("display_name", f"Python ({env['name']})"),
            "url": env.get("url", ""),
            "kind": "yaml",
        }
        if not entry["url"]:
            entry["kind"], entry["text"] = _spec(env, channels, context)
            entry["hash"] = hashlib.sha256(entry["text"].encode()).hexdigest()
        entry["spec_file"] = _spec_file(env["name"], entry["kind"], entry.get("text", ""))  # under specs/
        envs.append(entry)  # fmt: skip
    settings = {"prefix": PREFIX, "micromamba": config["micromamba"], "group": config.get("group", ""),
                **aws_cli(context)}  # fmt: skip
    what = "micromamba and " + named("environment", "environments", [e["name"] for e in envs])
    result = [Step("conda", Phase.FIRST_BOOT, Scope.IMAGE, KEY, render("features/conda/install.sh.j2", envs=envs,
                                                                       **settings), what, cost="heavy")]  # fmt: skip
    if any(e["url"] for e in envs):
        result.append(Step("conda-refresh", Phase.EVERY_BOOT, Scope.INSTANCE, KEY,
                           render("features/conda/refresh.sh.j2", envs=[e for e in envs if e["url"]], **settings),
                           "rebuild environments whose fetched spec changed", cost="network"))  # fmt: skip
    return result


def needs(config: dict[str, Any]) -> Needs:
    return Needs(internet=("conda: micromamba from GitHub's releases and packages from the conda channels",))
