"""A shared conda environment (conda.group) is a tree the group can write: root builds it, then opens
it. Bob, a member of the group, attacks whatever root does in it after that.

The micromamba here behaves like the real one where it matters: it hardlinks package files from
its cache (/opt/conda/pkgs) into the environment unless told to copy, and `env remove` unlinks the
files the environment's own records list. Bob acts each time root starts a chmod on the tree (the
moment a fast attacker racing root's walk would win): he swaps the tree's folders for links and
plants the build marker as a link to /etc/passwd.
"""

from __future__ import annotations

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile

from ..conftest import render_text
from ..sandbox import Sandbox
from ..test_boundary_machine import uid_of

ENV = "/opt/conda/envs/ds"
RUNNER = "/usr/local/lib/bootstrap/runner"
PROFILE = """\
name: shared
users: [{name: bob, groups: [team]}]
conda:
  group: team
  environments:
    - {name: ds, spec: {dependencies: [python=3.11, ipykernel]}, kernel: true}
"""
MICROMAMBA = r"""#!/bin/bash
[ "${1:-}" = --version ] && { echo 2.0.5; exit 0; }
printf '%s\n' "$*" >>/var/log/micromamba.calls
prev="" name=""
for a in "$@"; do [ "$prev" = -n ] && name=$a; prev=$a; done
env=/opt/conda/envs/$name
case " $* " in
  *" remove "*)  # the real one unlinks what the environment's records list, then the prefix
    while IFS= read -r f; do rm -rf -- "$env/$f"; done <"$env/conda-meta/files.txt" 2>/dev/null
    rm -rf -- "$env" ;;
  *" create "*)
    cache=/opt/conda/pkgs/python-3.11/bin/python
    if [ ! -e "$cache" ]; then
      mkdir -p "${cache%/*}"
      printf '#!/bin/bash\necho "env python ran as $(id -u)" >>/var/log/env-python.log\n' >"$cache"
      chmod 0755 "$cache"
    fi
    mkdir -p "$env/bin" "$env/conda-meta" "$env/lib/python3.11/site-packages"
    case " $* " in
      *" --always-copy "* | *" --copy "*) cp "$cache" "$env/bin/python" ;;
      *) ln -f "$cache" "$env/bin/python" ;;
    esac
    echo bin/python >"$env/conda-meta/files.txt" ;;
esac
"""
ATTACK = r"""#!/bin/bash
# bob, at the moment root walks the tree
env=/opt/conda/envs/ds
ln -sfn /etc/passwd "$env/.bootstrap-spec-sha256" 2>/dev/null
for d in "$env"/*/; do  # folders without folders inside: root's walk goes on after them
  d=${d%/}
  [ -L "$d" ] || [ -n "$(find "$d" -mindepth 1 -type d -print -quit 2>/dev/null)" ] && continue
  mv -- "$d" "$d.moved" 2>/dev/null && ln -s /usr/local/lib/bootstrap/runner "$d"
done
exit 0
"""
HOOK = r"""#!/bin/bash
# bob gets the CPU whenever root starts a chmod on a conda environment
case " $* " in *" /opt/conda/envs/"*) setpriv --reuid=bob --regid=bob --init-groups /attack.sh ;; esac
exec /usr/bin/chmod "$@"
"""


@pytest.fixture
def shared(sandbox: Sandbox) -> Sandbox:
    mm = sandbox.path("/opt/conda/bin/micromamba")
    mm.parent.mkdir(parents=True)
    mm.write_text(MICROMAMBA)
    mm.chmod(0o755)
    for path, text in (("/attack.sh", ATTACK), ("/stubs/chmod", HOOK)):
        sandbox.path(path).write_text(text)
        sandbox.path(path).chmod(0o755)
    sandbox.path("/etc/precious").write_text("keep me\n")
    return sandbox


def as_bob(sandbox: Sandbox, script: str) -> str:
    result = sandbox.run("setpriv", "--reuid=bob", "--regid=bob", "--init-groups", "bash", "-c", script)
    return result.stdout + result.stderr


def assert_system_intact(sandbox: Sandbox, passwd: str) -> None:
    assert sandbox.read("/etc/passwd") == passwd, "root wrote the build marker through bob's link"
    assert oct(sandbox.path(RUNNER).stat().st_mode & 0o7777) == "0o755", "root's walk followed bob's link"
    assert sandbox.read("/etc/precious") == "keep me\n", "root deleted what bob's records listed"
    log = sandbox.path("/var/log/env-python.log")
    assert not log.exists() or "bob" not in log.read_text(), "root ran bob's code"


def test_bob_cannot_turn_roots_build_of_a_shared_environment_against_the_system(shared: Sandbox,
                                                                                write_profile) -> None:  # fmt: skip
    result = shared.boot(render_text(write_profile(PROFILE), "bash"))
    passwd = shared.read("/etc/passwd")
    assert passwd.startswith("root:x:0:0:") and "\nbob:" in passwd, "root wrote the build marker through bob's link"
    assert_system_intact(shared, passwd)
    assert result.returncode == 0, result.stdout
    env = shared.path(ENV)
    assert env.stat().st_mode & 0o2070 == 0o2070  # still what the group was promised: rwx + setgid
    cache = shared.path("/opt/conda/pkgs/python-3.11/bin/python")
    assert cache.stat().st_mode & 0o020 == 0, "the package cache root builds from became group-writable"

    # Between builds bob rewrites what he can: the environment's python (shared with root's cache
    # when it is a hardlink) and the records the remover trusts.
    said = as_bob(
        shared,
        f"""
        printf '#!/bin/bash\\necho "env python ran as bob, uid $(id -u)" >>/var/log/env-python.log\\n' \
          >{ENV}/bin/python; echo "python: $?"
        printf '../../../../etc/precious\\n' >>{ENV}/conda-meta/files.txt; echo "records: $?"
    """,
    )
    assert "records: 0" in said, said  # the environment is the group's to change
    changed = write_profile(PROFILE.replace("ipykernel]", "ipykernel, numpy]"))
    result = shared.boot(render_text(changed, "bash"))  # the spec changed: root rebuilds it
    assert_system_intact(shared, passwd)
    assert result.returncode == 0, result.stdout
    assert "numpy" in shared.read("/opt/conda/specs/ds.yml")
    assert shared.path(ENV).stat().st_mode & 0o2070 == 0o2070
    assert uid_of(shared, "bob") > 0


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ("{units: [{name: api, command: '/opt/conda/envs/ds/bin/python -m api'}]}",
         "service 'api' runs code from /opt/conda/envs/ as root, and group 'team' can change those environments"),
        ("{jupyter: {user: root, conda_env: ds}}",
         "jupyter runs from conda environment 'ds' as root, and group 'team' can change it"),
        ("{units: [{name: web, command: 'python3 -m http.server', working_directory: /home/bob/site}]}",
         "service 'web' runs as root in /home/bob/site, a folder another user can change"),
    ],
)  # fmt: skip
def test_root_does_not_run_code_others_can_change(write_profile, services: str, message: str) -> None:
    profile = PROFILE.replace("ipykernel]", "ipykernel, jupyterlab]")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(profile + f"services: {services}\n")))
    assert message in str(caught.value)
