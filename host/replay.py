"""`nabms replay DATA --cell CELL.json [--soc0 X] [--out DIR]`: a recording through the firmware, sample by sample.

Targets:
  (default)         in-process: bms.core.app.Bms exactly as a board runs it, on CPython (fast)
  --target virtual  the firmware on the MicroPython unix port behind a pseudo-terminal (hil.virtual_board)
  --port P          a real board over its serial line (its key in the host's key store: nabms flash provisions it)
The cell file reaches a board over the link (chunked, signed CONFIG: it takes effect whole or not at all).
Writes, as the replay goes (an interrupted replay keeps what was done, summary.json says "aborted"):
  DIR/estimates.csv  time_s, then per cell soc, soc_sigma, capacity_ah, v_pred (suffixed _<k> for several cells),
                     then flags, i_chg_max_a, i_dis_max_a
  DIR/events.csv     time_s, cell, kind, severity, value
  DIR/summary.json   status, samples, cells, final SoC, events by kind, ...
  DIR/replay.png     measured voltage vs the model's prediction; SoC with its +-2 sigma band; events
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from host.readers import Recording, RecordingError, read_args


class ReplayError(ValueError):
    """A replay that cannot start or go on: one line saying why."""


def _names(n_cells: int) -> list[str]:
    per = ("soc", "soc_sigma", "capacity_ah", "v_pred")
    if n_cells == 1:
        cols = list(per)
    else:
        cols = ["%s_%d" % (c, k) for k in range(n_cells) for c in per]
    return ["time_s"] + cols + ["flags", "i_chg_max_a", "i_dis_max_a"]


class _InProcess:
    """The firmware's application object in this process."""

    def __init__(self, params: dict, n_cells: int, soc0, soc0_sigma=None):
        from bms.core.app import Bms

        try:
            self.bms = Bms(n_cells, soc0=soc0, soc0_sigma=soc0_sigma, cell=params)
        except ValueError as e:
            raise ReplayError("the firmware refused the configuration: %s" % e)

    def step(self, t_ms, i_a, v, t_c):
        from bms.core import events as ev

        b = self.bms
        try:
            b.on_sample(t_ms, i_a, v, t_c)
        except ValueError as e:
            raise ReplayError("the firmware refused sample at %.3f s: %s" % (t_ms / 1000.0, e))
        ests = b.estimators
        est = {"soc": [e.soc for e in ests], "soc_sigma": [e.soc_sigma for e in ests], "q_ah": [e.q_ah for e in ests],
               "v_pred": [e.v_pred for e in ests], "flags": b.flags, "i_chg_max_a": b.i_chg_max_a,
               "i_dis_max_a": b.i_dis_max_a}
        events = [(e[0], ev.KIND_NAMES.get(e[1], str(e[1])), ev.SEVERITY_NAMES[e[2]], e[3], e[4]) for e in b.events]
        return est, events

    def extra(self):
        return {"n_rejected": [e.n_rejected for e in self.bms.estimators],
                "n_reseeds": [e.n_reseeds for e in self.bms.estimators]}

    def close(self):
        pass


class _Link:
    """A board over a serial line (a real one, or the virtual board's pty); the cell file goes over the link as a
    chunked, signed CONFIG and takes effect whole or not at all."""

    def __init__(self, port: str, cell_path: str, n_cells: int, soc0, soc0_sigma=None, board=None):
        from host.link import BoardLink, LinkError

        self.board = board
        self.LinkError = LinkError
        self.link = None
        try:
            self.link = BoardLink(port, timeout_s=5.0)
            self.link.hello()
        except (LinkError, OSError) as e:
            self.close()
            raise ReplayError("no board answering on %s: %s" % (port, e))
        try:
            self.link.configure(n_cells, Path(cell_path).read_bytes(), soc0, soc0_sigma)
        except LinkError as e:
            self.close()
            raise ReplayError("the board refused the cell: %s" % e)

    def step(self, t_ms, i_a, v, t_c):
        try:
            est, events = self.link.sample(t_ms, i_a, list(v), list(t_c))
        except self.LinkError as e:
            raise ReplayError("board lost at %.3f s: %s" % (t_ms / 1000.0, e))
        est = dict(est)
        est["v_pred"] = [math.nan] * len(est["soc"])  # ESTIMATE does not carry the model's voltage
        est.setdefault("q_ah", est.get("capacity_ah"))
        return est, [(e.cell, e.kind_name, e.severity_name, e.t_ms, e.value) for e in events]

    def extra(self):
        try:
            return {"board_stats": self.link.stats()}
        except Exception:  # the board may be gone: the summary says what it can
            return {}

    def close(self):
        try:
            if self.link is not None:
                self.link.close()
        except Exception:  # closing a line that is already gone
            pass
        if self.board is not None:
            self.board.stop()


def _virtual(cell_path: str, n_cells: int, soc0, soc0_sigma):
    """A virtual board (the MicroPython unix port behind a pty), configured with the cell over the link."""
    from hil.virtual_board import VirtualBoard

    board = VirtualBoard().start()
    return _Link(board.port, cell_path, n_cells, soc0, soc0_sigma, board)


def replay(rec: Recording, params: dict, out: Path, soc0=None, target="inprocess", port=None, cell_path=None,
           progress=True, soc0_sigma=None) -> dict:
    """Run rec through the firmware; write DIR/estimates.csv, events.csv, summary.json, replay.png; return the
    summary."""
    n = rec.n_cells
    if target == "virtual":
        fw = _virtual(cell_path, n, soc0, soc0_sigma)
    elif port:
        fw = _Link(port, cell_path, n, soc0, soc0_sigma)
    else:
        fw = _InProcess(params, n, soc0, soc0_sigma)
    out.mkdir(parents=True, exist_ok=True)
    t_ms = np.round(rec.t_s * 1000.0).astype(np.int64)
    if np.any(np.diff(t_ms) <= 0):
        k = int(np.flatnonzero(np.diff(t_ms) <= 0)[0]) + 1
        raise ReplayError("%s line %d: samples less than 1 ms apart (the firmware's clock is in ms)"
                          % (rec.path, rec.line0 + k))
    temps = rec.temperature()
    status = "aborted"
    counts: dict[str, int] = {}
    rows = 0
    t_start = time.time()
    last_print = t_start
    est = None
    f_est = open(out / "estimates.csv", "w", newline="")
    f_ev = open(out / "events.csv", "w", newline="")
    summary = {"status": status, "data": rec.path, "cell": params["name"], "target": port or target, "cells": n}
    try:
        w_est = csv.writer(f_est)
        w_ev = csv.writer(f_ev)
        w_est.writerow(_names(n))
        w_ev.writerow(["time_s", "cell", "kind", "severity", "value"])
        for k in range(len(t_ms)):
            est, events = fw.step(int(t_ms[k]), float(rec.i_a[k]), [float(x) for x in rec.v[k]],
                                  [float(x) for x in temps[k]] if rec.t_c is not None else [25.0])
            row = ["%.3f" % rec.t_s[k]]
            for c in range(n):
                row += ["%.6f" % est["soc"][c], "%.6f" % est["soc_sigma"][c], "%.6g" % est["q_ah"][c],
                        "%.5f" % est["v_pred"][c]]
            row += [est["flags"], "%.4g" % est["i_chg_max_a"], "%.4g" % est["i_dis_max_a"]]
            w_est.writerow(row)
            for e in events:
                w_ev.writerow(["%.3f" % (e[3] / 1000.0), e[0], e[1], e[2], "%.6g" % e[4]])
                counts[e[1]] = counts.get(e[1], 0) + 1
            rows += 1
            now = time.time()
            if progress and now - last_print >= 2.0:
                last_print = now
                f_est.flush()
                f_ev.flush()
                print("\rreplay: %5.1f %% (%d of %d samples, %.0f samples/s)" % (100.0 * rows / len(t_ms), rows,
                      len(t_ms), rows / (now - t_start)), end="", file=sys.stderr, flush=True)
        status = "completed"
    except KeyboardInterrupt:
        status = "aborted"
    finally:
        f_est.close()
        f_ev.close()
        if progress and time.time() - t_start >= 2.0:
            print(file=sys.stderr)
        extra = fw.extra()
        fw.close()
        wall = time.time() - t_start
        summary.update({"status": status, "samples": rows, "samples_total": int(len(t_ms)),
                        "duration_s": float(rec.t_s[rows - 1]) if rows else 0.0, "wall_s": round(wall, 2),
                        "samples_per_s": round(rows / wall, 1) if wall > 0 else None,
                        "soc_final": est["soc"] if est else None, "soc_sigma_final": est["soc_sigma"] if est else None,
                        "capacity_ah_final": est["q_ah"] if est else None, "events": counts})
        summary.update(extra)
        tmp = out / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
        os.replace(tmp, out / "summary.json")
    if rows:
        plot(rec, out)
    return summary


def load_estimates(path) -> dict[str, np.ndarray]:
    """estimates.csv as columns."""
    with open(path) as f:
        r = csv.reader(f)
        head = next(r)
        data = np.array([[float(x) for x in row] for row in r])
    return {h: data[:, j] if len(data) else np.zeros(0) for j, h in enumerate(head)}


def plot(rec: Recording, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    est = load_estimates(out / "estimates.csv")
    m = len(est["time_s"])
    t_h = est["time_s"] / 3600.0
    n = rec.n_cells
    sfx = [""] if n == 1 else ["_%d" % k for k in range(n)]
    fig, ax = plt.subplots(3, 1, figsize=(11, 9), sharex=True, gridspec_kw={"height_ratios": [2, 1, 2]})
    for k, s in enumerate(sfx):
        ax[0].plot(t_h, rec.v[:m, k], lw=0.8, label="measured" + s)
        if np.isfinite(est["v_pred" + s]).any():
            ax[0].plot(t_h, est["v_pred" + s], lw=0.8, ls="--", label="model prediction" + s)
    ax[0].set_ylabel("cell voltage [V]")
    ax[0].legend(fontsize=8, loc="lower left")
    ax[1].plot(t_h, rec.i_a[:m], lw=0.8)
    ax[1].set_ylabel("current [A] (+ charge)")
    for k, s in enumerate(sfx):
        soc, sig = est["soc" + s], est["soc_sigma" + s]
        line = ax[2].plot(t_h, 100 * soc, lw=1, label="SoC" + s)[0]
        ax[2].fill_between(t_h, 100 * np.clip(soc - 2 * sig, 0, 1), 100 * np.clip(soc + 2 * sig, 0, 1),
                           color=line.get_color(), alpha=0.15)
    ax[2].set_ylabel("SoC [%] (band: ±2σ)")
    ax[2].set_xlabel("time [h]")
    ax[2].legend(fontsize=8, loc="lower left")
    with open(out / "events.csv") as f:
        events = list(csv.DictReader(f))
    for e in events:
        for a in ax:
            a.axvline(float(e["time_s"]) / 3600.0, color="r", lw=0.6, alpha=0.5)
    if events:
        ax[0].set_title("events (red): " + ", ".join(sorted({e["kind"] for e in events})), fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "replay.png", dpi=90)
    plt.close(fig)


def main(args) -> int:
    from bms.config import cellfile

    try:
        params = cellfile.load(args.cell)
    except ValueError as e:
        print("nabms replay: %s" % e, file=sys.stderr)
        return 2
    if args.soc0 is not None and not 0.0 <= args.soc0 <= 1.0:
        print("nabms replay: --soc0 must be a fraction 0..1, got %r" % args.soc0, file=sys.stderr)
        return 2
    try:
        rec = read_args(args.data, args)
        summary = replay(rec, params, Path(args.out), args.soc0, args.target, args.port, args.cell,
                         soc0_sigma=args.soc0_sigma)
    except (RecordingError, ReplayError) as e:
        print("\nnabms replay: %s" % e, file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("status", "samples", "soc_final", "events")}))
    print("replay folder:", args.out)
    return 0 if summary["status"] == "completed" else 1


def add_parser(sub) -> None:
    from host.readers import add_arguments

    p = sub.add_parser("replay", help="stream a recording through the firmware")
    p.add_argument("data", help="a recording: CSV, BioLogic .mpr, Neware .nda/.ndax")
    p.add_argument("--cell", required=True, help="the cell file (nabms fit writes one)")
    p.add_argument("--soc0", type=float, help="the SoC at the first sample, if known (default: from its voltage)")
    p.add_argument("--soc0-sigma", type=float, help="how sure --soc0 is (1 sigma, a fraction; default: the "
                                                    "firmware's)")
    p.add_argument("--out", default="replay", help="folder for estimates.csv, events.csv, summary.json, replay.png")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--target", choices=("inprocess", "virtual"), default="inprocess",
                   help="inprocess (CPython, default) or virtual (MicroPython unix port over a pty)")
    g.add_argument("--port", help="serial port of a real board flashed with this cell")
    add_arguments(p)
    p.set_defaults(fn=main)
