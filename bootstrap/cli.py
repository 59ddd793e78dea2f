"""The command line: thin, each option defined once, the only place that prints for humans
and chooses exit codes (0 ok, 1 findings, 2 bad input or usage, 3 backend failure)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .errors import BackendError, BootstrapError, InputError, RenderError, UsageError

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_BACKEND = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: exit 2, no traceback
        raise UsageError(f"{self.prog}: {message}")


def _overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a profile value, e.g. --set timezone=Europe/Paris (value read as YAML)",
    )


def _build_parser() -> argparse.ArgumentParser:
    from .targets import TARGETS

    parser = _Parser(prog="bootstrap", description="Compile YAML machine profiles into cloud startup code.")
    parser.add_argument("--version", action="version", version=f"bootstrap {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    render = commands.add_parser("render", help="render a profile for a target")
    render.add_argument("profile", help="profile file, or the name of a built-in profile")
    render.add_argument("--target", "-t", choices=TARGETS, default="cloud-init")
    render.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    render.add_argument("--base64", action="store_true", help="base64-encode the output (for APIs and gzip)")
    render.add_argument("--gzip", action="store_true", help="gzip the output (cloud-init targets)")
    _overrides(render)
    render.set_defaults(handler=_render)

    validate = commands.add_parser("validate", help="check profiles against the schema and rules")
    validate.add_argument("profiles", nargs="+", metavar="PROFILE")
    validate.add_argument("--json", action="store_true", help="machine-readable result")
    _overrides(validate)
    validate.set_defaults(handler=_validate)

    schema = commands.add_parser("schema", help="print the profile JSON Schema")
    schema.set_defaults(handler=_schema)

    listing = commands.add_parser("list", help="list built-in profiles")
    listing.set_defaults(handler=_list)
    return parser


def _render(args: argparse.Namespace) -> int:
    from .planner import build_plan
    from .profile import load_profile
    from .targets import render

    if args.gzip and args.target not in ("cloud-init", "ec2"):
        raise UsageError(f"--gzip applies to the cloud-init and ec2 targets, not {args.target}")
    plan = build_plan(load_profile(args.profile, args.overrides))
    artifact = render(plan, args.target, gzip=args.gzip)
    data = artifact.base64() + b"\n" if args.base64 else artifact.data
    if artifact.gzipped and not (args.output or args.base64):
        raise UsageError("the output is gzip-compressed (binary): write it with -o FILE or use --base64")
    for note in artifact.notes:
        print(f"bootstrap: {note}", file=sys.stderr)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"bootstrap: wrote {args.output} ({len(data):,} bytes, target {args.target})", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from .planner import build_plan
    from .profile import load_profile

    results = []
    for reference in args.profiles:
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
                print(exc, file=sys.stderr)
            continue
        results.append({"profile": reference, "ok": True, "steps": len(plan.steps), "plan_hash": plan.hash})
        if not args.json:
            print(f"ok: {reference} ({len(plan.steps)} steps, plan {plan.hash})")
    if args.json:
        print(json.dumps(results, indent=2))
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_INPUT


def _schema(args: argparse.Namespace) -> int:
    from .schema import schema_json

    sys.stdout.write(schema_json())
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from .profile import builtin_profiles
    from .yamlload import load_file

    for name, path in builtin_profiles().items():
        data = load_file(str(path))
        description = data.get("description", "") if isinstance(data, dict) else ""
        print(f"{name:<20} {description}")
    return EXIT_OK


_EXIT_CODES: dict[type[BootstrapError], int] = {
    InputError: EXIT_INPUT,
    RenderError: EXIT_FINDINGS,
    BackendError: EXIT_BACKEND,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _build_parser().parse_args(argv)
        handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
        if handler is None:
            _build_parser().print_help(sys.stderr)
            return EXIT_INPUT
        return handler(args)
    except BootstrapError as exc:
        print(f"bootstrap: {exc}" if not isinstance(exc, InputError) else str(exc), file=sys.stderr)
        for kind, code in _EXIT_CODES.items():
            if isinstance(exc, kind):
                return code
        return EXIT_FINDINGS
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
