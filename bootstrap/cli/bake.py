"""`bootstrap bake`, `rebuild` and `reap`: their options, what they print and their exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from .. import clouds, options
from ..bake.events import Events
from ..clouds.sharing import profile_shares
from ..errors import BootstrapError, RenderError, UsageError
from ..terminal import columns
from . import voice


def add_parsers(commands: Any) -> None:
    found = clouds.all_clouds().values()  # -b's choices: the help names each cloud's images
    bake = commands.add_parser("bake", help="bake a golden machine image from a profile ("
                               + ", ".join(c.summary or c.name for c in found) + ")", add_help=False)  # fmt: skip
    options.profile(bake)
    _backend_options(bake, "bake")
    options.force(bake)
    options.dry_run(bake, "say what would be built")
    options.keep_images(bake)
    options.grace(bake)
    options.layer_cache(bake)
    bake.add_argument("--no-test", dest="test", action="store_false", help="skip booting the new image once")
    options.share(bake, _principals())
    options.timeout(bake, 3600, "for the builder to finish")
    options.json_output(bake, "events on stderr, the result on stdout,")
    options.report(bake)
    guest_options(bake)
    options.overrides(bake)
    bake.set_defaults(handler=_bake)

    rebuild = commands.add_parser("rebuild", help="bake every profile in a folder whose image is out of date "
                                  "(for scheduled jobs)", add_help=False)  # fmt: skip
    options.completes(rebuild.add_argument("folder", nargs="?", default="profiles",
                                           help="folder of profiles (default ./profiles)"), options.FOLDER)
    rebuild.add_argument("--glob", default="**/*.y*ml", help="which files under the folder may be profiles "
                         "(default **/*.y*ml; a YAML file without a top-level name, or a conda environment "
                         "file, is never one)")  # fmt: skip
    _backend_options(rebuild, "rebuild")
    rebuild.add_argument("--jobs", "-j", type=int, default=2, help="bakes at a time (default 2)")
    rebuild.add_argument("--manifest", default="images.json", help="where to record images (default images.json)")
    options.force(rebuild)
    options.dry_run(rebuild, "say what would be built")
    options.keep_images(rebuild)
    options.grace(rebuild)
    options.layer_cache(rebuild)
    options.share(rebuild, _principals())
    options.timeout(rebuild, 3600, "for each builder to finish")
    options.json_output(rebuild, "events on stderr, the summary on stdout,")
    guest_options(rebuild)
    rebuild.set_defaults(handler=_rebuild)

    reap = commands.add_parser("reap", help="delete builder and test machines that a killed bake left behind",
                               add_help=False)  # fmt: skip
    _backend_options(reap, "reap")
    options.json_output(reap, "what was (or would be) deleted")
    options.dry_run(reap, "list what would be deleted")
    reap.set_defaults(handler=_reap)

    _images_parsers(commands)


def _check_days(args: argparse.Namespace) -> None:
    if not 0 <= args.grace < 10_000:  # not a number (nan) fails it too
        raise UsageError("--grace: days, 0 (delete at once) or more")
    check_max_age(args)


def check_max_age(args: argparse.Namespace) -> None:
    if not 0 < args.max_age < 10_000:
        raise UsageError(f"--max-age: days a layer may be reused, more than 0 (got {args.max_age:g}); --refresh "
                         "reuses none")  # fmt: skip


def _principals() -> dict[str, str]:
    """How a person writes each cloud's sharing principals ("": it shares nothing), for --share's help."""
    return {c.name: c.principals_help for c in clouds.all_clouds().values()}


def _images_parsers(commands: Any) -> None:
    images = commands.add_parser("images", help="bootstrap's golden images of a profile: list them, move channels")
    actions = images.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="per image: id, region, hash, channels, tested, age", add_help=False)
    promote = actions.add_parser("promote", help="point a channel at a tested image (default: latest's)",
                                 add_help=False)  # fmt: skip
    rollback = actions.add_parser("rollback", help="point a channel back at the image it held before",
                                  add_help=False)  # fmt: skip
    share = actions.add_parser("share", help="let more principals launch an image (default: latest's)",
                               add_help=False)  # fmt: skip
    deprecate = actions.add_parser("deprecate", help="deprecate an image now, replaced by latest's", add_help=False)
    delete = actions.add_parser("delete", help="delete an image (never one a channel points at)", add_help=False)
    show = actions.add_parser("show", help="an image's tags, channels and manifest (default: latest's)",
                              add_help=False)  # fmt: skip
    for parser in (listing, promote, rollback, share, deprecate, delete, show):
        options.profile(parser, help="the profile's name")
        _backend_options(parser, "images")
    options.json_output(listing, "the images")
    options.json_output(show, "the image")
    show.add_argument("--image", help="an image id (default: the one latest points at, in each region)")
    options.share(share, _principals(), "whom to let launch it (repeatable)", required=True)
    share.add_argument("--image", help="an image id (default: the one latest points at, in each region)")
    for parser in (deprecate, delete):
        parser.add_argument("--image", required=True, help="the image id (see images list)")
    options.dry_run(delete, "say what would be deleted")
    for parser in (promote, rollback):
        parser.add_argument("--channel", required=True, help="e.g. stable (lowercase letters, digits, '-')")
    promote.add_argument("--from", dest="from_channel", default="latest", help="the channel whose image moves "
                         "(default latest)")  # fmt: skip
    promote.add_argument("--image", help="an image id instead of --from's")
    images.set_defaults(handler=_images)


def _images(args: argparse.Namespace) -> int:
    from ..bake.images import Catalogue, profile_name

    args.profile, named_file = profile_name(args.profile)  # a profile's file: a profile, known
    backend = make_backend(args, lambda line: voice.progress(f"bootstrap: {line}"))
    image_id = getattr(args, "image", None)  # list and rollback take none
    catalogue = Catalogue.of(backend, args.profile, named_file, image_id)  # misspelt: exit 2, the closest said
    if args.action == "promote":
        for image in catalogue.promote(args.channel, args.from_channel, args.image):
            print(f"{args.profile}: channel {args.channel}{_region(image)} -> {image.id}")
    elif args.action == "rollback":
        for current, previous in catalogue.rollback(args.channel):
            print(f"{args.profile}: channel {args.channel}{_region(current)} -> {previous.id} (was {current.id})")
    elif args.action == "share":
        mine, others = catalogue.sharing(profile_shares({}, args.share))  # malformed: exit 2 before any call
        if others:
            voice.warning(f"bootstrap: not shared with {', '.join(p.value for p in others)}: not for the "
                          f"{args.backend} backend")  # fmt: skip
        for image in catalogue.share(args.image, mine):
            print(f"{image.id}: shared with {', '.join(p.value for p in mine)}")
    elif args.action == "deprecate":
        for image, replacement in catalogue.deprecate(args.image):
            print(f"{image.id}: deprecated, replaced by {replacement.id}")
    elif args.action == "delete":
        for image in catalogue.deletable(args.image) if args.dry_run else catalogue.delete(args.image):
            print(f"{'would delete' if args.dry_run else 'deleted'} {image.id}")
    elif args.action == "show":
        _show_images(args, catalogue.show(args.image))
    else:
        _print_images(args, catalogue.rows(), backend)
    return 0


def _as_json_or_none(args: argparse.Namespace, rows: list[dict[str, Any]], none: str) -> bool:
    """True when ``rows`` are said (--json) or there are none (``none`` said): nothing left to print."""
    if args.json:
        print(json.dumps({"profile": args.profile, "backend": args.backend, "images": rows}, indent=2))
    elif not rows:
        print(f"{args.profile}: {none}")
    return args.json or not rows


def _show_images(args: argparse.Namespace, shown: list[dict[str, Any]]) -> None:
    if _as_json_or_none(args, shown, f"no image latest points at ({args.backend})"):
        return
    for row in shown:
        print(row["image"] + (f" in {row['region']}" if row["region"] else ""))
        print(f"  hash {row['hash'] or '-'}, {row['state'] if row['tested'] else 'untested'}, "
              f"channels {', '.join(row['channels']) or '-'}")  # fmt: skip
        for key, value in row["tags"].items():
            print(f"  tag {key} = {value}")
        print(f"  manifest: {_manifest_summary(row['manifest'])}")


def _manifest_summary(manifest: dict[str, Any] | None) -> str:
    if manifest is None:
        return "none kept (a local image of this bootstrap keeps one; EC2 and GCE keep none yet)"
    if "error" in manifest:
        return f"none: {manifest['error']}"
    state = "verified" if manifest.get("verified") else "NOT matching its file (changed or missing)"
    return (f"{manifest.get('file')}: {manifest.get('packages')} packages, {manifest.get('entries')} entries "
            f"({manifest.get('volatile')} volatile), stable sha256 {manifest.get('stable_sha256')}, {state}")


def _region(image: Any) -> str:
    return f" in {image.region}" if image.region else ""


def _print_images(args: argparse.Namespace, rows: list[dict[str, Any]], backend: Any) -> None:
    if _as_json_or_none(args, rows, f"no images made by bootstrap yet ({args.backend}{_where(backend)})"):
        return
    table = [("image", "region", "hash", "state", "age", "channels")]
    for row in rows:
        age = "?" if row["age_days"] is None else f"{row['age_days']}d"
        shared = f"; shared with {', '.join(row['shared_with'])}" if row["shared_with"] else ""
        table.append((row["image"], row["region"] or "-", row["hash"] or "-",
                      row["state"] if row["tested"] else "untested", age,
                      (", ".join(row["channels"]) or "-") + shared))  # fmt: skip
    print("\n".join(columns(table)))


def _where(backend: Any) -> str:
    location = backend.location()
    return f", {location}" if location else ""


def guest_options(parser: argparse.ArgumentParser) -> None:
    """Local VM guests: network (user-mode NAT) or none, and an optional local apt repository. By default
    both follow what this host reaches (bake and test alike): network when a Debian mirror answers, else
    a local repository of the packages the profile installs."""
    group = parser.add_argument_group("local VM guest")
    group.clouds = ("local",)  # type: ignore[attr-defined]  # -b ec2 -h leaves it out
    group.add_argument(
        "--network",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="give the guest network access (default: when this host reaches a Debian mirror)",
    )
    group.add_argument(
        "--local-apt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve the Debian packages the profile installs from an apt repository built on this host "
        "(Debian 12 hosts), so package steps run without network (default: when the guest has no route to a "
        "mirror)",
    )
    group.add_argument("--apt-package", dest="apt_packages", action="append", default=[], metavar="PACKAGE",
                       help="another package for the local apt repository (repeatable)")  # fmt: skip


def guest_choice(args: argparse.Namespace, *profiles: Any, instance_steps: bool = True, dry_run: bool = False,
                 bake: bool = True) -> Any:  # fmt: skip
    """The local guest for these profiles and the guest options given (a GuestChoice: say its lines, then
    build its setup)."""
    from ..localvm.guest import GuestOptions, guest_for

    options = GuestOptions(network=args.network, local_apt=args.local_apt, extra=tuple(args.apt_packages))
    return guest_for(profiles, options, instance_steps=instance_steps, dry_run=dry_run, bake=bake)


def _why_packages(choice: Any) -> None:
    if choice.apt_packages:
        voice.why(f"local apt repository: {', '.join(choice.apt_packages)}")


def make_backend(args: argparse.Namespace, progress: Any, setup: Any = None) -> Any:
    """The backend -b names, built from the clouds' declared options alone (not the rest of the namespace)."""
    given = {option.name: getattr(args, option.name) for cloud in clouds.all_clouds().values()
             for option in cloud.options if hasattr(args, option.name)}  # fmt: skip
    return clouds.make_backend(args.backend, given, clouds.Context(args.command, progress, setup))


NAMED = "_backend_named"  # set on the namespace when -b was given: -h then shows that backend's options only


class _Backend(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:  # fmt: skip
        setattr(namespace, self.dest, values)
        setattr(namespace, NAMED, values)


class _Help(argparse.Action):
    """-h: every backend's options, each under its backend; after -b NAME, that backend's alone."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show this help and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:  # fmt: skip
        chosen = getattr(namespace, NAMED, None)
        for group in parser._action_groups if chosen else []:  # the others' options: out of help and usage
            owners = getattr(group, "clouds", (chosen,))
            if len(owners) > 1 and chosen in owners:
                group.title = f"{chosen} backend, options shared with {' and '.join(set(owners) - {chosen})}"
            for action in group._group_actions:
                if chosen not in owners:
                    action.help = argparse.SUPPRESS
                elif chosen in (by_cloud := getattr(action, "help_by_cloud", {})):
                    action.help = by_cloud[chosen]
        parser.print_help()
        parser.exit()


def _backend_options(parser: argparse.ArgumentParser, command: str) -> None:
    """-b, then the options each cloud declares for ``command``, in a group titled by the backend (or by
    the backends that share one). An option of another command's is taken quietly where its cloud says so
    (reap and images take bake's machine options: one set of cloud arguments serves every command)."""
    found = clouds.all_clouds()
    parser.add_argument("-h", "--help", action=_Help)
    first, *others = found.values()
    parser.add_argument("--backend", "-b", choices=tuple(found), default=first.name, action=_Backend,
                        help=f"where: {first.summary} (default), {' or '.join(c.name for c in others)}; each "
                        "one's options below")  # fmt: skip
    declared: dict[str, list[tuple[clouds.Cloud, clouds.Option]]] = {}
    for cloud in found.values():
        for option in cloud.options:
            if command in option.commands | option.quiet:
                declared.setdefault(option.flags[0], []).append((cloud, option))
    groups: dict[tuple[str, ...], Any] = {}
    owners = [(c.name,) for c in found.values()] + sorted({tuple(c.name for c, _ in d) for d in declared.values()})
    for names in dict.fromkeys(owners):  # each backend's own group, then the shared ones
        title = f"{names[0]} backend (-b {names[0]})" if len(names) == 1 else f"{' and '.join(names)} backends"
        groups[names] = parser.add_argument_group(title)
        groups[names].clouds = names  # type: ignore[attr-defined]
    quiet: list[str] = []
    for flag, owned in declared.items():
        listed = {c.name: o.help_for(command) for c, o in owned if command in o.commands}
        option = owned[0][1]
        if any((o.flags, o.name, dict(o.arguments)) != (option.flags, option.name, dict(option.arguments))
               for _, o in owned):  # fmt: skip
            raise RuntimeError(f"clouds {', '.join(c.name for c, _ in owned)} declare {flag} differently")
        shown = "; ".join(text if len(owned) == 1 else f"{name}: {text}" for name, text in listed.items())
        action = groups[tuple(c.name for c, _ in owned)].add_argument(
            *option.flags, dest=option.name, help=shown if listed else argparse.SUPPRESS, **option.arguments)
        action.help_by_cloud = listed  # type: ignore[attr-defined]
        quiet += [] if listed else [flag]
    if quiet:
        parser.epilog = (f"bake's options for the machine it starts ({', '.join(quiet)}) are accepted and "
                         "ignored: one set of cloud arguments serves every command")  # fmt: skip


def _bake(args: argparse.Namespace) -> int:
    from ..bake.lifecycle import BakeOptions, bake
    from ..bakeable import refuse_unbakeable
    from ..boot_report import check_folder
    from ..planner import build_plan
    from ..profile import load_profile

    if args.keep < 1:
        raise UsageError("--keep must be 1 or more")
    _check_days(args)
    if args.report:
        check_folder(Path(args.report))  # before any machine: a report is never overwritten
    profile = load_profile(args.profile, args.overrides)
    if profile.abstract:
        raise UsageError(f"{profile.name} is abstract (a parent for others to extend): bake a profile that extends it")
    plan = build_plan(profile)
    refuse_unbakeable(profile, plan)  # before any machine or cloud call, a dry run included
    events = Events(as_json=args.json, quiet=voice.current().quiet)
    setup = None
    if args.backend == "local":  # decided (and said) before anything boots; a dry run builds nothing
        choice = guest_choice(args, profile, instance_steps=args.test, dry_run=args.dry_run)
        for line in choice.lines:
            events.emit("progress", line)
        _why_packages(choice)
        setup = None if args.dry_run else choice.setup()
    backend = make_backend(args, lambda line: events.emit("progress", line), setup)
    shares = tuple(profile_shares(profile.data, args.share))  # a malformed --share: exit 2 before any call
    options = BakeOptions(force=args.force or args.refresh, dry_run=args.dry_run, keep=args.keep,
                          regions=tuple(args.copy_to), build_timeout=args.timeout, test=args.test, share=shares,
                          grace_days=args.grace, max_age_days=args.max_age, refresh=args.refresh)  # fmt: skip
    step_lines = None if args.json else (lambda line: voice.progress("  " + line.split("bootstrap: ")[-1]))
    boots = BakeBoots(plan.profile, backend.target)
    try:
        result = bake(plan, backend, options, events, progress=step_lines, seen=boots.saw)
    except BootstrapError as exc:
        if boots.boots:  # a machine booted: what it said is kept, a failed test's above all
            _keep_failed(boots, plan.profile, exc, args.report, events)
        if not isinstance(exc, RenderError):
            raise
        from . import exit_code, with_largest_parts

        told = with_largest_parts(exc, plan)
        if not args.dry_run:
            raise told from None
        voice.error(f"bootstrap: {plan.profile}: would fail: {told}")  # what the real run would say
        return exit_code(told)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    elif result.status == "built" and result.image:
        where = result.image.details.get("disk", result.image.id)
        print(f"{result.profile}: built {result.image.id} ({where}) in {result.timings['total']:.0f}s")
    elif result.status == "unchanged" and result.image:
        print(f"{result.profile}: unchanged, {result.image.id}")
    if boots.boots:  # a dry run or an unchanged image booted nothing: nothing to report
        from . import keep_report

        keep_report(boots.run(True, summary, []), args.report, _said(events))
    return 0


def _said(events: Events) -> Any:
    """The report's path as one of the bake's events (a JSON line with --json: stderr stays JSON lines)."""
    return lambda line, page: events.emit("report", line, page=str(page))


def _keep_failed(boots: BakeBoots, profile: str, exc: BaseException, folder: str | None, events: Events) -> None:
    """The report of a failed bake; one that cannot be written is said, and the bake's own error stays the one told."""
    from . import keep_report

    try:
        keep_report(boots.run(False, {"profile": profile, "status": "failed", "error": str(exc)}, [str(exc)]), folder,
                    _said(events))  # fmt: skip
    except (OSError, BootstrapError) as failed:
        voice.warning(f"bootstrap: warning: no boot report: {failed}")


class BakeBoots:
    """The machines a bake booted (its builder, the new image's test instance), for its boot report."""

    LABELS = {"builder": "builder (bakes the image)", "test": "golden image test boot"}

    def __init__(self, profile: str, target: str) -> None:
        self.profile, self.target = profile, target
        self.boots: list[Any] = []

    def saw(self, role: str, instance: str, sent: bytes, report: Any) -> None:
        from ..boot_report import Boot, digest

        self.boots.append(Boot(self.LABELS.get(role, role), report, instance, digest(sent)))

    def run(self, ok: bool, data: dict[str, Any], problems: list[str]) -> Any:
        from ..boot_report import BootRun, digest
        from ..localvm.handoff import DATASOURCE

        consoles = "\n".join(boot.report.console for boot in self.boots)
        client = ", ".join(sorted({m.group(1) for m in DATASOURCE.finditer(consoles)}))
        sent = [{"path": f"user data of the {boot.label}", "user_agent": f"sent by bootstrap ({self.target})",
                 **(boot.sent or digest(b""))} for boot in self.boots]  # fmt: skip
        data = {**data, "boots": [{"role": boot.label, "instance": boot.instance, "result": boot.report.result,
                                   "failed_step": boot.report.failed_step, "steps": boot.report.steps}
                                  for boot in self.boots]}  # fmt: skip
        return BootRun("bake", self.profile, ok, data, self.boots, problems, self.target, client, sent)


def _reap(args: argparse.Namespace) -> int:
    backend = make_backend(args, lambda line: voice.progress(f"bootstrap: {line}"))
    warnings: list[str] = []

    def warn(line: str) -> None:
        warnings.append(line)
        voice.warning(f"bootstrap: warning: {line}")

    now = time.time()
    pending: list[tuple[str, float]] = []
    reaped = backend.reap(now, dry_run=args.dry_run, warn=warn, pending=lambda name, when: pending.append((name, when)))
    where = f"{backend.name} ({backend.location()})" if backend.location() else backend.name
    later = [{"machine": name, "reapable_at": _utc(when), "in_minutes": round((when - now) / 60)}
             for name, when in pending]  # fmt: skip
    if args.json:
        print(json.dumps({"backend": backend.name, "looked_at": backend.location(),
                          "reaped" if not args.dry_run else "would_reap": reaped, "not_yet": later,
                          "warnings": warnings}))  # fmt: skip
        return 0
    print(f"looked at {where}: {len(reaped) + len(later)} machines of bootstrap's past or present bakes")
    verb = "would reap" if args.dry_run else "reaped"
    print("\n".join(f"{verb} {name}" for name in reaped) or "nothing to reap")
    for row in later:
        print(f"not yet {row['machine']}: reapable at {row['reapable_at']} (in {row['in_minutes']} min; "
              "its bake may still be running)")  # fmt: skip
    return 0


def _utc(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def _rebuild(args: argparse.Namespace) -> int:
    from ..bake.lifecycle import BakeOptions
    from ..bake.rebuild import Outcome, load_manifest, rebuild, update_manifest
    from ..discover import profile_files

    _check_days(args)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder of profiles")
    found, others = profile_files(folder, args.glob)
    references = [str(p) for p in found]
    if not references:
        raise UsageError(f"no profiles ({args.glob}) under {folder}"
                         + "".join(f"\n  {path}: {why}" for path, why in others))  # fmt: skip
    before = load_manifest(Path(args.manifest))  # one that does not parse stops the run before any bake
    events = Events(as_json=args.json, quiet=voice.current().quiet)
    for path, why in others:
        events.emit("not-a-profile", f"{path}: {why}; left alone", file=str(path))
    options = BakeOptions(force=args.force or args.refresh, dry_run=args.dry_run, keep=args.keep,
                          regions=tuple(args.copy_to), build_timeout=args.timeout,
                          share=tuple(profile_shares({}, args.share)), grace_days=args.grace,
                          max_age_days=args.max_age, refresh=args.refresh)  # fmt: skip
    setup = None
    refused: list[Outcome] = []
    if args.backend == "local":  # a dry run decides (and says) the same, and builds no apt repository
        from ..errors import BootstrapError
        from ..profile import load_profile

        profiles = []
        for reference in references:  # one guest choice (and apt repository) serves the whole run
            with contextlib.suppress(BootstrapError):  # a broken profile fails on its own in the run
                profile = load_profile(reference)
                try:  # what this profile's own bake would refuse (a local guest has no cloud secrets)
                    guest_choice(args, profile, dry_run=True)
                except BootstrapError as exc:
                    refused.append(Outcome(reference, error=str(exc), failure=exc))
                    events.for_profile(profile.name).emit("failed", str(exc))
                    continue
                profiles.append(profile)
        references = [r for r in references if r not in {o.reference for o in refused}]
        choice = guest_choice(args, *profiles, dry_run=args.dry_run)
        for line in choice.lines:
            events.emit("progress", line)
        _why_packages(choice)
        setup = None if args.dry_run else choice.setup()
    outcomes = refused + rebuild(references, lambda progress: make_backend(args, progress, setup), options,
                                 events, jobs=args.jobs)  # fmt: skip
    if not args.dry_run:
        update_manifest(Path(args.manifest), args.backend, outcomes, before)
    summary = [{"profile": o.reference, "status": "would-fail" if args.dry_run and o.error else o.status,
                "image": o.result.image.id if o.result and o.result.image else None, "error": o.error or o.skipped}
               for o in outcomes]  # fmt: skip
    if args.json:
        print(json.dumps({"backend": args.backend, "results": summary}, indent=2))
    else:
        for row in summary:
            detail = row["image"] or next(iter(str(row["error"]).splitlines()), "")  # a dry run has neither
            print(f"{row['status']:<10} {row['profile']:<40} {detail}")
    from . import exit_code

    # The worst failure decides, on the one table: a backend failure (3) over bad input (2).
    return max((exit_code(o.failure) if o.failure else 1 for o in outcomes if o.error), default=0)
