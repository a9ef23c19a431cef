"""NUCLEATION: growth of the voltage overshoot at the onset of a charge from empty over the cell's own baseline
[V], and the string's median growth in that charge (its own channel). docs/detectors.md, "Nucleation"."""
from math import sqrt

from bms.detect.context import CHG, Detector, median, noise_factor
from bms.detect.levels import channel
from bms.sums import floats

_STEADY_FRAC = 0.1  # the charge current must stay within this fraction of its start
_MEDIAN_SE = 1.25  # a median's standard error: ~1.25 sigma / sqrt(k) for k normal readings


class Nucleation(Detector):
    def __init__(self, ctx, levels, cfg):
        Detector.__init__(self, ctx, levels, cfg)
        n = ctx.n
        self._ch = channel("nucleation")
        self._ch_string = channel("nucleation_string")
        self._early = cfg["nu_q_early"]
        self._late = cfg["nu_q_late"]
        self._on = [False] * n  # the cell's onset is being read in this charge
        self._any = False
        self._early_sum = floats(n)
        self._late_sum = floats(n)
        self._early_n = [0] * n
        self._late_n = [0] * n
        self._i0 = 0.0
        self._hist = [[] for _ in range(n)]  # the cell's previous readings ...
        self._hist_x = [[] for _ in range(n)]  # ... and when: equivalent full cycles (ah_dis / q_nom)
        self._sd = floats(n)  # this charge's step's standard error from the sensor noise (0: unknown)
        self._step = floats(n)  # this charge's step per cell ...
        self._has = [False] * n  # ... where evaluated

    def on_segment_start(self, ctx):
        if ctx.phase != CHG or ctx.after_gap:  # a charge whose start was missed has no onset to read
            return
        cfg = self.cfg
        self._i0 = ctx.i_a
        for c in range(ctx.n):
            # from (nearly) bare collector? the relaxed OCV of a rest just before says best
            soc = ctx.rest_soc[c] if ctx.rest_fresh else ctx.ests[c].soc
            low = min(ctx.rest_soc) if ctx.rest_fresh else soc
            self._on[c] = soc < cfg["nu_soc_max"] and soc <= low + cfg["nu_band"]
            self._early_sum[c] = self._late_sum[c] = 0.0
            self._early_n[c] = self._late_n[c] = 0
        self._any = True

    def on_charge_end(self, ctx):
        for c in range(ctx.n):
            self._on[c] = False

    def on_sample(self, ctx):
        # the plating overpotential decays as the first sodium covers the collector: the voltage early in the
        # charge (by charge passed) stands above its course a little later
        if ctx.phase != CHG or not self._any:
            return
        i_a = ctx.i_a
        qf = (ctx.t_s - ctx.seg_t0) * i_a / 3600.0 / ctx.q_nom  # ~charge passed, fraction of capacity (CC)
        steady = abs(i_a - self._i0) <= _STEADY_FRAC * abs(self._i0)
        early = self._early
        late = self._late
        for c in range(ctx.n):
            if not self._on[c]:
                continue
            if not steady:
                self._on[c] = False
            elif early[0] <= qf <= early[1]:
                self._early_sum[c] += ctx.v_cell[c]
                self._early_n[c] += 1
            elif late[0] <= qf <= late[1]:
                self._late_sum[c] += ctx.v_cell[c]
                self._late_n[c] += 1
            elif qf > late[1]:
                self._on[c] = False
                self._read(ctx, c)
        if qf > late[1]:
            self._any = False
            self._string(ctx.n, ctx.t_s)

    def _read(self, ctx, c):
        ne = self._early_n[c]
        nl = self._late_n[c]
        if ne >= 2 and nl >= 2:
            eta = self._early_sum[c] / ne - self._late_sum[c] / nl
            # the feature's standard error from the voltage noise, over both windows' means
            sd = ctx.v_sd(c) * sqrt(1.0 / ne + 1.0 / nl)
            x = self._eval(ctx, c, eta, sd)
            if x is not None:
                self._step[c] = x
                self._has[c] = True

    def _eval(self, ctx, c, eta, sd):
        """Step of the onset feature over its straight-line extrapolation from the cell's previous nu_base_n
        readings against equivalent full cycles; None while the baseline is short."""
        cfg = self.cfg
        hist = self._hist[c]
        hx = self._hist_x[c]
        x_now = ctx.ah_dis / ctx.q_nom
        m = len(hist)
        step = None
        if m >= cfg["nu_base_n"]:
            x_mean = sum(hx) / m
            y_mean = sum(hist) / m
            sxx = 0.0
            sxy = 0.0
            for k in range(m):
                sxx += (hx[k] - x_mean) * (hx[k] - x_mean)
                sxy += (hx[k] - x_mean) * (hist[k] - y_mean)
            slope = sxy / sxx if sxx > 1e-9 else 0.0
            step = eta - (y_mean + slope * (x_now - x_mean))
            # the step's noise: this reading's and the extrapolated line's (variance factor 1/m + lever^2/sxx)
            g = 1.0 / m + ((x_now - x_mean) * (x_now - x_mean) / sxx if sxx > 1e-9 else 0.0)
            self._sd[c] = sd * sqrt(1.0 + g)
            f = noise_factor(cfg["nu_k_sigma"], self._sd[c], cfg["nu_alarm_v"])
            self.lv.assess(self._ch, c, step / f, ctx.t_s)
            hist.pop(0)
            hx.pop(0)
        hist.append(eta)
        hx.append(x_now)
        return step

    def _string(self, n, t_s):
        """The median step of the cells evaluated in this charge (>= 3): a layer that degrades in every cell at
        once raises them together, by less than one cell's reading scatters."""
        cfg = self.cfg
        has = self._has
        xs = [self._step[c] for c in range(n) if has[c]]
        if len(xs) >= 3:
            sd = _MEDIAN_SE * median([self._sd[c] for c in range(n) if has[c]]) / sqrt(len(xs))
            med = median(xs) / noise_factor(cfg["nu_k_sigma"], sd, cfg["nu_str_alarm_v"])
            for c in range(n):
                if has[c]:
                    self.lv.assess(self._ch_string, c, med, t_s)
        for c in range(n):
            has[c] = False
