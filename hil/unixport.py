"""Run firmware-side code on the MicroPython unix port (the `micropython` command)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hil.virtual_board import FIRMWARE, REPO, micropython_command

MPY_TESTS = REPO / "tests" / "mpy"


def run_micropython(args, extra_path=(), heapsize: str | None = None, timeout_s: float = 120.0, stdin: bytes | None = None):
    """Run `micropython [args]` with firmware/ (and extra_path) on MICROPYPATH; returns CompletedProcess."""
    cmd = [micropython_command()]
    if heapsize:
        cmd += ["-X", "heapsize=" + heapsize]
    cmd += [str(a) for a in args]
    path = os.pathsep.join([str(FIRMWARE)] + [str(p) for p in extra_path])
    env = dict(os.environ, MICROPYPATH=path)
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout_s, env=env, cwd=REPO)


def run_mpy_test_module(name: str, heapsize: str | None = None, timeout_s: float = 300.0):
    """Run tests/mpy/<name>.py's test_* functions on MicroPython; (ok, output)."""
    p = run_micropython([MPY_TESTS / "runner.py", name], extra_path=[MPY_TESTS], heapsize=heapsize, timeout_s=timeout_s)
    out = (p.stdout + p.stderr).decode(errors="replace")
    return p.returncode == 0, out
