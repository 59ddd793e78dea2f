"""services: units written, enabled and started every boot; restarted only when changed."""

from __future__ import annotations

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile

from .conftest import render_text
from .sandbox import Sandbox

PROFILE = """\
name: svc
users: [{name: alice}]
secrets: [{name: jt, from: 'aws-ssm:/jt', owner: alice}]
services:
  units:
    - name: web
      command: python3 -m http.server 8000
      user: alice
      environment: {GREETING: "it's $HOME %n"}
      working_directory: /srv
  jupyter: {user: alice, token_secret: jt}
"""


def test_units_are_written_and_started_not_enabled(sandbox: Sandbox, write_profile) -> None:
    sandbox.answer("curl", "/latest/api/token", "T")
    sandbox.answer("curl", "placement/region", "us-east-1")
    sandbox.set_stub("aws", output="tok")
    result = sandbox.boot(render_text(write_profile(PROFILE), "bash"))
    assert result.returncode == 0, result.stdout
    unit = sandbox.read("/etc/systemd/system/web.service")
    assert "User=alice\n" in unit and "ExecStart=/usr/local/lib/bootstrap/services/web.sh\n" in unit
    assert "WorkingDirectory=/srv\n" in unit and "After=network-online.target local-fs.target remote-fs.target" in unit
    shown = sandbox.run("bash", "-c", "sed -i 's/^exec /echo /' /usr/local/lib/bootstrap/services/web.sh && "
                        "/usr/local/lib/bootstrap/services/web.sh && printf '%s' \"$GREETING\"")  # fmt: skip
    assert "python3 -m http.server 8000" in shown.stdout
    script = sandbox.read("/usr/local/lib/bootstrap/services/web.sh")
    assert "export GREETING='it'\"'\"'s $HOME %n'" in script
    jupyter = sandbox.read("/usr/local/lib/bootstrap/services/jupyter.sh")
    assert 'JUPYTER_TOKEN="$(cat /run/bootstrap/secrets/jt)"' in jupyter
    assert "exec jupyter lab --no-browser --ip=127.0.0.1 --port=8888" in jupyter
    calls = [c[1:] for c in sandbox.calls("systemctl") if c[1:] != ["enable", "bootstrap.service"]]
    assert calls == [["daemon-reload"], ["restart", "web.service"],
                     ["daemon-reload"], ["restart", "jupyter.service"]]  # fmt: skip
    assert "[Install]" not in unit  # enabled, systemd would start it at power-on, before the secrets step


def test_jupyter_runs_from_its_conda_environment(write_profile) -> None:
    profile = write_profile(
        "name: svc\nconda: {environments: [{name: ds, spec: {dependencies: [jupyterlab]}}]}\n"
        "services: {jupyter: {user: root, conda_env: ds}}\n"
    )
    assert "exec /opt/conda/envs/ds/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=8888" in render_text(
        profile, "bash"
    )


def test_unchanged_units_are_only_started_next_boot(sandbox: Sandbox, write_profile) -> None:
    profile = write_profile("name: svc\nservices: {units: [{name: web, command: sleep infinity}]}\n")
    assert sandbox.boot(render_text(profile, "bash")).returncode == 0
    sandbox.clear_calls()
    assert sandbox.boot().returncode == 0
    assert [c[1:] for c in sandbox.calls("systemctl")] == [["start", "web.service"]]
    changed = write_profile("name: svc\nservices: {units: [{name: web, command: sleep 1000}]}\n")
    sandbox.clear_calls()
    assert sandbox.boot(render_text(changed, "bash")).returncode == 0
    assert ["restart", "web.service"] in [c[1:] for c in sandbox.calls("systemctl")]


def test_a_unit_an_earlier_bootstrap_enabled_is_disabled_and_restarted(sandbox: Sandbox, write_profile) -> None:
    """A machine a version that enabled its units set up: at power-on systemd started the service
    before the secrets step; the services step takes the enable link away and restarts it."""
    profile = write_profile("name: svc\nservices: {units: [{name: web, command: sleep infinity}]}\n")
    assert sandbox.boot(render_text(profile, "bash")).returncode == 0
    wants = sandbox.root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "web.service").symlink_to("/etc/systemd/system/web.service")
    sandbox.clear_calls()
    result = sandbox.boot()
    assert result.returncode == 0, result.stdout
    assert not (wants / "web.service").is_symlink()
    assert "service web: no longer enabled at power-on" in result.stdout
    assert [c[1:] for c in sandbox.calls("systemctl")] == [["daemon-reload"], ["restart", "web.service"]]


def test_the_jupyter_script_refuses_to_start_without_its_token(sandbox: Sandbox, write_profile) -> None:
    """Started before the secrets step (by hand, or by a unit an older version enabled), JupyterLab
    would make up a random token: the script stops instead, and systemd tries again."""
    sandbox.answer("curl", "/latest/api/token", "T")
    sandbox.answer("curl", "placement/region", "us-east-1")
    sandbox.set_stub("aws", output="tok")
    assert sandbox.boot(render_text(write_profile(PROFILE), "bash")).returncode == 0
    sandbox.reboot()  # /run is empty again
    ran = sandbox.run("/usr/local/lib/bootstrap/services/jupyter.sh")
    assert ran.returncode == 1 and "no token at /run/bootstrap/secrets/jt" in ran.stderr


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ("{jupyter: {user: alice, bind: 0.0.0.0}}", "would be open to the network"),
        ("{jupyter: {user: alice, token_secret: nope}}", "token_secret 'nope' is not in secrets"),
        ("{units: [{name: Web, command: x}]}", "'Web' is not valid"),
        ("{units: [{name: w, command: x, working_directory: 'my dir'}]}", "an absolute path without spaces"),
    ],
)
def test_service_validation(write_profile, services: str, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(f"name: s\nusers: [{{name: alice}}]\nservices: {services}\n")))
    assert message in str(caught.value)


def test_token_secret_must_be_readable_by_the_jupyter_user(write_profile) -> None:
    text = "name: s\nsecrets: [{name: jt, from: 'aws-ssm:/jt'}]\nservices: {jupyter: {user: alice, token_secret: jt}}\n"
    with pytest.raises(ProfileError, match="not readable by alice"):
        load_profile(str(write_profile(text)))


def test_jupyter_reads_its_token_where_the_secret_is_written(write_profile) -> None:
    """A token secret with its own path: jupyter must read that file, not /run/bootstrap/secrets/NAME."""
    from bootstrap.planner import build_plan
    from bootstrap.profile import load_profile

    profile = write_profile(
        "name: j\nusers: [{name: alice}]\n"
        "secrets: [{name: jt, from: 'aws-ssm:/team/jt', path: /home/alice/.jupyter-token, owner: alice}]\n"
        "services: {jupyter: {user: alice, token_secret: jt}}\n"
    )
    [step] = [s for s in build_plan(load_profile(str(profile))).steps if s.feature == "services"]
    assert "cat /home/alice/.jupyter-token" in step.script
    assert "/run/bootstrap/secrets/jt" not in step.script


@pytest.mark.parametrize(
    ("units", "extra", "said"),
    [
        ("[{name: ssh, command: 'sleep 1'}]", "", "unit name 'ssh' is a unit the machine's system"),
        ("[{name: bootstrap, command: 'sleep 1'}]", "", "unit name 'bootstrap' is bootstrap's own unit"),
        ("[{name: bootstrap-mount-data, command: 'sleep 1'}]", "", "is bootstrap's own unit"),
        ("[{name: systemd-resolved, command: 'sleep 1'}]", "", "a unit the machine's system or its cloud's agent"),
        ("[{name: google-guest-agent, command: 'sleep 1'}]", "", "a unit the machine's system or its cloud's agent"),
        ("[{name: redis-server, command: 'sleep 1'}]", "packages: [redis-server]\n",
         "the unit package 'redis-server' (in packages) most likely ships"),
        ("[{name: jupyter, command: 'sleep 1'}]",
         "secrets: [{name: jt, from: 'aws-ssm:/jt', owner: root}]\n", "services.jupyter's own unit"),
    ],
    ids=["ssh", "runner", "mount-unit", "systemd", "cloud-agent", "package", "jupyter"],
)  # fmt: skip
def test_a_unit_named_like_one_the_machine_has_is_refused(write_profile, units: str, extra: str, said: str) -> None:
    """Written to /etc/systemd/system, it would override the system's unit (ssh: no more SSH server) or
    overwrite bootstrap's own (the runner), silently, on the machine."""
    jupyter = ", jupyter: {user: root, token_secret: jt}" if "jupyter" in said else ""
    path = write_profile(f"name: names\n{extra}services: {{units: {units}{jupyter}}}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert said in str(caught.value) and "would replace it in /etc/systemd/system" in str(caught.value)
    assert f"{path}:" in str(caught.value)


@pytest.mark.parametrize("after", ["multi-user.target", "cloud-final.service", "bootstrap.service",
                                   "google-startup-scripts.service", "default.target"])  # fmt: skip
def test_a_unit_after_what_waits_for_the_runner_is_refused(write_profile, after: str) -> None:
    """bootstrap.service is WantedBy multi-user.target (so that target comes after it), the runner runs
    inside cloud-final or the GCE startup scripts, and the services step waits for each start job:
    a unit ordered after one of those never starts, and the boot hangs (TimeoutStartSec=0)."""
    path = write_profile(f"name: d\nservices: {{units: [{{name: web, command: 'sleep 1', after: [{after}]}}]}}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert f"unit 'web' starts after {after}, which waits for bootstrap's runner" in str(caught.value)
    load_profile(str(write_profile("name: d\nservices: {units: [{name: web, command: 'sleep 1', "
                                   "after: [docker.service, network-online.target]}]}\n")))  # fmt: skip
