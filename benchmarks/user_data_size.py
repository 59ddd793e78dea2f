"""User data size of every built-in profile for every target, against each cloud's limit.

Prints raw, gzip and what is sent (EC2 sends gzip when raw is over 16,384 bytes), with the share
of the limit used. Target: every built-in profile fits every cloud (at most 100 %).

    python benchmarks/user_data_size.py
"""

from __future__ import annotations

from bootstrap.checks.size import budgets
from bootstrap.planner import build_plan
from bootstrap.profile import builtin_profiles, load_profile
from bootstrap.targets import TARGETS


def main() -> int:
    worst = 0.0
    print(f"{'profile':<18}{'target':<12}{'raw':>9}{'gzip':>9}{'sent':>9}{'limit':>9}{'used':>7}")
    for name in builtin_profiles():
        for budget in budgets(build_plan(load_profile(name)), list(TARGETS)):
            used = budget.sent / budget.limit if budget.limit else 0.0
            worst = max(worst, used) if budget.severity_over == "error" else worst
            limit = f"{budget.limit:,}" if budget.limit else "-"
            share = f"{used:.0%}" if budget.limit else "-"
            print(
                f"{name:<18}{budget.target:<12}{budget.raw:>9,}{budget.gzip:>9,}{budget.sent:>9,}{limit:>9}{share:>7}"
            )
    print(f"largest share of a hard limit (EC2, GCE): {worst:.0%} (target <= 100%) {'ok' if worst <= 1 else 'OVER'}")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
