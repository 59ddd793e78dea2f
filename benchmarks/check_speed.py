"""`bootstrap check` against `bootstrap render`: cold, warm after a one-line change, and a whole team.

Measured in this one run, alternately, so that machine noise hits both sides alike:

* cold `check` of gpu-pytorch (empty findings cache) / `render` of it: target at most 6;
* warm `check` after changing one command (a child profile whose command differs each run) /
  `render`: target at most 2;
* cold `check` of every built-in profile and example together: target under 10 s;
* `validate` (what editors and hooks call on every save) / `render`: target at most 1.

    python benchmarks/check_speed.py [--runs 5]

Needs shellcheck and cloud-init (apt-get install shellcheck cloud-init).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLD_RATIO, WARM_RATIO, TEAM_SECONDS, VALIDATE_RATIO = 6.0, 2.0, 10.0, 1.0


def wall(command: list[str], env: dict[str, str], cwd: Path = REPO) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not (shutil.which("shellcheck") and shutil.which("cloud-init")):
        print("check_speed: needs shellcheck and cloud-init: apt-get install shellcheck cloud-init", file=sys.stderr)
        return 2
    bootstrap = [sys.executable, "-m", "bootstrap"]
    with tempfile.TemporaryDirectory(prefix="bootstrap-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}  # cleared before each cold check
        kept = {**os.environ, "XDG_CACHE_HOME": str(work / "kept")}  # an editor's: it saw the last check
        findings = work / "cache" / "bootstrap" / "findings"
        render = [*bootstrap, "render", "gpu-pytorch", "--target", "cloud-init", "-o", os.devnull]
        cold = [*bootstrap, "check", "gpu-pytorch"]
        child = work / "child.yaml"
        edited = [*bootstrap, "check", str(child)]

        def edit(number: int) -> None:
            child.write_text(f"name: child\nextends: [gpu-pytorch]\ncommands:\n  first_boot:\n"
                             f"    - {{name: note, run: echo 'edit {number}' >> /var/log/notes}}\n")  # fmt: skip

        wall(render, env)  # template bytecode, file cache: as a user's second command finds them
        edit(-1)
        wall(edited, kept)  # the editor's last check, before the edit
        validate = [*bootstrap, "validate", "gpu-pytorch"]
        times: dict[str, list[float]] = {"render": [], "cold": [], "warm": [], "validate": []}
        for run in range(args.runs):
            times["render"].append(wall(render, env))
            times["validate"].append(wall(validate, env))
            shutil.rmtree(findings, ignore_errors=True)
            times["cold"].append(wall(cold, env))
            edit(run)  # one command changed since the last check: everything else is in the cache
            times["warm"].append(wall(edited, kept))
        team = [*bootstrap, "check", *map(str, sorted((REPO / "profiles").glob("*.yaml"))),
                *map(str, sorted((REPO / "examples").rglob("profiles/*.yaml")))]  # fmt: skip
        shutil.rmtree(findings, ignore_errors=True)
        team_seconds = wall(team, env)
    render_s, cold_s, warm_s, validate_s = (statistics.median(times[k]) for k in ("render", "cold", "warm", "validate"))
    cold_ratio, warm_ratio, validate_ratio = cold_s / render_s, warm_s / render_s, validate_s / render_s
    print(f"render gpu-pytorch: median {render_s * 1000:.0f} ms over {args.runs} runs")
    print(f"check gpu-pytorch, cold: median {cold_s * 1000:.0f} ms: ratio {cold_ratio:.2f} (target <= {COLD_RATIO})")
    print(f"check after one command changed: median {warm_s * 1000:.0f} ms: ratio {warm_ratio:.2f} "
          f"(target <= {WARM_RATIO})")  # fmt: skip
    print(f"check of {len(team) - 3} built-in and example profiles, cold: {team_seconds:.1f} s "
          f"(target < {TEAM_SECONDS:.0f} s)")  # fmt: skip
    print(f"validate gpu-pytorch: median {validate_s * 1000:.0f} ms: ratio {validate_ratio:.2f} "
          f"(target <= {VALIDATE_RATIO})")  # fmt: skip
    missed = [cold_ratio > COLD_RATIO, warm_ratio > WARM_RATIO, team_seconds >= TEAM_SECONDS,
              validate_ratio > VALIDATE_RATIO]  # fmt: skip
    print("ok" if not any(missed) else "OVER TARGET")
    return 1 if any(missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
