"""The command line: thin, each option defined once, the only place that prints for humans
and chooses exit codes (0 ok, 1 findings, 2 bad input or usage, 3 backend failure)."""

from __future__ import annotations

import os
import re
import signal
import sys


def _stopped_early(signum: int, frame: object) -> None:
    """SIGINT outside main()'s handlers (interrupts.handle_signals): while Python imports bootstrap,
    before a command started anything, or after it ended. The run ends at once, 128 + signal, told in
    one line; Python's default is a KeyboardInterrupt traceback out of whatever was being imported."""
    os.write(2, f"bootstrap: stopped by {signal.Signals(signum).name}\n".encode())
    raise SystemExit(128 + signum)


def _run_as_bootstrap() -> bool:
    """Whether the program is bootstrap itself: `python -m bootstrap`, or the `bootstrap` command (its
    console script imports this module first of all), not a program that imports the package."""
    program = sys.modules.get("__main__")
    spec = getattr(program, "__spec__", None)
    if spec is not None:
        return bool(spec.name == "bootstrap.__main__")
    return bool(re.search(r"(^|[/\\])bootstrap(-script\.pyw?|\.exe)?$", getattr(program, "__file__", None) or ""))


# ruff: noqa: E402 (the handler goes in first, before the imports below)
if _run_as_bootstrap() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _stopped_early)

import argparse
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .. import __version__

if TYPE_CHECKING:  # only for annotations: the checks are imported when a command needs them
    from ..checks.run import Report
    from ..diff import Comparison, Dependent, Family, Size
    from ..layers import LayerChange

from ..errors import BackendError, BootstrapError, InputError, Problem, RenderError, UsageError
from ..wording import count
from . import voice

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_BACKEND = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """A misspelt command or action: the closest one named (argparse would list them all)."""
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            from ..schema import suggest

            what = "command" if self.prog == "bootstrap" else f"{self.prog.removeprefix('bootstrap ')} action"
            close = suggest(value, action.choices)
            raise UsageError(f"no {what} {value!r}; " + (f"did you mean {close!r}?" if close else
                             f"one of {', '.join(action.choices)}"))  # fmt: skip
        super()._check_value(action, value)

    def error(self, message: str) -> NoReturn:  # argparse's own usage errors: exit 2, no traceback
        hints = [f"did you mean {close}?" for word in _unrecognized(message) if (close := self._close_option(word))]
        raise UsageError(Problem(f"{self.prog}: {message}", None, "; ".join(hints) or None))

    def _close_option(self, word: str) -> str | None:
        """The option closest to a misspelt one, among this parser's and its subcommands'."""
        import difflib

        known = set(self._option_string_actions)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    known |= set(sub._option_string_actions)
        match = difflib.get_close_matches(word.split("=")[0], sorted(known), n=1, cutoff=0.6)
        return match[0] if match else None


def _unrecognized(message: str) -> list[str]:
    _, found, rest = message.partition("unrecognized arguments: ")
    return [word for word in rest.split() if word.startswith("-")] if found else []


def _output_options(parser: argparse.ArgumentParser) -> None:
    """-q, -v and --color, on the program and on every command and action, so that they go before or after
    the command's name (SUPPRESS: a command's parser leaves what the program's took alone)."""
    from ..terminal import COLOR_CHOICES
    from .voice import QUIET, VERBOSE

    group = parser.add_argument_group("output")
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=QUIET,
                       default=argparse.SUPPRESS, help="errors only on stderr (results on stdout still print)")
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=VERBOSE,
                       default=argparse.SUPPRESS, help="also say why: the reasons behind each decision")
    group.add_argument("--color", choices=COLOR_CHOICES, default=argparse.SUPPRESS,
                       help="colour on a terminal (default auto; NO_COLOR and FORCE_COLOR honoured)")  # fmt: skip
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                _output_options(sub)


def _build_parser() -> argparse.ArgumentParser:
    from .. import options
    from ..targets import TARGETS
    from .bake import add_parsers as add_bake_parsers
    from .bake import guest_options
    from .completion import add_parser as add_completion_parser
    from .init import add_parser as add_init_parser

    parser = _Parser(prog="bootstrap", description="Compile YAML machine profiles into cloud startup code.")
    parser.add_argument("--version", action="version", version=f"bootstrap {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    render = commands.add_parser("render", help="render a profile for a target")
    options.profile(render)
    render.add_argument("--target", "-t", choices=TARGETS, default="cloud-init",
                        help="the form of the startup code: cloud-init user data (default), ec2's (gzipped when over "
                        "16 KiB), a GCE startup-script, a bash script (docs/targets.md)")  # fmt: skip
    options.output(render, "FILE", "write here (atomically) instead of standard output ('-': standard output)")
    options.mode(render)
    render.add_argument("--base64", action="store_true", help="base64-encode the output (for APIs and gzip)")
    render.add_argument("--gzip", action="store_true", help="gzip the output (cloud-init targets)")
    render.add_argument("--bake", action="store_true", help="the builder variant: image-scope steps, then seal")
    render.add_argument("--explain", action="store_true", help="print the plan as JSON instead of the output")
    options.overrides(render)
    render.set_defaults(handler=_render)

    validate = commands.add_parser("validate", help="check profiles against the schema and rules")
    options.profile(validate, "profiles", nargs="+", metavar="PROFILE")
    options.json_output(validate, "each profile's result")
    options.overrides(validate)
    validate.set_defaults(handler=_validate)

    check = commands.add_parser("check", help="render and check profiles: schema, shellcheck, sizes, secrets")
    options.profile(check, "profiles", nargs="+", metavar="PROFILE")
    check.add_argument(
        "--target",
        "-t",
        dest="targets",
        action="append",
        choices=TARGETS,
        help="check this target (repeatable; default: all)",
    )
    options.json_output(check, "the report")
    options.overrides(check)
    check.set_defaults(handler=_check)

    test = commands.add_parser("test", help="boot a profile in a local VM (QEMU), reboot it, report each step")
    options.profile(test)
    test.add_argument("--reboots", type=int, default=1, help="reboots after the first boot (default 1)")
    test.add_argument("--no-relaunch", dest="relaunch", action="store_false",
                      help="skip the last boot: the same disk as a new instance, through the same client")  # fmt: skip
    test.add_argument("--keep-vm", dest="keep_vm", action="store_true", help="keep the VM's disk and console log")
    options.client_target(test)
    test.add_argument("--layer-cache", metavar="DIR", default=None,
                      help="where local bakes keep their layers (default: this user's private cache): the test "
                      "boots the deepest layer of the profile's image found there: only the steps after it run")
    options.layer_cache(test, refresh="boot the base image: every step runs, whatever the cache holds")
    options.timeout(test, 900, "to wait for each boot")
    options.json_output(test, "the report")
    options.report(test)
    guest_options(test)
    options.overrides(test)
    test.set_defaults(handler=_test)

    add_bake_parsers(commands)

    diff = commands.add_parser("diff", help="what a profile change does: steps per phase, output per target")
    options.profile(diff, "old", help="profile file, or REV:path (e.g. HEAD~1:profiles/gpu.yaml)")
    options.profile(diff, "new", help="profile file, or REV:path")
    diff.add_argument("--full", action="store_true", help="also the unified diff of each target's output")
    diff.add_argument("--no-dependents", dest="dependents", action="store_false",
                      help="compare only the profile named, not the profiles that extend it")  # fmt: skip
    options.json_output(diff, "the comparison")
    diff.set_defaults(handler=_diff)

    export = commands.add_parser("export", help="a Packer or Terraform template that uses the rendered user data")
    export.add_argument("engine", choices=("packer", "terraform"))
    options.profile(export)
    options.output(export, "DIR", "folder to write into (default .)", default=".")
    options.mode(export)
    options.overrides(export)
    export.set_defaults(handler=_export)

    explain = commands.add_parser("explain", help="the plan as a table: step, phase, scope, feature, cost")
    options.profile(explain)
    options.json_output(explain, "steps with hashes and sizes, sizes per target, the image's layers")
    options.layer_source(explain)
    options.overrides(explain)
    explain.set_defaults(handler=_explain)

    schema = commands.add_parser("schema", help="print the profile JSON Schema")
    schema.add_argument("--markdown", action="store_true", help="the profile reference page (docs/profiles.md)")
    schema.set_defaults(handler=_schema)

    listing = commands.add_parser("list", help="list built-in profiles")
    listing.set_defaults(handler=_list)

    add_init_parser(commands)
    add_completion_parser(commands)
    _output_options(parser)  # last: every command and action, init's and completion's too
    return parser


def _render(args: argparse.Namespace) -> int:
    from ..planner import build_plan
    from ..profile import load_profile
    from ..targets import TARGET_RECORDS, Gzip, Variant, render

    if args.gzip and TARGET_RECORDS[args.target].size.gzip is Gzip.NO:
        gzipping = [name for name, record in TARGET_RECORDS.items() if record.size.gzip is not Gzip.NO]
        raise UsageError(f"--gzip applies to the {' and '.join(gzipping)} targets, not {args.target}")
    profile = load_profile(args.profile, args.overrides)
    plan = build_plan(profile)
    voice.why(f"bootstrap: profile {profile.name}: {profile.path}, {count(len(plan.steps), 'step')}, plan {plan.hash}")
    if args.explain:
        from ..explain import plan_json

        print(json.dumps(plan_json(plan, (args.target,)), indent=2))
        return EXIT_OK
    try:
        artifact = render(plan, args.target, gzip=args.gzip, variant=Variant.BAKE if args.bake else Variant.USER_DATA)
    except RenderError as exc:
        raise with_largest_parts(exc, plan) from None
    data = artifact.base64() + b"\n" if args.base64 else artifact.data
    if artifact.gzipped and args.output in (None, "-") and not args.base64 and sys.stdout.isatty():
        # A pipe or a redirected file takes the bytes whatever their size; only a terminal is refused.
        raise UsageError("the output is gzip-compressed (binary): not on a terminal; redirect it, write it with "
                         "-o FILE or use --base64")
    for note in artifact.notes:
        voice.progress(f"bootstrap: {note}")
    record = TARGET_RECORDS[args.target]
    if not artifact.gzipped and record.size.limit:  # the gzip note says why when it applied
        voice.why(f"bootstrap: {len(artifact.data):,} bytes, within {record.size.cloud}'s {record.size.limit:,}"
                  + (": not gzipped" if record.size.gzip is Gzip.WHEN_OVER else ""))  # fmt: skip
    if args.output and args.output != "-":  # '-' is standard output, as for most tools (not a file named '-')
        from ..output import parse_mode, write_file

        write_file(Path(args.output), data, parse_mode(args.mode))
        voice.progress(f"bootstrap: wrote {args.output} ({len(data):,} bytes, target {args.target})")
        if record.handoff_hint and not args.base64:  # base64 is for an API: each hand-off takes the bytes
            voice.progress(f"bootstrap: {record.handoff_line(args.output)}")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK


def with_largest_parts(exc: RenderError, plan: Any, top: int = 3) -> RenderError:
    """A render refused (over a cloud's size limit), told with what takes the room: the largest parts
    of what every target carries (bootstrap's runner and library, each step), the profile line that
    made each step, so that a user sees what to move out (a bucket, a baked image)."""
    from ..checks.size import contributors

    origins = {step.id: step.origin for step in plan.steps}
    parts = ", ".join(f"{name} {size:,} B" + (f" ({origins[name]})" if origins.get(name) else "")
                      for name, size in contributors(plan, top))  # fmt: skip
    return RenderError(f"{exc}\n  largest parts: {parts}")


def _validate(args: argparse.Namespace) -> int:
    from ..planner import build_plan
    from ..profile import load_profile

    results: list[dict[str, Any]] = []
    for reference in _profiles_only(args.profiles, results, args.json):
        try:
            plan = build_plan(load_profile(reference, args.overrides))
        except InputError as exc:
            results.append(
                {
                    "profile": reference,
                    "ok": False,
                    "problems": [
                        {
                            "message": p.message,
                            "hint": p.hint,
                            "where": {"file": p.mark.source, "line": p.mark.line, "column": p.mark.column}
                            if p.mark
                            else None,
                        }
                        for p in exc.problems
                    ],
                }
            )
            if not args.json:
                voice.error(str(exc))
            continue
        results.append({"profile": reference, "ok": True, "steps": len(plan.steps), "plan_hash": plan.hash})
        if not args.json:
            voice.result(f"ok: {reference} ({count(len(plan.steps), 'step')}, plan {plan.hash})", ok=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return EXIT_OK if all(r.get("ok", True) for r in results) else EXIT_INPUT


def _profiles_only(references: list[str], results: list[dict[str, Any]], as_json: bool) -> list[str]:
    """The references that are profiles. The pre-commit hooks pass every changed YAML file under
    profiles/, a conda environment.yml included: such files are named as skipped, not failed."""
    from ..discover import another_kind

    kept = []
    for reference in references:
        reason = another_kind(Path(reference)) if Path(reference).is_file() else ""
        if reason:
            results.append({"profile": reference, "skipped": reason})
            if not as_json:
                voice.progress(f"skipped: {reference}: {reason}")
        else:
            kept.append(reference)
    return kept + _dependents(kept, results, as_json)


def _dependents(references: list[str], results: list[dict[str, Any]], as_json: bool) -> list[str]:
    """The profiles that extend one of the files given (the hooks pass only what changed): said, and
    checked in the same run."""
    from ..discover import dependents
    from ..profile import display_path as _shown

    files = [Path(r) for r in references if Path(r).is_file()]
    added = []
    for child, parent in dependents(files) if files else []:
        shown = _shown(child)
        results.append({"profile": shown, "because": f"it extends {_shown(parent)}"})
        if not as_json:
            voice.progress(f"also checking {shown}: it extends {_shown(parent)}")
        added.append(shown)
    return added


def _problem_json(problem: Problem) -> dict[str, object]:
    where = problem.mark
    return {
        "message": problem.message,
        "hint": problem.hint,
        "where": {"file": where.source, "line": where.line, "column": where.column} if where else None,
    }


def _check(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .. import interrupts
    from ..checks.run import check_profiles
    from ..targets import TARGETS

    targets = args.targets or list(TARGETS)
    voice.why(f"checking for {', '.join(targets)}" + ("" if args.targets else " (every target: no --target given)"))
    code, reports = EXIT_OK, list[dict[str, Any]]()
    checked = check_profiles(_profiles_only(args.profiles, reports, args.json), targets, args.overrides)
    interrupts.check()  # a signal that a library swallowed on the way: no report of a run cut short
    for reference, report in checked:
        if isinstance(report, InputError):
            code = max(code, exit_code(report))  # bad input outranks findings
            reports.append({"profile": reference, "ok": False, "problems": [_problem_json(p) for p in report.problems]})
            if not args.json:
                voice.error(str(report))
            continue
        if not report.ok and code == EXIT_OK:
            code = EXIT_FINDINGS
        if args.json:
            entry = asdict(report)
            entry["ok"] = report.ok
            reports.append(entry)
        else:
            _print_report(report)
    if args.json:
        print(json.dumps(reports, indent=2))
    return code


def _name_width(targets: Iterable[str]) -> int:
    """The first column of a size table: 11, or wider for a target's longer name (the columns stay aligned)."""
    return max([11, *(len(name) + 1 for name in targets)])


def _print_report(report: Report) -> None:
    print(f"{report.profile} ({report.path}): {count(report.steps, 'step')}, plan {report.plan_hash}")
    width = _name_width(b.target for b in report.budgets)
    print(f"  {'target':<{width}}{'raw':>9}{'gzip':>9}{'base64':>9}{'sent':>9}  limit")
    for b in report.budgets:
        limit = f"{b.limit:,} {b.limit_name}" if b.limit else "(no cloud limit)"
        fits = f"  fits ({b.limit - b.sent:,} to spare)" if b.fits else f"  OVER ({b.severity_over})"
        mark = fits if b.limit else ""
        print(f"  {b.target:<{width}}{b.raw:>9,}{b.gzip:>9,}{b.base64:>9,}{b.sent:>9,}  {limit}{mark}")
    print("  largest parts: " + ", ".join(f"{name} {size:,} B" for name, size in report.contributors))
    for finding in report.findings:
        print("  " + str(finding).replace("\n", "\n  "))
    errors = sum(f.severity == "error" for f in report.findings)
    others = len(report.findings) - errors
    voice.result(f"  {'ok' if not errors else 'FAILED'}: {count(errors, 'error')}, {count(others, 'warning')}",
                 ok=not errors)
    print()


def _progress(line: str) -> None:
    voice.progress(line)


def _test(args: argparse.Namespace) -> int:
    from ..boot_report import check_folder, from_proof, received
    from ..localvm.proof import PROVABLE, proof_json, prove
    from ..planner import build_plan
    from ..profile import load_profile
    from .bake import _why_packages, check_max_age, guest_choice

    if args.reboots < 0:
        raise UsageError("--reboots must be 0 or more")
    if args.report:
        check_folder(Path(args.report))  # before booting: a report is never overwritten
    check_max_age(args)
    profile = load_profile(args.profile, args.overrides)
    plan = build_plan(profile)
    choice = guest_choice(args, profile, bake=False)  # says before booting what the guest cannot have
    for line in choice.lines:
        _progress(line)
    _why_packages(choice)
    setup = choice.setup()
    _progress(f"target {args.target}: {PROVABLE[args.target]}")
    start = None if args.refresh else _cached_layer(args, plan, setup)
    proof = prove(plan, reboots=args.reboots, relaunch=args.relaunch, keep=args.keep_vm, timeout=args.timeout,
                  progress=_progress, setup=setup, target=args.target, start=start)  # fmt: skip
    data = proof_json(proof)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for number, (boot, instance) in enumerate(zip(proof.boots, proof.instances, strict=True), start=1):
            print(f"boot {number}: {boot.result} in {boot.seconds:.0f}s (instance {instance})")
            for step in boot.steps:
                print(f"  {step['id']:<28} {step['phase']:<11} {step['status']:<7} {step['duration_ms']:>7} ms")
        print(f"target {proof.target}, run by {proof.client or '(no client seen on the console)'}")
        for got in received(proof.delivered):
            agent = f" ({got['user_agent']})" if got["user_agent"] else ""
            print(f"  the guest got {got['path']}{agent}: {got['size']:,} bytes, sha256 {got['sha256']}")
        for problem in proof.problems:
            print(f"problem: {problem}")
        if proof.kept:
            print(f"kept: {proof.kept} (disk.qcow2, serial.log)")
        voice.result("ok" if proof.ok else "FAILED", ok=proof.ok)
    keep_report(from_proof(proof, data), args.report)
    return EXIT_OK if proof.ok else EXIT_FINDINGS


def keep_report(run: Any, folder: str | None, say: Callable[[str, Path], None] | None = None) -> None:
    """Write the boot report and say where (unless -q): the page to open, in the folder kept (``say``:
    how, where the command's progress has its own form, as bake's JSON events)."""
    from ..boot_report import write_report

    page = write_report(run, Path(folder) if folder else None) / "index.html"
    if say:
        say(f"report: {page}", page)
    else:
        voice.progress(f"report: {page}")


def _cached_layer(args: argparse.Namespace, plan: Any, setup: Any) -> Any:
    """The deepest layer of the plan's image a local bake cached in --layers (younger than --max-age)."""
    import time

    from ..clouds.local.backend import LocalBackend
    from ..layers import image_layers
    from ..localvm.proof import Start

    backend = LocalBackend(Path("images"), progress=_progress, setup=setup, client=args.target,
                           layer_cache=Path(args.layer_cache) if args.layer_cache else None)  # fmt: skip
    if not backend.layers.layers():
        return None
    chain = image_layers(plan, backend.resolve_source().id, backend.layer_inputs())
    born_after = time.time() - args.max_age * 86400
    for layer in reversed(chain.layers):
        if found := backend.find_layer(layer.key, born_after):
            below = chain.layers[: layer.index]
            names = ", ".join(la.name for la in below)
            _progress(f"booting the cached layer {layer.index} of {len(chain.layers)} ({names}) from "
                      f"{backend.layers.folder}: its steps ran when a bake made it; the others run now (--refresh: "
                      "every step, from the base image)")  # fmt: skip
            return Start(backend.boot_image(found.id), frozenset(s for la in below for s in la.steps),
                         tuple(backend.layers.hold(found.id)))  # fmt: skip
    return None


def _diff(args: argparse.Namespace) -> int:
    from ..diff import Revision, compare, family, size_findings, sizes
    from ..planner import build_plan
    from ..profile import load_profile

    with Revision(args.old) as old_file, Revision(args.new) as new_file:
        old = build_plan(load_profile(old_file.path, root=old_file.root))
        new = build_plan(load_profile(new_file.path, root=new_file.root))
        # Inside: the profiles that extend it are read from the same exported trees.
        extending = family(old_file, new_file) if args.dependents else None
    result, own_sizes = compare(old, new), sizes(old, new)
    findings = size_findings(args.new, own_sizes) + (extending.findings if extending else [])
    code = EXIT_FINDINGS if result.different or findings or (extending and extending.different) else EXIT_OK
    if args.json:
        print(json.dumps({**result.to_json(), "sizes": {s.target: s.to_json() for s in own_sizes},
                          "extending": extending.to_json() if extending else None, "findings": findings},
                         indent=2))  # fmt: skip
        return code
    _print_comparison(result, own_sizes, args.full, "")
    if extending:
        _print_family(extending, args.full)
    return code


def _print_comparison(result: Comparison, each: list[Size], full: bool, indent: str) -> None:
    from ..diff import step_diffs

    for verdict in result.verdicts:
        print(f"{indent}* {verdict}")
    if result.layers_changed:
        print(f"{indent}  layers: {result.layers.reason}" + _reused(result.layers))
    for change in result.phases:
        for kind in ("added", "removed", "changed"):
            for step in getattr(change, kind):
                print(f"{indent}  {change.phase:<11} {kind:<8} {step}")
    if full or not indent:  # a child's step scripts repeat the parent's change: with --full only
        changed = [step for change in result.phases for step in change.changed]
        for line in step_diffs(result.old, result.new, changed):
            print(indent + line)
    for target, lines in result.targets.items():
        added = sum(line.startswith("+") for line in lines[2:])
        removed = sum(line.startswith("-") for line in lines[2:])
        print(f"{indent}  {target}: {f'changed ({added} lines added, {removed} removed)' if lines else 'identical'}")
        if full:
            print("\n".join(indent + line for line in lines))
    _print_sizes(each, indent)


def _reused(change: LayerChange) -> str:
    """' (layers 1-2 of 5 unchanged)': what a layer cache could keep, where the change keeps some and not all."""
    if change.first is None or not change.reused:
        return ""
    return f" (layer{'s 1-' if change.reused > 1 else ' '}{change.reused} of {change.total} unchanged)"


def _print_sizes(each: list[Size], indent: str) -> None:
    """Bytes sent per target, before and after, against each cloud's limit; OVER where it does not fit."""
    width = _name_width(size.target for size in each)
    print(f"{indent}  {'bytes sent':<{width}}{'before':>9}{'after':>9}  limit")
    for size in each:
        before, after = (f"{n:,}" if n is not None else "-" for n in (size.before, size.after))
        limit = f"{size.limit:,} {size.limit_name}" if size.limit else "(no cloud limit)"
        mark = ""
        if size.over(size.after):
            why = "pushed over by this change" if size.pushed_over else "over before too"
            mark = f"  OVER ({size.severity}): {why}"
        elif size.over(size.before):
            mark = "  fits now (was over)"
        print(f"{indent}  {size.target:<{width}}{before:>9}{after:>9}  {limit}{mark}")


def _print_family(extending: Family, full: bool) -> None:
    """Each profile that extends the one diffed: a heading line (path, name, how it extends, what the
    change does), then, indented, the same account as the parent's, or the problems that stop it."""
    dependents = extending.dependents
    if extending.skipped:
        print(f"\nprofiles extending {extending.profile}: not compared: {extending.skipped}")
        return
    if not dependents:
        return
    tally = _tally(dependents)
    print(f"\nprofiles extending {extending.profile}: {len(dependents)}" + (f" ({tally})" if tally else ""))
    for dependent in dependents:
        how = f"through {' -> '.join(dependent.via)}" if dependent.via else "directly"
        broken = bool(dependent.findings) and not dependent.new.plan  # the change broke it
        said = [dependent.status.upper() if broken else dependent.status]
        said += [f"OVER the {s.target} limit ({s.after:,} bytes sent, limit {s.limit:,})"
                 for s in dependent.sizes if s.over(s.after) and s.severity == "error"]  # fmt: skip
        print(f"\n{dependent.path} ({dependent.name}), extends it {how}: {'; '.join(said)}")
        for problem in dependent.new.problems:
            print("  " + problem.replace("\n", "\n  "))
        for problem in dependent.old.problems if dependent.new.plan else ():
            print("  before: " + problem.replace("\n", "\n  "))
        if dependent.comparison and dependent.different:
            _print_comparison(dependent.comparison, dependent.sizes, full, "  ")
        elif dependent.new.plan and not dependent.comparison:  # new, or valid again: what it sends now
            _print_sizes(dependent.sizes, "  ")


def _tally(dependents: list[Dependent]) -> str:
    """'1 changed, 1 no longer validates; 1 pushed over a size limit'."""
    statuses: dict[str, int] = {}
    for dependent in dependents:
        statuses[dependent.status] = statuses.get(dependent.status, 0) + 1
    said = ", ".join(f"{number} {status}" for status, number in statuses.items())
    over = sum(any(size.pushed_over for size in d.sizes) for d in dependents)
    return said + (f"; {over} pushed over a size limit" if over else "")


def _export(args: argparse.Namespace) -> int:
    from ..planner import build_plan
    from ..profile import load_profile

    profile = load_profile(args.profile, args.overrides)
    plan = build_plan(profile)
    if args.engine == "packer":
        from ..bakeable import refuse_unbakeable
        from ..exports.packer import export_packer as export

        refuse_unbakeable(profile, plan)  # Packer bakes: what `bake` refuses, its template would bake wrong
    else:
        from ..exports.terraform import export_terraform as export
    from ..output import parse_mode, write_file

    mode = parse_mode(args.mode)
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"export -o {args.output}: not a folder; name a folder to write the template into")
    for written in export(plan, folder, profile.data):
        write_file(written.path, written.data, mode)
        print(f"wrote {written.path} ({written.what}, {len(written.data):,} bytes)")
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    from ..explain import plan_json, table
    from ..layers import UNRESOLVED
    from ..planner import build_plan
    from ..profile import load_profile
    from ..targets import TARGETS

    plan = build_plan(load_profile(args.profile, args.overrides))
    source = args.source or UNRESOLVED
    if args.json:
        print(json.dumps(plan_json(plan, TARGETS, source), indent=2))
    else:
        sys.stdout.write(table(plan, source))
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from ..schema import profile_schema, schema_json

    if args.markdown:
        from ..schema_doc import markdown

        sys.stdout.write(markdown(profile_schema()))
    else:
        sys.stdout.write(schema_json())
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from ..profile import builtin_profiles
    from ..yamlload import load_file

    for name, path in builtin_profiles().items():
        data = load_file(str(path))
        description = data.get("description", "") if isinstance(data, dict) else ""
        print(f"{name:<20} {description}")
    return EXIT_OK


_EXIT_CODES: dict[type[BaseException], int] = {  # the first kind that matches decides
    BrokenPipeError: EXIT_OK,  # a reader that stopped reading (| head)
    OSError: EXIT_BACKEND,  # a full disk under our output (/dev/full), a file the system refused
    InputError: EXIT_INPUT,
    RenderError: EXIT_FINDINGS,
    BackendError: EXIT_BACKEND,
}


def exit_code(exc: BaseException) -> int:
    """The one table: 2 bad input or usage, 3 backend or cloud failure (or the system refusing a file),
    1 anything else found wrong, 128 + the signal for a signal."""
    from ..interrupts import Interrupted

    if isinstance(exc, Interrupted):
        return 128 + exc.signum
    if isinstance(exc, KeyboardInterrupt):  # SIGINT outside handle_signals
        return 128 + signal.SIGINT
    return next((code for kind, code in _EXIT_CODES.items() if isinstance(exc, kind)), EXIT_FINDINGS)


RAW_STDOUT = ("render", "schema")  # their standard output is the artifact itself, byte for byte


def main(argv: Sequence[str] | None = None) -> int:
    from ..interrupts import Interrupted, handle_signals, raised_signal
    from ..terminal import RED, Escaping

    saved, said = (sys.stdout, sys.stderr), voice.current()
    sys.stderr = Escaping(sys.stderr)  # type: ignore[assignment]
    try:
        args = _build_parser().parse_args(argv)
        voice.use(voice.Voice(getattr(args, "verbosity", voice.NORMAL), getattr(args, "color", "auto")))
        if getattr(args, "command", None) not in RAW_STDOUT:
            sys.stdout = Escaping(sys.stdout)  # type: ignore[assignment]
        handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
        if handler is None:
            _build_parser().print_help(sys.stderr)
            return EXIT_INPUT
        if threading.current_thread() is not threading.main_thread():
            return handler(args)  # signal handlers belong to the main thread
        with handle_signals():
            try:
                code = handler(args)
            except Exception as exc:
                signum = raised_signal()
                if signum is None or isinstance(exc, Interrupted):
                    raise
                raise Interrupted(signum) from exc  # a library wrapped it in its own error
            if (signum := raised_signal()) is not None:  # a library swallowed it (`except Exception: pass`):
                raise Interrupted(signum)  # what the command did after it is cut short, not a result
            return code
    except Interrupted as exc:
        voice.error(f"bootstrap: {exc}")
        return exit_code(exc)
    except BrokenPipeError as exc:
        return exit_code(exc)
    except OSError as exc:
        what = f"cannot use {exc.filename}" if exc.filename else "cannot write the output"
        voice.current().write(f"bootstrap: {what}: {exc.strerror or exc}", RED, saved[1])
        return exit_code(exc)
    except BootstrapError as exc:
        voice.error(f"bootstrap: {exc}" if not isinstance(exc, InputError) else str(exc))
        return exit_code(exc)
    except KeyboardInterrupt as exc:  # SIGINT outside handle_signals (main called from another thread, or early)
        voice.current().write("bootstrap: stopped by SIGINT", RED, saved[1])
        return exit_code(exc)
    finally:
        sys.stdout, sys.stderr = saved
        voice.use(said)
