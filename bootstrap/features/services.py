"""services: systemd units from the profile, and a ready-made JupyterLab, enabled and started every boot.

Each command goes into a bash script (with its environment shell-quoted), and the unit only runs
that script: systemd's own ExecStart= quoting (% specifiers, $ expansion) never sees profile text.
"""

from __future__ import annotations

from typing import Any

from ..errors import Problem
from ..layout import CONDA_PREFIX, SERVICES_DIR, conda_env_bin
from ..plan import Phase, Scope, Step
from ..schema import suggest
from ..templating import render
from . import describe, named, problem
from .commands import ORDER_NAMES, order_marks
from .conda import ENV_NAME, dependency_names
from .secrets import secret_path
from .users import NAME_HELP, USER_PATTERN

KEY = "services"
AFTER = frozenset({"users", "nvidia", "secrets", "env", "conda", "files", "mounts"})  # a service may use any of them
DEFAULT_AFTER = frozenset({"commands"})  # and what the commands prepared, unless a unit says otherwise
FREE_ORDER = True  # a unit that states before:/after: starts in a step of its own
SERVICE_DIR = SERVICES_DIR
JUPYTER_PACKAGES = {"jupyterlab", "jupyter"}  # conda-forge's jupyter pulls in jupyterlab
_PATH = {"type": "string", "pattern": r"^/[A-Za-z0-9_./+-]*$", "x-help": "an absolute path without spaces"}
_ENV = {"type": "object", "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", "x-help": "a variable name"},
        "additionalProperties": {"type": "string"}}  # fmt: skip
_NAME = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,62}$", "x-help": "lowercase letters, digits and '-'"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "systemd services, written and started (restarted when changed) by the runner on every boot, after "
    "the network and mounts.",
    "examples": [{"units": [{"name": "mlflow", "command": "mlflow server --port 5000", "user": "alice"}],
                  "jupyter": {"user": "alice", "token_secret": "jupyter-token"}}],
    "properties": {
        "units": {
            "type": "array",
            "x-merge-key": "name",
            "description": "Long-running commands as systemd services.",
            "items": {
                "type": "object",
                "required": ["name", "command"],
                "additionalProperties": False,
                "properties": {
                    "name": {**_NAME, "description": "Unit name (NAME.service)."},
                    "command": {"type": "string", "minLength": 1, "description": "bash command line, run with exec."},
                    "user": {"type": "string", "pattern": USER_PATTERN, "x-help": NAME_HELP, "default": "root"},
                    "environment": {**_ENV, "description": "Variables for the command (data, never expanded)."},
                    "working_directory": {**_PATH, "description": "Directory to run in."},
                    "restart": {"enum": ["always", "on-failure", "no"], "default": "on-failure"},
                    "after": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z0-9@_.:-]+$",
                              "x-help": "a systemd unit name, a feature or a step id"},
                              "description": "systemd units (NAME.service, NAME.target...) to start after, and "
                              "features or steps of this profile whose steps go before it starts."},
                    "before": {**ORDER_NAMES, "description": "Features or steps that run after it is started."},
                },
            },
        },
        "jupyter": {
            "type": "object",
            "required": ["user"],
            "additionalProperties": False,
            "description": "JupyterLab as a service, bound to localhost by default (reach it through an SSH tunnel); "
            "the token comes from a secret, never from the profile.",
            "properties": {
                "user": {"type": "string", "pattern": USER_PATTERN, "x-help": NAME_HELP},
                "conda_env": ENV_NAME,  # what conda.environments may be named, underscores included
                "port": {"type": "integer", "minimum": 1024, "maximum": 65535, "default": 8888},
                "bind": {"enum": ["127.0.0.1", "0.0.0.0"], "default": "127.0.0.1",
                         "description": "0.0.0.0 exposes it on every interface: put a firewall in front."},
                "notebook_dir": {**_PATH, "description": "Default: the user's home."},
                "token_secret": {**_NAME, "description": "Name of a `secrets` entry holding the token."},
            },
        },
    },
}  # fmt: skip
describe(
    SCHEMA["properties"],
    {
        "units": ("Long-running commands as systemd services.", [{"name": "mlflow", "command": "mlflow server"}]),
        "jupyter": ("JupyterLab as a service, on localhost by default.", {"user": "alice", "token_secret": "jupyter"}),
    },
)
describe(
    SCHEMA["properties"]["units"]["items"]["properties"],
    {
        "name": ("Unit name (NAME.service).", "mlflow"),
        "command": ("bash command line, run with exec.", "mlflow server --host 127.0.0.1 --port 5000"),
        "user": ("Run as this user.", "alice"),
        "environment": ("Variables for the command (data, never expanded).", {"MLFLOW_TRACKING_DIR": "/data/mlruns"}),
        "working_directory": ("Directory to run in.", "/data"),
        "restart": ("systemd's Restart= policy.", "on-failure"),
        "after": ("systemd units (with their suffix) to start after, and features or steps of this profile that "
                  "go before it.", ["docker.service", "cmd-prepare-data"]),
        "before": ("Features or steps of this profile that run after its start (default: it starts after the "
                   "commands). Started is not ready: systemctl start returns at once, so a step that needs it to "
                   "answer polls it.", ["cmd-warm-cache"]),
    },
)
describe(
    SCHEMA["properties"]["jupyter"]["properties"],
    {
        "user": ("Run JupyterLab as this user (in their home by default).", "alice"),
        "conda_env": (f"Run jupyter from this conda environment ({CONDA_PREFIX}/envs).", "ds"),
        "port": ("TCP port.", 8888),
        "bind": ("Address to listen on; 0.0.0.0 exposes it on every interface.", "127.0.0.1"),
        "notebook_dir": ("Default: the user's home.", "/data/notebooks"),
        "token_secret": ("Name of a `secrets` entry holding the token.", "jupyter-token"),
    },
)


# Units a machine already has: ours, the base images' and the clouds' agents'. A profile's unit of the
# same name goes to /etc/systemd/system, which overrides /lib/systemd/system: `ssh` would replace the
# SSH server with the profile's command, `bootstrap` the runner itself.
OURS = ("bootstrap", "bootstrap-idle")
SYSTEM_UNITS = frozenset({
    "ssh", "sshd", "cron", "rsyslog", "dbus", "networking", "udev", "getty", "serial-getty", "polkit",
    "chrony", "chronyd", "ntp", "ntpsec", "unattended-upgrades", "apt-daily", "apt-daily-upgrade", "snapd",
    "cloud-init", "cloud-init-local", "cloud-config", "cloud-final", "cloud-init-main", "cloud-init-network",
    "google-guest-agent", "google-startup-scripts", "google-shutdown-scripts", "google-osconfig-agent",
    "amazon-ssm-agent", "ec2-instance-connect", "docker", "containerd", "nvidia-persistenced",
    "nvidia-fabricmanager", "nvidia-dcgm", "networkd-dispatcher", "NetworkManager", "multi-user", "default",
    "emergency", "rescue", "reboot", "poweroff", "halt", "shutdown", "user", "syslog", "apparmor", "logrotate",
    "fstrim", "man-db", "rc-local", "ufw", "atd", "exim4", "rsync", "qemu-guest-agent", "hibinit-agent",
    "dbus-broker", "gce-workload-cert-refresh", "systemd",
})
SYSTEM_PREFIXES = ("systemd-", "bootstrap-mount-", "cloud-", "google-", "nvidia-", "user-")


# Units that wait for the runner, which starts the services and waits for each start job: a service
# ordered after one of them never starts (systemctl start waits forever; no timeout: TimeoutStartSec=0).
WAIT_FOR_THE_RUNNER = ("multi-user.target", "graphical.target", "default.target", "cloud-final.service",
                       "cloud-init.target", "google-startup-scripts.service")  # fmt: skip


def _deadlock_problems(config: dict[str, Any]) -> list[Problem]:
    problems = []
    for unit in config.get("units", []):
        for after in unit.get("after", []):
            if after in WAIT_FOR_THE_RUNNER or after.startswith("bootstrap"):
                problems.append(problem(unit, "after", f"unit {unit['name']!r} starts after {after}, which waits for "
                                        "bootstrap's runner, which starts this unit and waits for it: the boot would "
                                        "hang there, with no timeout", "drop it: the runner starts services after "
                                        "the network, the mounts and every step before them already"))  # fmt: skip
    return problems


def _unit_name_problems(config: dict[str, Any], context: Any) -> list[Problem]:
    taken = {"jupyter": "services.jupyter's own unit"} if config.get("jupyter") else {}
    packages = set((context.profile or {}).get("packages") or [])
    problems = []
    for unit in config.get("units", []):
        name = unit["name"]
        why = taken.get(name)
        if name in OURS or name.startswith("bootstrap-"):
            why = "bootstrap's own unit (the runner, its timers and mounts)"
        elif name in SYSTEM_UNITS or name.startswith(SYSTEM_PREFIXES):
            why = "a unit the machine's system or its cloud's agent already has"
        elif name in packages:
            why = f"the unit package {name!r} (in packages) most likely ships"
        if why:
            problems.append(problem(unit, "name", f"unit name {name!r} is {why}: this unit would replace it in "
                                    f"{context.distro.unit_dir}",
                                    f"name it for what it runs (e.g. {name}-app)"))  # fmt: skip
    return problems


def check(config: dict[str, Any], context: Any) -> list[Problem]:
    problems = _root_in_shared_env(config, context) + _unit_name_problems(config, context) + _deadlock_problems(config)
    jupyter = config.get("jupyter")
    if not jupyter:
        return problems
    if jupyter.get("bind") == "0.0.0.0" and "token_secret" not in jupyter:
        problems.append(
            problem(
                jupyter,
                "bind",
                "jupyter on 0.0.0.0 without token_secret would be open to the network",
                "add token_secret: (a secrets entry) or keep bind: 127.0.0.1",
            )
        )
    problems += _conda_env_problems(jupyter, context)
    name = jupyter.get("token_secret")
    if name:
        secrets = {s["name"]: s for s in (context.profile or {}).get("secrets", [])}
        if name not in secrets:
            problems.append(
                problem(
                    jupyter,
                    "token_secret",
                    f"token_secret {name!r} is not in secrets",
                    f"add secrets: [{{name: {name}, from: 'aws-ssm:/...'}}]",
                )
            )
        elif secrets[name]["owner"].split(":")[0] != jupyter["user"]:
            problems.append(
                problem(
                    jupyter,
                    "token_secret",
                    f"secret {name!r} is not readable by {jupyter['user']}, who runs jupyter",
                    f"set owner: {jupyter['user']} on that secret",
                )
            )
    return problems


USERS_FOLDERS = ("/home/", "/tmp/", "/var/tmp/", "/dev/shm/")  # folders other users can change


def _root_in_shared_env(config: dict[str, Any], context: Any) -> list[Problem]:
    """Root runs no code another user can change: with conda.group an environment is the group's to
    change; a working directory in a home or a temporary folder is its owner's (python -m imports
    from there first)."""
    problems = []
    for unit in config.get("units", []):
        where = unit.get("working_directory", "").rstrip("/") + "/"
        if unit["user"] == "root" and where.startswith(USERS_FOLDERS):
            problems.append(problem(unit, "working_directory", f"service {unit['name']!r} runs as root in "
                                    f"{unit['working_directory']}, a folder another user can change",
                                    "set user: to its owner"))  # fmt: skip
    group = (context.profile or {}).get("conda", {}).get("group")
    if not group:
        return problems
    envs = f"{CONDA_PREFIX}/envs/"
    for unit in config.get("units", []):
        if unit["user"] == "root" and envs in unit["command"]:
            problems.append(problem(unit, "command", f"service {unit['name']!r} runs code from {envs} as root, "
                                    f"and group {group!r} can change those environments",
                                    "set user: to a member"))  # fmt: skip
    jupyter = config.get("jupyter")
    if jupyter and jupyter["user"] == "root" and jupyter.get("conda_env"):
        problems.append(problem(jupyter, "user", f"jupyter runs from conda environment {jupyter['conda_env']!r} "
                                f"as root, and group {group!r} can change it",
                                "run it as a member of the group"))  # fmt: skip
    return problems


def _conda_env_problems(jupyter: dict[str, Any], context: Any) -> list[Problem]:
    """conda_env must name an environment of this profile; one spelled inline must hold jupyterlab."""
    name = jupyter.get("conda_env")
    if not name:
        return []
    envs = {e["name"]: e for e in (context.profile or {}).get("conda", {}).get("environments", [])}
    if name not in envs:
        close = suggest(name, envs)
        hint = f"did you mean {close!r}?" if close else f"add conda: {{environments: [{{name: {name}, spec: ...}}]}}"
        return [problem(jupyter, "conda_env", f"conda_env {name!r} is not in conda.environments", hint)]
    spec = envs[name].get("spec")
    if isinstance(spec, dict) and not _lists_jupyter(spec):
        return [problem(jupyter, "conda_env", f"conda environment {name!r} has no jupyterlab: the service could "
                        "never start", f"add jupyterlab to the dependencies of {name!r}")]  # fmt: skip
    return []


def _lists_jupyter(spec: dict[str, Any]) -> bool:
    """conda's reading of the names (a channel:: prefix, version specs, pip lines, package URLs)."""
    return bool(dependency_names(spec) & JUPYTER_PACKAGES)


def _jupyter_unit(jupyter: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
    env = jupyter.get("conda_env")
    program = conda_env_bin(env, "jupyter") if env else "jupyter"
    args = ["lab", "--no-browser", f"--ip={jupyter['bind']}", f"--port={jupyter['port']}"]
    if "notebook_dir" in jupyter:
        args.append(f"--ServerApp.root_dir={jupyter['notebook_dir']}")
    token_file = None
    if "token_secret" in jupyter:  # read at service start, from wherever that secret is written
        token_file = secret_path(secrets[jupyter["token_secret"]])
    return {"name": "jupyter", "user": jupyter["user"], "environment": [], "working_directory": None,
            "restart": "always", "after": [], "token_file": token_file,
            "argv": [program, *args], "command": None}  # fmt: skip


# What systemd's unit names end in (systemd.unit(5)); any other name in a unit's after: is one of ours.
UNIT_SUFFIXES = (".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path", ".timer",
                 ".slice", ".scope")  # fmt: skip


def _ours(unit: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A unit's after: split into systemd's units and this profile's features or steps."""
    after = list(unit.get("after", []))
    return [a for a in after if a.endswith(UNIT_SUFFIXES)], [a for a in after if not a.endswith(UNIT_SUFFIXES)]


def _unit(unit: dict[str, Any]) -> dict[str, Any]:
    env = unit.get("environment", {})
    return {"name": unit["name"], "user": unit["user"], "working_directory": unit.get("working_directory"),
            "restart": unit["restart"], "after": sorted(_ours(unit)[0]), "token_file": None,
            "environment": [(name, env[name]) for name in sorted(env)],
            "argv": None, "command": unit["command"]}  # fmt: skip


def steps(config: dict[str, Any], context: Any) -> list[Step]:
    declared = sorted(config.get("units", []), key=lambda u: u["name"])
    units = [_unit(u) for u in declared]
    if "jupyter" in config:
        secrets = {s["name"]: s for s in (context.profile or {}).get("secrets", [])}  # checked to hold the token
        units.append(_jupyter_unit(config["jupyter"], secrets))
    for unit in units:
        unit["script"] = render("features/services/service.sh.j2", unit=unit)
        unit["script_path"] = f"{SERVICE_DIR}/{unit['name']}.sh"
        unit["unit_text"] = render("features/services/unit.service.j2", unit=unit)
    # A unit that states where it starts among the steps starts in a step of its own; the others together.
    ordered = {u["name"]: u for u in declared if u.get("before") or _ours(u)[1]}
    together = [u for u in units if u["name"] not in ordered]
    result = []
    if together:
        what = "run " + named("service", "services", [u["name"] for u in together])
        body = render("features/services/start.sh.j2", units=together, distro=context.distro)
        result.append(Step("services", Phase.EVERY_BOOT, Scope.INSTANCE, KEY, body, what))
    for unit in units:
        if unit["name"] in ordered:
            stated = ordered[unit["name"]]
            result.append(Step(f"service-{unit['name']}", Phase.EVERY_BOOT, Scope.INSTANCE, KEY,
                               render("features/services/start.sh.j2", units=[unit], distro=context.distro),
                               f"run service {unit['name']}",
                               before=tuple(stated.get("before", ())), after=tuple(_ours(stated)[1]),
                               origin=getattr(stated, "mark", None), order_marks=order_marks(stated)))  # fmt: skip
    return result
