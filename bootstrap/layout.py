"""Where bootstrap keeps things on the machine: one place for every path the runner, the features,
the targets and the exports agree on. Templates see these as ``layout`` (e.g. ``{{ layout.STATE_DIR | q }}``)."""

from __future__ import annotations

LIB_DIR = "/usr/local/lib/bootstrap"  # what the rendered output installs: runner, library, plan, steps
RUNNER = f"{LIB_DIR}/runner"
SEAL = f"{LIB_DIR}/seal"  # bake variant only
STEPS_DIR = f"{LIB_DIR}/steps"
SERVICES_DIR = f"{LIB_DIR}/services"  # generated service scripts
IDLE_CHECK = f"{LIB_DIR}/idle-check"

STATE_DIR = "/var/lib/bootstrap"  # markers, status, what survives reboots and bakes; root's alone (0700)
STATUS_FILE = f"{STATE_DIR}/status.json"
NVIDIA_REPORT = f"{STATE_DIR}/nvidia.txt"
WORK_DIR = f"{STATE_DIR}/work"  # lib.sh's work_dir: WORK_DIR.XXXXXXXX, fresh per use, never a name in /tmp
CONDA_MARKERS = f"{STATE_DIR}/conda"  # spec hash each environment was built from: root's, not the group's tree

RUN_DIR = "/run/bootstrap"  # this boot only (a tmpfs): locks, markers per boot, secrets; 0711, for secrets/
LOCK_FILE = f"{RUN_DIR}/runner.lock"
APT_MARKER = f"{RUN_DIR}/apt-updated"  # package lists refreshed this boot
IDLE_SINCE = f"{RUN_DIR}/idle-since"  # idle shutdown: the clock restarts at every boot
SECRETS_DIR = f"{RUN_DIR}/secrets"

LOG_FILE = "/var/log/bootstrap.log"
ENV_FILE = "/etc/profile.d/bootstrap-env.sh"  # the profile's env: login shells, steps and services read it

CONDA_PREFIX = "/opt/conda"  # micromamba's root: envs/NAME, specs/


def conda_env_bin(env: str, program: str) -> str:
    return f"{CONDA_PREFIX}/envs/{env}/bin/{program}"


def secret_path(name: str, path: str | None = None) -> str:
    """Where a secret is written: its own ``path``, else a private file on this boot's tmpfs."""
    return path or f"{SECRETS_DIR}/{name}"
