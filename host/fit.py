"""`nabms fit DATA... [--capacity-ah Q] [--out CELL.json]`: characterisation recordings -> a cell file.

What is taken from where (docs/cells.md has the reasoning):
  current offset   the mean recorded current while the cell rests (|i| < C/50 for 10 min or more) is the sensor's
                   offset: it is taken out before any charge is counted, and written as the sensor's offset bound;
                   its spread there is the sensor's noise (estimator.i_noise_sigma_a: what zero current looks like)
  capacity         the charge between the fullest and the emptiest point of the recordings when they span full to
                   empty (first rest at the top, a low-rate discharge to the cut-off), else --capacity-ah
  OCV              the end of every rest of 10 min or more, its relaxation tail extrapolated (v_inf + a*exp(-t/tau)
                   over the rest's second half); inside every constant-current stretch ending in a rest, a point per
                   1 % SoC, corrected by the overpotential measured at its ends (this resolves knees between rests);
                   the temperatures' points pooled into one shape, shifted by dOCV/dT where the settled rests
                   resolve it (else 0; bounded to 0.5 mV/K)
  hysteresis       half the gap between rests reached by charging and by discharging at the same SoC (0 when the
                   recordings approach every rest from one side)
  R0               the voltage step over the current step at every sampled step (median)
  RC pairs         least squares (scipy) of the whole recording's voltage with the OCV table, R0 and one or two RC
                   pairs; two only when the one pair the firmware reduces them to fits better (RMS of each printed)
  noise            sigma_v from the residual at rest, sigma_v_per_a from the residual's growth with current; the
                   residual's correlation time is printed (not written: see docs/cells.md, "what the fit cannot do")
  limits           the recorded voltage range (a margin beyond it), currents of at least C/2 charge and 2C discharge:
                   put the datasheet's in the file where they differ
Per temperature the resistances go into the file as tables; the file's loader fits the Arrhenius law (with one
temperature only, an activation energy of 30 kJ/mol is assumed and said so).
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host.readers import Recording, RecordingError, read_args

REST_C = 1.0 / 50  # |i| below this fraction of 1C is a rest
REST_MIN_S = 600.0  # rests shorter than this give no OCV point
LOW_RATE_C = 0.1
EA_ASSUMED = 30000.0


class FitError(ValueError):
    """The recordings cannot give a cell file: one line saying why."""


@dataclass
class Segment:
    k0: int  # first sample
    k1: int  # one past the last
    i_a: float  # mean current
    kind: str  # "rest", "low-rate", "load"


def segments(rec: Recording, q_ah: float) -> list[Segment]:
    """Runs of nearly constant current (steps larger than C/20 split them)."""
    i = rec.i_a
    step = np.abs(np.diff(i)) > 0.05 * q_ah
    edges = [0] + list(np.flatnonzero(step) + 1) + [len(i)]
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        m = float(np.mean(i[a:b]))
        kind = "rest" if abs(m) < REST_C * q_ah else ("low-rate" if abs(m) <= LOW_RATE_C * q_ah * 1.05 else "load")
        out.append(Segment(a, b, m, kind))
    return out


def _rest_offset(rec: Recording, segs: list[Segment]) -> float:
    """The current sensor's offset: the recorded current's mean over long rests (the cell carries none)."""
    vals = [rec.i_a[s.k0:s.k1] for s in segs if s.kind == "rest" and rec.t_s[s.k1 - 1] - rec.t_s[s.k0] >= REST_MIN_S]
    return float(np.mean(np.concatenate(vals))) if vals else 0.0


def _rest_noise(rec: Recording, segs: list[Segment]) -> float:
    """The current sensor's noise [A]: the recorded current's spread over long rests (the cell carries none)."""
    vals = [rec.i_a[s.k0:s.k1] - np.mean(rec.i_a[s.k0:s.k1]) for s in segs
            if s.kind == "rest" and rec.t_s[s.k1 - 1] - rec.t_s[s.k0] >= REST_MIN_S]
    return float(np.std(np.concatenate(vals))) if vals else 0.0


def _charge_ah(rec: Recording, offset_a: float) -> np.ndarray:
    """Charge put in since the start [A h], the current held over each sample's interval (the step ending there)."""
    dt = np.diff(rec.t_s, prepend=rec.t_s[0])
    return np.cumsum((rec.i_a - offset_a) * dt) / 3600.0


def _tail(t: np.ndarray, v: np.ndarray) -> float:
    """The rest's voltage at infinite time: v_inf + a*exp(-t/tau) fitted over its second half; the last voltage
    when that fit is not credible (it would move the point further than the rest itself relaxed)."""
    from scipy.optimize import curve_fit

    half = t >= t[0] + 0.5 * (t[-1] - t[0])
    tt, vv = t[half] - t[half][0], v[half]
    if len(tt) < 8 or abs(vv[-1] - vv[0]) < 2e-4:
        return float(v[-1])
    try:
        span = tt[-1]
        popt, _ = curve_fit(lambda x, vi, a, tau: vi + a * np.exp(-x / tau), tt, vv,
                            p0=(vv[-1], vv[0] - vv[-1], span / 3), bounds=((0, -2, 1), (6, 2, 20 * span)), maxfev=4000)
    except (RuntimeError, ValueError):
        return float(v[-1])
    v_inf = float(popt[0])
    relaxed = abs(float(v[-1] - v[0]))
    return v_inf if abs(v_inf - v[-1]) <= max(relaxed, 1e-3) else float(v[-1])


def _monotone(y: np.ndarray, min_step: float = 1e-4) -> np.ndarray:
    """The nearest non-decreasing sequence (pool-adjacent-violators), then nudged to strictly increasing."""
    blocks = [[float(v), 1] for v in y]
    out: list[list[float]] = []
    for b in blocks:
        out.append(b)
        while len(out) > 1 and out[-2][0] > out[-1][0]:
            v2, n2 = out.pop()
            v1, n1 = out.pop()
            out.append([(v1 * n1 + v2 * n2) / (n1 + n2), n1 + n2])
    res = np.concatenate([[v] * int(n) for v, n in out])
    for k in range(1, len(res)):
        res[k] = max(res[k], res[k - 1] + min_step)
    return res


def ecm_voltage(t, i, soc, ocv_soc, ocv_v, r0, rcs):
    """Terminal voltage of the equivalent circuit: OCV(soc) + R0*i + sum of RC voltages (exact for a current held
    over each interval)."""
    v = np.interp(soc, ocv_soc, ocv_v) + r0 * i
    dt = np.diff(t, prepend=t[0])
    for r, tau in rcs:
        a = np.exp(-dt / tau)
        b = r * (1.0 - a) * i
        x = np.empty_like(i)
        acc = 0.0
        for k in range(len(i)):  # first-order recursion: a loop, 20k samples in a few ms
            acc = a[k] * acc + b[k]
            x[k] = acc
        v = v + x
    return v


@dataclass
class RecFit:
    rec: Recording
    t_c: float
    offset_a: float
    q: np.ndarray  # charge in [A h]
    segs: list
    rest_pts: list  # (soc, v_ocv, direction +1 after charge / -1 after discharge, |tail extrapolation| [V])
    points: list | None = None  # every OCV point (rests and stretches) of the last pass: (soc, v_ocv)
    soc: np.ndarray | None = None
    r0: float = 0.0
    rcs: tuple = ()
    ocv_soc: np.ndarray | None = None
    ocv_v: np.ndarray | None = None
    v_model: np.ndarray | None = None


def _rest_points(rf: RecFit, soc: np.ndarray) -> list:
    pts = []
    prev_dir = 0
    rec = rf.rec
    for s in rf.segs:
        if s.kind != "rest":
            prev_dir = 1 if s.i_a > 0 else -1
            continue
        t = rec.t_s[s.k0:s.k1]
        if t[-1] - t[0] < REST_MIN_S:
            continue
        v = rec.v[s.k0:s.k1].mean(axis=1)
        v_inf = _tail(t, v)
        pts.append((float(soc[s.k1 - 1]), v_inf, prev_dir, abs(v_inf - float(v[-1]))))
    return pts


def _r0_steps(rec: Recording, q_ah: float) -> float:
    v = rec.v.mean(axis=1)
    di = np.diff(rec.i_a)
    dt = np.diff(rec.t_s)
    ks = np.flatnonzero((np.abs(di) > 0.2 * q_ah) & (dt <= 2.0))
    if not len(ks):
        raise FitError("%s: no current step of C/5 or more sampled within 2 s: R0 cannot be measured" % rec.path)
    r = np.diff(v)[ks] / di[ks]
    r = r[r > 0]
    if not len(r):
        raise FitError("%s: the voltage never steps with the current: is the current's sign right "
                       "(--current-sign)?" % rec.path)
    return float(np.median(r))


STRETCH_SETTLE_S = 120.0  # a stretch's first seconds carry the fast RC transient: no OCV point from them


def _start_overpotential(f: RecFit, s: Segment, k_a: int, rest_soc, rest_v, v, eta_end: float) -> float:
    """A stretch's overpotential STRETCH_SETTLE_S in: when it left a rest (a rest point within 1.5 % SoC of its
    start), that rest's OCV carried to the SoC reached by the loaded voltage's own slope over the next
    STRETCH_SETTLE_S (the rest table's linear interpolation would miss a knee right at the rest); else the end's.
    (Measured on the PyBaMM bench: better than the end's overpotential throughout, or the interpolated table's.)"""
    s0 = f.soc[s.k0]
    j = int(np.argmin(np.abs(rest_soc - s0)))
    if abs(rest_soc[j] - s0) > 0.015:
        return eta_end
    t = f.rec.t_s
    k_b = min(s.k0 + int(np.searchsorted(t[s.k0:s.k1], t[k_a] + STRETCH_SETTLE_S)), s.k1 - 1)
    ds = f.soc[k_b] - f.soc[k_a]
    slope = (v[k_b] - v[k_a]) / ds if abs(ds) > 1e-6 else 0.0
    return float(rest_v[j] + slope * (f.soc[k_a] - rest_soc[j]) - v[k_a])


def _stretch_points(f: RecFit, pts: list) -> list:
    """OCV points inside every constant-current stretch of 5 min or more that ends in a rest (the 10 % steps between
    a characterisation's rests, a C/20 branch): the loaded voltage plus its overpotential, which is measured at the
    stretch's two ends and interpolated in SoC between them (after the fast transient it is mostly charge transfer
    and diffusion, slow functions of SoC): at the end from the rest that follows (its extrapolated OCV less the last
    loaded voltage); at the start, STRETCH_SETTLE_S in, as _start_overpotential says. One point per 1 % SoC, none
    within 0.5 % of a rest point: this is what resolves a knee between rests 10 % apart."""
    out = []
    segs = f.segs
    v = f.rec.v.mean(axis=1)
    t = f.rec.t_s
    rest_soc = np.array(sorted(p[0] for p in pts))
    rest_v = np.array([p[1] for p in sorted(pts)])
    for n, s in enumerate(segs):
        if s.kind == "rest" or t[s.k1 - 1] - t[s.k0] < 300.0:
            continue
        nxt = segs[n + 1] if n + 1 < len(segs) else None
        end_pt = [p for p in f.rest_pts if nxt is not None and nxt.kind == "rest" and abs(p[0] - f.soc[nxt.k1 - 1]) < 1e-9]
        if not end_pt:
            continue
        k_end = s.k1 - 1
        k_a = s.k0 + int(np.searchsorted(t[s.k0:s.k1], t[s.k0] + STRETCH_SETTLE_S))
        eta_end = end_pt[0][1] - v[k_end]
        s_a, s1 = f.soc[k_a], f.soc[k_end]
        eta_a = _start_overpotential(f, s, k_a, rest_soc, rest_v, v, eta_end)
        last = None
        for k in range(k_a, s.k1):
            if last is not None and abs(f.soc[k] - last) < 0.01:
                continue
            if np.min(np.abs(rest_soc - f.soc[k])) < 0.005:
                continue
            last = f.soc[k]
            w = (f.soc[k] - s_a) / (s1 - s_a) if s1 != s_a else 1.0
            out.append((float(f.soc[k]), float(v[k] + eta_a + w * (eta_end - eta_a))))
    return out


def _fit_rc(rf: RecFit, n_rc: int):
    from scipy.optimize import least_squares

    rec = rf.rec
    v = rec.v.mean(axis=1)
    i = rec.i_a - rf.offset_a
    t = rec.t_s
    r0 = rf.r0
    if n_rc == 1:
        x0 = np.log([r0, r0 * 0.5, 30.0])
        lo, hi = np.log([r0 * 0.2, 1e-6, 1.0]), np.log([r0 * 5, 50 * r0 + 1.0, 20000.0])
    else:
        x0 = np.log([r0, r0 * 0.3, 10.0, r0 * 0.7, 600.0])
        lo = np.log([r0 * 0.2, 1e-6, 1.0, 1e-6, 120.0])
        hi = np.log([r0 * 5, 50 * r0 + 1.0, 120.0, 50 * r0 + 1.0, 20000.0])

    def model(x):
        e = np.exp(x)
        rcs = [(e[1], e[2])] + ([(e[3], e[4])] if n_rc == 2 else [])
        return ecm_voltage(t, i, rf.soc, rf.ocv_soc, rf.ocv_v, e[0], rcs), rcs

    res = least_squares(lambda x: model(x)[0] - v, x0, bounds=(lo, hi), x_scale=1.0, diff_step=1e-3, max_nfev=60)
    vm, rcs = model(res.x)
    return float(np.exp(res.x[0])), tuple(rcs), vm, float(np.sqrt(np.mean((vm - v) ** 2)))


def _collapsed(rcs) -> tuple:
    """The one RC pair the firmware runs for a file's pairs (bms.config.cellfile: R summed, tau R-weighted)."""
    r1 = sum(r for r, _ in rcs)
    return ((r1, sum(r * tau for r, tau in rcs) / r1),)


def _choose_rc(f: RecFit, log=print) -> tuple:
    """One or two RC pairs, chosen by the residual of the model the firmware will run: the estimator has one RC
    state and reduces two pairs to one (_collapsed), so a second pair is written only where its reduction fits
    better than the best single pair (it rarely does: the second pair's residual is printed for the record)."""
    r0_1, rcs_1, vm_1, rms_1 = _fit_rc(f, 1)
    r0_2, rcs_2, vm_2, rms_2 = _fit_rc(f, 2)
    v = f.rec.v.mean(axis=1)
    i = f.rec.i_a - f.offset_a
    vm_c = ecm_voltage(f.rec.t_s, i, f.soc, f.ocv_soc, f.ocv_v, r0_2, _collapsed(rcs_2))
    rms_c = float(np.sqrt(np.mean((vm_c - v) ** 2)))
    log("%s: RMS %.1f mV with one RC pair, %.1f mV with two (%.1f mV as the firmware reduces them to one)"
        % (Path(f.rec.path).name, 1000 * rms_1, 1000 * rms_2, 1000 * rms_c))
    if rms_c < rms_1:
        return r0_2, rcs_2, vm_c
    return r0_1, rcs_1, vm_1


R_CORR_MAX_S = 3600.0


def _corr_time(t: np.ndarray, r: np.ndarray, dt_s: float = 10.0) -> float:
    """The residual's correlation time [s]: the integral of its autocorrelation up to the first zero crossing (on a
    uniform dt_s grid): voltage samples closer than this repeat one model error rather than bring news."""
    tg = np.arange(t[0], t[-1], dt_s)
    if len(tg) < 16:
        return 0.0
    rg = np.interp(tg, t, r)
    rg = rg - rg.mean()
    n = len(rg)
    fx = np.fft.rfft(rg, 2 * n)
    ac = np.fft.irfft(fx * np.conj(fx))[:n]
    if ac[0] <= 0.0:
        return 0.0
    ac = ac / ac[0]
    z = int(np.argmax(ac <= 0.0)) or n
    return float(min(np.sum(ac[:z]) * dt_s, R_CORR_MAX_S))


def _grid(socs, min_step: float = 0.01) -> np.ndarray:
    """SoC breakpoints 0..1 from the points' SoCs, at least min_step apart, 0 and 1 included."""
    s = np.unique(np.round(np.clip(np.concatenate([[0.0], socs, [1.0]]), 0.0, 1.0), 3))
    keep = [0.0]
    for x in s[1:-1]:
        if x - keep[-1] >= min_step and 1.0 - x >= min_step:
            keep.append(float(x))
    return np.array(keep + [1.0])


def _ocv_table(points, grid):
    """OCV on the SoC grid from (soc, v) points: linear between them, the end slopes held beyond."""
    pts = sorted(points)
    s = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    keep = np.concatenate([[True], np.diff(s) > 1e-4])
    s, y = s[keep], y[keep]
    if len(s) < 2:
        raise FitError("fewer than 2 OCV points (rests of 10 min or more, or low-rate stretches): nothing to fit")
    out = np.interp(grid, s, y)
    lo = grid < s[0]
    hi = grid > s[-1]
    out[lo] = y[0] + (grid[lo] - s[0]) * (y[1] - y[0]) / (s[1] - s[0])
    out[hi] = y[-1] + (grid[hi] - s[-1]) * (y[-1] - y[-2]) / (s[-1] - s[-2])
    return _monotone(out)


DOCV_DT_MAX = 5e-4  # |dOCV/dT| bound [V/K]: entropic coefficients of sodium and lithium cells are well inside it


def _entropic(fits: list, temps: list, log=print) -> float:
    """dOCV/dT [V/K] from settled rest points at different temperatures at nearly the same SoC (within 2 %): the
    median of their slopes, kept only when the data resolve it (its size over twice its standard error) and its
    sign agrees with most pairs; bounded to DOCV_DT_MAX. A rest that had not settled reads lower after a discharge
    the colder it is (slower diffusion), which would pass for an entropic term: such points are left out."""
    pts = [(p[0], p[1], f.t_c) for f in fits for p in f.rest_pts if p[3] <= 2e-3]
    slopes = []
    for s, v, tc in pts:
        for s2, v2, tc2 in pts:
            if tc2 > tc + 5.0 and abs(s2 - s) <= 0.02:
                slopes.append((v2 - v) / (tc2 - tc))
    if len(temps) < 2 or len(slopes) < 3:
        log("dOCV/dT: not resolved (fewer than 3 settled rest pairs across temperatures): 0")
        return 0.0
    sl = np.array(slopes)
    med = float(np.median(sl))
    se = 1.253 * float(np.std(sl)) / math.sqrt(len(sl))
    agree = float(np.mean(np.sign(sl) == np.sign(med)))
    if abs(med) < 2.0 * se or agree < 0.75:
        log("dOCV/dT: not resolved (%.3g mV/K +- %.2g from %d settled rest pairs, %.0f %% agree in sign): 0"
            % (1000 * med, 1000 * se, len(sl), 100 * agree))
        return 0.0
    out = max(-DOCV_DT_MAX, min(DOCV_DT_MAX, med))
    log("dOCV/dT: %.3g mV/K (+- %.2g, %d settled rest pairs)" % (1000 * out, 1000 * se, len(sl)))
    return out


def _pooled_tables(fits: list, temps: list, docv_dt: float) -> tuple:
    """One OCV table per temperature from every recording's points (rests and stretches) referred to their mean
    temperature by docv_dt: the OCV's shape is the same at each (only the entropic term moves it), so pooling
    doubles the points' density; a table is the pooled one shifted by docv_dt."""
    t_mean = float(np.mean(temps))
    pts = []
    for f in fits:
        pts += [(s, v - docv_dt * (f.t_c - t_mean)) for s, v in f.points]
    grid = _grid(np.array([p[0] for p in pts]))
    pooled = _ocv_table(pts, grid)
    tables = [{"temperature_c": t_c, "mean_v": [round(float(x + docv_dt * (t_c - t_mean)), 4) for x in pooled]}
              for t_c in temps]
    return grid, tables


def fit(recs: list[Recording], capacity_ah: float | None = None, name: str = "fitted-cell", cathode: str = "unknown",
        log=print) -> tuple[dict, list[RecFit]]:
    """The cell-file document for recordings (validated by bms.config.cellfile.load), and per-recording fits."""
    from bms.config import cellfile

    fits = []
    q_guess = capacity_ah
    if q_guess is None:  # a first guess of 1C for the segmenting: the largest charge swing of any recording
        q_guess = max(float(np.ptp(_charge_ah(r, 0.0))) for r in recs)
        if q_guess <= 0:
            raise FitError("no charge moved in the recordings")
    for rec in recs:
        segs = segments(rec, q_guess)
        off = _rest_offset(rec, segs)
        q = _charge_ah(rec, off)
        t_c = float(np.median(rec.t_c)) if rec.t_c is not None else 25.0
        fits.append(RecFit(rec, round(t_c, 1), off, q, segs, []))
    if capacity_ah is None:
        spans = [float(np.max(f.q) - np.min(f.q)) for f in fits]
        capacity_ah = max(spans)
        best = fits[int(np.argmax(spans))]
        v = best.rec.v.mean(axis=1)
        t = best.rec.t_s
        k_full, k_empty = int(np.argmax(best.q)), int(np.argmin(best.q))
        v_hi, v_lo = float(np.max(v)), float(np.min(v))
        # full: the voltage near the fullest point is near the top; empty: a low-rate discharge of 30 min or more
        # reaches the lowest voltage within the two hours before the emptiest point (C/20 to the cut-off)
        near_full = v[(t >= t[k_full] - 7200.0) & (t <= t[k_full] + 7200.0)]
        to_empty = [s for s in best.segs if s.kind == "low-rate" and s.i_a < 0 and t[s.k1 - 1] - t[s.k0] >= 1800.0
                    and t[k_empty] - 7200.0 <= t[s.k1 - 1] <= t[k_empty] + 1.0
                    and np.min(v[s.k0:s.k1]) <= v_lo + 0.05 * (v_hi - v_lo)]
        if np.max(near_full) < v_lo + 0.8 * (v_hi - v_lo) or not to_empty:
            raise FitError("the recordings do not span full to empty (%s: no rest near the top voltage, or no "
                       "low-rate discharge to the cut-off): give the capacity with --capacity-ah"
                           % best.rec.path)
        log("capacity from the data: %.6g A h (full to empty in %s)" % (capacity_ah, best.rec.path))
    for f in fits:
        # SoC 1 at the fullest point of each recording (characterisation starts full); charge counted from there
        f.soc = 1.0 - (float(np.max(f.q)) - f.q) / capacity_ah
        f.rest_pts = _rest_points(f, f.soc)
        f.r0 = _r0_steps(f.rec, capacity_ah)
        if f.offset_a:
            log("%s: current offset %.3g A (%.2g %% of 1C) at rest, taken out" % (f.rec.path, f.offset_a,
                                                                               100 * f.offset_a / capacity_ah))
    temps = sorted({f.t_c for f in fits})
    grid = _grid(np.concatenate([[p[0] for p in f.rest_pts] for f in fits]))
    # pass 1: OCV from rests, RC fits; pass 2: low-rate stretches (IR-corrected with pass 1) refine the table
    for pass_no in (1, 2):
        for f in fits:
            pts = [(p[0], p[1]) for p in f.rest_pts]
            if pass_no == 2:
                pts += _stretch_points(f, pts)
                f.ocv_soc = _grid(np.concatenate([grid, [p[0] for p in pts]]))
            else:
                f.ocv_soc = grid
            f.ocv_v = _ocv_table(pts, f.ocv_soc)
            f.points = pts
            f.r0, f.rcs, f.v_model = _choose_rc(f, log if pass_no == 2 else (lambda s: None))
    docv_dt = _entropic(fits, temps, log)
    grid, tables = _pooled_tables(fits, temps, docv_dt)
    for tab in tables:  # rounding must not break strict increase
        tab["mean_v"] = [round(float(x), 4) for x in _monotone(np.array(tab["mean_v"]), 1e-4)]
    # hysteresis from rests approached from both sides
    gaps = []
    for f in fits:
        up = [(p[0], p[1]) for p in f.rest_pts if p[2] > 0]
        dn = [(p[0], p[1]) for p in f.rest_pts if p[2] < 0]
        for s, v in up:
            near = [vv for ss, vv in dn if abs(ss - s) < 0.05]
            if near:
                gaps.append(0.5 * (v - near[0]))
    m_hyst = max(float(np.median(gaps)), 0.0) if gaps else 0.0
    # noise from residuals
    res_rest, res_load, i_load = [], [], []
    for f in fits:
        res = f.v_model - f.rec.v.mean(axis=1)
        i = f.rec.i_a - f.offset_a
        rest = np.abs(i) < REST_C * capacity_ah
        res_rest.append(res[rest])
        res_load.append(res[~rest])
        i_load.append(i[~rest])
    rr = np.concatenate(res_rest)
    rl = np.concatenate(res_load)
    il = np.concatenate(i_load)
    sigma_v = max(float(np.sqrt(np.mean(rr ** 2))) if len(rr) else 0.005, 0.001)
    extra = float(np.mean(rl ** 2) - sigma_v ** 2) if len(rl) else 0.0
    sigma_v_per_a = math.sqrt(max(extra, 0.0) / max(float(np.mean(il ** 2)), 1e-12)) if len(il) else 0.0
    r_corr_s = float(np.mean([_corr_time(f.rec.t_s, f.v_model - f.rec.v.mean(axis=1)) for f in fits]))
    log("model error: sigma_v %.3g V at rest, %.3g V/A under load, correlation time %.0f s" % (
        sigma_v, sigma_v_per_a, r_corr_s))
    # the sensor's noise sets what the estimator takes for zero current (its offset calibration): the default
    # (5 mA) would call every current of a coin cell zero
    i_noise = max(max(_rest_noise(f.rec, f.segs) for f in fits), capacity_ah * 1e-5)
    offset = max(abs(f.offset_a) for f in fits)
    offset_sigma = max(offset, capacity_ah / 1000.0)
    # resistance tables per temperature
    by_t = {t: [f for f in fits if f.t_c == t] for t in temps}
    def per_t(get):
        return [float(np.median([get(f) for f in by_t[t]])) for t in temps]
    n_rc = min(len(f.rcs) for f in fits)
    rc = []
    for j in range(n_rc):
        rc.append({"r_ohm": {"temperature_c": temps, "values": [round(x, 6) for x in per_t(lambda f: f.rcs[j][0])]},
                   "tau_s": {"temperature_c": temps, "values": [round(x, 2) for x in per_t(lambda f: f.rcs[j][1])]}})
    resistance = {"r0_ohm": {"temperature_c": temps, "values": [round(x, 6) for x in per_t(lambda f: f.r0)]},
                  "rc": rc}
    notes = []
    if len(temps) < 2:
        resistance["ea_r0_j_mol"] = EA_ASSUMED
        resistance["ea_rc_j_mol"] = EA_ASSUMED
        notes.append("one temperature only: activation energies assumed %g J/mol" % EA_ASSUMED)
        log("note: recordings at one temperature (%g degC): the activation energies are assumed (%g J/mol)"
            % (temps[0], EA_ASSUMED))
    ocv = {"soc": [round(float(s), 3) for s in grid], "hysteresis": {"m_v": round(m_hyst, 4)}}
    if len(temps) > 1:
        ocv["tables"] = tables
    else:
        ocv["temperature_c"] = temps[0]
        ocv["mean_v"] = tables[0]["mean_v"]
        ocv["docv_dt_v_per_k"] = 0.0
        notes.append("one temperature only: dOCV/dT set to 0")
    if not gaps:
        notes.append("no rest reached by charging near one reached by discharging: hysteresis not identified (0)")
    v_all = np.concatenate([f.rec.v.ravel() for f in fits])
    i_all = np.concatenate([f.rec.i_a - f.offset_a for f in fits])
    doc = {
        "schema": cellfile.SCHEMA,
        "name": name,
        "description": "fitted by nabms fit from %s" % ", ".join(Path(f.rec.path).name for f in fits),
        "chemistry": {"cathode": cathode},
        "capacity": {"nominal_ah": round(capacity_ah, 6)},
        "ocv": ocv,
        "resistance": resistance,
        "noise": {"sigma_v": round(sigma_v, 5), "sigma_v_per_a": round(sigma_v_per_a, 5),
                  "q_soc_per_s": float("%.3g" % ((offset_sigma / capacity_ah) ** 2 / 3600.0))},
        "current_sensor": {"offset_sigma_a": float("%.3g" % offset_sigma)},
        "estimator": {"i_noise_sigma_a": float("%.3g" % i_noise)},
        "limits": {"v_min": round(float(np.min(v_all)) - 0.05, 3), "v_max": round(float(np.max(v_all)) + 0.02, 3),
                   "i_chg_max_a": float("%.3g" % (0.999 * max(float(np.max(i_all)), 0.5 * capacity_ah))),
                   "i_dis_max_a": float("%.3g" % (0.999 * max(-float(np.min(i_all)), 2.0 * capacity_ah)))},
        "source": {"made_by": "nabms fit", "data": [f.rec.path for f in fits], "notes": "; ".join(notes),
                   "fit_rms_v": round(float(np.sqrt(np.mean(np.concatenate(
                       [(f.v_model - f.rec.v.mean(axis=1)) ** 2 for f in fits])))), 5)},
    }
    if doc["limits"]["v_min"] <= 0.5:
        doc["limits"]["v_min"] = 0.6
    try:
        cellfile.load(json.loads(json.dumps(doc)))
    except ValueError as e:
        raise FitError("the fitted cell does not validate (%s): the recordings may not be a characterisation" % e)
    return doc, fits


def quality(fits: list[RecFit], log=print) -> list[dict]:
    """RMS voltage error per segment (a rest, a load step) of every recording; printed as a table."""
    rows = []
    for f in fits:
        v = f.rec.v.mean(axis=1)
        log("%s (%.1f degC): R0 %.4g Ohm, RC %s, RMS %.1f mV" % (
            f.rec.path, f.t_c, f.r0, ", ".join("%.4g Ohm/%.4g s" % rc for rc in f.rcs),
            1000 * float(np.sqrt(np.mean((f.v_model - v) ** 2)))))
        log("  %5s %9s %9s %9s %10s %8s" % ("seg", "start_s", "dur_s", "kind", "i_A", "rms_mV"))
        for n, s in enumerate(f.segs):
            e = f.v_model[s.k0:s.k1] - v[s.k0:s.k1]
            row = {"path": f.rec.path, "segment": n, "start_s": float(f.rec.t_s[s.k0]),
                   "duration_s": float(f.rec.t_s[s.k1 - 1] - f.rec.t_s[s.k0]), "kind": s.kind, "i_a": s.i_a,
                   "rms_v": float(np.sqrt(np.mean(e ** 2)))}
            rows.append(row)
            if row["duration_s"] >= 5.0 or len(f.segs) <= 60:
                log("  %5d %9.0f %9.0f %9s %10.4g %8.2f" % (n, row["start_s"], row["duration_s"], s.kind, s.i_a,
                                                          1000 * row["rms_v"]))
    return rows


def plot(fits: list[RecFit], doc: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bms.config import cellfile

    p = cellfile.load(json.loads(json.dumps(doc)))
    n = len(fits)
    fig, axes = plt.subplots(n + 1, 1, figsize=(11, 3.2 * (n + 1)))
    for ax, f in zip(axes[:-1], fits):
        h = f.rec.t_s / 3600.0
        ax.plot(h, f.rec.v.mean(axis=1), lw=0.8, label="measured")
        ax.plot(h, f.v_model, lw=0.8, label="model (fitted ECM)")
        ax.set_title("%s (%.1f degC)" % (Path(f.rec.path).name, f.t_c), fontsize=9)
        ax.set_ylabel("V")
        ax.legend(fontsize=8)
    ax = axes[-1]
    for f in fits:
        ax.plot([q[0] for q in f.rest_pts], [q[1] for q in f.rest_pts], "o", ms=4,
                label="rest ends, %.1f degC" % f.t_c)
    ax.plot(p["soc_pts"], p["ocv_pts"], "k-", lw=1, label="OCV table at 25 degC (cell file)")
    ax.set_xlabel("SoC")
    ax.set_ylabel("OCV [V]")
    ax.legend(fontsize=8)
    axes[-2].set_xlabel("time [h]")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)


def main(args) -> int:
    """The `nabms fit` command; user errors are one line and exit 2."""
    try:
        import scipy  # noqa: F401
    except ImportError:
        print("nabms fit: needs scipy: pip install 'nabms[fit]'", file=sys.stderr)
        return 2
    try:
        recs = []
        for path in args.data:
            print("reading %s ..." % path, file=sys.stderr, flush=True)
            recs.append(read_args(path, args))
        doc, fits = fit(recs, args.capacity_ah, args.name or Path(args.out).stem, args.cathode,
                        log=lambda s: print(s, file=sys.stderr, flush=True))
    except (RecordingError, FitError) as e:
        print("nabms fit: %s" % e, file=sys.stderr)
        return 2
    quality(fits)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out)
    png = str(out.with_suffix(".png"))
    plot(fits, doc, png)
    print("cell file: %s (fit RMS %.1f mV); plot: %s" % (out, 1000 * doc["source"]["fit_rms_v"], png))
    return 0


def add_parser(sub) -> None:
    from host.readers import add_arguments

    p = sub.add_parser("fit", help="fit a cell file to characterisation recordings (HPPC, GITT, C/20)")
    p.add_argument("data", nargs="+", help="recordings: CSV, BioLogic .mpr, Neware .nda/.ndax")
    p.add_argument("--capacity-ah", type=float, help="the cell's capacity when the recordings do not span full "
                                                     "to empty")
    p.add_argument("--out", default="cell.json", help="the cell file to write (a plot is written beside it)")
    p.add_argument("--name", help="the cell's name (default: the output file's name)")
    p.add_argument("--cathode", default="unknown", help="cathode chemistry (nvp, layered-oxide, lfp, ...)")
    add_arguments(p)
    p.set_defaults(fn=main)
