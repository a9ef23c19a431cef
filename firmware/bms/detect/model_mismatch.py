"""MODEL_MISMATCH: a cell that no longer behaves like its model (docs/detectors.md, "Model mismatch").

Channel model_mismatch: the EKF's mean normalised innovation squared over a window, against the string's median.
Channel model_mismatch_step: the step resistance at each rest -> load step against the string's median, over the
cell's own baseline per step direction (a resistance rise the EKF absorbs into its SoC).
"""
from bms.detect.context import Detector, RunningMedian, median, median_last3, noise_factor
from bms.detect.levels import channel
from bms.sums import floats


class ModelMismatch(Detector):
    def __init__(self, ctx, levels, cfg):
        Detector.__init__(self, ctx, levels, cfg)
        n = ctx.n
        self._ch = channel("model_mismatch")
        self._ch_step = channel("model_mismatch_step")
        self._win_s = cfg["mm_win_s"]
        self._soc_lo = cfg["mm_soc_lo"]
        self._soc_hi = cfg["mm_soc_hi"]
        self._sum = floats(n)
        self._cnt = [0] * n
        self._val = floats(n)
        self._soc = floats(n)
        self._soc_median = RunningMedian(n)
        self._n = 0
        self._t0 = None
        self._r = floats(n)
        self._r_hist = ([[] for _ in range(n)], [[] for _ in range(n)])  # per step direction (charge, discharge)
        self._r_last = ([[] for _ in range(n)], [[] for _ in range(n)])

    def on_sample(self, ctx):
        n = ctx.n
        if self._t0 is None:
            self._t0 = ctx.t_s
        s = self._sum
        # the string's ends (knee, top branch) are where any ECM fits worst: the string's median SoC decides,
        # not the cell's own (a cell whose model is wrong drags its EKF's SoC anywhere)
        socs = self._soc
        for c in range(n):
            socs[c] = ctx.ests[c].soc
        soc = self._soc_median.of(socs)
        if self._soc_lo <= soc <= self._soc_hi:
            for c in range(n):
                s[c] += ctx.ests[c].nis
                self._cnt[c] += 1
        self._n += 1
        if ctx.t_s - self._t0 >= self._win_s:
            self._window(ctx)

    def _window(self, ctx):
        n = ctx.n
        vals = self._val
        for c in range(n):
            vals[c] = self._sum[c] / self._cnt[c] if self._cnt[c] * 2 >= self._n else -1.0  # -1: too few samples
            self._sum[c] = 0.0
            self._cnt[c] = 0
        # >= 3 cells: relative to the string's median (a model that fits no cell today is not one cell's fault);
        # alone: the absolute mean NIS (chi^2, 1 dof: 1 if consistent)
        ref = median(vals) if n >= 3 else 1.0
        if ref < 1.0:
            ref = 1.0
        for c in range(n):
            if vals[c] >= 0.0:
                self.lv.assess(self._ch, c, vals[c] / ref, ctx.t_s)
        self._n = 0
        self._t0 = ctx.t_s

    def on_load_step(self, ctx):
        """dv/di from the rest's averaged voltage to the first sample of the load, per cell against the string's
        median (the same current, temperature and timing for all), then over the cell's own baseline."""
        cfg = self.cfg
        n = ctx.n
        i_a = ctx.i_a
        v0 = ctx.v_avg
        if n < 3 or abs(i_a) < cfg["mm_step_c"] * ctx.q_nom or not ctx.v_avg_ok:
            return
        # a charge from the string's empty end carries the nucleation dip of the cells on a bare collector
        if i_a > 0.0 and (not ctx.rest_fresh or min(ctx.rest_soc) < cfg["mm_step_soc_min"]):
            return
        r = self._r
        for c in range(n):
            r[c] = (ctx.v_cell[c] - v0[c]) / i_a
            if not r[c] > 0.0:  # not a clean step (a cell at a knee, a sensor glitch): no reading
                return
        med = median(r)
        k = 0 if i_a > 0.0 else 1
        for c in range(n):
            rel = r[c] / med
            hist = self._r_hist[k][c]
            if len(hist) < cfg["mm_step_base_n"]:
                hist.append(rel)
                continue
            # the median of the last three steps: one odd step is not a resistance
            x = median_last3(self._r_last[k][c], rel) / median(hist)
            # a noisy front end: the growth over 1 is divided by the step's scatter from the voltage noise
            f = noise_factor(cfg["mm_k_sigma"], ctx.v_sd(c) / abs(i_a) / med, cfg["mm_r_alarm"] - 1.0)
            if f > 1.0:
                x = 1.0 + (x - 1.0) / f
            self.lv.assess(self._ch_step, c, x, ctx.t_s)
