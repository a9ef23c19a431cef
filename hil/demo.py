"""`make demo`: the closed-loop HIL demo on a virtual board (the firmware on real MicroPython).

Runs hil/scenarios/demo.json, writes runs/<timestamp>-demo/ (log.csv, events.csv, plot.png, summary.json)
and prints a short summary.
"""

import argparse
import sys

from hil.scenario import run_scenario


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default="demo.json")
    ap.add_argument("--port", help="a real board's serial port instead of the virtual board")
    ap.add_argument("--out", default="runs")
    args = ap.parse_args(argv)
    s, run_dir = run_scenario(args.scenario, port=args.port, out=args.out)
    board = s["board"]
    print("nabms closed-loop demo — %s" % s["scenario"]["description"])
    print("  board          : %s (firmware %s, preset %s)" % (args.port or "virtual board: MicroPython unix port on a pty", board.get("fw_version"), board.get("preset")))
    print("  samples        : %d (%.1f h simulated, %d cell(s))" % (s["samples"], s["simulated_h"], s["cells"]))
    print("  SoC RMSE       : %.2f %%   (max error %.2f %%)" % (100 * s["soc_rmse"], 100 * s["soc_max_err"]))
    if s["soc_rmse_converged"] is not None:
        print("  once converged : %.2f %% RMSE from t = %.2f h (the firmware's own sigma < 2 %%)" % (100 * s["soc_rmse_converged"], s["converged_at_s"] / 3600))
    print("  throughput     : %.0f samples/s through the serial link (%.1f s wall)" % (s["samples_per_s"], s["wall_s"]))
    print("  events         : %d;  firmware counters: %s" % (s["events"], {k: v for k, v in s["firmware_stats"].items() if v}))
    print("  criteria       : %s" % ("passed" if s["passed"] else "FAILED: " + "; ".join(s["failed_criteria"])))
    print("  run folder     : %s  (log.csv, events.csv, plot.png, summary.json)" % run_dir)
    return 0 if s["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
