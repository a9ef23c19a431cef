"""SOFT_SHORT: the leakage C-rate of a cell (docs/detectors.md, "Soft short").

Two estimates, one level: the late-rest voltage decay over the local OCV slope (relative to the string's median),
and each cycle's charge balance between relaxed-OCV anchors of the same kind (after charges, after discharges).
"""
from math import sqrt

from bms.compat import const
from bms.detect.context import DIS, REST, Detector, median, noise_factor, ocv_slope, soc_of_ocv
from bms.detect.levels import channel
from bms.sums import floats

_AFTER_CHARGE = const(0)
_AFTER_DISCHARGE = const(1)


class SoftShort(Detector):
    def __init__(self, ctx, levels, cfg):
        Detector.__init__(self, ctx, levels, cfg)
        n = ctx.n
        self._ch = channel("soft_short")
        self._settle_s = cfg["ss_settle_s"]
        self._eval_s = cfg["ss_eval_s"]
        self.leak_c = floats(n)  # last leakage estimate of the late-rest fit [C-rate]
        self.cb_leak_c = floats(n)  # ... of the full-cycle charge balance [C-rate]
        # the late-rest fit: sums of a straight line through (t - t0, v - v0) per cell
        self._fit_n = [0] * n
        self._fit_v0 = floats(n)
        self._fit_st = floats(n)
        self._fit_sv = floats(n)
        self._fit_stt = floats(n)
        self._fit_stv = floats(n)
        self._fit_t0 = 0.0
        self._fit_next = 0.0
        self._slope = floats(n)
        self._f_noise = floats(n, 1.0)  # the last fit's noise factor (>= 1)
        # charge balance, per anchor kind: the cell's plated charge less the string's count at its last readable
        # anchor, when, and ah_dis then
        self._cb_ok = ([False] * n, [False] * n)
        self._cb_x = (floats(n), floats(n))
        self._cb_t = (floats(n), floats(n))
        self._cb_dis = (floats(n), floats(n))
        self._cb_rate = floats(n)
        self._cb_has = [False] * n
        self._cb_hist = ([[] for _ in range(n)], [[] for _ in range(n)])  # each cell's first rates: its baseline
        self._cb_own = (floats(n), floats(n))  # last rate over the own baseline
        self._cb_leak = (floats(n), floats(n))  # last leakage estimate per anchor kind

    def on_segment_start(self, ctx):
        if ctx.after_gap:  # a balance across missed samples would read their charge as a leak
            for k in (_AFTER_CHARGE, _AFTER_DISCHARGE):
                for c in range(ctx.n):
                    self._cb_ok[k][c] = False
        if ctx.phase == REST:
            for c in range(ctx.n):
                self._fit_n[c] = 0
                self._fit_st[c] = self._fit_sv[c] = self._fit_stt[c] = self._fit_stv[c] = 0.0
            self._fit_next = 0.0

    def on_sample(self, ctx):
        if ctx.phase != REST or ctx.seg_age < self._settle_s:
            return
        t_s = ctx.t_s
        v_cell = ctx.v_cell
        if self._fit_n[0] == 0:
            self._fit_t0 = t_s
            self._fit_next = self._eval_s
            for c in range(ctx.n):
                self._fit_v0[c] = v_cell[c]
        x = t_s - self._fit_t0
        for c in range(ctx.n):
            y = v_cell[c] - self._fit_v0[c]  # offsets keep single-precision sums exact enough
            self._fit_n[c] += 1
            self._fit_st[c] += x
            self._fit_sv[c] += y
            self._fit_stt[c] += x * x
            self._fit_stv[c] += x * y
        if x >= self._fit_next:  # a long rest: evaluate periodically, keep fitting
            self._fit_next += self._eval_s
            self._rest_eval(ctx)

    def on_rest_end(self, ctx):
        self._rest_eval(ctx)
        if ctx.last_active != REST:
            self._charge_balance(ctx, _AFTER_DISCHARGE if ctx.last_active == DIS else _AFTER_CHARGE)

    def _rest_eval(self, ctx):
        """Leakage C-rate from the late-rest voltage slope over the local OCV slope (dV/dt = OCV' * dsoc/dt)."""
        cfg = self.cfg
        n = ctx.n
        span = ctx.t_s - self._fit_t0
        if self._fit_n[0] < 3 or span < cfg["ss_min_fit_s"]:
            return
        slope = self._slope
        for c in range(n):
            m = self._fit_n[c]
            den = m * self._fit_stt[c] - self._fit_st[c] * self._fit_st[c]
            if den <= 0.0:
                return
            slope[c] = (m * self._fit_stv[c] - self._fit_st[c] * self._fit_sv[c]) / den  # V/s
        # common mode (relaxation the model does not know, temperature drift) is not a short in one cell
        ref = median(slope) if n >= 3 else 0.0
        for c in range(n):
            est = ctx.ests[c]
            k = ocv_slope(est, soc_of_ocv(est, ctx.v_avg[c], ctx.t_c[c]), ctx.t_c[c])
            if k < cfg["ss_min_slope_v"]:  # flat OCV here: a leak does not show in the voltage
                continue
            self.leak_c[c] = -(slope[c] - ref) * 3600.0 / k  # SoC per hour = C-rate
            # the fit's standard error from the voltage noise (the string's median adds ~1.57/n of it)
            m = self._fit_n[c]
            sd = ctx.v_sd(c) * sqrt(m / (m * self._fit_stt[c] - self._fit_st[c] * self._fit_st[c]))
            sd *= (sqrt(1.0 + 1.57 / n) if n >= 3 else 1.0) * 3600.0 / k
            self._f_noise[c] = noise_factor(cfg["ss_k_sigma"], sd, cfg["ss_alarm_c"])
            self._assess(c, ctx.t_s)

    def _assess(self, c, t_s):
        """One level for both estimates: the larger of the last rest fit and the last charge balance."""
        v = self.leak_c[c] / self._f_noise[c]
        if self.cb_leak_c[c] > v:
            v = self.cb_leak_c[c]
        self.lv.assess(self._ch, c, v, t_s)

    def _charge_balance(self, ctx, k):
        """x_c = plated_c - string's count falls at the leak current between two anchors of kind k; its rate less
        the string's median (>= 3 cells), or over the cell's own baseline (docs/detectors.md)."""
        cfg = self.cfg
        q = ctx.q_nom
        t_s = ctx.t_s
        ok = self._cb_ok[k]
        x0 = self._cb_x[k]
        t0 = self._cb_t[k]
        dis0 = self._cb_dis[k]
        rate = self._cb_rate
        has = self._cb_has
        m = 0
        for c in range(ctx.n):
            has[c] = False
            soc = ctx.rest_soc[c]
            if ocv_slope(ctx.ests[c], soc, ctx.t_c[c]) < cfg["cb_min_slope_v"]:
                continue  # flat here: keep the last readable anchor, the balance spans more cycles then
            x = soc * q - ctx.ah_net
            if ctx.bal is not None:
                x += ctx.bal.q_ah[c]  # what the balancer drained is not a leak
            if ok[c] and ctx.ah_dis - dis0[c] >= cfg["cb_min_dis_frac"] * q and t_s > t0[c]:
                rate[c] = -(x - x0[c]) * 3600.0 / (t_s - t0[c]) / q
                has[c] = True
                m += 1
            ok[c] = True
            x0[c] = x
            t0[c] = t_s
            dis0[c] = ctx.ah_dis
        if m == 0:
            return
        ref = median([rate[c] for c in range(ctx.n) if has[c]]) if m >= 3 else None
        for c in range(ctx.n):
            if has[c]:
                self._balance_assess(c, k, t_s, None if ref is None else rate[c] - ref)

    def _balance_assess(self, c, k, t_s, leak):
        """The rate over the cell's own baseline counts too (the smaller of two in a row), with a string
        reference only for a cell that stands out from it by cb_own_gate x ss_warn_c."""
        cfg = self.cfg
        hist = self._cb_hist[k][c]
        if len(hist) < cfg["cb_base_n"]:
            hist.append(self._cb_rate[c])
        else:
            own = self._cb_rate[c] - median(hist)
            prev = self._cb_own[k][c]
            self._cb_own[k][c] = own
            if prev < own:
                own = prev
            if leak is None or (own > leak and leak >= cfg["cb_own_gate"] * cfg["ss_warn_c"]):
                leak = own
        if leak is not None:
            # both anchor kinds estimate the same leak: one that sees little must not clear the other's
            self._cb_leak[k][c] = leak
            other = self._cb_leak[1 - k][c]
            self.cb_leak_c[c] = leak if leak > other else other
            self._assess(c, t_s)
