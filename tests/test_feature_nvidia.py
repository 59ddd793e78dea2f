"""nvidia: validation, and each path of its steps run in the sandbox with stub commands."""

from __future__ import annotations

import pytest

from bootstrap.errors import ProfileError
from bootstrap.profile import load_profile

from .conftest import render_text
from .sandbox import Sandbox

H100 = "00:1e.0 0302: 10de:2330 (rev a1)\n"


def profile(write_profile, extra: str = "") -> str:
    text = "name: gpu\nnvidia:\n  driver: '580'\n  cuda: '13.0'\n  cudnn: true\n" + extra
    return render_text(write_profile(text), "bash")


def installs(sandbox: Sandbox) -> list[list[str]]:
    return [c[c.index("--") + 1 :] for c in sandbox.calls("apt-get") if "install" in c]


def steps(sandbox: Sandbox) -> dict[str, str]:
    return {s["id"]: s["status"] for s in sandbox.status()["steps"]}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{driver: '550', cuda: '12.8'}", "CUDA 12.8 needs driver branch 570 or newer, not 550"),
        ("{driver: '580', cudnn: true}", "cudnn needs a cuda version"),
        ("{driver: '551'}", "is not one of"),
        ("{driver: 580}", "is not one of"),  # a number, not the branch string
        ("{cuda: '12.4'}", "missing required key 'driver'"),
        ("{driver: '580', cuda: '12.7'}", "is not one of"),
    ],
)
def test_versions_are_validated(write_profile, config: str, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(write_profile(f"name: gpu\nnvidia: {config}\n")))
    assert any(message in str(p) for p in caught.value.problems), caught.value


def test_no_gpu_skips_with_a_log_line(sandbox: Sandbox, write_profile) -> None:
    result = sandbox.boot(profile(write_profile))
    assert result.returncode == 0, result.stdout
    assert "no NVIDIA GPU on this machine (lspci -d 10de:): skipping the driver" in result.stdout
    assert installs(sandbox) == [] and sandbox.calls("dpkg") == []
    assert sandbox.read("/var/lib/bootstrap/nvidia.txt") == "no-gpu\n"


def test_gpu_without_driver_installs_then_reboots_and_resumes(sandbox: Sandbox, write_profile) -> None:
    sandbox.set_stub("lspci", output=H100)
    sandbox.set_stub("modprobe", exit_code=1)  # the new module needs the reboot
    result = sandbox.boot(profile(write_profile))
    assert result.returncode == 0, result.stdout
    curl = sandbox.calls("curl")[-1]
    assert "https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb" in curl
    [[_, _, deb]] = sandbox.calls("dpkg")  # downloaded into a fresh folder of root's, gone after the step
    assert deb.startswith("/var/lib/bootstrap/work.") and deb.endswith("/cuda-keyring.deb")
    assert not sandbox.exists(deb.rsplit("/", 1)[0])
    uname = sandbox.run("uname", "-r").stdout.strip()
    assert installs(sandbox) == [[f"linux-headers-{uname}", "dkms", "cuda-drivers-580"], ["cuda-toolkit-13-0"],
                                 ["cudnn9-cuda-13"]]  # fmt: skip
    update_then_install = [c[-1] if c[-1] == "update" else "install" for c in sandbox.calls("apt-get")]
    assert update_then_install[0] == "update"
    assert sandbox.calls("systemctl")[-1] == ["systemctl", "reboot"]
    assert steps(sandbox) == {"nvidia-install": "ok"} and sandbox.status()["result"] == "rebooting"

    # After the reboot the driver works: the phase resumes, nothing is installed again.
    sandbox.set_stub("nvidia-smi", output="580.159.04\n")
    sandbox.clear_calls()
    assert sandbox.boot().returncode == 0
    assert steps(sandbox) == {"nvidia-install": "done-earlier", "nvidia-boot": "ok"}
    assert installs(sandbox) == []
    assert ["nvidia-smi", "-pm", "1"] in sandbox.calls("nvidia-smi")


def test_already_installed_verifies_and_does_nothing(sandbox: Sandbox, write_profile) -> None:
    sandbox.set_stub("lspci", output=H100)
    sandbox.set_stub("nvidia-smi", output="580.159.04\n")
    sandbox.install_package("cuda-toolkit-13-0")
    result = sandbox.boot(profile(write_profile))
    assert result.returncode == 0, result.stdout
    assert "NVIDIA driver 580.159.04 and CUDA 13.0 already present: nothing to install" in result.stdout
    assert installs(sandbox) == [] and sandbox.calls("curl") == []
    assert sandbox.read("/var/lib/bootstrap/nvidia.txt").startswith("580.159.04")


def test_wrong_branch_present_is_replaced(sandbox: Sandbox, write_profile) -> None:
    sandbox.set_stub("lspci", output=H100)
    sandbox.set_stub("nvidia-smi", output="550.127.05\n")
    sandbox.install_package("cuda-toolkit-13-0")
    sandbox.set_stub("modprobe", exit_code=1)
    assert sandbox.boot(profile(write_profile)).returncode == 0
    assert installs(sandbox)[0][-1:] == ["cuda-drivers-580"]


def test_keyring_checksum_mismatch_fails_before_installing(sandbox: Sandbox, write_profile) -> None:
    sandbox.set_os("ubuntu", "24.04", "Ubuntu 24.04 LTS")
    sandbox.set_stub("lspci", output=H100)
    result = sandbox.boot(profile(write_profile))
    assert result.returncode == 1
    assert "cuda-keyring download does not match its published sha256" in result.stdout
    assert sandbox.calls("dpkg") == [] and installs(sandbox) == []
    assert steps(sandbox) == {"nvidia-install": "failed"}


def test_unsupported_os_is_a_clear_failure(sandbox: Sandbox, write_profile) -> None:
    sandbox.set_os("fedora", "40", "Fedora Linux 40")
    sandbox.set_stub("lspci", output=H100)
    result = sandbox.boot(profile(write_profile))
    assert result.returncode == 1
    assert (
        "no packages for this OS (Fedora Linux 40); supported: Ubuntu 22.04, Ubuntu 24.04, Debian 12" in result.stdout
    )


def test_secure_boot_blocking_the_module_is_reported(sandbox: Sandbox, write_profile) -> None:
    sandbox.set_stub("lspci", output=H100)
    sandbox.set_stub("modprobe", exit_code=1)
    sandbox.set_stub("mokutil", output="SecureBoot enabled\n")
    result = sandbox.boot(profile(write_profile))
    assert result.returncode == 1
    assert "Secure Boot is enabled: DKMS-built NVIDIA modules are unsigned" in result.stdout
    assert "enroll the DKMS MOK key or disable Secure Boot" in result.stdout


def test_a_failing_status_query_does_not_stop_later_steps(sandbox: Sandbox, write_profile) -> None:
    sandbox.set_stub("lspci", output=H100)
    sandbox.install_package("cuda-toolkit-13-0")
    sandbox.answer("nvidia-smi", "--query-gpu=driver_version", "580.159.04\n")
    sandbox.answer("nvidia-smi", "--query-gpu=index", "NVIDIA-SMI has failed\n", exit_code=9)
    assert sandbox.boot(profile(write_profile, "commands: {every_boot: ['echo after']}\n")).returncode == 0
    assert steps(sandbox)["nvidia-boot"] == "ok" and steps(sandbox)["cmd-every-boot-01"] == "ok"


def test_failed_apt_install_stops_the_step(sandbox: Sandbox, write_profile) -> None:
    """A failing apt-get inside the install function must fail the step (errexit inside functions)."""
    sandbox.set_stub("lspci", output=H100)
    sandbox.set_stub("apt-get", exit_code=100)
    result = sandbox.boot(profile(write_profile))
    assert result.returncode == 1 and steps(sandbox) == {"nvidia-install": "failed"}
    assert not any(c[-1] == "reboot" for c in sandbox.calls("systemctl"))


def test_gpu_appearing_later_gets_the_driver_on_a_later_boot(sandbox: Sandbox, write_profile) -> None:
    assert sandbox.boot(profile(write_profile)).returncode == 0  # first boot: CPU machine
    sandbox.set_stub("lspci", output=H100)  # stopped, resized to a GPU type, same instance
    sandbox.set_stub("modprobe", exit_code=1)
    sandbox.clear_calls()
    assert sandbox.boot().returncode == 0
    assert steps(sandbox)["nvidia-boot"] == "ok" and sandbox.status()["result"] == "rebooting"
    assert installs(sandbox)[0][-1] == "cuda-drivers-580"


def test_install_without_gpu_for_baking_on_cpu_builders(sandbox: Sandbox, write_profile) -> None:
    result = sandbox.boot(profile(write_profile, "  install_without_gpu: true\n"))
    assert result.returncode == 0, result.stdout
    assert installs(sandbox)[0][-1] == "cuda-drivers-580"
    assert sandbox.calls("modprobe") == []  # no GPU: nothing to load now


def test_a_bake_installs_the_driver_on_a_builder_without_a_gpu(sandbox: Sandbox, write_profile) -> None:
    """Before, the bake's builder (the local backend's never has a GPU; a cloud's CPU type neither)
    logged 'no NVIDIA GPU ... skipping', the step counted as baked, and the golden image had no driver:
    each GPU instance of it installed one late, with a reboot."""
    from bootstrap.planner import build_plan
    from bootstrap.targets import Variant, render

    path = write_profile("name: gpu\nnvidia:\n  driver: '580'\n  cuda: '13.0'\n")
    plan = build_plan(load_profile(str(path)))
    result = sandbox.boot(render(plan, "bash", variant=Variant.EXTERNAL_BAKE).data)
    assert result.returncode == 0, result.stdout
    assert "installing the driver for the image's machines all the same" in result.stdout
    assert installs(sandbox)[0][-1] == "cuda-drivers-580"
    assert sandbox.calls("modprobe") == []


def test_debian_gets_the_contrib_component(sandbox: Sandbox, write_profile) -> None:
    sources = sandbox.path("/etc/apt/sources.list.d/debian.sources")
    sources.parent.mkdir(parents=True, exist_ok=True)
    sources.write_text("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
                       "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")  # fmt: skip
    sandbox.set_stub("lspci", output=H100)
    sandbox.set_stub("modprobe", exit_code=1)
    assert sandbox.boot(profile(write_profile)).returncode == 0
    added = sandbox.read("/etc/apt/sources.list.d/bootstrap-contrib.sources")
    assert "Components: contrib\n" in added and "Suites: bookworm bookworm-updates\n" in added
    sandbox.clear_calls()  # already enabled: nothing more is added
    sandbox.new_instance("i-2")  # installs again (the driver still does not load): contrib is there already
    assert sandbox.boot().returncode == 0
    assert sandbox.status()["result"] == "rebooting"
    assert sorted(p.name for p in sources.parent.iterdir()) == ["bootstrap-contrib.sources", "debian.sources"]


def test_classic_sources_list_gets_contrib(sandbox: Sandbox, write_profile) -> None:
    sandbox.path("/etc/apt/sources.list.d/debian.sources").unlink()
    sandbox.path("/etc/apt/sources.list").write_text(
        "deb http://deb.debian.org/debian bookworm main\n# deb-src http://x bookworm main\n"
        "deb [arch=amd64] http://security.debian.org/debian-security bookworm-security main non-free-firmware\n"
    )
    sandbox.set_stub("lspci", output=H100)
    sandbox.set_stub("modprobe", exit_code=1)
    assert sandbox.boot(profile(write_profile)).returncode == 0
    assert sandbox.read("/etc/apt/sources.list.d/bootstrap-contrib.list") == (
        "deb http://deb.debian.org/debian bookworm contrib\n"
        "deb [arch=amd64] http://security.debian.org/debian-security bookworm-security contrib\n"
    )
