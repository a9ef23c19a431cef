"""Plating-anomaly detectors of one string (CPython and MicroPython); docs/detectors.md says what each reads.

    det = PlatingDetectors(n_cells, detect_config.preset("nvp-mg-naf"), bal=None)   # bal: bms.balance.BottomBalancer
    events = det.update(t_s, dt_s, i_a, v_cell, t_c, ests)   # [(cell, kind, severity, t_s, value), ...] this tick
    det.i_chg_limit_a     # plating-risk-aware allowed charge current of the string [A]
    det.charge_inhibit    # True once a CRITICAL plating event stands (latched until clear_inhibit())

This facade writes the string's context (bms.detect.context) once per sample and calls each detector's hooks
(bms.detect.context.Detector); every detector reports on named channels to one level machine (bms.detect.levels:
det.levels.level / .evidence [channel][cell], det.trace = callable(cell, channel name, t_s, value)).
"""
from math import exp

from bms.config.constants import K_BOLTZMANN_EV, T_REF_K, ZERO_C_K
from bms.detect.context import CHG, REST, StringContext
from bms.detect.dead_sodium import DeadSodium
from bms.detect.dendrite import Dendrite
from bms.detect.levels import Levels
from bms.detect.model_mismatch import ModelMismatch
from bms.detect.nucleation import Nucleation
from bms.detect.soft_short import SoftShort
from bms.detect.stripping_void import StrippingVoid


class PlatingDetectors:
    def __init__(self, n_cells, cfg, bal=None):
        from bms.config import detect as detect_config

        detect_config.validate(cfg)
        if n_cells < 1:
            raise ValueError("n_cells must be >= 1")
        self.n = n_cells
        self.cfg = cfg
        self.ctx = ctx = StringContext(n_cells, cfg, bal)
        self.levels = lv = Levels(n_cells, cfg)
        # the order of the hooks within a sample: phase-specific readings, then the balancer's, then the model's
        self.soft_short = SoftShort(ctx, lv, cfg)
        self.nucleation = Nucleation(ctx, lv, cfg)
        self.dendrite = Dendrite(ctx, lv, cfg)
        self.stripping_void = StrippingVoid(ctx, lv, cfg)
        self.dead_sodium = DeadSodium(ctx, lv, cfg)
        self.model_mismatch = ModelMismatch(ctx, lv, cfg)
        self.detectors = (self.soft_short, self.nucleation, self.dendrite, self.stripping_void, self.dead_sodium,
                          self.model_mismatch)
        self.i_chg_limit_a = 0.0

    @property
    def charge_inhibit(self):
        return self.levels.charge_inhibit

    @charge_inhibit.setter
    def charge_inhibit(self, on):  # a reconfiguration carries a latched inhibit over to the new string
        self.levels.charge_inhibit = on

    @property
    def trace(self):
        return self.levels.trace

    @trace.setter
    def trace(self, fn):
        self.levels.trace = fn

    def clear_inhibit(self):
        """Service action: forget CRITICAL levels and allow charging again."""
        self.levels.clear_inhibit()

    def hold(self):
        """A sample the application could not trust and held back: every balancing resistor off (what they drain
        meanwhile is not counted), and the next sample starts afresh."""
        if self.ctx.bal is not None:
            self.ctx.bal.abort()
        self.ctx.gap = True

    def update(self, t_s, dt_s, i_a, v_cell, t_c, ests):
        out = []
        self.levels.out = out
        ctx = self.ctx
        ph = ctx.begin(t_s, dt_s, i_a, v_cell, t_c, ests)
        if not ctx.has_segment or ctx.gap:
            if ctx.gap and ctx.has_segment:
                self._end()  # what was read before the gap stands
            ctx.restart(ph)
            self._start()
        elif ph != ctx.phase:
            step = ctx.is_load_step(ph)
            resume = ctx.is_blip(ph)
            self._end()
            if step:
                for d in self.detectors:
                    d.on_load_step(ctx)
            if ctx.switch(ph, resume):
                self._start()
        ctx.count()
        for d in self.detectors:
            d.on_sample(ctx)
        self.i_chg_limit_a = charge_limit_a(self.cfg, ctx.q_nom, t_c, ests, self.levels.worst(),
                                            self.levels.charge_inhibit)
        return out

    def _start(self):
        ctx = self.ctx
        for d in self.detectors:
            d.on_segment_start(ctx)
        ctx.started()

    def _end(self):
        ctx = self.ctx
        if not ctx.segment_was_long():
            return
        if ctx.phase == REST:
            if not ctx.end_rest():
                return
            for d in self.detectors:
                d.on_rest_end(ctx)
            if ctx.last_active == CHG:
                ctx.anchor_top()
            return
        ctx.last_active = ctx.phase
        if ctx.phase == CHG:
            for d in self.detectors:
                d.on_charge_end(ctx)
            self.levels.end_charge()
        else:
            for d in self.detectors:
                d.on_discharge_end(ctx)


def build(n_cells, params, cfg, bal_r_ohm):
    """(balancer or None, detectors) of a string: params the cell's (bms.config.cell), cfg the detectors'
    (bms.config.detect), bal_r_ohm the board's balancing resistor per cell (0: none)."""
    from bms.balance import BottomBalancer

    bal = None
    if bal_r_ohm > 0.0:
        q_nom = cfg["q_nom_ah"] if cfg["q_nom_ah"] > 0.0 else params["q_ah"]
        bal = BottomBalancer(n_cells, q_nom, params["v_min"], bal_r_ohm, cfg["bal_max_s"], i_rest_c=cfg["i_rest_max_c"],
                             seg_min_s=cfg["seg_min_s"])
    return bal, PlatingDetectors(n_cells, cfg, bal)


def charge_limit_a(cfg, q_nom, t_c, ests, worst_level, inhibit):
    """The string's plating-risk-aware charge-current limit [A]: Arrhenius in the coldest cell's temperature (the
    critical current density falls when cold), scaled down as the cells age and by the worst detector level."""
    if inhibit:
        return 0.0
    t_min = 1e9
    q_min = 1e9
    for c in range(len(ests)):
        if t_c[c] < t_min:
            t_min = t_c[c]
        if ests[c].q_ah < q_min:
            q_min = ests[c].q_ah
    if t_min < cfg["cc_t_min_c"]:
        return 0.0
    f_t = exp(-cfg["cc_ea_ev"] / K_BOLTZMANN_EV * (1.0 / (t_min + ZERO_C_K) - 1.0 / T_REF_K))
    if f_t > 1.0:  # never above its 25 C value
        f_t = 1.0
    age = q_min / q_nom
    if age > 1.0:
        age = 1.0
    elif age < 0.0:
        age = 0.0
    return cfg["cc_max_c"] * q_nom * f_t * age ** cfg["cc_age_exp"] * cfg["cc_risk"][worst_level]
