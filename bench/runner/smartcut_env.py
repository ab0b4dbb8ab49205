"""The ``smartcut`` CLI (PyPI ``smartcut``, PyAV-based) in a venv of the benchmark's own.

Not a project dependency: a contender, installed on first use under
``.origin/bench/`` with ``python3 -m venv`` and pip, pinned so that reruns
time the same program.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.runner.source import REPO

VERSION = "1.7"
VENV = REPO / ".origin" / "bench" / "smartcut-venv"
CLI = VENV / "bin" / "smartcut"


class SmartcutUnavailable(Exception):
    """smartcut could not be installed here: the message says why."""


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["(no output)"]
        raise SmartcutUnavailable(
            f"`{' '.join(argv[:4])} …` exited {result.returncode}: {lines[-1]}"
        )


def ensure_smartcut() -> Path:
    """The ``smartcut`` executable, installed (once) into :data:`VENV`."""
    stamp = VENV / f".installed-{VERSION}"
    if stamp.exists():
        return CLI
    print(f"installing smartcut {VERSION} into {VENV} …", file=sys.stderr)
    try:
        _run(["python3", "-m", "venv", "--clear", str(VENV)])
    except OSError as exc:
        raise SmartcutUnavailable(f"python3 -m venv: {exc}") from None
    _run([str(VENV / "bin" / "pip"), "install", "-q", f"smartcut=={VERSION}"])
    _run([str(CLI), "--version"])
    stamp.touch()
    return CLI
