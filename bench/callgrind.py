"""Counting instructions with valgrind's callgrind, for the `*_instructions` benches.

The parent re-runs a bench module under `valgrind --tool=callgrind --instr-atstart=no`; the child
sets up uncounted and brackets exactly the work to count with `toggle("on")` / `toggle("off")`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def available() -> bool:
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        return True
    print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
    return False


def toggle(state: str) -> None:
    """Switch counting on or off in this process (run under `count`)."""
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)
    time.sleep(0.5)  # callgrind polls for the command


def count(module: str, *args: str) -> tuple[subprocess.CompletedProcess[str], int | None]:
    """Run `python -m module *args` under callgrind; its output and the instructions counted."""
    with tempfile.TemporaryDirectory() as out:
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/callgrind.out"]
        done = subprocess.run(
            [*valgrind, sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
    collected = re.search(r"Collected : (\d+)", done.stderr)
    return done, int(collected[1]) if collected else None
