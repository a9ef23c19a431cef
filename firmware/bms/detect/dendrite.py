"""DENDRITE: drops of the pseudo-OCV v - R0*i during a constant-current charge below its recent maximum [V]
(docs/detectors.md, "Dendrite"). The channel's levels fall back at the end of each charge (levels.LATCH_CHARGE)."""
from math import sqrt

from bms.detect.context import CHG, Detector
from bms.detect.levels import channel
from bms.sums import floats

_LEARN_RATE = 0.002  # after the first dd_var_n steps the noise follows quiet stretches slowly


class Dendrite(Detector):
    def __init__(self, ctx, levels, cfg):
        Detector.__init__(self, ctx, levels, cfg)
        n = ctx.n
        self._ch = channel("dendrite")
        self._win_s = cfg["dd_win_s"]
        self._di_c = cfg["dd_di_c"]
        self._skip_s = cfg["dd_skip_s"]
        self._warn_v = cfg["dd_warn_v"]
        self._alarm_v = cfg["dd_alarm_v"]
        self._k_sigma = cfg["dd_k_sigma"]
        self._var_n = cfg["dd_var_n"]
        self._refractory_s = cfg["dd_refractory_s"]
        self._count_alarm = cfg["dd_count_alarm"]
        self._w = 0  # window length in samples (from the first dt)
        self._i_max = 0.0
        self._ring = []  # per cell: the pseudo-OCV over the window
        self._i_ring = []  # the current over the window
        self._pos = 0
        self._fill = 0
        self._var = floats(n)  # variance of the pseudo-OCV's sample-to-sample step (noise) ...
        self._n_var = [0] * n  # ... and how many steps taught it
        self._prev = floats(n)
        self._count = [0] * n  # warning-size drops in this charge
        self._quiet_until = floats(n)

    def on_segment_start(self, ctx):
        if ctx.phase == CHG:
            self._fill = 0
            self._i_max = 0.0
            for c in range(ctx.n):
                self._count[c] = 0

    def on_sample(self, ctx):
        if ctx.phase != CHG:
            return
        i_a = ctx.i_a
        dt_s = ctx.dt_s
        if self._w == 0:
            self._w = max(3, int(self._win_s / dt_s + 0.5)) if dt_s > 0.0 else 10
            self._ring = [floats(self._w) for _ in range(ctx.n)]
            self._i_ring = floats(self._w)
        pos = self._pos
        di = self._di_c * ctx.q_nom
        i_ok = False
        if self._fill >= self._w:
            ir = self._i_ring
            i_ok = (max(ir) - min(ir)) <= di and abs(i_a - ir[pos]) <= di
        if i_a > self._i_max:
            self._i_max = i_a
        # constant-current part only: in CV the current falls and an R0 error looks like a voltage drop
        check = i_ok and ctx.seg_age >= self._skip_s and i_a >= 0.95 * self._i_max
        for c in range(ctx.n):
            p = ctx.v_cell[c] - ctx.ests[c].r0_ohm(ctx.t_c[c]) * i_a
            if check:
                self._check(c, p, ctx.t_s)
            self._prev[c] = p
            self._ring[c][pos] = p
        self._i_ring[pos] = i_a
        self._pos = (pos + 1) % self._w
        self._fill += 1

    def _check(self, c, p, t_s):
        var = self._var[c]
        nv = self._n_var[c]
        drop = max(self._ring[c]) - p
        thr = self._warn_v
        if nv > 0 and self._k_sigma * sqrt(var) > thr:
            thr = self._k_sigma * sqrt(var)
        if nv < self._var_n or nv == 0:
            # the noise is learnt from every step first: a noisy front end's first charge would meet the
            # fixed levels with its noise still unknown
            d = p - self._prev[c]
            nv += 1
            self._var[c] = d * d if nv == 1 else var + (d * d - var) / nv
            self._n_var[c] = nv
        elif drop >= thr and t_s >= self._quiet_until[c]:
            self._quiet_until[c] = t_s + self._refractory_s
            self._count[c] += 1
            val = drop
            if self._count[c] >= self._count_alarm and val < self._alarm_v:
                val = self._alarm_v
            self.lv.assess(self._ch, c, val, t_s)
        elif drop < thr * 0.5:  # then followed, from quiet stretches only
            d = p - self._prev[c]
            self._var[c] = var + _LEARN_RATE * (d * d - var)
