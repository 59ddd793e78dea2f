"""Command-line options shared by several commands, each declared once with one meaning
(pip-tools' habit): a command says which it takes; the flag, type, default and wording live here."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

# What a shell completes for an argument (cli/completion.py turns each into the shell's own code): a
# profile (a built-in's name or a YAML file), a file, a folder, a --set override (distro=NAME).
PROFILE, FILE, FOLDER, OVERRIDE = "profile", "file", "folder", "override"


def completes(action: argparse.Action, kind: str) -> argparse.Action:
    """Marks ``action`` as completing ``kind``: an attribute only, so parsing never imports the completion library."""
    action.completion = kind  # type: ignore[attr-defined]
    return action


def profile(parser: argparse.ArgumentParser, dest: str = "profile", **kwargs: Any) -> None:
    """A positional profile: a file, or the name of a built-in profile (``kwargs``: add_argument's)."""
    kwargs.setdefault("help", "profile files, or names of built-in profiles" if "nargs" in kwargs
                      else "profile file, or the name of a built-in profile")  # fmt: skip
    completes(parser.add_argument(dest, **kwargs), PROFILE)


def json_output(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"machine-readable output: {what} as JSON")


def dry_run(parser: argparse.ArgumentParser, what: str = "say what would be done") -> None:
    parser.add_argument("--dry-run", action="store_true", help=f"{what}; create, change or delete nothing")


def force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="rebuild even when an image with the same hash exists")


def keep_images(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", type=int, default=3, help="images kept per profile and region (default 3)")


def grace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grace", type=float, default=7, metavar="DAYS",
                        help="images beyond --keep are deprecated first (replaced by the newest) and deleted this "
                        "many days later, unless a channel points at them (default 7; 0 deletes at once)")  # fmt: skip


def layer_cache(parser: argparse.ArgumentParser, refresh: str = "") -> None:
    parser.add_argument("--max-age", type=float, default=30, metavar="DAYS", dest="max_age",
                        help="reuse no cached layer whose oldest part is older than this: a rebuild picks up "
                        "security updates within it (default 30)")  # fmt: skip
    parser.add_argument("--refresh", action="store_true",
                        help=refresh or "reuse no cached layer and bake even an image that is up to date: every step "
                        "runs again from the source image (the layers made are kept for the next bake)")  # fmt: skip


def layer_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", metavar="ID", default=None,
                        help="the source image id a bake starts from (an AMI, a GCE image, a local base image): the "
                        "layers' keys over it, as the bake's cache holds them")  # fmt: skip


def timeout(parser: argparse.ArgumentParser, default: float, what: str) -> None:
    parser.add_argument("--timeout", type=float, default=default, help=f"seconds {what} (default {default:.0f})")


def output(parser: argparse.ArgumentParser, metavar: str, what: str, default: str | None = None) -> None:
    """-o: where the command writes (a file or a folder, as ``metavar`` says)."""
    action = parser.add_argument("-o", "--output", metavar=metavar, default=default, help=what)
    completes(action, FOLDER if metavar == "DIR" else FILE)


def mode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", default="0600", metavar="OCTAL",
                        help="permissions of the files written (default 0600: user data may hold tokens)")  # fmt: skip


CLIENT_TARGET = ("hand over the user data as that cloud does, to its own client: cloud-init's NoCloud, Ec2 or GCE "
                 "datasource, Google's guest agent, or bash by hand (docs/targets.md; default cloud-init)")


def client_target(parser: argparse.ArgumentParser, what: str = "") -> None:
    """A local VM's target: its user data handed over as that cloud does, to that cloud's client (the
    local backend declares the same option for bake and rebuild: clouds/local)."""
    from .targets import TEST_TARGETS

    parser.add_argument("--target", "-t", choices=TEST_TARGETS, default="cloud-init", help=what + CLIENT_TARGET)


def share(parser: argparse.ArgumentParser, principals: Mapping[str, str], what: str = "also let this principal "
          "launch the image (repeatable; beside the profile's image.share)", required: bool = False) -> None:
    """--share, worded from each cloud's own principals (``principals``: cloud -> how a person writes one, ""
    where it shares nothing); after -b NAME, -h shows that cloud's alone (cli/bake.py's help)."""
    sharing = {name: text for name, text in principals.items() if text}
    action = parser.add_argument("--share", action="append", default=None if required else [], required=required,
                                 metavar="PRINCIPAL", help=f"{what}: " + "; ".join(f"{text} ({name})" for name, text
                                                                                   in sharing.items()))  # fmt: skip
    action.help_by_cloud = {name: f"{what}: {text}" if text else f"{what}; the {name} backend shares no images: "  # type: ignore[attr-defined]
                            "ignored, with a note" for name, text in principals.items()}  # fmt: skip


def overrides(parser: argparse.ArgumentParser) -> None:
    action = parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a profile value, e.g. --set timezone=Europe/Paris (value read as YAML)",
    )
    completes(action, OVERRIDE)


def report(parser: argparse.ArgumentParser) -> None:
    """--report: where the boot report goes (boot_report.py; default a new folder under .bootstrap/reports)."""
    action = parser.add_argument("--report", metavar="DIR", default=None,
                                 help="write the boot report here: console logs, report.json and index.html, a "
                                 "timeline of each boot's steps (a new or empty folder; default: a new folder "
                                 "under ./.bootstrap/reports)")  # fmt: skip
    completes(action, FOLDER)
