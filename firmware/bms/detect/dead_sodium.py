"""DEAD_SODIUM: a cell losing sodium inventory faster than it did (docs/detectors.md, "Dead sodium").

With a bottom balancer (bms.balance): each cell's loss per cycle read between the empty states the balancer
drains every cell to, less the string's median, CUSUM over the cell's own baseline (channel dead_sodium_bal).
Without one: CUSUMs of the per-cycle charge balance at the empty end and of the relative loss (dead_sodium), and
the string's loss at its cut-off, which is the cut-off cell's (dead_sodium_cut).
"""
from math import sqrt

from bms.compat import const
from bms.detect.context import DIS, Detector, median, median_last3, noise_factor, ocv_slope
from bms.detect.levels import channel
from bms.sums import floats

_ABSOLUTE = const(0)  # the string's balance at the empty end
_RELATIVE = const(1)  # the cell's SoC change against the string's median


class DeadSodium(Detector):
    def __init__(self, ctx, levels, cfg):
        Detector.__init__(self, ctx, levels, cfg)
        n = ctx.n
        self._ch = channel("dead_sodium")
        self._ch_cut = channel("dead_sodium_cut")
        self._ch_bal = channel("dead_sodium_bal")
        self.loss_frac = floats(n)  # last per-cycle balance at the empty end [fraction of the charge discharged]
        # balanced channel: baseline readings and CUSUM per cell
        self._bal_hist = [[] for _ in range(n)]
        self._bal_s = floats(n)
        # empty-end anchors at rests after discharges
        self._an_ok = [False] * n
        self._an_soc = floats(n)
        self._an_net = floats(n)
        self._an_dis = floats(n)
        self._an_t = floats(n)
        self._hist = ([[] for _ in range(n)], [[] for _ in range(n)])  # per source (_ABSOLUTE, _RELATIVE)
        self.cusum = (floats(n), floats(n))
        self._last3 = ([[] for _ in range(n)], [[] for _ in range(n)])
        self._rel_ok = [False] * n
        self._rel_soc = floats(n)
        self._rel_d = floats(n)
        self._rel_has = [False] * n
        self._rel_dis = 0.0
        # the string's cut-off anchor: the counters at the last rest after an emptying
        self._cut_ok = False
        self._cut_net = 0.0
        self._cut_dis = 0.0
        self._cut_t = 0.0
        self._cut_hist = []
        self._cut_low_hist = []  # ... and the cut-off cell's relaxed-OCV SoC at them
        self._cut_base = None
        self._cut_low_base = 0.0
        self.cut_cusum = 0.0

    def on_segment_start(self, ctx):
        if ctx.after_gap:  # a loss counted across missed samples would read their charge
            for c in range(ctx.n):
                self._an_ok[c] = False
                self._rel_ok[c] = False
            self._cut_ok = False

    def on_sample(self, ctx):
        bal = ctx.bal
        if bal is not None and bal.fresh:
            self._balanced(ctx, bal)

    def on_rest_end(self, ctx):
        if ctx.last_active == DIS and ctx.bal is None:
            self._empty_anchor(ctx)

    def _q_noise_factor(self, ctx, span_s, dis_ah, alarm):
        """>= 1: the integrated current noise over span_s per capacity discharged, in dn_k_sigma, over the
        alarm level; a reading's excess is divided by it."""
        if dis_ah <= 0.0 or span_s <= 0.0:
            return 1.0
        sd = ctx.i_noise_a * sqrt(ctx.dt_s * span_s) / 3600.0 / dis_ah
        return noise_factor(self.cfg["dn_k_sigma"], sd, alarm)

    def _balanced(self, ctx, bal):
        """Each cell's loss from the balancer less the string's median (>= 3 cells), over the cell's own mean
        baseline, one-sided CUSUM (no median filter: the cut-off cell's anchor jitter telescopes in a sum)."""
        cfg = self.cfg
        n = ctx.n
        has = bal.has_loss
        m = 0
        for c in range(n):
            if has[c]:
                m += 1
        if n >= 3 and m < 3:
            return  # no string reference this time: a bare loss is not a relative one
        ref = median([bal.loss[c] for c in range(n) if has[c]]) if n >= 3 else 0.0
        skip = cfg["dn_skip_n"]
        for c in range(n):
            if not has[c]:
                continue
            x = bal.loss[c] - ref
            hist = self._bal_hist[c]
            if len(hist) < skip + cfg["dn_base_cycles"]:
                hist.append(x)
                continue
            base = 0.0
            for y in hist[skip:]:
                base += y
            base /= len(hist) - skip
            s = self._bal_s[c] + x - base - cfg["dn_bal_k"]
            self._bal_s[c] = s if s > 0.0 else 0.0
            self.lv.assess(self._ch_bal, c, self._bal_s[c], ctx.t_s)

    def _empty_anchor(self, ctx):
        """Per-cell loss since the previous rest after a discharge: the string's net charge in less the change
        of the cell's plated charge read on the steep low-SoC branch, per charge discharged."""
        cfg = self.cfg
        q = ctx.q_nom
        lowest = min(ctx.rest_soc)
        for c in range(ctx.n):
            soc = ctx.rest_soc[c]
            # only cells at (or next to) the string's empty end, where its balance is theirs
            if (soc > cfg["dn_soc_empty"] or soc > lowest + cfg["dn_band"]
                    or ocv_slope(ctx.ests[c], soc, ctx.t_c[c]) < cfg["dn_min_slope_v"]):
                self._an_ok[c] = False
                continue
            if self._an_ok[c]:
                dis = ctx.ah_dis - self._an_dis[c]
                # an anchor that moved far on the table's empty end reads the table's error, not a loss
                if dis >= cfg["dn_min_dis_frac"] * q and abs(soc - self._an_soc[c]) <= cfg["dn_max_dsoc"]:
                    loss = (ctx.ah_net - self._an_net[c]) - (soc - self._an_soc[c]) * q
                    f = self._q_noise_factor(ctx, ctx.t_s - self._an_t[c], dis, cfg["dn_alarm"])
                    self._eval(ctx, c, loss / dis, _ABSOLUTE, f)
            self._an_ok[c] = True
            self._an_soc[c] = soc
            self._an_net[c] = ctx.ah_net
            self._an_dis[c] = ctx.ah_dis
            self._an_t[c] = ctx.t_s
        self._relative(ctx)
        self._cut_anchor(ctx, lowest)

    def _cut_anchor(self, ctx, lowest):
        """The string's loss per cycle at its cut-off: the cell that sets it ends every emptying in the same
        state, so the string's net charge in between two such rests is that cell's loss (no OCV table)."""
        cfg = self.cfg
        q = ctx.q_nom
        c = 0
        while ctx.rest_soc[c] != lowest:
            c += 1
        if lowest > cfg["dn_cut_soc"] or ocv_slope(ctx.ests[c], lowest, ctx.t_c[c]) < cfg["dn_min_slope_v"]:
            return  # not emptied: wait for the next
        if self._cut_ok:
            dis = ctx.ah_dis - self._cut_dis
            if dis < cfg["dn_min_dis_frac"] * q:
                return  # too little discharged to tell: keep the anchor
            span = ctx.t_s - self._cut_t
            f = self._q_noise_factor(ctx, span, dis, cfg["dn_cut_alarm"])
            # the time per capacity discharged: one cycle's length, also for a reading that spans two
            self._cut_eval(c, ctx.t_s, (ctx.ah_net - self._cut_net) / dis, span * q / dis, lowest, f)
        self._cut_ok = True
        self._cut_net = ctx.ah_net
        self._cut_dis = ctx.ah_dis
        self._cut_t = ctx.t_s

    def _cut_eval(self, c, t_s, loss, cycle_s, soc_cut, f_noise):
        """CUSUM of the cut-off loss over the string's baseline; a longer cycle's excess is scaled to
        dn_cut_t_ref_s; a reading whose cut-off cell kept more sodium (dn_cut_rise) is skipped."""
        cfg = self.cfg
        skip = cfg["dn_skip_n"]
        if self._cut_base is None:
            self._cut_hist.append(loss)
            self._cut_low_hist.append(soc_cut)
            if len(self._cut_hist) == skip + cfg["dn_base_cycles"]:
                self._cut_base = median(self._cut_hist[skip:])
                self._cut_low_base = median(self._cut_low_hist[skip:])
            return
        if soc_cut - self._cut_low_base > cfg["dn_cut_rise"]:
            return
        excess = (loss - self._cut_base) / f_noise
        if cycle_s > cfg["dn_cut_t_ref_s"]:
            excess *= cfg["dn_cut_t_ref_s"] / cycle_s
        s = self.cut_cusum + excess - cfg["dn_cut_k"]
        self.cut_cusum = s if s > 0.0 else 0.0
        self.lv.assess(self._ch_cut, c, self.cut_cusum, t_s)

    def _relative(self, ctx):
        """A cell that loses more keeps less at each cut-off: loss_c - median = -(d plated_c - median)."""
        cfg = self.cfg
        q = ctx.q_nom
        dis = ctx.ah_dis - self._rel_dis
        self._rel_dis = ctx.ah_dis
        d = self._rel_d
        has = self._rel_has
        ok = self._rel_ok
        m = 0
        for c in range(ctx.n):
            soc = ctx.rest_soc[c]
            good = soc <= cfg["dn_soc_empty"] and ocv_slope(ctx.ests[c], soc, ctx.t_c[c]) >= cfg["dn_min_slope_v"]
            has[c] = good and ok[c]
            if has[c]:
                d[c] = soc - self._rel_soc[c]
                m += 1
            ok[c] = good
            self._rel_soc[c] = soc
        if m < 3 or dis < cfg["dn_min_dis_frac"] * q:
            return
        med = median([d[c] for c in range(ctx.n) if has[c]])
        for c in range(ctx.n):
            if has[c]:
                self._eval(ctx, c, -(d[c] - med) * q / dis, _RELATIVE)

    def _eval(self, ctx, c, loss, source, f_noise=1.0):
        """CUSUM (upper side) of a source's loss per cycle (median of the last 3) over the cell's own baseline."""
        cfg = self.cfg
        if source == _ABSOLUTE:
            self.loss_frac[c] = loss
        hist = self._hist[source][c]
        if len(hist) < cfg["dn_skip_n"] + cfg["dn_base_cycles"]:
            hist.append(loss)
            return
        base = median(hist[cfg["dn_skip_n"]:])
        s = self.cusum[source][c] + (median_last3(self._last3[source][c], loss) - base) / f_noise - cfg["dn_k"]
        self.cusum[source][c] = s if s > 0.0 else 0.0
        # less the string's median sum (>= 3 cells): a loss that speeds up in every cell alike is the string's
        s_abs = self.cusum[_ABSOLUTE]
        v = s_abs[c] - median(s_abs) if ctx.n >= 3 else s_abs[c]
        # the relative estimate's scale rests on the OCV table's shape at the empty end: a warning at most
        rel = self.cusum[_RELATIVE][c]
        if rel > cfg["dn_warn"]:
            rel = cfg["dn_warn"]
        if rel > v:
            v = rel
        self.lv.assess(self._ch, c, v, ctx.t_s)
