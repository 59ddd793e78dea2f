"""idle_shutdown: the timer is installed, and the check powers off only when idle long enough."""

from __future__ import annotations

import re

from .conftest import render_text
from .sandbox import Sandbox

CHECK = "/usr/local/lib/bootstrap/idle-check"


def install(sandbox: Sandbox, write_profile, extra: str = "") -> None:
    profile = write_profile(f"name: idle\nidle_shutdown: {{after_minutes: 30{extra}}}\n")
    assert sandbox.boot(render_text(profile, "bash")).returncode == 0


def check(sandbox: Sandbox) -> str:
    result = sandbox.run(CHECK)
    assert result.returncode == 0, result.stderr
    return result.stdout


def age_clock(sandbox: Sandbox, seconds: int) -> None:
    path = sandbox.path("/run/bootstrap/idle-since")
    path.write_text(str(int(path.read_text()) - seconds) + "\n")


def powered_off(sandbox: Sandbox) -> bool:
    return ["systemctl", "poweroff"] in sandbox.calls("systemctl")


def test_timer_installed_and_enabled(sandbox: Sandbox, write_profile) -> None:
    install(sandbox, write_profile)
    assert "OnUnitActiveSec=1min" in sandbox.read("/etc/systemd/system/bootstrap-idle.timer")
    assert ["systemctl", "enable", "--now", "bootstrap-idle.timer"] in sandbox.calls("systemctl")


def test_powers_off_only_after_the_idle_limit(sandbox: Sandbox, write_profile) -> None:
    install(sandbox, write_profile)
    assert "idle clock reset" in check(sandbox)  # first check of a boot starts the clock
    age_clock(sandbox, 29 * 60)
    # 1740 s, or a second or two more when the checks straddle a second boundary
    assert re.search(r"idle for 174[0-3]s of 1800s", check(sandbox)) and not powered_off(sandbox)
    age_clock(sandbox, 2 * 60)
    assert "powering off" in check(sandbox) and powered_off(sandbox)


def test_busy_gpu_and_ssh_sessions_count_as_activity(sandbox: Sandbox, write_profile) -> None:
    install(sandbox, write_profile, ", gpu_threshold_percent: 10")
    check(sandbox)
    age_clock(sandbox, 3600)
    sandbox.set_stub("nvidia-smi", output="3\n42\n")
    assert "gpu utilisation: 42%" in check(sandbox) and not powered_off(sandbox)
    sandbox.set_stub("nvidia-smi", output="3\n")
    sandbox.set_stub("ss", output="ESTAB 0 0 10.0.0.5:22 10.0.0.9:51000\n")
    assert "ssh sessions: 1" in check(sandbox) and not powered_off(sandbox)


def test_a_reboot_restarts_the_clock(sandbox: Sandbox, write_profile) -> None:
    install(sandbox, write_profile)
    check(sandbox)
    age_clock(sandbox, 3600)
    sandbox.reboot()
    assert "idle clock reset" in check(sandbox) and not powered_off(sandbox)


def test_the_check_script_passes_shellcheck() -> None:
    from bootstrap.checks.shell import check_scripts
    from bootstrap.templating import render

    script = render("features/idle_shutdown/idle-check.sh.j2", after_seconds=60, gpu_threshold=5, ssh=True,
                    jupyter=True)  # fmt: skip
    assert [str(f) for f in check_scripts({"idle-check": script})] == []
