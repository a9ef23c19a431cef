"""The estimator gives bit-for-bit the same answers on MicroPython (unix port) as on CPython (to 1e-12)."""

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from hil.unixport import run_micropython

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "tests" / "mpy" / "est_run.py"


def _parse(text):
    rows = []
    for line in text.strip().splitlines():
        k, n_rej, *vals = line.split()
        rows.append((int(k), int(n_rej), [struct.unpack("<d", bytes.fromhex(h))[0] for h in vals]))
    return rows


@pytest.mark.mpy
@pytest.mark.parametrize("name", ["nvp-mg-naf", "layered-oxide-mg-naf"])
def test_micropython_matches_cpython(name):
    args = [str(SCRIPT), "4000", name]
    cpy = subprocess.run([sys.executable] + args, capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={"PYTHONPATH": str(REPO / "firmware"), "PATH": "/usr/bin:/bin"})
    assert cpy.returncode == 0, cpy.stderr
    mpy = run_micropython(args, timeout_s=120)
    assert mpy.returncode == 0, (mpy.stdout + mpy.stderr).decode(errors="replace")
    a = _parse(cpy.stdout)
    b = _parse(mpy.stdout.decode())
    assert len(a) == len(b) == 40
    for (ka, ra, va), (kb, rb, vb) in zip(a, b):
        assert ka == kb and ra == rb
        for x, y in zip(va, vb):
            assert abs(x - y) <= 1e-12, (ka, x, y)
    assert a[-1][1] > 0  # outliers were gated on both
