"""Where bootstrap keeps things on the machine: one place for every path the runner, the features,
the targets and the exports agree on. Templates see these as ``layout`` (e.g. ``{{ layout.STATE_DIR | q }}``)."""

from __future__ import annotations

LIB_DIR = "/usr/local/lib/bootstrap"  # what the rendered output installs: runner, library, plan, steps
RUNNER = f"{LIB_DIR}/runner"
SEAL = f"{LIB_DIR}/seal"  # bake variant only
MANIFEST_SCRIPT = f"{LIB_DIR}/manifest"  # bake variant only: the seal runs it last
STEPS_DIR = f"{LIB_DIR}/steps"
SERVICES_DIR = f"{LIB_DIR}/services"  # generated service scripts
IDLE_CHECK = f"{LIB_DIR}/idle-check"

STATE_DIR = "/var/lib/bootstrap"  # markers, status, what survives reboots and bakes; root's alone (0700)
STATUS_FILE = f"{STATE_DIR}/status.json"
NVIDIA_REPORT = f"{STATE_DIR}/nvidia.txt"
WORK_DIR = f"{STATE_DIR}/work"  # lib.sh's work_dir: WORK_DIR.XXXXXXXX, fresh per use, never a name in /tmp
CONDA_MARKERS = f"{STATE_DIR}/conda"  # spec hash each environment was built from: root's, not the group's tree
MANIFEST = f"{STATE_DIR}/manifest.gz"  # the image's manifest (runner/manifest.sh.j2), written by the seal

RUN_DIR = "/run/bootstrap"  # this boot only (a tmpfs): locks, markers per boot, secrets; 0711, for secrets/
LOCK_FILE = f"{RUN_DIR}/runner.lock"
APT_MARKER = f"{RUN_DIR}/apt-updated"  # package lists refreshed this boot
IDLE_SINCE = f"{RUN_DIR}/idle-since"  # idle shutdown: the clock restarts at every boot
SECRETS_DIR = f"{RUN_DIR}/secrets"

LOG_FILE = "/var/log/bootstrap.log"
ENV_FILE = "/etc/profile.d/bootstrap-env.sh"  # the profile's env: login shells, steps and services read it

# What comparing two images' manifests leaves out (bootstrap/bake/manifest.py; the guest lists it all), each
# for why: what differs between two builds of one image without being the image (two builds are equal
# when the rest is). A pattern is a glob of the path from the root (its * also matches /, as find -path's);
# a bare name matches a name at any depth. Left out whole, with what is under it.
MANIFEST_SKIP = (
    "/proc", "/sys", "/dev", "/run",  # the kernel's and this boot's (other filesystems, but their mount points too)
    "/tmp", "/var/tmp",  # scratch
    "/var/log",  # logs, bootstrap's own (LOG_FILE) too: times and this build's output
    "/var/cache",  # caches: apt's downloads, man-db's index, rebuilt on demand
    "/var/lib/apt/lists",  # package indexes: what the mirror held that day (the package list says what is installed)
    "/var/lib/dpkg/*-old",  # dpkg's backups of its own state before the last change
    "/etc/machine-id", "/var/lib/dbus/machine-id",  # per machine (the seal empties or removes them)
    "/etc/ssh/ssh_host_*",  # host keys: per machine (the seal removes them), and secret
    "/var/lib/systemd/random-seed",  # random by design, and a secret seed
    "/var/lib/cloud",  # cloud-init's instance state (cloud-init clean wipes it; instances write their own)
    "/var/lib/dhcp",  # this boot's DHCP leases
    "/etc/hostname", "/etc/resolv.conf",  # written per instance, from its metadata and its network
    # cloud-init's users module, each instance: its sudo rule file and the includedir it appends to
    # /etc/sudoers (Debian 12's says @includedir, which cloud-init 22.4 does not see), both stamped with
    # the time (found by the VM tier's two bakes). The users feature writes /etc/sudoers.d/90-bootstrap-*.
    "/etc/sudoers.d/90-cloud-init-users", "/etc/sudoers",
    f"{STATE_DIR}/instances", f"{STATE_DIR}/status.json*", f"{STATE_DIR}/work.*",  # bootstrap's per-instance state
    f"{MANIFEST}*",  # itself (the guest leaves it out too), and a killed run's .new
    "__pycache__",  # bytecode compiled when first imported: holds its source's time
)  # fmt: skip

CONDA_PREFIX = "/opt/conda"  # micromamba's root: envs/NAME, specs/


def conda_env_bin(env: str, program: str) -> str:
    return f"{CONDA_PREFIX}/envs/{env}/bin/{program}"


def secret_path(name: str, path: str | None = None) -> str:
    """Where a secret is written: its own ``path``, else a private file on this boot's tmpfs."""
    return path or f"{SECRETS_DIR}/{name}"
