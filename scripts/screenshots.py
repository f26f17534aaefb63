"""Refresh docs/screenshots/ from the console's end-to-end journey (``make screenshots``).

Runs the end-to-end tests that take the shots (the console journey, the mail verdict, the DNS
page) in headless Chromium with ``TOCSIN_SCREENSHOTS_DIR`` pointing at the folder, after removing
the old shots (``NN-name.png``) so a renamed or dropped step leaves nothing stale. A plain test
run writes its shots to a temporary folder instead, so only this script changes the tree.

Usage: python scripts/screenshots.py [FOLDER]   (default: docs/screenshots)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOURNEY = "tests/e2e/test_console_journey.py"
# Each file's shots: the journey 01 to 09, then one per sensor screen.
SHOT_TESTS = (
    JOURNEY,
    "tests/e2e/test_console_mail.py",  # 10-mail-verdict
    "tests/e2e/test_console_dns.py",  # 11-dns
)


def main(argv: list[str]) -> int:
    """Take the console's screenshots into the folder; non-zero if the run failed or took none."""
    target = (Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "screenshots").resolve()
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("[0-9][0-9]-*.png"):
        old.unlink()
    env = {**os.environ, "TOCSIN_SCREENSHOTS_DIR": str(target)}
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *SHOT_TESTS]
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)  # noqa: S603
    taken = sorted(p.name for p in target.glob("[0-9][0-9]-*.png"))
    sys.stderr.write(f"{len(taken)} screenshot(s) in {target}: {', '.join(taken) or 'none'}\n")
    if result.returncode == 0 and not taken:
        sys.stderr.write("no screenshot was taken: is chromium installed? (see the skips above)\n")
        return 1
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
