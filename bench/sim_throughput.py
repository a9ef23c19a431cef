"""Simulator throughput: cell-steps per second and the time of a 350-cycle ageing run.

    python bench/sim_throughput.py            # readable table
    python bench/sim_throughput.py --json     # {"cell_steps_per_s": {"1": .., "100": .., "10000": ..},
                                              #  "ageing_350_cycles_s": ..}

Cell-steps: Pack.step with 1 s steps, the full model (spread cells, one cell with
a soft short so the implicit short solve runs for the whole string), current
from the shipped 'aggressive' drive profile, one process.  Targets: >= 1e7
cell-steps/s at N = 10,000.

Ageing: the documented calibration protocol (sim.ageing) on one mg-naf cell,
350 cycles, every cycle simulated (no cycle jumping) with 10 s steps (1 s near
the end-of-discharge knee).  Target: < 60 s.  --ageing-dt and --skip change it.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sim import profiles  # noqa: E402
from sim.ageing import calibration_run, retention  # noqa: E402
from sim.pack import Pack  # noqa: E402

STEPS = {1: 20000, 100: 20000, 10000: 2000}


def cell_steps_per_s(n_cells, n_steps):
    pack = Pack(n_cells=n_cells, q_ah=2.0, spread=True, seed=0, soc0=0.6,
                faults=[{"kind": "soft_short", "cell": 0, "t_start_s": 0.0, "r_ohm": 200.0}])
    _, c = profiles.load_drive("aggressive")
    current = (c * 2.0).tolist()
    m = len(current)
    for k in range(20):  # warm-up (caches, first allocations)
        pack.step(current[k], 1.0)
    step = pack.step
    t0 = time.perf_counter()
    for k in range(n_steps):
        step(current[k % m], 1.0)
    sec = time.perf_counter() - t0
    return n_cells * n_steps / sec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object only")
    ap.add_argument("--ageing-dt", type=float, default=10.0, help="step of the ageing run [s]")
    ap.add_argument("--skip", type=int, default=1, help="cycle jumping (1 = simulate all cycles)")
    args = ap.parse_args(argv)
    rates = {str(n): cell_steps_per_s(n, s) for n, s in STEPS.items()}
    res, age_s = calibration_run("mg-naf", n_cycles=350, dt_s=args.ageing_dt, skip=args.skip)
    if args.json:
        print(json.dumps({"cell_steps_per_s": rates, "ageing_350_cycles_s": age_s}))
        return 0
    print("simulator throughput (1 s steps, full model, one process)")
    print("%10s  %16s" % ("n_cells", "cell-steps/s"))
    for n, r in rates.items():
        print("%10s  %16.3e" % (n, r))
    target = "met" if rates["10000"] >= 1e7 else "MISSED"
    print("target >= 1.0e+07 cell-steps/s at N=10000: %s" % target)
    print("350-cycle ageing run, one mg-naf cell, dt %.0f s, skip %d: %.1f s (target < 60 s: %s); "
          "retention %.1f %%" % (args.ageing_dt, args.skip, age_s, "met" if age_s < 60 else "MISSED",
                                 100 * retention(res)[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
