"""A run folder: runs/<timestamp>/ with log.csv, events.csv, summary.json and plot.png."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from hil.loop import flag_names
from hil.plots import plot_recording


def new_run_dir(root="runs", tag=""):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / (stamp + ("-" + tag if tag else ""))
    k = 1
    while path.exists():
        k += 1
        path = Path(root) / ("%s-%s%d" % (stamp, tag + "-" if tag else "", k))
    path.mkdir(parents=True)
    return path


def write_run(rec, run_dir, scenario: dict, title="nabms closed loop"):
    run_dir = Path(run_dir)
    n = rec.n_cells
    per_cell = ("v_cell", "v_meas", "t_c", "soc_true", "q_true_ah", "soc_est", "soc_sigma", "q_est_ah", "bleed")
    header = ["t_s", "i_a", "i_meas_a"]
    for c in per_cell:
        header += ["%s_%d" % (c, k) for k in range(n)]
    header += ["flags", "i_chg_max_a", "i_dis_max_a"]
    with open(run_dir / "log.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for j in range(len(rec.t_s)):
            row = ["%.3f" % rec.t_s[j], "%.6g" % rec.i_a[j], "%.6g" % rec.i_meas_a[j]]
            for c in per_cell:
                row += ["%.6g" % x for x in getattr(rec, c)[j]]
            row += [int(rec.flags[j]), "%.6g" % rec.i_chg_max_a[j], "%.6g" % rec.i_dis_max_a[j]]
            w.writerow(row)
    with open(run_dir / "events.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "cell", "kind", "severity", "value"])
        for e in rec.events:
            w.writerow(["%.3f" % (e.t_ms / 1000), "string" if e.cell == 0xFF else e.cell, e.kind_name, e.severity_name, "%.6g" % e.value])
    summary = rec.summary()
    summary["scenario"] = scenario
    summary["board"] = rec.board
    summary["final_flags"] = flag_names(int(rec.flags[-1])) if len(rec.flags) else []
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_recording(rec, run_dir / "plot.png", title=title)
    return summary
