"""`bootstrap test` (and `bake -b local`) with no flags: the guest follows what this host reaches, and
what no local guest could have is said before booting (it used to fail in the packages step after ~45 s
of booting, network being off by default for `test` and on for `bake`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bootstrap.cli import _build_parser, main
from bootstrap.distro import all_distros
from bootstrap.errors import InputError
from bootstrap.features import Needs, needs
from bootstrap.localvm.guest import MIRROR_ENV, choose_guest
from bootstrap.profile import load_profile

BASE = needs(load_profile("base").data)
DEBIAN = BASE.package_names(all_distros()["debian"])


def test_the_needs_of_a_profile_name_its_debian_packages_and_what_only_a_cloud_has() -> None:
    assert set(DEBIAN) >= {"curl", "git", "tzdata"} and not BASE.internet and not BASE.cloud
    datascience = needs(load_profile("cpu-datascience").data)
    assert any(line.startswith("conda:") for line in datascience.internet)
    assert any(line.startswith("secrets:") for line in datascience.cloud)


def test_with_a_route_to_a_mirror_the_guest_gets_network_and_no_repository() -> None:
    choice = choose_guest(BASE, network=None, local_apt=None, reachable=lambda: True)
    assert choice.network and choice.apt_packages == ()
    assert "guest network: on" in choice.lines[0]


def test_without_a_route_the_guest_gets_a_local_repository_of_every_package_its_steps_install() -> None:
    choice = choose_guest(BASE, network=None, local_apt=None, extra=["vim"], reachable=lambda: False)
    assert not choice.network
    assert set(choice.apt_packages) == {*DEBIAN, "vim"}  # tzdata too: the timezone step installs it
    assert any("no route to a mirror" in line for line in choice.lines)


def test_no_network_means_no_probe_and_a_local_repository() -> None:
    def probe() -> bool:
        raise AssertionError("--no-network asks nothing of the host's network")

    choice = choose_guest(BASE, network=False, local_apt=None, reachable=probe)
    assert not choice.network and choice.apt_packages
    assert choice.lines[0] == "guest network: off (--no-network)"


def test_downloads_beyond_debian_without_a_route_are_refused_before_booting() -> None:
    with pytest.raises(InputError) as caught:
        choose_guest(Needs(internet=("conda: micromamba",)), network=None, local_apt=None, reachable=lambda: False)
    assert "conda: micromamba" in str(caught.value) and "no route" in str(caught.value)
    with pytest.raises(InputError, match="drop --no-network"):
        choose_guest(Needs(internet=("conda: micromamba",)), network=False, local_apt=None)


def test_a_cloud_service_is_refused_for_a_test_but_not_for_a_bake_that_does_not_test() -> None:
    cloud = Needs(cloud=("secrets: the instance metadata service",))
    with pytest.raises(InputError, match="metadata service"):
        choose_guest(cloud, network=None, local_apt=None, reachable=lambda: True)
    assert choose_guest(cloud, network=None, local_apt=None, instance_steps=False, reachable=lambda: True).network


def test_a_repository_this_host_cannot_build_is_said_before_booting(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get, no genisoimage
    with pytest.raises(InputError) as caught:
        choose_guest(BASE, network=None, local_apt=None, reachable=lambda: False)
    assert "apt-get" in str(caught.value) and "machine with internet" in str(caught.value)
    # A dry run builds nothing, so it does not need the tools.
    assert choose_guest(BASE, network=None, local_apt=None, dry_run=True, reachable=lambda: False).apt_packages


@pytest.mark.parametrize("command", [["test", "base"], ["bake", "base"], ["rebuild", "profiles"]])
def test_bake_rebuild_and_test_share_the_same_automatic_defaults(command: list[str]) -> None:
    args = _build_parser().parse_args(command)
    assert (args.network, args.local_apt) == (None, None)


def test_test_of_a_profile_with_secrets_exits_2_before_booting(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setenv(MIRROR_ENV, "127.0.0.1:9")  # nothing listens there: no route
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    started = time.monotonic()
    assert main(["test", "cpu-datascience"]) == 2
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err
    assert "secrets: the instance metadata service" in err and "Traceback" not in err
    assert not (tmp_path / "bootstrap" / "images").exists()  # no base image built, nothing booted
