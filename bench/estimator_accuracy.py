"""Accuracy of the firmware estimator on simulator data (the simulator is the truth).

    python bench/estimator_accuracy.py [--json] [--quick]

Cases (each a fresh simulated cell read through a realistic SensorModel: 1 mV / 5 mA noise, 16-bit
ADC, 0.2 degC, current gain error +0.5 % and offset +10 mA):
  drive-<preset>-<T>C     flat NVP-like cathode, presets mg-naf and bare-cu, ambient 0/25/45 degC:
                          from a full charge, drive-style discharge (urban once, then highway
                          repeated) down to the preset's v_min; the estimator starts 30 % SoC low,
                          given with sigma 0.3 (a start the user does not know).
                          At 0 degC discharge is limited to C/2 (a BMS derates cold cells).
  drive-layered-oxide-... the same for the sloping layered-oxide cathode (mg-naf, 25 degC).
Convergence from a 30 % wrong initial SoC under the same dynamic drive (from t = 0), where it starts:
  conv-knee-...           sloping layered oxide from 60 % (the voltage reads SoC everywhere) and NVP
                          from 10 % (on the soft shoulder above the empty knee) at 25 and 0 degC:
                          estimator 30 % high (sigma 0.3). Linearised on the plateau, the filter sees the
                          knee through SoC read from the OCV near rest while it is unsure (docs/estimator.md).
  plateau-start-...       NVP from 60 % (mid-plateau), estimator 30 % high: on a flat plateau the
                          voltage cannot tell (by design the filter then coulomb-counts), so convergence
                          waits for the drive to reach the empty knee: this is physics, reported apart.
  capacity-fade-...       cycles(20) at C/2 of a fading cell (bare-cu fades fastest); estimator
                          starts from the true SoC (sigma 0.03) and the nominal capacity; capacity_err at the end.
Per case: converge_min = time until the SoC error first stays within 2 % for 5 minutes (null if
never); steep_min = time until the true SoC first reaches a part of the firmware's OCV table steeper
than plateau_slope_v (where the voltage can read SoC; 0: from the start); soc_rmse and soc_max_err (fractions) from then to the end of the run; capacity_err = |Q_est - Q|/Q at
the end; coverage_2sigma = share of all samples (from t = 0) with |SoC error| <= 2 soc_sigma.
Targets (issue 4): rmse <= 0.01, max <= 0.03, converge <= 15 min, capacity <= 0.02; (issue 15) coverage >= 0.95.
--quick: 25 degC drive cases and 8 fade cycles only.
"""

import argparse
import json
import math
import sys
import time

import numpy as np

from bms.config import cell as cellparams
from bms.est.estimator import CellEstimator
from sim import profiles
from sim.pack import Pack
from sim.sensors import SensorModel

Q_AH = 2.0


def sensors(seed):
    return SensorModel(seed=seed, v_noise_v=1e-3, i_noise_a=5e-3, i_gain=0.005, i_offset_a=0.01,
                       t_noise_c=0.2, adc_bits=16)


def run_case(name, preset, t_amb, soc0_true, soc0_err, profile, dt, seed=0):
    cathode = "nvp" if preset.startswith("nvp") else "layered-oxide"
    pack = Pack(cathode=cathode, interphase=preset[len(cathode) + 1:], n_cells=1, q_ah=Q_AH,
                t_amb_c=t_amb, seed=seed, spread=False, soc0=soc0_true)
    sens = sensors(seed + 100)
    i_dis_max = 0.5 * Q_AH if t_amb < 10.0 else math.inf  # a BMS derates cold discharge to C/2
    # a start 30 % off is a start the user does not know: given with sigma 0.3 (the known start of the fade case: 0.03)
    est = CellEstimator(cellparams.preset(preset), soc0=min(max(soc0_true + soc0_err, 0.0), 1.0),
                        soc0_sigma=max(abs(soc0_err), 0.03))
    st = pack.state
    t_s, err, qerr, inside = [], [], [], 0
    steep = est.p["plateau_slope_v"]  # the firmware reads SoC from the voltage only where the OCV is this steep
    t_steep = None
    t0 = time.perf_counter()
    i = 0.0
    while not profile.done(pack.t_s, st):
        i = profile(pack.t_s, st, math.inf, i_dis_max)
        st = pack.step(i, dt)
        v, i_m, t_m = sens.measure(pack.t_s, i, st)
        est.update(dt, float(i_m), float(v[0]), float(t_m[0]))
        t_s.append(pack.t_s)
        err.append(est.soc - float(st.soc[0]))
        inside += abs(err[-1]) <= 2.0 * est.soc_sigma
        if t_steep is None and abs(est.model.ocv_slope(float(st.soc[0]), 25.0)[1]) >= steep:
            t_steep = pack.t_s
        qerr.append((est.q_ah - float(st.q_ah[0])) / float(st.q_ah[0]))
    t_s = np.array(t_s)
    err = np.abs(np.array(err))
    # converged: the first moment from which the error stays within 2 % for the next 5 minutes
    ok = err <= 0.02
    win = max(1, int(round(300.0 / dt)))
    run = np.convolve(ok.astype(int), np.ones(win, int), "valid") if len(ok) >= win else np.array([ok.all() * win])
    hit = np.nonzero(run == win)[0]
    k = int(hit[0]) if len(hit) else None
    conv = None if k is None else (t_s[k] - t_s[0] + dt) / 60.0 if k > 0 else 0.0
    e = err[k:] if k is not None else err
    return {
        "name": name,
        "soc_rmse": round(float(np.sqrt(np.mean(e ** 2))), 5),
        "soc_max_err": round(float(np.max(e)), 5),
        "coverage_2sigma": round(inside / len(err), 4),
        "converge_min": None if conv is None else round(conv, 2),
        "steep_min": None if t_steep is None else round((t_steep - t_s[0] + dt) / 60.0, 2),
        "capacity_err": round(abs(qerr[-1]), 5),
        "hours": round((t_s[-1] - t_s[0]) / 3600.0, 2),
        "true_soc_end": round(float(st.soc[0]), 3),
        "n_rejected": est.n_rejected,
        "n_reseeds": est.n_reseeds,
        "n_cap_updates": est.n_cap_updates,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def drive():
    return profiles.sequence([profiles.drive("urban", Q_AH, repeat=False), profiles.drive("highway", Q_AH)])


def cases(quick):
    temps = (25.0,) if quick else (0.0, 25.0, 45.0)
    out = []
    for preset in ("nvp-mg-naf", "nvp-bare-cu"):
        for t in temps:
            out.append(("drive-%s-%dC" % (preset, t), preset, t, 1.0, -0.30, drive(), 1.0))
    out.append(("drive-layered-oxide-mg-naf-25C", "layered-oxide-mg-naf", 25.0, 1.0, -0.30, drive(), 1.0))
    out.append(("conv-knee-layered-oxide-mg-naf-from60-25C", "layered-oxide-mg-naf", 25.0, 0.6, +0.30, drive(), 1.0))
    out.append(("conv-knee-nvp-mg-naf-from10-25C", "nvp-mg-naf", 25.0, 0.10, +0.30, drive(), 1.0))
    out.append(("conv-knee-nvp-bare-cu-from10-0C", "nvp-bare-cu", 0.0, 0.10, +0.30, drive(), 1.0))
    out.append(("plateau-start-nvp-mg-naf-from60-25C", "nvp-mg-naf", 25.0, 0.6, +0.30, drive(), 1.0))
    n = 8 if quick else 20
    out.append(("capacity-fade-nvp-bare-cu-%dcyc" % n, "nvp-bare-cu", 25.0, 1.0, 0.0, profiles.cycles(n, Q_AH), 5.0))
    return out


def run_case_k(quick, k):
    """Case k of cases(quick), built where it runs (a profile holds generators: it does not travel to a worker)."""
    return run_case(*list(cases(quick))[k])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quick", action="store_true", help="25 degC drives and 8 fade cycles only")
    ap.add_argument("--dask", nargs="?", const="", default=None, metavar="SCHEDULER",
                    help="run the cases on Dask as `nabms campaign` does: a LocalCluster (--workers), or a scheduler's "
                         "address (tcp://host:8786)")
    ap.add_argument("--workers", type=int, default=None, help="with --dask: LocalCluster workers (default: every core)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    if a.dask is not None:
        from hil.campaign import dask_map

        n_cases = len(list(cases(a.quick)))
        res, _ = dask_map(run_case_k, [(a.quick, k) for k in range(n_cases)], scheduler=a.dask or None,
                          workers=a.workers, key="est",
                          on_result=lambda k, n, r: print("case %d/%d %s done (%.0f s)" % (
                              k, n, r["name"], time.perf_counter() - t0), file=sys.stderr, flush=True))
    else:
        res = []
        todo = list(cases(a.quick))
        for c in todo:
            res.append(run_case(*c))
            print("case %d/%d %s done (%.0f s)" % (len(res), len(todo), res[-1]["name"], time.perf_counter() - t0),
                  file=sys.stderr, flush=True)
    wall_s = time.perf_counter() - t0
    if a.json:
        print(json.dumps({"cases": res, "wall_s": wall_s}))
        return

    def f(x, scale=100.0, fmt="%7.2f"):
        return "      --" if x is None else fmt % (x * scale)

    print("%-42s %7s %7s %6s %8s %8s %7s %6s %5s %5s" % ("case", "rmse%", "max%", "cov2s%", "conv_min", "steep_mn", "cap%",
                                                          "hours", "rej", "rsd"))
    for r in res:
        print("%-42s %s %s %6.1f %s %s %s %6.2f %5d %5d" % (r["name"], f(r["soc_rmse"]), f(r["soc_max_err"]),
              100.0 * r["coverage_2sigma"],
              f(r["converge_min"], 1.0, "%8.1f"), f(r["steep_min"], 1.0, "%8.1f"), f(r["capacity_err"]), r["hours"],
              r["n_rejected"], r["n_reseeds"]))
    drives = [r for r in res if r["name"].startswith("drive-")]
    conv = [r for r in res if r["name"].startswith(("drive-", "conv-knee-"))]
    plateau = [r for r in res if r["name"].startswith("plateau-start-")]

    def within(r, m):
        return r["converge_min"] is not None and r["converge_min"] <= m

    knee = [r for r in conv if r["name"].startswith("conv-knee-")]

    def mins(rs):
        return ", ".join("--" if r["converge_min"] is None else "%.0f" % r["converge_min"] for r in rs)

    print("targets on the drive cases (drive-): rmse <= 1 %% %s,"
          " max <= 3 %% %s, from 30 %% off within 15 min %s; capacity after the fade cycles <= 2 %% %s" % (
              all(r["soc_rmse"] <= 0.01 for r in drives), all(r["soc_max_err"] <= 0.03 for r in drives),
              all(within(r, 15.0) for r in drives),
              all(r["capacity_err"] <= 0.02 for r in res if r["name"].startswith("capacity"))))
    print("harder starts, 30 %% off within 15 min: near the empty knee (conv-knee-) %s (%s min); mid-plateau %s (%s min;"
          " waits for the knee: physics of a flat OCV)" % (all(within(r, 15.0) for r in knee), mins(knee),
                                                          all(within(r, 15.0) for r in plateau), mins(plateau)))
    print("truth inside the +-2 sigma band >= 95 %% of the time on every case: %s (worst %.1f %%)" % (
        all(r["coverage_2sigma"] >= 0.95 for r in res), 100.0 * min(r["coverage_2sigma"] for r in res)))
    print("(rmse/max from convergence on; cov2s: share of all samples with |error| <= 2 sigma; conv_min: first time within 2 % for 5 min, '--' never; steep_mn: true SoC first"
          " on a steep part of the OCV; rej = NIS-gated; rsd = re-seeds)")


if __name__ == "__main__":
    main()
