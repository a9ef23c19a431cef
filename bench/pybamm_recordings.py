"""Recordings from independent physics: PyBaMM's porous-electrode models (never sim/, never the firmware's model).

Cells (PyBaMM parameter sets, a bench extra: pip install -e '.[bench]'):
  na   sodium-ion DFN, Chayambuka2022 (hard carbon | NVPF coin cell, 3 mAh; pybamm.sodium_ion.BasicDFN)
  lfp  lithium-ion DFN, Prada2013 (graphite | LFP, 2.3 Ah: the flat-OCV case)
Neither set carries a full temperature law; Arrhenius factors are added where it has none (solid and electrolyte
transport, exchange currents), so that the cell at 10 degC is not the cell at 35 degC.

Tests per cell and temperature (isothermal at the ambient temperature):
  char  characterisation: 1 h rest at full, then HPPC blocks (1C discharge 10 s, rest 40 s, 0.75C charge 10 s,
        rest 40 s) each followed by 10 % at C/2 and a 40-min rest, to the cut-off (currents x0.5 for the sodium cell); C/20 to
        empty; 1 h rest. A step that would leave the cell's window is cut there (as a cycler's limit does).
  dyn   a different, dynamic test: seeded random driving (0.2-1.5C discharges with 0.1-0.5C charge bursts and short
        rests; x0.5 for the sodium cell),
        40-min rests now and then, a C/3 partial recharge, more driving.
Sensors: the recorded current is (1 + gain) * i + offset + noise (gain +0.5 %, offset C/300, noise C/500), the
voltage has 1 mV noise and 1 mV quantisation, the temperature 0.3 degC noise. A leak (leak_c, a fraction of 1C)
drains the cell and is kept out of the recorded current: what a soft short looks like from outside.

Each recording is a CSV (time_s, current_A, voltage_V or voltage_<k>_V per cell, temperature_C) plus truth
columns no reader uses (soc_true, current_true_A); metadata in a JSON beside it. Cached under build/pybamm/.

    python bench/pybamm_recordings.py [--out build/pybamm] [--jobs 2]    # the bench's set
    python bench/pybamm_recordings.py --samples tests/data              # the small committed samples
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TWIN_VERSION = 2
VERSION = 6  # bump when the tests or the sensor model change: the cache is keyed on it
R_GAS = 8.314

CELLS = {
    # key: PyBaMM parameter set, the test's voltage window [V]
    # rate: the test's pulse and driving currents as a fraction of their nominal C-rates (the sodium coin cell's
    # polarisation is ~0.35 V at 1C: full-rate charge pulses would leave its window at any SoC above a third)
    "na": {"set": "Chayambuka2022", "v_min": 2.0, "v_max": 4.2, "rate": 0.5},
    "lfp": {"set": "Prada2013", "v_min": 2.5, "v_max": 3.6, "rate": 1.0},
}
EA = {  # activation energies added where the set has no temperature law
    "Negative particle diffusivity [m2.s-1]": 30000.0,
    "Positive particle diffusivity [m2.s-1]": 30000.0,
    "Negative electrode exchange-current density [A.m-2]": 35000.0,
    "Positive electrode exchange-current density [A.m-2]": 35000.0,
    "Electrolyte conductivity [S.m-1]": 15000.0,
    "Electrolyte diffusivity [m2.s-1]": 15000.0,
}
LEAKS_C = (1 / 50, 1 / 100, 1 / 200, 1 / 500)
SENSOR = {"gain": 0.005, "offset_c": 1.0 / 300.0, "noise_c": 1.0 / 500.0, "v_noise": 0.001, "v_lsb": 0.001,
          "t_noise": 0.3}


def _arrhenius(pv, key, ea):
    import pybamm

    f = pv[key]
    if callable(f):
        src = getattr(f, "__code__", None)
        if src is not None and "arrhenius" in "".join(src.co_names + src.co_varnames).lower():
            return  # the set has its own law
    factor = (lambda T: pybamm.exp(ea / R_GAS * (1.0 / 298.15 - 1.0 / T)))
    if "diffusivity [m2.s-1]" in key and "Electrolyte" not in key:
        new = (lambda sto, T: (f(sto, T) if callable(f) else f) * factor(T))
    elif "exchange-current" in key:
        new = (lambda c_e, c_s_surf, c_s_max, T: f(c_e, c_s_surf, c_s_max, T) * factor(T))
    else:
        new = (lambda c_e, T: (f(c_e, T) if callable(f) else f) * factor(T))
    pv.update({key: new})


class Cell:
    """A PyBaMM cell at one ambient temperature, stepped segment by segment with the current as an input."""

    def __init__(self, key, t_c, soc0):
        import pybamm

        pybamm.set_logging_level("ERROR")
        spec = CELLS[key]
        pv = pybamm.ParameterValues(spec["set"])
        for k, ea in EA.items():
            if k in pv.keys():
                _arrhenius(pv, k, ea)
        t_k = t_c + 273.15
        # the solver's own cut-offs sit beyond the test's window: the test stops a step at its window itself
        pv.update({"Current function [A]": pybamm.InputParameter("I"), "Ambient temperature [K]": t_k,
                   "Initial temperature [K]": t_k, "Upper voltage cut-off [V]": spec["v_max"] + 0.5,
                   "Lower voltage cut-off [V]": spec["v_min"] - 0.5}, check_already_exists=False)
        model = pybamm.sodium_ion.BasicDFN() if key == "na" else pybamm.lithium_ion.DFN()
        self.q_nom = float(pv["Nominal cell capacity [A.h]"])
        self.v_min, self.v_max = spec["v_min"], spec["v_max"]
        self.rate = spec["rate"]
        sim = pybamm.Simulation(model, parameter_values=pv)
        sim.build(initial_soc=soc0, inputs={"I": 0.0})
        self.model = sim.built_model
        self.solver = pybamm.IDAKLUSolver()
        self.sol = None
        self.schedule = []  # (applied current, seconds run, sample period) per segment: what a twin replays
        self.t = [0.0]
        self.i = [0.0]  # discharge-positive as PyBaMM has it: converted when written
        self.v = []
        self.q_dis = [0.0]
        first = self.solver.step(None, self.model, 1e-3, t_eval=np.array([0.0, 1e-3]), inputs={"I": 0.0})
        self.sol = first
        self.v.append(float(first["Voltage [V]"].entries[-1]))
        self.t0 = float(first["Time [s]"].entries[-1])

    def run(self, i_dis_a, dur_s, dt_s=1.0):
        """Hold a discharge-positive current for dur_s, sampled every dt_s; stop where the current pushes the cell
        out of the test's window. Returns the time actually run."""
        n = max(int(round(dur_s / dt_s)), 1)
        te = np.linspace(0.0, n * dt_s, n + 1)
        try:
            sol = self.solver.step(self.sol.last_state, self.model, n * dt_s, t_eval=te, inputs={"I": i_dis_a})
        except Exception:  # the solver hit its own cut-off: the segment ends there
            return 0.0
        new = sol.sub_solutions[-1] if hasattr(sol, "sub_solutions") else sol
        t = new["Time [s]"].entries
        v = new["Voltage [V]"].entries
        q = new["Discharge capacity [A.h]"].entries
        tgrid = self.t[-1] + te[1:]
        tt = t - self.t0
        vi = np.interp(tgrid, tt, v)
        qi = np.interp(tgrid, tt, q)
        # the first grid point past the test's window, or past where the solver stopped (its own cut-off)
        bad = (tgrid > tt[-1] + 1e-6) | ((vi < self.v_min) if i_dis_a > 0 else (vi > self.v_max) if i_dis_a < 0
                                         else np.zeros(len(tgrid), bool))
        if bad.any():
            keep = int(np.argmax(bad))
            if keep:  # re-solve up to the last point inside
                self.sol = self.solver.step(self.sol.last_state, self.model, keep * dt_s,
                                            t_eval=np.linspace(0.0, keep * dt_s, keep + 1), inputs={"I": i_dis_a})
            vi, qi, tgrid = vi[:keep], qi[:keep], tgrid[:keep]
        else:
            self.sol = sol
        for k in range(len(tgrid)):
            self.t.append(float(tgrid[k]))
            self.i.append(i_dis_a)
            self.v.append(float(vi[k]))
            self.q_dis.append(float(qi[k]))
        if len(tgrid):
            self.schedule.append((i_dis_a, len(tgrid) * dt_s, dt_s))
        return len(tgrid) * dt_s

    def arrays(self):
        return np.array(self.t), -np.array(self.i), np.array(self.v), np.array(self.q_dis)


def char_test(cell):
    q = cell.q_nom
    cell.run(0.0, 3600.0, 10.0)
    while True:
        for i_c, d in ((1.0, 10), (0.0, 40), (-0.75, 10), (0.0, 40)):
            cell.run(i_c * cell.rate * q, d, 1.0)
        ran = cell.run(0.5 * cell.rate * q, 0.1 * 7200.0 / cell.rate, 5.0)
        if ran < 0.1 * 7200.0 / cell.rate - 5.0:
            break
        cell.run(0.0, 2400.0, 5.0)
    cell.run(0.05 * q, 40 * 3600.0, 20.0)  # C/20 to the cut-off: "empty"
    cell.run(0.0, 3600.0, 10.0)


def dyn_test(cell, seed):
    rng = np.random.default_rng(seed)
    q = cell.q_nom
    qr = q * cell.rate

    def drive(q_out):
        """Random driving until q_out (A h) has been taken out or the cut-off is reached."""
        start = cell.q_dis[-1]
        last_rest = cell.t[-1]
        while cell.q_dis[-1] - start < q_out:
            r = rng.random()
            if r < 0.6:
                ran = cell.run(rng.uniform(0.2, 1.5) * qr, rng.uniform(30, 300), 1.0)
                if ran == 0.0 or cell.v[-1] <= cell.v_min + 1e-3:
                    return False
            elif r < 0.8:
                cell.run(-rng.uniform(0.1, 0.5) * qr, rng.uniform(10, 60), 1.0)
            else:
                cell.run(0.0, rng.uniform(10, 120), 1.0)
            if cell.t[-1] - last_rest > 4000.0:
                cell.run(0.0, 2400.0, 5.0)  # a 40-min rest now and then
                last_rest = cell.t[-1]
        return True

    cell.run(0.0, 600.0, 5.0)
    drive(0.5 * q)
    cell.run(0.0, 2400.0, 5.0)
    drive(0.3 * q)
    cell.run(0.0, 2400.0, 5.0)
    cell.run(-q / 3.0, 3.0 * 3600.0 * 0.55, 5.0)  # C/3 partial recharge (~55 %)
    cell.run(0.0, 2400.0, 5.0)
    drive(0.3 * q)
    cell.run(0.0, 2400.0, 5.0)


def _with_leak(cell_factory, test, leak_c, seed):
    """Run test on a cell whose applied current includes a leak of leak_c * 1C (discharge)."""
    cell = cell_factory()
    if leak_c:
        leak = leak_c * cell.q_nom
        run = cell.run

        def run_leaky(i_dis_a, dur_s, dt_s=1.0):
            ran = run(i_dis_a + leak, dur_s, dt_s)
            for k in range(len(cell.i) - int(round(ran / dt_s)), len(cell.i)):
                cell.i[k] = i_dis_a  # the sensor sees the external current only
            return ran

        cell.run = run_leaky
    if test == "char":
        char_test(cell)
    else:
        dyn_test(cell, seed)
    return cell


def _twin(key, t_c, soc0, leaky, leak_a):
    """The leaky cell's healthy twin in a series string: the same external current, segment by segment (no window
    of its own: the string's limits are the leaky cell's)."""
    twin = Cell(key, t_c, soc0)
    twin.v_min, twin.v_max = -np.inf, np.inf
    for i_dis_a, ran_s, dt_s in leaky.schedule:
        twin.run(i_dis_a - leak_a, ran_s, dt_s)
    return twin


def _sensor(t, i_true, v_true, t_c, q_nom, seed):
    rng = np.random.default_rng(seed)
    i_rec = (1.0 + SENSOR["gain"]) * i_true + SENSOR["offset_c"] * q_nom + rng.normal(0, SENSOR["noise_c"] * q_nom, len(t))
    v_rec = np.round((v_true + rng.normal(0, SENSOR["v_noise"], v_true.shape)) / SENSOR["v_lsb"]) * SENSOR["v_lsb"]
    t_rec = t_c + rng.normal(0, SENSOR["t_noise"], len(t))
    return i_rec, v_rec, t_rec


def make(key, test, t_c, out_dir, leak_c=0.0, n_cells=1, soc0=None, seed=1):
    """Simulate one recording (cached); returns (csv path, meta). For n_cells > 1 the first cell leaks and the
    others are its healthy twins (one simulation, their own sensor noise)."""
    soc0 = (1.0 if test == "char" else 0.95) if soc0 is None else soc0
    name = "%s-%s-%dC%s%s" % (key, test, round(t_c), "-leak%g" % (1 / leak_c) if leak_c else "",
                              "-x%d" % n_cells if n_cells > 1 else "")
    # the twins of a string follow the leaky cell's current since TWIN_VERSION 2
    version = [VERSION, TWIN_VERSION] if n_cells > 1 else VERSION
    tag = hashlib.sha1(json.dumps([version, key, test, t_c, leak_c, n_cells, soc0, seed, SENSOR]).encode()).hexdigest()[:10]
    out_dir = Path(out_dir)
    csv_path = out_dir / (name + ".csv")
    meta_path = out_dir / (name + ".json")
    if meta_path.exists() and json.loads(meta_path.read_text()).get("tag") == tag and csv_path.exists():
        return csv_path, json.loads(meta_path.read_text())
    t_start = time.time()

    def factory():
        return Cell(key, t_c, soc0)

    cells = [_with_leak(factory, test, leak_c, seed)]
    if n_cells > 1:
        cells.append(_twin(key, t_c, soc0, cells[0], leak_c * cells[0].q_nom) if leak_c else cells[0])
    t, i_true, v0, qd0 = cells[0].arrays()
    n = len(t)
    vs = [v0]
    for k in range(1, n_cells):
        tk, _, vk, _ = cells[1].arrays()
        vs.append(np.interp(t, tk, vk))
    q_nom = cells[0].q_nom
    # truth: SoC by the physics' own capacity between its OCV limits (PyBaMM's SoC definition)
    q_ref = _q_ref(key, t_c)
    soc_true = soc0 - (qd0 + leak_c * q_nom * t / 3600.0) / q_ref
    i_rec, v_rec0, t_rec = _sensor(t, i_true, v0, np.full(n, t_c), q_nom, seed)
    v_cols = [v_rec0] + [_sensor(t, i_true, vs[k], np.full(n, t_c), q_nom, seed + 100 * k)[1] for k in range(1, n_cells)]
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = csv_path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        vh = ["voltage_V"] if n_cells == 1 else ["voltage_%d_V" % k for k in range(n_cells)]
        f.write(",".join(["time_s", "current_A"] + vh + ["temperature_C", "soc_true", "current_true_A"]) + "\n")
        for k in range(n):
            f.write("%.1f,%.7g,%s,%.2f,%.6f,%.7g\n" % (t[k], i_rec[k], ",".join("%.4f" % c[k] for c in v_cols),
                                                      t_rec[k], soc_true[k], i_true[k]))
    os.replace(tmp, csv_path)
    meta = {"tag": tag, "name": name, "cell": key, "set": CELLS[key]["set"], "test": test, "t_c": t_c,
            "leak_c": leak_c, "n_cells": n_cells, "leaky_cell": 0 if leak_c else None, "soc0": soc0, "seed": seed,
            "q_nom_ah": q_nom, "q_ref_ah": q_ref, "sensor": SENSOR, "rows": n, "duration_s": float(t[-1]),
            "sim_s": round(time.time() - t_start, 1)}
    meta_path.write_text(json.dumps(meta, indent=1))
    return csv_path, meta


_QREF = {}


def _q_ref(key, t_c):
    """Charge between the model's SoC 0 and 1 (its OCV limits) [A h]: from the positive electrode's
    stoichiometries at those two states."""
    import pybamm

    if (key, t_c) in _QREF:
        return _QREF[(key, t_c)]
    pv = pybamm.ParameterValues(CELLS[key]["set"])
    c = []
    for s in (0.0, 1.0):
        p = pv.copy()
        if key == "na":
            p = p.set_initial_state(s, param=pybamm.sodium_ion.BasicDFN().param) if hasattr(p, "set_initial_state") \
                else p.set_initial_stoichiometries(s, param=pybamm.sodium_ion.BasicDFN().param)
        else:
            p = p.set_initial_state(s) if hasattr(p, "set_initial_state") else p.set_initial_stoichiometries(s)
        c.append(float(p["Initial concentration in positive electrode [mol.m-3]"]))
    vol = pv["Positive electrode thickness [m]"] * pv["Electrode height [m]"] * pv["Electrode width [m]"] \
        * pv["Positive electrode active material volume fraction"]
    n_par = pv["Number of electrodes connected in parallel to make a cell"]
    q = abs(c[0] - c[1]) * vol * 96485.33 / 3600.0 * n_par
    _QREF[(key, t_c)] = q
    return q


def bench_set(out_dir, temps=(10.0, 35.0)):
    """The recordings bench/outside_data.py uses: (key, test, t_c, leak_c, n_cells)."""
    jobs = []
    for key in CELLS:
        for t_c in temps:
            jobs.append((key, "char", t_c, 0.0, 1))
            jobs.append((key, "dyn", t_c, 0.0, 1))
        for leak_c in LEAKS_C:  # cell 0 leaks, cells 1-3 are its healthy twin: the single-cell cases read column 0/1
            jobs.append((key, "dyn", 25.0, leak_c, 4))
    return jobs


def _job(args):
    out_dir, (key, test, t_c, leak_c, n) = args
    path, meta = make(key, test, t_c, out_dir, leak_c, n)
    return str(path), meta


def run_all(jobs, out_dir, n_jobs=2, progress=True):
    from concurrent.futures import ProcessPoolExecutor

    done = []
    items = [(str(out_dir), j) for j in jobs]
    if n_jobs <= 1:
        results = map(_job, items)
    else:
        ex = ProcessPoolExecutor(n_jobs)
        results = ex.map(_job, items)
    for k, (path, meta) in enumerate(results, 1):
        done.append((path, meta))
        if progress:
            print("[%d/%d] %s (%d rows, %.0f s simulated%s)" % (k, len(items), meta["name"], meta["rows"],
                  meta["duration_s"], ", %.0f s" % meta["sim_s"] if meta.get("sim_s") else ""), file=sys.stderr,
                  flush=True)
    return done


def decimate(src, dst, keep_s=60.0, every_s=30.0):
    """A small copy for tests/data: every row within keep_s of a current change, else one every every_s."""
    lines = Path(src).read_text().splitlines()
    out = [lines[0]]
    rows = [(float(x.split(",")[0]), float(x.split(",")[-1])) for x in lines[1:]]
    last_change = -1e9
    last_kept = -1e9
    for k, line in enumerate(lines[1:]):
        t, i_true = rows[k]
        if k == 0 or i_true != rows[k - 1][1]:
            last_change = t
        # the last row before a change too: a reader holds each row's current over the interval before it
        before_change = k + 1 < len(rows) and rows[k + 1][1] != i_true
        if t - last_change <= keep_s or t - last_kept >= every_s or before_change:
            out.append(line)
            last_kept = t
    Path(dst).write_text("\n".join(out) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "build" / "pybamm"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--samples", help="write the small committed sample recordings into this folder")
    args = ap.parse_args(argv)
    try:
        import pybamm  # noqa: F401
    except ImportError:
        print("pybamm_recordings: PyBaMM is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    if args.samples:
        jobs = [("na", "char", 25.0, 0.0, 1), ("na", "dyn", 25.0, 0.0, 1)]
        for path, meta in run_all(jobs, args.out, args.jobs):
            dst = Path(args.samples) / ("pybamm-" + Path(path).name)
            decimate(path, dst)
            m = dict(meta)
            m["decimated"] = "every row within 60 s of a current change, else one per 30 s"
            dst.with_suffix(".json").write_text(json.dumps(m, indent=1))
            print(dst, "%d KB" % (dst.stat().st_size // 1024))
        return 0
    run_all(bench_set(args.out), args.out, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
