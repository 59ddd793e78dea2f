"""An image's manifest: what templates/runner/manifest.sh.j2 wrote at the seal, read, and two compared.

An image rebuilt from cached layers must equal one built from scratch: equal means the same packages at
the same versions and the same entries (path, type, mode, owner, content hash or link target), less the
volatile paths of ``layout.MANIFEST_SKIP`` (logs, caches, per-machine ids...), which the guest lists and
the comparison leaves out. ``stable_sha256`` is that comparison's digest: two images are equal when theirs
are. A malformed manifest is a ManifestError (exit 2), never a partial one.

Where it is kept: the local backend beside the image (``NAME.manifest.gz``, named in ``NAME.json``; see
``bootstrap images show``). EC2 and GCE keep none yet: the plan is the stable digest as a tag of the AMI
(``bootstrap:manifest``) and a label of the GCE image, the file in the bake's bucket; not built.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..errors import ManifestError
from ..layout import MANIFEST_SKIP

HEADER = b"bootstrap-manifest 1\n"
SECTIONS = (b"p", b"e", b"f", b"l")  # packages, entries, regular files' hashes, symlinks' targets
KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFIFO: "fifo",
         stat.S_IFSOCK: "socket", stat.S_IFCHR: "char", stat.S_IFBLK: "block"}  # fmt: skip
MAX_BYTES = 1 << 30  # uncompressed: a gzip bomb planted beside an image stops here


@dataclass(frozen=True)
class Entry:
    path: bytes  # from the root, "/" first; any bytes but NUL
    kind: str  # file, dir, symlink, fifo, socket, char, block
    mode: int  # permission bits with setuid, setgid and sticky
    owner: str  # uid:gid
    data: bytes = b""  # a file's sha256 (hex), a symlink's target


@dataclass(frozen=True)
class Manifest:
    packages: dict[str, str]  # name -> version
    entries: dict[bytes, Entry]  # by path
    sha256: str = ""  # of the text as the guest wrote it (its console line says the same)
    volatile: int = 0  # entries stable() left out

    def stable(self) -> Manifest:
        """This manifest less layout.MANIFEST_SKIP's volatile paths: what two equal images share."""
        kept = {path: entry for path, entry in self.entries.items() if not is_volatile(path)}
        return Manifest(self.packages, kept, self.sha256, len(self.entries) - len(kept))

    def lines(self) -> list[str]:
        """One line a package or an entry, its fields tab-separated (names shown(): no tab or newline in
        them, so no two manifests have the same lines), sorted."""
        packages = [f"package\t{name}\t{version}" for name, version in sorted(self.packages.items())]
        entries = [f"{e.kind}\t{e.mode:04o}\t{e.owner}\t{shown(e.path)}\t{shown(e.data)}"
                   for _, e in sorted(self.entries.items())]  # fmt: skip
        return packages + entries

    @property
    def stable_sha256(self) -> str:
        """The digest of stable()'s lines: equal images, equal digests, whatever gzip or the walk's order."""
        return hashlib.sha256("\n".join(self.stable().lines()).encode()).hexdigest()

    def summary(self) -> dict[str, object]:
        stable = self.stable()
        return {"sha256": self.sha256, "stable_sha256": self.stable_sha256, "packages": len(self.packages),
                "entries": len(self.entries), "volatile": stable.volatile,
                "files": sum(e.kind == "file" for e in self.entries.values())}  # fmt: skip


@dataclass(frozen=True)
class Difference:
    what: str  # package, entry
    name: str  # shown()
    change: str  # added, removed, version, type, mode, owner, content, target
    before: str = ""
    after: str = ""

    def __str__(self) -> str:
        if self.change in ("added", "removed"):
            return f"{self.what} {self.name} {self.change}" + (f" ({self.before or self.after})" if
                                                                 self.before or self.after else "")  # fmt: skip
        return f"{self.what} {self.name}: {self.change} {self.before} -> {self.after}"


def shown(raw: bytes) -> str:
    """Bytes as one line of ASCII: printable bytes as they are, the backslash as \\\\, others as \\xHH."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else "\\\\" if b == 0x5C else f"\\x{b:02x}" for b in raw)


@cache
def _volatile() -> re.Pattern[bytes]:
    paths = [re.escape(p.encode()).replace(rb"\*", rb"[^\x00]*") for p in MANIFEST_SKIP if p.startswith("/")]
    names = [re.escape(p.encode()).replace(rb"\*", rb"[^/]*") for p in MANIFEST_SKIP if not p.startswith("/")]
    either = [rb"\A(?:" + b"|".join(paths) + rb")(?:/.*)?\Z"] if paths else []
    either += [rb"(?:\A|/)(?:" + b"|".join(names) + rb")(?:/|\Z)"] if names else []
    return re.compile(b"|".join(either) or rb"(?!)", re.DOTALL)


def is_volatile(path: bytes) -> bool:
    """A path layout.MANIFEST_SKIP names, or under one it names."""
    return _volatile().search(path) is not None


def parse_manifest(data: bytes, where: str = "the manifest") -> Manifest:
    """A manifest from its bytes (gzipped or not); ManifestError when it is not one."""
    if data[:2] == b"\x1f\x8b":
        try:
            reader = zlib.decompressobj(wbits=31)
            data = reader.decompress(data, MAX_BYTES)
            if reader.unconsumed_tail:
                raise ManifestError(f"{where}: larger than {MAX_BYTES:,} bytes uncompressed")
            if not reader.eof:
                raise ManifestError(f"{where}: its gzip data is cut short")
        except (zlib.error, EOFError) as exc:
            raise ManifestError(f"{where}: not gzip data: {exc}") from exc
    if not data.startswith(HEADER):
        raise ManifestError(f"{where}: not a bootstrap manifest (it starts {data[:24]!r})")
    sections, at = {}, len(HEADER)
    for name in SECTIONS:
        end = data.find(b"\n", at)
        words = data[at:end].split(b" ") if end >= 0 else []
        if len(words) != 2 or words[0] != name or not words[1].isdigit():
            raise ManifestError(f"{where}: section {name.decode()} missing at byte {at}")
        start, at = end + 1, end + 1 + int(words[1])
        if at > len(data):
            raise ManifestError(f"{where}: section {name.decode()} is cut short")
        sections[name] = data[start:at]
    if at != len(data):
        raise ManifestError(f"{where}: {len(data) - at} bytes after its last section")
    return Manifest(_packages(sections[b"p"], where), _entries(sections, where), hashlib.sha256(data).hexdigest())


def _packages(text: bytes, where: str) -> dict[str, str]:
    packages: dict[str, str] = {}
    for number, line in enumerate(text.decode("ascii", "replace").splitlines(), 1):
        name, tab, version = line.partition("\t")
        if not name.isprintable() or not version.isprintable() or not tab or not name or not version \
                or "\t" in version or name in packages:  # fmt: skip
            raise ManifestError(f"{where}: package line {number} is not NAME<TAB>VERSION: {line[:80]!r}")
        packages[name] = version
    if text and not text.endswith(b"\n"):
        raise ManifestError(f"{where}: its package list is cut short")
    return packages


def _fields(section: bytes, name: str, where: str) -> list[bytes]:
    if section and not section.endswith(b"\0"):
        raise ManifestError(f"{where}: section {name} is cut short (no final NUL)")
    return section.split(b"\0")[:-1] if section else []


def _path(raw: bytes, where: str) -> bytes:
    if raw == b".":
        return b"/"
    if not raw.startswith(b"./") or raw == b"./":
        raise ManifestError(f"{where}: entry {shown(raw)!r} is not a path from the root")
    return raw[1:]


def _entries(sections: dict[bytes, bytes], where: str) -> dict[bytes, Entry]:
    fields = _fields(sections[b"e"], "e", where)
    hashes = iter(_fields(sections[b"f"], "f", where))
    targets = iter(_fields(sections[b"l"], "l", where))
    if len(fields) % 3:
        raise ManifestError(f"{where}: its entries are not mode, owner and path each")
    entries: dict[bytes, Entry] = {}
    previous = b""
    for index in range(0, len(fields), 3):
        mode_hex, owner, raw = fields[index : index + 3]
        if not re.fullmatch(rb"[0-9a-f]{1,8}", mode_hex) or not re.fullmatch(rb"\d+:\d+", owner):
            raise ManifestError(f"{where}: entry {shown(raw)!r} has mode {shown(mode_hex)!r}, owner {shown(owner)!r}")
        if raw <= previous:
            raise ManifestError(f"{where}: entry {shown(raw)!r} is out of order or twice")
        previous = raw
        mode = int(mode_hex, 16)
        kind = KINDS.get(stat.S_IFMT(mode))
        if kind is None:
            raise ManifestError(f"{where}: entry {shown(raw)!r} has no known type (mode {mode:o})")
        data = b""
        if kind == "file":
            data = _hash_of(next(hashes, None), raw, where)
        elif kind == "symlink":
            data = next(targets, b"")
            if not data:
                raise ManifestError(f"{where}: symlink {shown(raw)!r} has no target listed")
        path = _path(raw, where)
        entries[path] = Entry(path, kind, stat.S_IMODE(mode), owner.decode(), data)
    if next(hashes, None) is not None or next(targets, None) is not None:
        raise ManifestError(f"{where}: more hashes or link targets than its entries have")
    return entries


def _hash_of(line: bytes | None, raw: bytes, where: str) -> bytes:
    """sha256sum -z's line for the file ``raw``: "HASH  NAME", its name the entry's own (in the same order)."""
    if line is None or len(line) < 67 or line[64:66] != b"  " or line[66:] != raw \
            or not re.fullmatch(rb"[0-9a-f]{64}", line[:64]):  # fmt: skip
        found = shown((line or b"")[:80])
        raise ManifestError(f"{where}: file {shown(raw)!r} has no hash of its own (found {found!r})")
    return line[:64]


def diff_manifests(a: Manifest, b: Manifest, volatile: bool = False) -> list[Difference]:
    """What differs from ``a`` to ``b``: packages added, removed or at another version, entries added or
    removed or of another type, mode, owner, content or target. Volatile paths are left out unless
    ``volatile``. Empty: the two images are equal."""
    if not volatile:
        a, b = a.stable(), b.stable()
    found: list[Difference] = []
    for name in sorted(a.packages.keys() | b.packages.keys()):
        old, new = a.packages.get(name), b.packages.get(name)
        if old is None or new is None:
            found.append(Difference("package", name, "added" if old is None else "removed", old or "", new or ""))
        elif old != new:
            found.append(Difference("package", name, "version", old, new))
    for path in sorted(a.entries.keys() | b.entries.keys()):
        before, after = a.entries.get(path), b.entries.get(path)
        if before is None or after is None:
            entry = after or before
            assert entry is not None
            found.append(Difference("entry", shown(path), "added" if before is None else "removed", entry.kind))
            continue
        for change, old, new in (("type", before.kind, after.kind), ("mode", f"{before.mode:04o}", f"{after.mode:04o}"),
                                 ("owner", before.owner, after.owner)):  # fmt: skip
            if old != new:
                found.append(Difference("entry", shown(path), change, old, new))
        if before.kind == after.kind and before.data != after.data:
            change = "target" if before.kind == "symlink" else "content"
            found.append(Difference("entry", shown(path), change, shown(before.data), shown(after.data)))
    return found


def read_manifest(path: Path) -> Manifest:
    """A manifest file (gzipped, as the guest writes it)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest {path}: {exc}") from exc
    return parse_manifest(data, str(path))
