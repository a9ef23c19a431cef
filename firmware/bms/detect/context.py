"""The string's state as the detectors see it, written once per sample by the facade (bms.detect.plating).

Phase (charge / discharge / rest, from the string current against a rest threshold learnt from the current
noise), the segment's start and age, the charge counters, each cell's voltage noise learnt at rest, and the
anchors a rest leaves: the relaxed voltage, its SoC on the estimator's OCV curve, the SoC after a charge.
Detectors read it; nobody else tracks phases. Also here: the interface every detector implements (Detector), and
the statistics and OCV helpers they share.
"""
from math import sqrt

from bms.compat import const
from bms.sums import ChargeCount, floats

REST = const(0)
CHG = const(1)
DIS = const(-1)
_NOISE_N = const(500)  # running means over about this many samples
_NOISE_MIN_N = const(30)  # ... which count once they hold this many


class StringContext:
    def __init__(self, n_cells, cfg, bal=None):
        n = n_cells
        self.n = n
        self.bal = bal  # bms.balance.BottomBalancer (updated before the detectors each sample) or None
        self.q_nom = cfg["q_nom_ah"]
        self._i_rest_c = cfg["i_rest_c"]
        self._i_rest_k = cfg["i_rest_k"]
        self._i_rest_max_c = cfg["i_rest_max_c"]
        self.seg_min_s = cfg["seg_min_s"]
        self._ocv_avg_s = cfg["ocv_avg_s"]
        # this sample
        self.t_s = 0.0
        self.dt_s = 0.0
        self.i_a = 0.0
        self.v_cell = []  # this sample's (set by begin)
        self.t_c = []
        self.ests = []  # the cells' estimators (bms.est.estimator.CellEstimator)
        # phase and segment
        self.phase = REST
        self.has_segment = False  # the first sample starts one
        self.seg_t0 = 0.0
        # samples were missed (held back by the application): the segment under way and every reading that would
        # span the gap (charge counts, onsets) start over
        self.gap = False
        self.after_gap = False
        self.seg_age = 0.0
        self.last_active = REST  # phase of the last long charge/discharge segment
        self._rest_t0 = None  # start of the rest before the current segment (a blip resumes it)
        self._seg_ah0 = 0.0
        # charge counters of the string [Ah] (charge > 0), compensated sums
        self._count = ChargeCount()
        self.ah_net = 0.0
        self.ah_dis = 0.0
        self.ah_since_top = 0.0
        # the current sensor at rest: rest threshold and noise learnt from rest samples
        self.i_thr_a = 0.0  # |i| below this is rest (0: i_rest_c until learnt)
        self.i_noise_a = 0.0
        self._ir_n = 0
        self._ir_mean = 0.0
        self._ir_var = 0.0
        # each cell's voltage noise, from second differences of consecutive rest samples
        self._vn_var = floats(n)
        self._vn_n = 0
        self._vn_v1 = floats(n)
        self._vn_v2 = floats(n)
        self._vn_k = 0
        self._vn_t = 0.0
        self._bleed_t = -1e9  # when a cell last drained on its balancing resistor
        # rest anchors
        self.v_avg = floats(n)  # relaxed voltage (EWMA over ocv_avg_s) ...
        self.v_avg_ok = False  # ... once this rest has averaged
        self.rest_soc = floats(n, 0.5)  # its SoC on each estimator's OCV curve, at the end of the last long rest
        self.rest_fresh = False  # rest_soc was read at the end of the rest just before this segment
        self.top_ok = False  # the rest after a charge read top_soc: coulomb count from there
        self.top_soc = floats(n, 1.0)

    def v_sd(self, c):
        """Cell c's voltage noise (standard deviation) learnt at rest; 0 until it has been taught."""
        return sqrt(self._vn_var[c]) if self._vn_n >= _NOISE_MIN_N else 0.0

    def begin(self, t_s, dt_s, i_a, v_cell, t_c, ests):
        """Take a sample; return its phase (the segment is not switched yet)."""
        self.t_s = t_s
        self.dt_s = dt_s
        self.i_a = i_a
        self.v_cell = v_cell
        self.t_c = t_c
        self.ests = ests
        if self.q_nom <= 0.0:
            q = 0.0
            for e in ests:
                q += e.q_ah
            self.q_nom = q / self.n if q > 0.0 else 1.0
        i_thr = self.i_thr_a if self.i_thr_a > 0.0 else self._i_rest_c * self.q_nom
        ph = CHG if i_a > i_thr else (DIS if i_a < -i_thr else REST)
        if ph == REST:
            self._learn_rest_current(i_a)
        return ph

    def is_load_step(self, ph):
        """A long rest ends in a charge or discharge: the rest's anchors are fresh for a step reading."""
        return self.phase == REST and ph != REST and self.t_s - self.seg_t0 >= self.seg_min_s

    def is_blip(self, ph):
        """A short pulse inside a rest that moved (almost) no charge: the rest goes on, its fit intact."""
        return (ph == REST and self._rest_t0 is not None and self.t_s - self.seg_t0 < self.seg_min_s
                and abs(self.ah_net - self._seg_ah0) * 3600.0 < self._i_rest_c * self.q_nom * self.seg_min_s)

    def segment_was_long(self):
        return self.t_s - self.seg_t0 >= self.seg_min_s

    def switch(self, ph, resume):
        """Enter phase ph; resume: back into the rest a blip interrupted. True if a new segment starts."""
        rest_t0 = self._rest_t0
        self._rest_t0 = self.seg_t0 if self.phase == REST else None
        self.phase = ph
        if resume and rest_t0 is not None:  # is_blip() resumes only a rest that had started
            self.seg_t0 = rest_t0
            return False
        self.start(ph)
        return True

    def restart(self, ph):
        """The first sample, or the first after a gap: a segment starts here, with no history behind it."""
        self.after_gap = self.gap
        self.gap = False
        self._rest_t0 = None
        if self.after_gap:
            self.last_active = REST
            self.top_ok = False
        self.start(ph)

    def start(self, ph):
        self.has_segment = True
        self.phase = ph
        self.seg_t0 = self.t_s
        self._seg_ah0 = self.ah_net
        if ph == CHG:
            self.top_ok = False
        elif ph == REST:
            self.v_avg_ok = False

    def started(self):
        """After every detector saw a new segment's start: the last rest's anchors are no longer fresh."""
        self.rest_fresh = False
        self.after_gap = False

    def end_rest(self):
        """A long rest ended: its relaxed voltages read as SoC anchors. False if it never averaged."""
        if not self.v_avg_ok:
            return False
        for c in range(self.n):
            self.rest_soc[c] = soc_of_ocv(self.ests[c], self.v_avg[c], self.t_c[c])
        self.rest_fresh = True
        return True

    def anchor_top(self):
        """The rest after a charge: count each cell's SoC from its relaxed OCV there."""
        for c in range(self.n):
            self.top_soc[c] = self.rest_soc[c]
        self.top_ok = True
        self.ah_since_top = 0.0

    def count(self):
        """This sample's charge, its segment's age, and at rest the relaxed voltages and voltage noise."""
        dah = self.i_a * self.dt_s / 3600.0
        count = self._count
        count.add(dah)
        self.ah_net = count.net
        self.ah_dis = count.dis
        self.ah_since_top += dah
        self.seg_age = self.t_s - self.seg_t0
        if self.phase == REST:
            self._rest_sample()

    def _rest_sample(self):
        a = self.dt_s / self._ocv_avg_s
        if a > 1.0:
            a = 1.0
        avg = self.v_avg
        v_cell = self.v_cell
        if self.v_avg_ok:
            for c in range(self.n):
                avg[c] += a * (v_cell[c] - avg[c])
        else:
            for c in range(self.n):
                avg[c] = v_cell[c]
            self.v_avg_ok = True
        # a cell on its balancing resistor is not at rest: its fall down the empty knee is not noise
        if self.bal is not None and self.bal.bleeding:
            self._bleed_t = self.t_s
        if self.t_s - self._bleed_t >= self.seg_min_s:
            self._learn_v_noise()

    def _learn_rest_current(self, i_a):
        """Offset and noise of the current at rest, and from them the rest threshold: |offset| + i_rest_k sigma,
        between i_rest_c and i_rest_max_c."""
        n = self._ir_n + 1 if self._ir_n < _NOISE_N else _NOISE_N
        self._ir_n = n
        d = i_a - self._ir_mean
        self._ir_mean += d / n
        self._ir_var += (d * (i_a - self._ir_mean) - self._ir_var) / n
        if n >= _NOISE_MIN_N:
            self.i_noise_a = sqrt(self._ir_var) if self._ir_var > 0.0 else 0.0
            thr = abs(self._ir_mean) + self._i_rest_k * self.i_noise_a
            lo = self._i_rest_c * self.q_nom
            hi = self._i_rest_max_c * self.q_nom
            self.i_thr_a = lo if thr < lo else (hi if thr > hi else thr)

    def _learn_v_noise(self):
        """A second difference of consecutive rest samples past seg_min_s (the relaxation is nearly straight over
        three samples there) has variance 6 sigma_v^2."""
        t_s = self.t_s
        if self.seg_age < self.seg_min_s or t_s - self._vn_t > 1.5 * self.dt_s:
            self._vn_k = 0
        self._vn_t = t_s
        k = self._vn_k
        v1 = self._vn_v1
        v2 = self._vn_v2
        v_cell = self.v_cell
        if k == 2:
            m = self._vn_n + 1 if self._vn_n < _NOISE_N else _NOISE_N
            self._vn_n = m
            var = self._vn_var
            for c in range(self.n):
                d2 = v_cell[c] - 2.0 * v1[c] + v2[c]
                var[c] += (d2 * d2 / 6.0 - var[c]) / m
        else:
            self._vn_k = k + 1
        for c in range(self.n):
            v2[c] = v1[c]
            v1[c] = v_cell[c]


class Detector:
    """The interface every detector implements: hooks the facade (bms.detect.plating) calls with the string's
    context; evidence goes to the level machine (bms.detect.levels) by channel. A hook not overridden does
    nothing."""

    def __init__(self, ctx, levels, cfg):
        self.ctx = ctx
        self.lv = levels
        self.cfg = cfg

    def on_segment_start(self, ctx):
        """A charge, discharge or rest begins (ctx.phase); the last rest's anchors are still readable."""

    def on_sample(self, ctx):
        """Every sample, after the context took it."""

    def on_rest_end(self, ctx):
        """A long rest ended (ctx.rest_soc is fresh; ctx.last_active: the phase before it)."""

    def on_charge_end(self, ctx):
        """A long charge ended."""

    def on_discharge_end(self, ctx):
        """A long discharge ended."""

    def on_load_step(self, ctx):
        """The first sample of a charge or discharge after a long rest (ctx.v_avg: the rest's relaxed voltages)."""


# ---- statistics and OCV helpers the detectors share
def median(xs):
    s = sorted(xs)
    m = len(s)
    if m == 0:
        return 0.0
    h = m >> 1
    return s[h] if m & 1 else 0.5 * (s[h - 1] + s[h])


def median_last3(buf, x):
    """Append x to buf, keep its last three values, return their median."""
    buf.append(x)
    if len(buf) > 3:
        buf.pop(0)
    return median(buf)


class RunningMedian:
    """The median of a list whose values move a little every tick, without allocating: an index order kept from
    the last call and re-sorted by insertion (nearly sorted already: ~n steps)."""

    def __init__(self, n):
        self._order = list(range(n))

    def of(self, xs):
        o = self._order
        m = len(o)
        for k in range(1, m):
            j = o[k]
            x = xs[j]
            p = k - 1
            while p >= 0 and xs[o[p]] > x:
                o[p + 1] = o[p]
                p -= 1
            o[p + 1] = j
        if m == 0:
            return 0.0
        h = m >> 1
        return xs[o[h]] if m & 1 else 0.5 * (xs[o[h - 1]] + xs[o[h]])


def noise_factor(k_sigma, sd, level):
    """>= 1: how far k_sigma standard errors (sd) reach above a level set with a quiet front end; a detector
    divides its evidence (or its excess) by it."""
    f = k_sigma * sd / level
    return f if f > 1.0 else 1.0


def soc_of_ocv(est, v, t_c):
    """SoC whose model OCV is v (bisection on the estimator's monotonic OCV curve)."""
    lo = 0.0
    hi = 1.0
    if v <= est.ocv(lo, t_c):
        return lo
    if v >= est.ocv(hi, t_c):
        return hi
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        if est.ocv(mid, t_c) < v:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ocv_slope(est, soc, t_c):
    """dOCV/dSoC [V per unit SoC] over +/-0.2 % around soc (the ends are strongly curved)."""
    a = soc - 0.002
    b = soc + 0.002
    if a < 0.0:
        a = 0.0
    if b > 1.0:
        b = 1.0
    return (est.ocv(b, t_c) - est.ocv(a, t_c)) / (b - a)
