"""The image's manifest (templates/runner/manifest.sh.j2, bootstrap/bake/manifest.py): the guest script
run for real in a throwaway root over hostile names, symlink loops, another's files, volatile paths and
another filesystem; the parser's refusals; the comparison; and the local backend's reading of it from a
disk, without booting one."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap.bake.manifest import Manifest, diff_manifests, is_volatile, parse_manifest, shown
from bootstrap.console import manifest_line
from bootstrap.errors import ManifestError
from bootstrap.layout import MANIFEST
from bootstrap.targets.bundle import manifest_script

HOSTILE = [b"new\nline", b"sp ace", b"back\\slash", b"tab\there", b"\xff\xfe not utf-8", b"-leading-dash"]
DPKG = "ii libc6:amd64\t2.36-9\nrc removed-kept-config\t1.0\nii bash\t5.2.15-2\n"  # ${db:Status-Abbrev}: 3 bytes


def _tree(root: Path) -> None:
    """An image's root: hostile names, a symlink loop, another uid's file, a setuid one, volatile paths."""
    for folder in ("var/lib/bootstrap", "var/lib/dpkg", "var/log", "etc", "opt/app/__pycache__", "mnt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name in HOSTILE:
        with open(bytes(root) + b"/opt/" + name, "wb") as file:  # pathlib takes no bytes
            file.write(b"hostile " + name)
    (root / "opt/loop-a").symlink_to("loop-b")
    (root / "opt/loop-b").symlink_to("loop-a")
    (root / "opt/up").symlink_to("..")  # a directory loop, were it followed
    (root / "opt/theirs").write_text("not root's\n")
    shutil.chown(root / "opt/theirs", 1234, 5678)
    (root / "opt/setuid").write_text("#!/bin/sh\n")
    (root / "opt/setuid").chmod(0o4755)
    (root / "etc/machine-id").write_text("0123456789abcdef\n")
    (root / "etc/shadow").write_text("root:SECRET-HASH:19000::::::\n")
    (root / "var/log/build.log").write_text("built at some time\n")
    (root / "opt/app/__pycache__/m.cpython-311.pyc").write_bytes(b"\x00bytecode")


@pytest.fixture
def machine(sandbox):  # type: ignore[no-untyped-def]
    _tree(sandbox.path("/image"))
    sandbox.answer("dpkg-query", "--admindir=/image/var/lib/dpkg", DPKG)
    return sandbox


def _run(machine, prefix: str = "") -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    (machine.path("/tmp/manifest.sh")).write_text(manifest_script())
    result = machine.run("bash", "-c", f"{prefix}bash /tmp/manifest.sh /image")
    assert result.returncode == 0, result.stderr
    return result.stdout, machine.path(f"/image{MANIFEST}").read_bytes()


def test_the_manifest_lists_each_entry_as_it_is(machine) -> None:  # type: ignore[no-untyped-def]
    stdout, data = _run(machine)
    manifest = parse_manifest(data)
    line = manifest_line(stdout)
    assert line is not None and line.sha256 == manifest.sha256 == hashlib.sha256(gzip.decompress(data)).hexdigest()
    assert line.packages == 2 and line.entries == len(manifest.entries)
    assert manifest.packages == {"bash": "5.2.15-2", "libc6:amd64": "2.36-9"}  # the config-files one is not installed
    entries = manifest.entries
    for name in HOSTILE:  # each one entry, its name exactly, its content's hash
        entry = entries[b"/opt/" + name]
        assert entry.kind == "file" and entry.data.decode() == hashlib.sha256(b"hostile " + name).hexdigest()
    assert entries[b"/opt/loop-a"].data == b"loop-b" and entries[b"/opt/up"].kind == "symlink"
    assert not any(path.startswith(b"/opt/up/") for path in entries)  # never followed
    assert entries[b"/opt/theirs"].owner == "1234:5678" and entries[b"/opt/theirs"].mode == 0o644
    assert entries[b"/opt/setuid"].mode == 0o4755 and entries[b"/"].kind == "dir"
    assert MANIFEST.encode() not in entries  # not itself
    shadow = entries[b"/etc/shadow"].data
    assert len(shadow) == 64 and b"SECRET" not in data and b"SECRET" not in gzip.decompress(data)  # hashes only
    # the guest lists the volatile paths; the comparison leaves them out
    volatile = [b"/etc/machine-id", b"/var/log", b"/var/log/build.log", b"/opt/app/__pycache__/m.cpython-311.pyc"]
    assert all(path in entries for path in volatile)
    stable = manifest.stable()
    assert not any(path in stable.entries for path in volatile) and stable.volatile == 5  # and __pycache__ itself
    assert b"/opt/app" in stable.entries and b"/var" in stable.entries
    assert all("\n" not in line for line in manifest.lines())


def test_two_runs_write_the_same_bytes(machine) -> None:  # type: ignore[no-untyped-def]
    first_line, first = _run(machine)
    second_line, second = _run(machine)  # now with the first one's file there, which it leaves out
    assert first == second and first_line == second_line


def test_another_filesystem_is_not_walked(machine) -> None:  # type: ignore[no-untyped-def]
    _, data = _run(machine, "/usr/bin/mount -t tmpfs none /image/mnt && echo x >/image/mnt/inside && ")
    entries = parse_manifest(data).entries
    assert b"/mnt" in entries and b"/mnt/inside" not in entries


def test_a_changed_mode_owner_or_content_is_a_difference(machine) -> None:  # type: ignore[no-untyped-def]
    _, before = _run(machine)
    image = machine.path("/image")
    (image / "opt/setuid").chmod(0o755)
    shutil.chown(image / "opt/theirs", 0, 0)
    (image / "etc/shadow").write_text("root:OTHER:19000::::::\n")
    (image / "var/log/build.log").write_text("built at another time\n")  # volatile: no difference
    _, after = _run(machine)
    found = {(d.name, d.change): d for d in diff_manifests(parse_manifest(before), parse_manifest(after))}
    assert set(found) == {("/opt/setuid", "mode"), ("/opt/theirs", "owner"), ("/etc/shadow", "content")}, found
    assert (found["/opt/setuid", "mode"].before, found["/opt/setuid", "mode"].after) == ("4755", "0755")
    assert str(found["/opt/theirs", "owner"]) == "entry /opt/theirs: owner 1234:5678 -> 0:0"
    assert diff_manifests(parse_manifest(before), parse_manifest(after), volatile=True)  # the log, when asked


# -- the parser and the comparison, on manifests written here in the guest's format ----------------------


def manifest_bytes(packages: dict[str, str], entries: list[tuple[str, int, str, bytes, bytes]],
                   **replaced: bytes) -> bytes:
    """The guest's format: entries (path "./..." or ".", type and mode as st_mode, uid:gid, hash, target);
    ``replaced``: a section's bytes instead."""
    ordered = sorted(entries, key=lambda e: e[0].encode())
    sections = {
        "p": "".join(f"{n}\t{v}\n" for n, v in sorted(packages.items())).encode(),
        "e": b"".join(f"{m:x}\0{o}\0".encode() + p.encode() + b"\0" for p, m, o, _, _ in ordered),
        "f": b"".join(h + b"  " + p.encode() + b"\0" for p, m, _, h, _ in ordered if m >> 12 == 0o10),
        "l": b"".join(t + b"\0" for _, m, _, _, t in ordered if m >> 12 == 0o12),
    }
    sections.update(replaced)
    return b"bootstrap-manifest 1\n" + b"".join(f"{k} {len(v)}\n".encode() + v for k, v in sections.items())


HASH = b"a" * 64
SIMPLE = [(".", 0o40755, "0:0", b"", b""), ("./etc", 0o40755, "0:0", b"", b""),
          ("./etc/motd", 0o100644, "0:0", HASH, b""), ("./bin", 0o120777, "0:0", b"", b"usr/bin")]  # fmt: skip


def test_the_parser_reads_its_format_gzipped_or_not() -> None:
    data = manifest_bytes({"bash": "5.2"}, SIMPLE)
    plain, packed = parse_manifest(data), parse_manifest(gzip.compress(data))
    assert plain == packed and plain.packages == {"bash": "5.2"}
    assert plain.entries[b"/bin"].data == b"usr/bin" and plain.entries[b"/etc/motd"].data == HASH
    assert plain.summary()["files"] == 1 and plain.summary()["entries"] == 4


@pytest.mark.parametrize("data, says", [
    (b"not a manifest\n" + manifest_bytes({}, SIMPLE), "not a bootstrap manifest"),
    (manifest_bytes({}, SIMPLE)[:-3], "cut short"),
    (manifest_bytes({}, SIMPLE) + b"x", "after its last section"),
    (manifest_bytes({}, SIMPLE).replace(b"\np 0\n", b"\nq 0\n"), "section p missing"),
    (manifest_bytes({}, SIMPLE, p=b"bash 5.2\n"), "package line 1"),
    (manifest_bytes({}, SIMPLE + SIMPLE[1:2]), "out of order or twice"),
    (manifest_bytes({}, [*SIMPLE, ("./x", 0o100644, "root", HASH, b"")]), "owner"),
    (manifest_bytes({}, [*SIMPLE, ("x", 0o40755, "0:0", b"", b"")]), "not a path from the root"),
    (manifest_bytes({}, SIMPLE, f=HASH + b"  ./etc/other\0"), "no hash of its own"),
    (manifest_bytes({}, SIMPLE, l=b""), "no target"),
    (manifest_bytes({}, SIMPLE, l=b"usr/bin\0more\0"), "more hashes or link targets"),
    (manifest_bytes({}, SIMPLE, e=b"41ed\x000:0\x00."), "no final NUL"),
    (gzip.compress(manifest_bytes({}, SIMPLE))[:-10], "gzip data is cut short"),
])  # fmt: skip
def test_a_malformed_manifest_is_a_typed_error(data: bytes, says: str) -> None:
    with pytest.raises(ManifestError, match=says):
        parse_manifest(data)


def test_the_comparison_names_each_difference() -> None:
    a = parse_manifest(manifest_bytes({"bash": "5.2", "jq": "1.6", "old": "1"}, SIMPLE))
    changed = [(".", 0o40755, "0:0", b"", b""), ("./etc", 0o40700, "0:0", b"", b""),
               ("./etc/motd", 0o100644, "0:0", b"b" * 64, b""), ("./bin", 0o120777, "0:0", b"", b"/usr/bin"),
               ("./new", 0o10644, "0:0", b"", b""), ("./var", 0o40755, "0:0", b"", b""),
               ("./var/log", 0o40755, "0:0", b"", b"")]  # fmt: skip
    b = parse_manifest(manifest_bytes({"bash": "5.2", "jq": "1.7", "new": "2"}, changed))
    said = [str(d) for d in diff_manifests(a, b)]
    assert said == ["package jq: version 1.6 -> 1.7", "package new added (2)", "package old removed (1)",
                    "entry /bin: target usr/bin -> /usr/bin", "entry /etc: mode 0755 -> 0700",
                    "entry /etc/motd: content " + "a" * 64 + " -> " + "b" * 64, "entry /new added (fifo)",
                    "entry /var added (dir)"], said  # fmt: skip
    assert diff_manifests(a, a) == [] and a.stable_sha256 != b.stable_sha256


def test_equal_images_have_equal_stable_digests_whatever_their_volatile_paths() -> None:
    log = [("./var", 0o40755, "0:0", b"", b""), ("./var/log", 0o40755, "0:0", b"", b""),
           ("./var/log/x", 0o100644, "0:0", HASH, b"")]  # fmt: skip
    a, b = (parse_manifest(manifest_bytes({}, SIMPLE + log)), parse_manifest(manifest_bytes({}, SIMPLE + log[:1])))
    assert a.sha256 != b.sha256 and a.stable_sha256 == b.stable_sha256 and diff_manifests(a, b) == []


def test_volatile_paths_and_names() -> None:
    assert is_volatile(b"/var/log") and is_volatile(b"/var/log/apt/history.log") and not is_volatile(b"/var/logs")
    assert is_volatile(b"/etc/ssh/ssh_host_ed25519_key.pub") and not is_volatile(b"/etc/ssh/sshd_config")
    assert is_volatile(b"/usr/lib/python3/x/__pycache__/y.pyc") and not is_volatile(b"/usr/lib/__pycache__x")
    assert is_volatile(MANIFEST.encode()) and not is_volatile(b"/var/lib/bootstrap/image/step")
    assert shown(b"a\nb\\c\xff d") == "a\\x0ab\\\\c\\xff d"


def test_the_console_line() -> None:
    digest = "c" * 64
    assert manifest_line("noise\nBOOTSTRAP-MANIFEST " + digest + " 12 3400\r\nBOOTSTRAP-RESULT sealed -\n") \
        == manifest_line(f"BOOTSTRAP-MANIFEST {digest} 12 3400")  # fmt: skip
    said = manifest_line(f"BOOTSTRAP-MANIFEST {digest} 12 3400")
    assert said is not None and (said.sha256, said.packages, said.entries) == (digest, 12, 3400)
    failed = manifest_line("BOOTSTRAP-MANIFEST failed - -")
    assert failed is not None and failed.sha256 is None
    assert manifest_line("BOOTSTRAP-RESULT sealed -") is None


def test_the_bake_carries_the_manifest_and_the_seal_runs_it() -> None:
    from bootstrap.layout import MANIFEST_SCRIPT
    from bootstrap.planner import build_plan
    from bootstrap.profile import load_profile
    from bootstrap.targets import Variant
    from bootstrap.targets.bundle import machine_files

    plan = build_plan(load_profile("base"))
    baked = {f.path: f for f in machine_files(plan, "cloud-init", Variant.BAKE)}
    assert MANIFEST_SCRIPT in baked and MANIFEST_SCRIPT in baked["/usr/local/lib/bootstrap/seal"].content
    assert MANIFEST_SCRIPT not in {f.path for f in machine_files(plan, "cloud-init")}  # instances: none


# -- the local backend reads it from a disk, booting nothing ------------------------------------------------


def test_a_local_disk_s_manifest_is_read_without_booting(tmp_path: Path) -> None:
    from bootstrap.localvm.image import read_disk_file

    missing = [tool for tool in ("mkfs.ext4", "qemu-img", "debugfs") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    root = tmp_path / "root"
    (root / MANIFEST.lstrip("/")).parent.mkdir(parents=True)
    data = gzip.compress(manifest_bytes({"bash": "5.2"}, SIMPLE), mtime=0)
    (root / MANIFEST.lstrip("/")).write_bytes(data)
    raw, disk = tmp_path / "disk.raw", tmp_path / "disk.qcow2"
    subprocess.run(["truncate", "-s", "16M", str(raw)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "bootstrap-root", "-d", str(root), str(raw)], check=True)
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(disk)], check=True)
    work = tmp_path / "work"
    work.mkdir()
    assert read_disk_file(disk, MANIFEST, work) == data
    assert read_disk_file(disk, "/no/such/file", work) is None
    assert not (work / "disk.raw").exists()
    assert isinstance(parse_manifest(data), Manifest)


@pytest.mark.parametrize("target", ["ec2", "gce", "cloud-init"])
def test_every_built_in_profile_s_builder_still_fits_its_cloud(target: str) -> None:
    """The manifest rides in every builder's user data: EC2's 16,384 bytes hold each built-in profile's."""
    from bootstrap.planner import build_plan
    from bootstrap.profile import builtin_profiles, load_profile
    from bootstrap.targets import Variant, render

    for name in sorted(builtin_profiles()):
        render(build_plan(load_profile(name)), target, variant=Variant.BAKE)  # over its limit: RenderError
