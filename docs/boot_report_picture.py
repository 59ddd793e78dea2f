"""Make docs/boot-report.png, README's picture, from a real boot report with Debian's headless Chromium.

    bootstrap test base --report /tmp/base-report      # boots a VM (a few minutes under TCG)
    python docs/boot_report_picture.py /tmp/base-report

The picture is the report's index.html as a browser draws it, cut to its first screen.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH, HEIGHT = 1100, 900
HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="a report folder (bootstrap test --report DIR)")
    parser.add_argument("--output", type=Path, default=HERE / "boot-report.png")
    args = parser.parse_args()
    page = args.report / "index.html"
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not page.is_file():
        print(f"{page}: no such report page (run bootstrap test PROFILE --report {args.report})", file=sys.stderr)
        return 2
    if browser is None:
        print("needs Debian's chromium package: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="boot-report-picture-") as profile:
        shot = Path(profile) / "shot.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                        f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}",
                        page.resolve().as_uri()], check=True, capture_output=True, timeout=120)  # fmt: skip
        shutil.copyfile(shot, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
