"""How the tools on the machine read what a conda environment's spec names: a pip line as pip's
requirements-file parser reads it (micromamba hands an environment's pip section to ``pip install
-r``), a channel, and a lock's package URL and hash as micromamba reads them. conda.py says where
in the profile each finding belongs and in what words; this module only reads.

Not a feature: the registry skips modules whose name starts with '_'.
"""

from __future__ import annotations

import re
import shlex

# pip's requirements-file options (pip/_internal/req/req_file.py, SUPPORTED_OPTIONS and
# SUPPORTED_OPTIONS_REQ, pip 23.2 to 25): each long name, the option it is (--pypi-url is an old
# name of --index-url) and whether it takes a value. optparse takes any prefix of a long name that
# names one option (--constr is --constraint) and stops at a prefix of several ("ambiguous option").
PIP_OPTIONS: dict[str, tuple[str, bool]] = {
    "--index-url": ("--index-url", True), "--pypi-url": ("--index-url", True),
    "--extra-index-url": ("--extra-index-url", True), "--no-index": ("--no-index", False),
    "--constraint": ("--constraint", True), "--requirement": ("--requirement", True),
    "--editable": ("--editable", True), "--find-links": ("--find-links", True),
    "--no-binary": ("--no-binary", True), "--only-binary": ("--only-binary", True),
    "--prefer-binary": ("--prefer-binary", False), "--require-hashes": ("--require-hashes", False),
    "--pre": ("--pre", False), "--trusted-host": ("--trusted-host", True), "--use-feature": ("--use-feature", True),
    "--global-option": ("--global-option", True), "--hash": ("--hash", True),
    "--config-settings": ("--config-settings", True),
}  # fmt: skip
PIP_SHORT = {"-i": "--index-url", "-c": "--constraint", "-r": "--requirement", "-e": "--editable",
             "-f": "--find-links", "-C": "--config-settings"}  # fmt: skip
# The options whose value pip reads as a file, folder or index: what each names when it is not a URL.
PIP_FILE_OPTIONS = {
    "--requirement": "requirements file", "--constraint": "constraints file", "--editable": "local project",
    "--find-links": "local folder", "--index-url": "local index", "--extra-index-url": "local index",
}  # fmt: skip
# pip/_internal/utils/filetypes.py, ARCHIVE_EXTENSIONS: a requirement ending so is a file (compared in
# lower case), wherever it is.
ARCHIVE_EXTENSIONS = (".whl", ".zip", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz",
                      ".tar.lz", ".tar.lzma")  # fmt: skip
# pip/_internal/req/req_file.py, COMMENT_RE: a '#' at the start or after blanks begins a comment.
PIP_COMMENT = re.compile(r"(^|\s+)#.*$")
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# A PEP 508 direct reference, "name[extras] @ URL".
DIRECT = re.compile(r"^[A-Za-z0-9][\w.-]*\s*(\[[^\]]*\])?\s*@\s*(?P<target>.*)$")
CONDA_ARCHIVES = (".conda", ".tar.bz2")


def scheme(text: str) -> str | None:
    """A URL's scheme in lower case (as pip and libcurl compare it), or None for a path or a name."""
    match = SCHEME.match(text)
    return match.group(1).lower() if match else None


def _local_url(target: str) -> str | None:
    """What a file: URL, or a VCS URL over file: (git+file://...), names on this host."""
    found = scheme(target)
    if found == "file":
        return f"a local file ({target})"
    if found is not None and found.endswith("+file"):  # git+file, hg+file, svn+file, bzr+file
        return f"a local repository ({target})"
    return None


def pip_options(text: str) -> tuple[list[tuple[str, str | None]], str | None]:
    """Each (option, value) on a line of pip options, read as pip's optparse parser reads it, and the
    error pip stops there with, when it is one this check is sure of: an ambiguous abbreviation, a
    missing value, or an unknown name that spells out a file-taking option and more (--requirements).
    An unknown option of another name stops the reading without an error: a later pip may have it."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        return [], f"Could not split options: {text}"
    found: list[tuple[str, str | None]] = []
    while tokens:
        token = tokens.pop(0)
        if token == "--":
            break
        if token.startswith("--"):
            name, equals, value = token.partition("=")
            matches = [name] if name in PIP_OPTIONS else sorted(o for o in PIP_OPTIONS if o.startswith(name))
            if len(matches) > 1:
                return found, f"ambiguous option: {name} ({', '.join(matches)}?)"
            if not matches:
                if any(name.startswith(o) for o in PIP_FILE_OPTIONS):
                    return found, f"no such option: {name}"
                break
            option, takes_value = PIP_OPTIONS[matches[0]]
            if not takes_value:
                if equals:
                    return found, f"{name} option does not take a value"
                found.append((option, None))
                continue
            if not equals:
                if not tokens:
                    return found, f"{name} option requires 1 argument"
                value = tokens.pop(0)
            found.append((option, value))
        elif token.startswith("-") and len(token) > 1:
            short = token[:2]
            if short not in PIP_SHORT:
                break
            value = token[2:]
            if not value:  # every short option takes a value: "-rfile.txt", or the next word
                if not tokens:
                    return found, f"{short} option requires 1 argument"
                value = tokens.pop(0)
            found.append((PIP_SHORT[short], value))
        # any other word is an argument optparse keeps and pip ignores
    return found, None


def _option_target(option: str, value: str) -> str | None:
    """What of this host a file-taking option's value names: a path or a file: URL (pip reads any
    other URL over the network; a relative path relative to the requirements file's folder)."""
    local = _local_url(value)
    if local or scheme(value) is not None:
        return local
    return f"a {PIP_FILE_OPTIONS[option]} ({value})"


def pip_line(line: str) -> tuple[str | None, str | None]:
    """(what of this host the line names, the error pip stops at it with), either or both None.

    As pip reads a requirements file's line (req_file.py): the comment goes, the words up to the first
    that starts with '-' are a requirement and the rest its options (which then only scope it), a line
    of options alone sets them."""
    text = PIP_COMMENT.sub("", line).strip()
    words = text.split(" ")
    first = next((i for i, word in enumerate(words) if word.startswith("-")), len(words))
    requirement, options = " ".join(words[:first]).strip(), " ".join(words[first:])
    if requirement:
        return _requirement_target(requirement), None
    found, error = pip_options(options)
    for option, value in found:
        local = _option_target(option, value) if option in PIP_FILE_OPTIONS and value is not None else None
        if local:
            return local, error
    return None, error


def _requirement_target(requirement: str) -> str | None:
    """What of this host a requirement names (pip's parse_req_from_line): a file: URL or a VCS URL
    over file:, a path (it has a '/' or starts with '.'), or an archive by its name (.whl, .tar.gz...
    in any case: pip compares them in lower case)."""
    direct = DIRECT.match(requirement)
    target = direct.group("target") if direct else requirement
    target = target.split(";")[0].strip()
    local = _local_url(target)
    if local or scheme(target) is not None:
        return local
    if target.startswith((".", "/", "~")) or "/" in target or target.lower().endswith(ARCHIVE_EXTENSIONS):
        return f"a local path ({target})"
    return None


def local_channel(channel: str) -> bool:
    """A channel that is a folder of this host: a file: URL or a path (conda and micromamba take
    '/srv/channel', './channel' or '~/channel' as the local channel there)."""
    text = channel.strip()
    return scheme(text) == "file" or text in (".", "..", "~") or text.startswith(("/", "./", "../", "~/"))


def explicit_url(line: str) -> tuple[str, str | None, str | None]:
    """(URL, hash, what is wrong) of a line after @EXPLICIT, as micromamba's PackageInfo::from_url
    reads it: an http(s) URL to a conda package NAME-VERSION-BUILD.conda or .tar.bz2, and after '#'
    its md5 (32 hex digits) or sha256 ('sha256:' and 64; 64 alone too). micromamba ignores a hash of
    another form without a word, and installs that package unverified."""
    url, _, digest = line.partition("#")
    url = url.strip()
    found = scheme(url)
    if found == "file" or (found is None and url.startswith(("/", ".", "~"))):
        return url, None, "local"
    if found is None or not url[len(found) + 1 :].startswith("//"):
        return url, None, "not a URL"
    if found not in ("http", "https"):
        return url, None, "not http"
    filename = url.rsplit("/", 1)[-1]
    if not filename.endswith(CONDA_ARCHIVES):
        return url, None, "not a package"
    stem = filename.removesuffix(".conda").removesuffix(".tar.bz2")
    if len(stem.split("-")) < 3 or not all(stem.rsplit("-", 2)):
        return url, None, "not NAME-VERSION-BUILD"
    if not digest:
        return url, None, "no hash"
    if not is_md5(digest) and not is_sha256(digest.removeprefix("sha256:")):
        return url, digest, "bad hash"
    return url, digest, None


def is_md5(text: object) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[0-9a-fA-F]{32}", text) is not None


def is_sha256(text: object) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[0-9a-fA-F]{64}", text) is not None


def provided_name(spec: str) -> str | None:
    """The package a dependency given as a URL installs, from its file name: a conda package
    (NAME-VERSION-BUILD.conda), a wheel (NAME-VERSION-...whl), an sdist (NAME-VERSION.tar.gz), or a
    VCS URL's #egg=NAME. None for a spec that is not a URL."""
    text = spec.strip()
    if scheme(text) is None:
        return None
    egg = re.search(r"#egg=([A-Za-z0-9][\w.-]*)", text)
    if egg:
        return egg.group(1)
    filename = text.split("#")[0].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    if "+" in (scheme(text) or ""):  # git+https://host/org/NAME.git@REF: the repository's name
        return filename.split("@")[0].removesuffix(".git")
    lower = filename.lower()
    if lower.endswith(CONDA_ARCHIVES):
        return filename.rsplit("-", 2)[0]
    if lower.endswith(".whl"):
        return filename.split("-")[0]
    if lower.endswith(ARCHIVE_EXTENSIONS):
        return filename.rsplit("-", 1)[0]
    return None
