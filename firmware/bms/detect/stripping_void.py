"""STRIPPING_VOID: growth of R_end/R_mid (apparent resistance late vs mid discharge) over the cell's own
baseline (docs/detectors.md, "Stripping void")."""
from bms.compat import const
from bms.detect.context import DIS, Detector, median
from bms.detect.levels import channel
from bms.sums import floats

_MIN_N = const(10)  # samples in a window before its mean counts


class StrippingVoid(Detector):
    def __init__(self, ctx, levels, cfg):
        Detector.__init__(self, ctx, levels, cfg)
        n = ctx.n
        self._ch = channel("stripping_void")
        self._seg_min_s = cfg["seg_min_s"]
        self._min_c = cfg["sv_min_c"]
        self._mid_lo = cfg["sv_mid_lo"]
        self._mid_hi = cfg["sv_mid_hi"]
        self._end_lo = cfg["sv_end_lo"]
        self._end_hi = cfg["sv_end_hi"]
        self._mid = floats(n)
        self._mid_n = [0] * n
        self._end = floats(n)
        self._end_n = [0] * n
        self._hist = [[] for _ in range(n)]
        self._last = floats(n)
        self._last_soc = floats(n)

    def on_segment_start(self, ctx):
        if ctx.phase == DIS:
            for c in range(ctx.n):
                self._mid[c] = self._end[c] = 0.0
                self._mid_n[c] = self._end_n[c] = 0
                self._last_soc[c] = 0.0

    def on_sample(self, ctx):
        i_a = ctx.i_a
        if ctx.phase != DIS or ctx.seg_age < self._seg_min_s or -i_a < self._min_c * ctx.q_nom:
            return
        for c in range(ctx.n):
            e = ctx.ests[c]
            # SoC counted from the OCV read in the rest after the charge (a filter wanders on the plateau)
            soc = ctx.top_soc[c] + ctx.ah_since_top / ctx.q_nom if ctx.top_ok else e.soc
            if self._end_hi < soc < self._mid_lo - 0.1:
                continue  # between the windows
            r = (e.ocv(soc, ctx.t_c[c]) - ctx.v_cell[c]) / -i_a
            self._last[c] = r
            self._last_soc[c] = soc
            if self._end_lo <= soc <= self._end_hi:
                self._end[c] += r
                self._end_n[c] += 1
            elif self._mid_lo <= soc <= self._mid_hi:
                self._mid[c] += r
                self._mid_n[c] += 1

    def on_discharge_end(self, ctx):
        for c in range(ctx.n):
            self._eval(c, ctx.t_s)

    def _eval(self, c, t_s):
        cfg = self.cfg
        if self._mid_n[c] < _MIN_N:
            return
        r_mid = self._mid[c] / self._mid_n[c]
        if self._end_n[c] >= _MIN_N:
            r_end = self._end[c] / self._end_n[c]
        elif self._last_soc[c] > self._end_hi and self._end_n[c] == 0 and len(self._hist[c]) >= cfg["sv_base_n"]:
            # the string stopped at another cell's cut-off with this one above its end window: its polarisation
            # at the cut-off is the evidence, unless it says nothing
            r_end = self._last[c]
            if self.lv.evidence[self._ch][c] <= 0.0 and r_end / r_mid - median(self._hist[c]) < cfg["sv_warn"]:
                return
        else:
            return
        if r_mid <= 1e-6:
            return
        ratio = r_end / r_mid
        hist = self._hist[c]
        if len(hist) < cfg["sv_base_n"]:
            hist.append(ratio)
            return
        self.lv.assess(self._ch, c, ratio - median(hist), t_s)
