"""Score the firmware's plating-anomaly detectors (bms.detect.plating) against the simulator's labelled faults.

    .venv/bin/python bench/detection_score.py            # full suite (>= 1,000 healthy cell-cycles), a table
    .venv/bin/python bench/detection_score.py --quick    # a smaller suite for a quick look
    .venv/bin/python bench/detection_score.py --json     # exactly one JSON object on stdout
    options: --out DIR (ROC-style plots, default runs/detection/), --jobs N (worker processes, default 2),
             --no-balance (without the firmware's bottom balancer),
             --seed N (first seed; 100 is the suite the thresholds were chosen on, another one is held out),
             --only KIND (one kind of scenario), --dead-sodium-cycles N (their length, default 20),
             --per-fault (a row per injected fault: onset, manifestation and alarm cycles),
             --other-cycling (healthy strings at 1C/1C, 0.2C/0.3C and 0.5C with 10-min rests: false alarms
             under cycling the thresholds were not set on),
             --noisy-sensors (a cheaper front end's noise, offset and gain),
             --set KEY=VALUE (override a bms.config.detect value in every scenario, repeatable; e.g.
             --set ss_min_slope_v=1e9 switches the late-rest voltage fit off, leaving the soft short to the
             charge balance)

Each scenario is a series string (sim.pack.Pack, cell-to-cell spread, sensor noise from sim.sensors.SensorModel)
cycled by sim.profiles (CC-CV charge / rest / CC discharge / rest, rests >= 30 min) through sim.cycler.Cycler, which
cuts a discharge off within 0.1 s of v_min like test equipment (finer steps near an empty cell; the firmware samples
every 2 s and at the cut-off itself, with the interval's mean current).  The firmware's whole sample pipeline runs in
process (hil.inprocess: Bms.on_sample, with its plausibility checks, balancer, estimators, detectors and
protections), fed with the *measured* signals.  Its limits are not fed back (open loop), so a healthy twin and a
faulty cell see the same profile; its balancing resistors are: the bleed mask switches the simulator's
(sim.pack.Pack.set_bleed, 20 ohm +-1 %) (--no-balance: a board without them, where the dead-sodium detector reads
the string's cut-off instead).

Per detector:
  recall         injected faults of at least the stated magnitude detected (an event of severity >= ALARM on that
                 cell at or after the fault's start) / injected faults
  false_alarms   events of severity >= ALARM on healthy cells (cells without any label); warnings are counted
                 separately (false_warnings)
  healthy_cell_cycles   healthy cells x full cycles they ran
  delay_median_s, delay_p95_s   from fault start to the first ALARM-or-worse event on that cell
  extras: delay_median_cycles, delay_p95_cycles (the same delays counted in profile cycles begun since the fault's
  start); within_first_rest (faults alarmed by the end of the first whole rest of >= 30 min after their start);
  delay_from_manifest_median_cycles, delay_from_manifest_p95_cycles (cycles from the fault's manifestation in the
  simulator's truth, below, to its alarm); per_fault (with --per-fault: onset, manifestation and alarm cycles)
Stated magnitudes: soft short >= C/200 leakage (r_ohm = 3.4 V / (q/200)); dendrite: critical current density
x 0.25 and at most 0.75 x the 0.5C charge's current density (dendrite_ccd_factor: x 0.18 at 45 degC); dead
sodium: dead-sodium rate x 2 (doubling); stripping void: critical stripping current x 0.2; nucleation: overshoot
x 4 (a nucleation fault on every cell at once, sim.faults: the whole string's interphase; it counts as one
fault, found if any cell alarms); model mismatch: ohmic and RC resistances x 3 (the simulator's
``impedance`` fault: a cell that no longer behaves like its model, with no plating trouble); its extra
``catch_all`` is the share of the other detectors' faults it also alarms on.  An injected fault may not manifest
within the run: "manifest" counts the dendrite faults whose cell got a physics label (dendrite, short) from the
simulator, and the dead-sodium faults whose cell set the string's cut-off (had the least plated sodium at the end
of a discharge, truth) after the onset: a cell with sodium in reserve at every cut-off shows no trace of a faster
loss at its terminals (its cathode's state does not depend on it); recall_manifest is the recall over those.

ROC-style plots: every channel's evaluations are traced (hil.inprocess.InProcessBms.trace; the channels and their
level keys are bms.detect.levels.CHANNELS); for a threshold sweep,
a fault counts as detected when any evaluation after its start reaches the threshold, a healthy cell-scenario
as a false alarm when any of its evaluations does (the level machine's delay/hysteresis is ignored there).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bms.config import detect as detect_config  # noqa: E402
from bms.core import events as ev  # noqa: E402
from bms.detect.levels import CHANNELS  # noqa: E402
from hil.inprocess import InProcessBms, run_closed_loop  # noqa: E402
from sim import params as P  # noqa: E402
from sim import profiles  # noqa: E402
from sim.cycler import Cycler  # noqa: E402
from sim.pack import Pack  # noqa: E402
from sim.sensors import SensorModel  # noqa: E402

Q_AH = 2.0
DETECTORS = (
    ("soft_short", ev.SOFT_SHORT),
    ("dendrite", ev.DENDRITE),
    ("dead_sodium", ev.DEAD_SODIUM),
    ("nucleation", ev.NUCLEATION),
    ("stripping_void", ev.STRIPPING_VOID),
    ("model_mismatch", ev.MODEL_MISMATCH),
)
KIND_CODE = dict(DETECTORS)
# injected fault kind -> the detector that must find it
FAULT_DETECTOR = {
    "soft_short": "soft_short",
    "hard_short": "soft_short",
    "dendrite": "dendrite",
    "dead_sodium": "dead_sodium",
    "void": "stripping_void",
    "nucleation": "nucleation",
    "impedance": "model_mismatch",  # a cell that no longer fits its model (resistance x3, no plating trouble)
}
THRESHOLD_KEYS = {row[1]: row[2][:2] for row in CHANNELS}  # channel -> (warn, alarm) keys: the ROC's markers
SENSORS = {"v_noise_v": 1e-3, "i_noise_a": 5e-3, "i_gain": 0.002, "i_offset_a": 0.002, "t_noise_c": 0.2,
           "adc_bits": 16}
# a cheaper front end (an MCU's own ADC behind a divider, a Hall current sensor): what the thresholds, set with
# SENSORS, do there (--noisy-sensors)
NOISY_SENSORS = {"v_noise_v": 3e-3, "i_noise_a": 20e-3, "i_gain": 0.005, "i_offset_a": 0.01, "t_noise_c": 0.5,
                 "adc_bits": 16}


def run_scenario(sc):
    """Run one scenario dict through the firmware's whole pipeline (hil.inprocess); return events, traces, labels
    and the simulator's truth (rests, cycle starts, the cell at each cut-off)."""
    cathode, interphase = sc["cathode"], sc["interphase"]
    n = sc["n_cells"]
    faults = list(sc.get("faults", ()))
    nuc = sc.get("nucleation")  # the whole string's nucleation overpotential x factor: one fault per cell
    if nuc is not None:
        faults += [{"kind": "nucleation", "cell": c, "t_start_s": nuc["t_start_s"], "factor": nuc["factor"]}
                   for c in range(n)]
    pack = Pack(cathode=cathode, interphase=interphase, n_cells=n, q_ah=Q_AH, t_amb_c=sc["t_amb_c"],
                seed=sc["seed"], spread=True, faults=faults, soc0=sc.get("soc0", 0.02))
    sensors = SensorModel(seed=sc["seed"] + 1000, **sc.get("sensors", SENSORS))
    prof = profiles.cycles(sc["n_cycles"], Q_AH, c_chg=sc.get("c_chg", 0.5), c_dis=sc.get("c_dis", 0.5),
                           rest_s=sc.get("rest_s", 1800.0))
    cycler = Cycler(pack, prof, dt_s=sc.get("dt_s", 2.0))
    board = InProcessBms(n, cathode + "-" + interphase, detect_overrides=sc.get("cfg"),
                         balance=sc.get("balance", True))
    traces = {}

    def trace(cell, channel, t_s, value):
        traces.setdefault((cell, channel), []).append((t_s, value))

    board.trace = trace
    events = run_closed_loop(board, cycler, sensors, sc.get("t_max_s", math.inf))
    labels = [dict(lab) for lab in pack.labels]
    for lab in labels:
        if nuc is not None and lab["kind"] == "nucleation" and lab["source"] == "injected":
            lab["pack"] = True  # the string's fault: found if any cell alarms
    return {"name": sc["name"], "n_cells": n, "n_cycles": prof.cycle_index + 1, "t_end_s": cycler.t,
            "events": events, "traces": traces, "labels": labels, "faults": sc.get("faults", ()),
            "nucleation": nuc, "rests": cycler.rests, "cycle_t": cycler.cycle_t,
            "cutoff_cells": cycler.cutoff_cells}


# ---------------------------------------------------------------------------------------------------- the suite
def dendrite_ccd_factor(interphase, t_amb_c, c_chg=0.5):
    """The dendrite fault's stated magnitude: the cell's critical current density x 0.25, and at most 0.75 x the
    charge's current density at the string's temperature.  A plain x 0.25 leaves a Mg/NaF cell's CCD at 45 degC
    (1.41 x its 25 degC value) above a 0.5C charge: nothing grows and there is no fault to find."""
    ip = P.INTERPHASES[interphase]
    ccd_t = ip["j_ccd_ma_cm2"] / math.exp(P.CELL["ea_ccd"] * P.arrhenius_z(t_amb_c + 273.15))
    j_chg = c_chg * P.CELL["loading_mah_cm2"]  # mA/cm^2 at c_chg
    return min(0.25, 0.75 * j_chg / ccd_t)


CYCLE_S = 17000.0  # rough length of one 0.5C cycle with 30 min rests (fault start times are placed with it)
CELLS = (("nvp", "mg-naf"), ("layered-oxide", "mg-naf"))


OTHER_CYCLING = (("1C-1C", {"c_chg": 1.0, "c_dis": 1.0}), ("0.2C-0.3C", {"c_chg": 0.2, "c_dis": 0.3}),
                 ("0.5C-10min", {"rest_s": 600.0}))


def build_other_cycling(seed0=7000):
    """Healthy strings only, cycled unlike the suite the thresholds were set on: 1C charge and discharge, 0.2C
    charge and 0.3C discharge, 0.5C with 10-minute rests; at 0, 25 and 45 degC for both cathodes (false alarms
    only)."""
    suite = []
    seed = seed0
    for label, cycling in OTHER_CYCLING:
        for cathode, interphase in CELLS:
            for t in (0.0, 25.0, 45.0):
                seed += 1
                sc = {"name": "healthy-%s-%s-%gC" % (label, cathode, t), "cathode": cathode,
                      "interphase": interphase, "n_cells": 8, "t_amb_c": t, "seed": seed, "n_cycles": 13}
                sc.update(cycling)
                suite.append(sc)
    return suite


def build_suite(quick, seed0=100, dead_sodium_cycles=20):
    """Healthy strings over 0-45 degC for both cathodes, and strings with one injected fault each. Another seed0
    gives a held-out suite (other cell spreads, sensor noise, fault cells and onsets) to check thresholds on.
    dead_sodium_cycles: the dead-sodium strings' length (the fault starts in cycle 8-9)."""
    suite = []
    temps = (0.0, 25.0, 45.0) if quick else (0.0, 12.0, 25.0, 35.0, 45.0)
    n_h, cyc_h = (4, 6) if quick else (8, 13)
    seed = seed0
    for cathode, interphase in CELLS:
        for t in temps:
            seed += 1
            suite.append({"name": "healthy-%s-%gC" % (cathode, t), "cathode": cathode, "interphase": interphase,
                          "n_cells": n_h, "t_amb_c": t, "seed": seed, "n_cycles": cyc_h})
    f_temps = (5.0, 40.0) if quick else (5.0, 25.0, 45.0)
    n_f = 4 if quick else 6
    for cathode, interphase in CELLS:
        for t in f_temps:
            for kind in ("soft_short", "dendrite", "void", "nucleation", "dead_sodium"):
                seed += 1
                cell = seed % n_f
                sc = {"name": "%s-%s-%gC" % (kind, cathode, t), "cathode": cathode, "interphase": interphase,
                      "n_cells": n_f, "t_amb_c": t, "seed": seed, "n_cycles": 10}
                # start somewhere inside a cycle, after the detectors' baselines
                t0 = 5.0 * CYCLE_S + (seed * 3779.0) % CYCLE_S
                if kind == "soft_short":  # C/200 leakage at ~3.4 V
                    sc["faults"] = [{"kind": "soft_short", "cell": cell, "t_start_s": t0, "micro": False,
                                     "r_ohm": 3.4 / (Q_AH / 200.0)}]
                elif kind == "dendrite":
                    sc["faults"] = [{"kind": "dendrite", "cell": cell, "t_start_s": t0,
                                     "ccd_factor": dendrite_ccd_factor(interphase, t)}]
                elif kind == "void":
                    sc["faults"] = [{"kind": "void", "cell": cell, "t_start_s": t0, "factor": 0.2}]
                elif kind == "nucleation":
                    sc["nucleation"] = {"t_start_s": t0, "factor": 4.0}
                else:  # doubling of the dead-sodium rate, after the CUSUM's baseline
                    sc["n_cycles"] = 12 if quick else dead_sodium_cycles
                    sc["faults"] = [{"kind": "dead_sodium", "cell": cell, "factor": 2.0,
                                     "t_start_s": 8.0 * CYCLE_S + (seed * 3779.0) % CYCLE_S}]
                suite.append(sc)
    # the model detector's own fault: ohmic + RC resistances x3 (dry-out, a corroded tab); after the others so
    # that adding it left their seeds alone
    for cathode, interphase in CELLS:
        for t in f_temps:
            seed += 1
            t0 = 5.0 * CYCLE_S + (seed * 3779.0) % CYCLE_S
            suite.append({"name": "impedance-%s-%gC" % (cathode, t), "cathode": cathode, "interphase": interphase,
                          "n_cells": n_f, "t_amb_c": t, "seed": seed, "n_cycles": 10,
                          "faults": [{"kind": "impedance", "cell": seed % n_f, "t_start_s": t0, "factor": 3.0}]})
    return suite


def _cycle_of(r, t_s):
    """The profile cycle (1-based) that was running at t_s."""
    return 1 + sum(1 for tc in r.get("cycle_t", ()) if tc <= t_s)


def _cycles_begun(r, t_a, t_b):
    """Profile cycles begun after t_a, up to t_b (a delay counted in cycles)."""
    return sum(1 for tc in r.get("cycle_t", ()) if t_a < tc <= t_b)


def manifest_time(r, kind, cells, t0):
    """When an injected fault first showed in the simulator's truth, or None if it never did in the run: a dendrite
    once its cell got a physics label (it grew through); a faster dead-sodium loss once its cell set the string's
    cut-off (the least plated sodium at the end of a discharge); the others at their onset."""
    if kind == "dendrite":
        ts = [lab["t_start_s"] for lab in r["labels"] if lab["source"] == "physics" and lab["cell"] in cells]
        return max(t0, min(ts)) if ts else None
    if kind == "dead_sodium":
        ts = [t for t, c in r.get("cutoff_cells", ()) if t >= t0 and c in cells]
        return ts[0] if ts else None
    return t0


def score(results, cfg_ref):
    """Per detector: recall, false alarms, healthy cell-cycles, delays; plus ROC data."""
    table = {}
    roc = {}
    for name, code in DETECTORS:
        detected = 0
        total = 0
        manifest = 0
        detected_manifest = 0
        delays = []
        delays_cyc = []
        delays_shown = []  # cycles from the fault's manifestation to its alarm
        rows = []  # one per fault
        in_first_rest = 0
        false_alarms = 0
        false_warnings = 0
        healthy_cc = 0
        # each channel of this detector's kind (bms.detect.levels.CHANNELS) gets a threshold sweep of its own:
        # per cell, the highest evidence (healthy cells; faulty cells after the fault's onset)
        sweeps = {row[1]: ([], []) for row in CHANNELS if row[0] == code}
        others = others_hit = 0
        for r in results:
            labelled = set(lab["cell"] for lab in r["labels"])
            injected = [lab for lab in r["labels"] if lab["source"] == "injected"]
            for c in range(r["n_cells"]):
                if c in labelled:
                    continue
                healthy_cc += r["n_cycles"]
                evs = [e for e in r["events"] if e[0] == c and e[1] == code]
                false_alarms += sum(1 for e in evs if e[2] >= ev.ALARM)
                false_warnings += sum(1 for e in evs if e[2] == ev.WARNING)
                for ch, (healthy, _) in sweeps.items():
                    healthy.append(max([v for _, v in r["traces"].get((c, ch), ())], default=-math.inf))
            groups = {}  # a pack-wide fault (the bench's nucleation injection) is one fault found on any cell
            for lab in injected:
                key = (lab["kind"], lab["t_start_s"]) if lab.get("pack") else (lab["kind"], lab["cell"])
                groups.setdefault(key, []).append(lab)
            for key in list(groups):
                if FAULT_DETECTOR.get(key[0]) == name:
                    continue
                labs = groups.pop(key)
                if name == "model_mismatch":  # the catch-all share: another detector's fault
                    cells = set(lab["cell"] for lab in labs)
                    others += 1
                    others_hit += any(e[0] in cells and e[1] == code and e[2] >= ev.ALARM
                                      and e[3] >= labs[0]["t_start_s"] for e in r["events"])
            for labs in groups.values():
                total += 1
                t0 = labs[0]["t_start_s"]
                cells = set(lab["cell"] for lab in labs)
                t_shown = manifest_time(r, labs[0]["kind"], cells, t0)
                shown = t_shown is not None
                manifest += shown
                hits = [e[3] for e in r["events"]
                        if e[0] in cells and e[1] == code and e[2] >= ev.ALARM and e[3] >= t0]
                rows.append({"scenario": r["name"], "cells": sorted(cells), "onset_cycle": _cycle_of(r, t0),
                             "manifest_cycle": _cycle_of(r, t_shown) if shown else None,
                             "alarm_cycle": _cycle_of(r, min(hits)) if hits else None,
                             "cycles_run": r["n_cycles"]})
                # the end of the first whole rest of >= 30 min after the onset (the detectors see a rest's end once
                # the next phase has lasted seg_min_s: 120 s of slack)
                first_rest = [b for a, b in r.get("rests", ()) if a >= t0]
                if hits:
                    detected += 1
                    detected_manifest += shown
                    delays.append(min(hits) - t0)
                    delays_cyc.append(_cycles_begun(r, t0, min(hits)))
                    in_first_rest += bool(first_rest) and min(hits) <= first_rest[0] + 120.0
                    if shown:  # an alarm before the truth shows the fault counts 0 cycles
                        delays_shown.append(_cycles_begun(r, t_shown, min(hits)))
                for ch, (_, faulty) in sweeps.items():
                    faulty.append(max([v for c in cells for t, v in r["traces"].get((c, ch), ()) if t >= t0],
                                      default=-math.inf))
        table[name] = {
            "recall": detected / total if total else None,
            "faults": total,
            "manifest": manifest,
            "recall_manifest": detected_manifest / manifest if manifest else None,
            "false_alarms": false_alarms,
            "false_warnings": false_warnings,
            "healthy_cell_cycles": healthy_cc,
            "delay_median_s": float(np.median(delays)) if delays else None,
            "delay_p95_s": float(np.percentile(delays, 95)) if delays else None,
            # extras: delays counted in cycle starts passed, detections by the end of the first rest after onset
            "delay_median_cycles": float(np.median(delays_cyc)) if delays_cyc else None,
            "delay_p95_cycles": float(np.percentile(delays_cyc, 95)) if delays_cyc else None,
            "within_first_rest": in_first_rest / total if total else None,
            "delay_from_manifest_median_cycles": float(np.median(delays_shown)) if delays_shown else None,
            "delay_from_manifest_p95_cycles": float(np.percentile(delays_shown, 95)) if delays_shown else None,
            "per_fault": rows,
        }
        roc.update(sweeps)
        if name == "model_mismatch":
            table[name]["catch_all"] = others_hit / others if others else None
    return table, roc


def plot_roc(roc, cfg_ref, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, (healthy, faulty) in roc.items():
        finite = sorted(set(v for v in healthy + faulty if math.isfinite(v)))
        if not finite:
            continue
        thr = np.array(finite)
        h = np.array([v for v in healthy if math.isfinite(v)] or [-math.inf])
        f = np.array([v for v in faulty if math.isfinite(v)] or [-math.inf])
        fa = np.array([(h >= x).sum() for x in thr])
        rec = np.array([(f >= x).sum() / max(len(faulty), 1) for x in thr])
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.step(fa, rec, where="post")
        ax1.set_xlabel("healthy cells over threshold (of %d)" % len(healthy))
        ax1.set_ylabel("faults detected (fraction of %d)" % len(faulty))
        ax1.set_title("%s: threshold sweep" % name)
        ax2.plot(thr, rec, label="recall")
        ax2.plot(thr, fa / max(len(healthy), 1), label="healthy cells over threshold (fraction)")
        for key, style in zip(THRESHOLD_KEYS[name], (":", "--")):
            ax2.axvline(cfg_ref[key], linestyle=style, color="k", label="%s = %g" % (key, cfg_ref[key]))
        ax2.set_xscale("symlog", linthresh=max(abs(thr[thr != 0]).min(), 1e-9) if (thr != 0).any() else 1e-9)
        ax2.set_xlabel("threshold on the evidence value")
        ax2.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out_dir, "roc_%s.png" % name)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def _with_progress(results, n, t0):
    """The results in order, a line on stderr as each scenario ends (a suite takes minutes to hours)."""
    out = []
    for r in results:
        out.append(r)
        print("scenario %d/%d %s done (%.0f s)" % (len(out), n, r["name"], time.time() - t0), file=sys.stderr,
              flush=True)
    return out


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller suite (not enough healthy cell-cycles)")
    ap.add_argument("--json", action="store_true", help="print exactly one JSON object")
    ap.add_argument("--out", default=os.path.join("runs", "detection"), help="folder for the ROC-style plots")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (local pool, or the LocalCluster with --dask)")
    ap.add_argument("--dask", nargs="?", const="", default=None, metavar="SCHEDULER",
                    help="run the suite on Dask as `nabms campaign` does: a LocalCluster of --jobs workers, or a "
                         "scheduler's address (tcp://host:8786)")
    ap.add_argument("--seed", type=int, default=None,
                    help="first seed of the suite (default 100, the suite the thresholds were chosen on; another "
                         "value gives a held-out suite; 7000 with --other-cycling)")
    ap.add_argument("--dump", help="also pickle the raw results (events, traces, labels) to this file")
    ap.add_argument("--from-dump", help="score the results pickled by an earlier --dump instead of running")
    ap.add_argument("--only", metavar="KIND", help="run only the scenarios of one kind (healthy, soft_short, "
                    "dendrite, void, nucleation, dead_sodium, impedance); scores then cover those")
    ap.add_argument("--dead-sodium-cycles", type=int, default=20, metavar="N",
                    help="length of the dead-sodium strings in cycles (default 20; the fault starts in cycle 8-9; "
                         "a longer campaign, e.g. 40, shows which faults become visible at the cut-off and when)")
    ap.add_argument("--other-cycling", action="store_true",
                    help="instead of the suite: healthy strings cycled otherwise (1C/1C, 0.2C/0.3C, 0.5C with "
                         "10-minute rests; false alarms only; --seed defaults to 7000 there)")
    ap.add_argument("--noisy-sensors", action="store_true",
                    help="measure with NOISY_SENSORS (3 mV, 20 mA noise, 10 mA offset, 0.5 %% gain, 0.5 degC) "
                         "instead of SENSORS (1 mV, 5 mA, 2 mA, 0.2 %%, 0.2 degC)")
    ap.add_argument("--no-balance", action="store_true",
                    help="without the firmware's bottom balancer (bms.balance): the dead-sodium detector then reads "
                         "the string's loss at its cut-off and the cells' OCV at the empty end")
    ap.add_argument("--per-fault", action="store_true",
                    help="also list every injected fault: onset, manifestation (truth) and alarm cycles")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a detectparams value in every scenario (repeatable)")
    args = ap.parse_args(argv)
    if args.dead_sodium_cycles < 12:
        ap.error("--dead-sodium-cycles must be >= 12 (the fault starts in cycle 8-9), got %d" % args.dead_sodium_cycles)
    if args.other_cycling:
        args.seed = 7000 if args.seed is None else args.seed
        suite = build_other_cycling(args.seed)
    else:
        args.seed = 100 if args.seed is None else args.seed
        suite = build_suite(args.quick, args.seed, args.dead_sodium_cycles)
    if args.only:
        suite = [sc for sc in suite if sc["name"].split("-")[0] == args.only]
        if not suite:
            ap.error("--only %r matches no scenario" % args.only)
    if args.noisy_sensors:
        for sc in suite:
            sc["sensors"] = NOISY_SENSORS
    if args.no_balance:
        for sc in suite:
            sc["balance"] = False
    over = {}
    for item in args.set:
        key, sep, val = item.partition("=")
        if not sep or key not in detect_config.preset("nvp-mg-naf"):
            ap.error("--set wants KEY=VALUE with a detector config key (bms.config.detect), got %r" % item)
        try:
            over[key] = float(val)
        except ValueError:
            ap.error("--set %s: %r is not a number" % (key, val))
    for sc in suite:
        sc.setdefault("cfg", {}).update(over)
    t0 = time.time()
    if args.from_dump:
        import pickle

        with open(args.from_dump, "rb") as fh:
            results = pickle.load(fh)
        suite = results
    elif args.dask is not None:  # the campaigns' code path (hil.campaign.dask_map): a LocalCluster or a scheduler
        from hil.campaign import dask_map

        def shown(k, n, r):
            print("scenario %d/%d %s done (%.0f s)" % (k, n, r["name"], time.time() - t0), file=sys.stderr, flush=True)

        results, _ = dask_map(run_scenario, [(sc,) for sc in suite], scheduler=args.dask or None,
                              workers=args.jobs, on_result=shown, key="detect")
    elif args.jobs > 1:
        import multiprocessing

        with multiprocessing.Pool(args.jobs) as pool:
            results = _with_progress(pool.imap(run_scenario, suite, chunksize=1), len(suite), t0)
    else:
        results = _with_progress(map(run_scenario, suite), len(suite), t0)
    wall = time.time() - t0
    if args.dump:
        import pickle

        with open(args.dump, "wb") as fh:
            pickle.dump(results, fh)
    cfg_ref = detect_config.preset("nvp-mg-naf")
    table, roc = score(results, cfg_ref)
    plots = plot_roc(roc, cfg_ref, args.out)
    if args.json:
        if not args.per_fault:
            for row in table.values():
                row.pop("per_fault")
        print(json.dumps({"detectors": table, "scenarios": len(suite), "seed": args.seed, "wall_s": round(wall, 1),
                          "plots": plots, "quick": args.quick, "overrides": over, "only": args.only,
                          "dead_sodium_cycles": args.dead_sodium_cycles, "noisy_sensors": args.noisy_sensors}))
        return 0
    print("plating detectors vs labelled faults: %d scenarios, %.0f s%s" % (len(suite), wall,
                                                                          " (quick)" if args.quick else ""))
    print("%-15s %7s %6s %16s %12s %9s %12s %12s %11s %9s %11s" % (
        "detector", "recall", "faults", "recall_manifest", "false_alarms", "warnings", "healthy_c-c",
        "delay_med_s", "delay_p95_s", "cyc_med", "first_rest"))
    for name, _ in DETECTORS:
        row = table[name]
        print("%-15s %7s %6d %12s/%-3d %12d %9d %12d %12s %11s %9s %11s" % (
            name, _fmt(row["recall"], ".2f"), row["faults"], _fmt(row["recall_manifest"], ".2f"), row["manifest"],
            row["false_alarms"], row["false_warnings"], row["healthy_cell_cycles"],
            _fmt(row["delay_median_s"], ".0f"), _fmt(row["delay_p95_s"], ".0f"),
            _fmt(row["delay_median_cycles"], ".1f"), _fmt(row["within_first_rest"], ".2f")))
    print("model_mismatch also alarms on %s of the other detectors' faults (catch-all)"
          % _fmt(table["model_mismatch"]["catch_all"], ".2f"))
    print("(cyc_med: median delay in profile cycles begun; first_rest: faults alarmed by the end of the first rest of"
          " >= 30 min after their onset)")
    for name in ("dendrite", "dead_sodium"):  # the faults that may show after their onset (manifest_time)
        row = table[name]
        print("%s, counted from the fault's manifestation (truth): median %s, p95 %s cycles" % (
            name, _fmt(row["delay_from_manifest_median_cycles"], ".1f"),
            _fmt(row["delay_from_manifest_p95_cycles"], ".1f")))
    if args.per_fault and any(table[name]["per_fault"] for name, _ in DETECTORS):
        print("%-15s %-34s %-6s %6s %9s %6s %5s" % ("detector", "scenario", "cells", "onset", "manifest", "alarm",
                                                   "run"))
        for name, _ in DETECTORS:
            for f in table[name]["per_fault"]:
                print("%-15s %-34s %-6s %6d %9s %6s %5d" % (
                    name, f["scenario"], ",".join(map(str, f["cells"])) if len(f["cells"]) < 3 else "all",
                    f["onset_cycle"], _fmt(f["manifest_cycle"], "d"), _fmt(f["alarm_cycle"], "d"), f["cycles_run"]))
    print("plots: %s" % ", ".join(plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
