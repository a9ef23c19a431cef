"""Plating-anomaly detectors for anode-free sodium cells (runs unchanged on CPython and MicroPython).

    det = PlatingDetectors(n_cells, detectparams.preset("nvp-mg-naf"), bal=None)   # bal: bms.balance.BottomBalancer
    events = det.update(t_s, dt_s, i_a, v_cell, t_c, ests)   # [(cell, kind, severity, t_s, value), ...] raised this tick
    det.i_chg_limit_a     # plating-risk-aware allowed charge current of the string [A]
    det.charge_inhibit    # True once a CRITICAL plating event stands (latched until clear_inhibit())

Six detectors (principles, thresholds and blind spots in docs/detectors.md), all fed by the string current, the cell
voltages/temperatures and the cells' estimators (bms.est.estimator.CellEstimator: soc, q_ah, nis, r0_ohm(), ocv()):
  SOFT_SHORT      leakage C-rate: EKF SoC drift against coulomb counting late in each rest (differential across the
                  string when it has >= 3 cells), and each full cycle's charge balance beyond the expected loss.
  DENDRITE        drops of the pseudo-OCV v - R0*i during charge against its recent maximum [V].
  DEAD_SODIUM     with a bottom balancer (bms.balance, its own level slot DN_BAL_SLOT): each cell's loss per cycle,
                  counted between the empty states the balancer drains every cell to, less the string's median,
                  CUSUM over the cell's own baseline [fraction of the charge discharged].  Without one: CUSUM of
                  the per-cycle charge balance (charge in - charge out) over the cell's own baseline; and (a level
                  slot of its own) the string's loss per cycle at its cut-off, which is the loss of the cell that
                  sets the cut-off, over the string's baseline.
  NUCLEATION      growth of the voltage overshoot at the onset of a charge from empty over the cell's own baseline [V];
                  and (a level slot of its own) the median growth of the string's cells in that charge.
  STRIPPING_VOID  growth of R_end/R_mid (apparent resistance late vs mid discharge) over the cell's own baseline.
  MODEL_MISMATCH  mean normalised innovation squared of the EKF over a window against the string; and (its second
                  channel, a level machine of its own) the cell's step resistance at each rest -> load step
                  against the string's median, over the cell's own baseline (a resistance rise the EKF absorbs).

Phases come from the string current: charge (i > i_rest), discharge (i < -i_rest), rest; segments shorter than
seg_min_s are blips. Levels follow foxBMS practice: an event is raised on entry into a higher level (after
mm_delay_n windows for the model detector), a level clears with hysteresis (hyst_frac), CRITICAL latches.

Extras for benches/tests: det.level[kind][cell] (current level), det.evidence[kind][cell] (last evidence value),
det.trace = callable(cell, kind, t_s, value) called at every evaluation (threshold sweeps), det.leak_c[cell]
(last leakage estimate, C-rate), det.i_thr_a and det.i_noise_a (the rest threshold and current noise learnt at
rest), det.clear_inhibit().
"""
from math import exp, sqrt

from bms.core import events as ev

REST = 0
CHG = 1
DIS = -1

MM_STEP_SLOT = 7  # the model detector's step-resistance channel: a level slot of its own, reported as MODEL_MISMATCH
DN_CUT_SLOT = 8  # the dead-sodium detector's cut-off channel: a level slot of its own, reported as DEAD_SODIUM
NU_STR_SLOT = 9  # the nucleation detector's string channel: a level slot of its own, reported as NUCLEATION
DN_BAL_SLOT = 10  # the dead-sodium detector's balanced channel (each cell's loss read by bms.balance)
_N_SLOTS = 11  # level tables: kind codes 1..6, then MM_STEP_SLOT, DN_CUT_SLOT, NU_STR_SLOT, DN_BAL_SLOT
_K_BOLTZMANN_EV = 8.617e-5


class PlatingDetectors:
    def __init__(self, n_cells, cfg, bal=None):
        from bms.config import detect as detectparams

        detectparams.validate(cfg)
        if n_cells < 1:
            raise ValueError("n_cells must be >= 1")
        self.n = n = n_cells
        self.cfg = cfg
        # the string's bottom balancer (bms.balance.BottomBalancer, updated before this each sample) or None: with
        # it each cell's loss is read directly, and its bleeds are charge the cells lose
        self.bal = bal
        self._bl_hist = [[] for _ in range(n)]
        self._bl_s = [0.0] * n
        self._bl_t = -1e9  # when a cell last drained
        self.q_nom = cfg["q_nom_ah"]
        self.level = [[0] * n for _ in range(_N_SLOTS)]
        self.evidence = [[0.0] * n for _ in range(_N_SLOTS)]
        self._pending = [[0] * n for _ in range(_N_SLOTS)]
        self.trace = None
        self.charge_inhibit = False
        self.i_chg_limit_a = 0.0
        self.leak_c = [0.0] * n  # last leakage estimate of the late-rest voltage fit [C-rate]
        self.cb_leak_c = [0.0] * n  # last leakage estimate of the full-cycle charge balance [C-rate]
        self.loss_frac = [0.0] * n
        self._ests = []  # the estimators of the last update (rest evaluation reads their OCV curves)
        # phase of the string; charge counters [Ah] (string current: the same for every cell)
        self.phase = REST
        self.seg_t0 = None
        self._last_active = REST  # phase of the last long charge/discharge segment
        self._rest_t0 = None  # start of the rest before the current charge/discharge segment (blips resume it)
        self._seg_ah0 = 0.0  # ah_net at the start of the current segment
        self.ah_net = 0.0
        self.ah_dis = 0.0
        # the current sensor at rest (its offset and noise), learnt from the rest samples: the rest threshold
        # rises above the noise (a noisy sensor otherwise shreds every rest into blips), and the charge counters'
        # integrated noise scales the dead-sodium readings
        self.i_thr_a = 0.0  # |i| below this is rest (0: i_rest_c until learnt)
        self.i_noise_a = 0.0  # standard deviation of the current samples at rest (0: not learnt yet)
        self._ir_n = 0
        self._ir_mean = 0.0
        self._ir_var = 0.0
        self._dt_s = 0.0
        # each cell's voltage noise, learnt at rest from second differences (the relaxation's slow course cancels)
        self._vn_var = [0.0] * n  # sigma_v^2 (a running mean over the last ~500 samples) ...
        self._vn_n = 0  # ... from this many samples
        self._vn_v1 = [0.0] * n  # the last two rest samples ...
        self._vn_v2 = [0.0] * n
        self._vn_k = 0  # ... how many consecutive ones are held (0-2) ...
        self._vn_t = 0.0  # ... and when the last was taken
        # rests: relaxed voltage, late-rest voltage fit (soft short), OCV anchors
        self._v_avg = [None] * n
        self._fit_n = [0] * n
        self._fit_v0 = [0.0] * n
        self._fit_st = [0.0] * n
        self._fit_sv = [0.0] * n
        self._fit_stt = [0.0] * n
        self._fit_stv = [0.0] * n
        self._ss_slope = [0.0] * n
        self._ss_f = [1.0] * n  # the last rest fit's noise factor (>= 1)
        self._fit_t0 = 0.0
        self._fit_next = 0.0
        self._rest_soc = [0.5] * n
        self._rest_fresh = False
        self._top_ok = False  # SoC known from the rest after a charge: coulomb count from there
        self._top_soc = [1.0] * n
        self._ah_since_top = 0.0
        # soft short, charge balance: per anchor kind (0: rest after a charge, 1: after a discharge) the cell's
        # plated charge minus the string's counted charge at its last readable anchor, when, and ah_dis then
        self._cb_ok = ([False] * n, [False] * n)
        self._cb_x = ([0.0] * n, [0.0] * n)
        self._cb_t = ([0.0] * n, [0.0] * n)
        self._cb_dis = ([0.0] * n, [0.0] * n)
        self._cb_rate = [0.0] * n
        self._cb_has = [False] * n
        self._cb_hist = ([[] for _ in range(n)], [[] for _ in range(n)])  # each cell's first rates: its baseline
        self._cb_own = ([0.0] * n, [0.0] * n)  # last rate over the own baseline
        self._cb_leak = ([0.0] * n, [0.0] * n)  # last leakage estimate per anchor kind
        # dead sodium: anchors at rests after discharges, baseline, CUSUM
        self._an_ok = [False] * n
        self._an_soc = [0.0] * n
        self._an_net = [0.0] * n
        self._an_dis = [0.0] * n
        self._an_t = [0.0] * n
        self._dn_hist = ([[] for _ in range(n)], [[] for _ in range(n)])  # string balance, relative loss
        self._dn_s = ([0.0] * n, [0.0] * n)
        self._dn_last = ([[] for _ in range(n)], [[] for _ in range(n)])  # the last 3 losses: a median of 3
        self._rl_ok = [False] * n
        self._rl_soc = [0.0] * n
        self._rl_d = [0.0] * n
        self._rl_has = [False] * n
        self._rl_dis = 0.0
        self._cut_ok = False  # the string's cut-off anchor: the counters at the last rest after an emptying
        self._cut_net = 0.0
        self._cut_dis = 0.0
        self._cut_t = 0.0
        self._cut_hist = []  # the first readings, for the baseline
        self._cut_low_hist = []  # ... and the cut-off cell's relaxed-OCV SoC at them
        self._cut_base = None
        self._cut_low_base = 0.0
        self._cut_s = 0.0
        # dendrite
        self._dd_w = 0
        self._dd_imax = 0.0
        self._dd_ring = []
        self._dd_iring = []
        self._dd_pos = 0
        self._dd_fill = 0
        self._dd_var = [None] * n  # variance of the pseudo-OCV's sample-to-sample step (noise), per cell ...
        self._dd_nvar = [0] * n  # ... and how many steps it has learnt from
        self._dd_prev = [0.0] * n
        self._dd_count = [0] * n
        self._dd_quiet_until = [0.0] * n
        # nucleation
        self._nu_on = [False] * n
        self._nu_any = False
        self._nu_e = [0.0] * n
        self._nu_l = [0.0] * n
        self._nu_en = [0] * n
        self._nu_ln = [0] * n
        self._nu_i0 = 0.0
        self._nu_hist = [[] for _ in range(n)]
        self._nu_hx = [[] for _ in range(n)]  # ... and when each was read: equivalent full cycles (ah_dis / q_nom)
        self._nu_sd = [0.0] * n  # this charge's step's standard error from the sensor noise (0: unknown) ...
        self._nu_step = [0.0] * n  # this charge's step per cell ...
        self._nu_has = [False] * n  # ... where evaluated
        # stripping void
        self._sv_mid = [0.0] * n
        self._sv_mid_n = [0] * n
        self._sv_end = [0.0] * n
        self._sv_end_n = [0] * n
        self._sv_hist = [[] for _ in range(n)]
        self._sv_last = [0.0] * n
        self._sv_last_soc = [0.0] * n
        # model mismatch
        self._mm_sum = [0.0] * n
        self._mm_cnt = [0] * n
        self._mm_val = [0.0] * n
        self._mm_soc = [0.0] * n
        self._mm_n = 0
        self._mm_t0 = None
        self._mm_r = [0.0] * n
        self._mm_rhist = ([[] for _ in range(n)], [[] for _ in range(n)])  # per step direction (charge, discharge)
        self._mm_rlast = ([[] for _ in range(n)], [[] for _ in range(n)])

    # ------------------------------------------------------------------ levels
    def _assess(self, out, kind, c, value, t_s, warn, alarm, crit, delay_n=1, slot=0):
        """Level machine of one detector on one cell: raise on entry into a higher level, clear with hysteresis.
        slot: the level table of a second channel of the same detector (default: the kind's own)."""
        ev_kind = kind
        if slot:
            kind = slot
        self.evidence[kind][c] = value
        if self.trace is not None:
            self.trace(c, kind, t_s, value)
        target = 0
        if value >= warn:
            target = ev.WARNING
            if value >= alarm:
                target = ev.ALARM
                if crit > 0.0 and value >= crit:
                    target = ev.CRITICAL
        lvl = self.level[kind][c]
        if target > lvl:
            k = self._pending[kind][c] + 1
            if k >= delay_n:
                self._pending[kind][c] = 0
                self.level[kind][c] = target
                out.append((c, ev_kind, target, t_s, value))
                if target == ev.CRITICAL:
                    self.charge_inhibit = True
            else:
                self._pending[kind][c] = k
            return
        self._pending[kind][c] = 0
        if ev.WARNING <= lvl < ev.CRITICAL:  # CRITICAL latches
            h = self.cfg["hyst_frac"]
            if value < warn * h:
                self.level[kind][c] = 0
            elif lvl == ev.ALARM and value < alarm * h:
                self.level[kind][c] = ev.WARNING

    def _clear_level(self, kind, c):
        if self.level[kind][c] < ev.CRITICAL:
            self.level[kind][c] = 0
            self._pending[kind][c] = 0

    def clear_inhibit(self):
        """Service action: forget CRITICAL levels and allow charging again."""
        self.charge_inhibit = False
        for kind in range(1, _N_SLOTS):
            for c in range(self.n):
                if self.level[kind][c] == ev.CRITICAL:
                    self.level[kind][c] = 0

    # ------------------------------------------------------------------ main entry
    def update(self, t_s, dt_s, i_a, v_cell, t_c, ests):
        out = []
        n = self.n
        cfg = self.cfg
        self._ests = ests
        if self.q_nom <= 0.0:
            q = 0.0
            for e in ests:
                q += e.q_ah
            self.q_nom = q / n if q > 0.0 else 1.0
        q_nom = self.q_nom
        self._dt_s = dt_s
        i_thr = self.i_thr_a if self.i_thr_a > 0.0 else cfg["i_rest_c"] * q_nom
        ph = CHG if i_a > i_thr else (DIS if i_a < -i_thr else REST)
        if ph == REST:
            self._learn_rest_current(i_a)
        if self.seg_t0 is None:
            self.seg_t0 = t_s
            self.phase = ph
            self._start_segment(t_s, ph, i_a, ests)
        elif ph != self.phase:
            step = self.phase == REST and ph != REST and t_s - self.seg_t0 >= cfg["seg_min_s"]
            # a blip (a current spike, a noisy sample over i_rest) inside a rest: the rest goes on, its late-rest
            # fit intact (a reset there cost a leak its first rest); the anchors taken at the blip are re-taken
            # ... but a short pulse that moved charge (a string cut off at once, a charge stopped after seconds) is
            # a real step: the voltages move and relax again, and the rest starts over
            resume = (ph == REST and self._rest_t0 is not None and t_s - self.seg_t0 < cfg["seg_min_s"]
                      and abs(self.ah_net - self._seg_ah0) * 3600.0 < cfg["i_rest_c"] * q_nom * cfg["seg_min_s"])
            self._end_segment(out, t_s, t_c, ests)
            if step:  # after the rest's end: its relaxed-OCV anchors are fresh
                self._step_eval(out, t_s, i_a, v_cell)
            rest_t0 = self._rest_t0
            self._rest_t0 = self.seg_t0 if self.phase == REST else None
            self.phase = ph
            if resume:
                self.seg_t0 = rest_t0
            else:
                self.seg_t0 = t_s
                self._seg_ah0 = self.ah_net
                self._start_segment(t_s, ph, i_a, ests)
        dah = i_a * dt_s / 3600.0
        self.ah_net += dah
        if dah < 0.0:
            self.ah_dis -= dah
        self._ah_since_top += dah
        seg_age = t_s - self.seg_t0
        if ph == REST:
            self._rest_tick(out, t_s, seg_age, dt_s, v_cell, t_c)
        elif ph == CHG:
            self._charge_tick(out, t_s, seg_age, dt_s, i_a, v_cell, t_c, ests)
        else:
            self._discharge_tick(t_s, seg_age, i_a, v_cell, t_c, ests)
        bal = self.bal
        if bal is not None and bal.fresh:
            self._bal_loss(out, t_s, bal)
        self._model_tick(out, t_s, ests)
        self._charge_limit(t_c, ests)
        return out

    # ------------------------------------------------------------------ segments
    def _learn_rest_current(self, i_a):
        """Offset and noise of the current samples at rest (a running mean over the last ~500), and from them the
        rest threshold: |offset| + i_rest_k sigma, between i_rest_c and i_rest_max_c.  The first estimates come
        from samples inside the default threshold (a truncated spread): the threshold climbs over a few rests."""
        cfg = self.cfg
        n = self._ir_n + 1 if self._ir_n < 500 else 500
        self._ir_n = n
        d = i_a - self._ir_mean
        self._ir_mean += d / n
        self._ir_var += (d * (i_a - self._ir_mean) - self._ir_var) / n
        if n >= 30:
            self.i_noise_a = sqrt(self._ir_var) if self._ir_var > 0.0 else 0.0
            thr = abs(self._ir_mean) + cfg["i_rest_k"] * self.i_noise_a
            lo = cfg["i_rest_c"] * self.q_nom
            hi = cfg["i_rest_max_c"] * self.q_nom
            self.i_thr_a = lo if thr < lo else (hi if thr > hi else thr)

    def _learn_v_noise(self, t_s, seg_age, dt_s, v_cell):
        """Each cell's voltage noise: a second difference of consecutive rest samples (past seg_min_s, where the
        relaxation is slow and nearly straight over three samples) has variance 6 sigma_v^2."""
        if seg_age < self.cfg["seg_min_s"] or t_s - self._vn_t > 1.5 * dt_s:
            self._vn_k = 0
        self._vn_t = t_s
        k = self._vn_k
        v1 = self._vn_v1
        v2 = self._vn_v2
        if k == 2:
            m = self._vn_n + 1 if self._vn_n < 500 else 500
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

    def _v_sd(self, c):
        """Cell c's voltage noise (standard deviation) learnt at rest; 0 until 30 samples have taught it."""
        return sqrt(self._vn_var[c]) if self._vn_n >= 30 else 0.0

    def _q_noise_factor(self, span_s, dis_ah, alarm):
        """>= 1: the integrated current noise of a reading over span_s (white samples: sigma_i sqrt(dt span)) per
        capacity discharged, times dn_k_sigma, over the alarm level the thresholds were set at with a quiet
        current sensor; a dead-sodium reading's excess is divided by it."""
        if dis_ah <= 0.0 or span_s <= 0.0:
            return 1.0
        sd = self.i_noise_a * sqrt(self._dt_s * span_s) / 3600.0 / dis_ah
        return _noise_factor(self.cfg["dn_k_sigma"], sd, alarm)

    def _start_segment(self, t_s, ph, i_a, ests):
        cfg = self.cfg
        n = self.n
        if ph == CHG:
            self._top_ok = False
            self._dd_fill = 0
            self._dd_imax = 0.0
            self._nu_i0 = i_a
            for c in range(n):
                self._dd_count[c] = 0
                # from (nearly) bare collector? the relaxed OCV of a rest just before says best
                soc = self._rest_soc[c] if self._rest_fresh else ests[c].soc
                low = min(self._rest_soc) if self._rest_fresh else soc
                self._nu_on[c] = soc < cfg["nu_soc_max"] and soc <= low + cfg["nu_band"]
                self._nu_e[c] = self._nu_l[c] = 0.0
                self._nu_en[c] = self._nu_ln[c] = 0
            self._nu_any = True
        elif ph == REST:
            for c in range(n):
                self._fit_n[c] = 0
                self._fit_st[c] = self._fit_sv[c] = self._fit_stt[c] = self._fit_stv[c] = 0.0
                self._v_avg[c] = None
            self._fit_next = 0.0
        else:
            for c in range(n):
                self._sv_mid[c] = self._sv_end[c] = 0.0
                self._sv_mid_n[c] = self._sv_end_n[c] = 0
                self._sv_last_soc[c] = 0.0
        self._rest_fresh = False

    def _end_segment(self, out, t_s, t_c, ests):
        cfg = self.cfg
        long_enough = t_s - self.seg_t0 >= cfg["seg_min_s"]
        ph = self.phase
        n = self.n
        if ph == REST:
            if not long_enough or self._v_avg[0] is None:
                return
            self._rest_eval(out, t_s, t_c)
            for c in range(n):  # relaxed OCV -> SoC anchors
                self._rest_soc[c] = _soc_of_ocv(ests[c], self._v_avg[c], t_c[c])
            self._rest_fresh = True
            if self._last_active != REST:
                self._charge_balance(out, t_s, t_c, ests, 1 if self._last_active == DIS else 0)
            if self._last_active == DIS and self.bal is None:
                self._empty_anchor(out, t_s, t_c, ests)
            elif self._last_active == CHG:
                for c in range(n):
                    self._top_soc[c] = self._rest_soc[c]
                self._top_ok = True
                self._ah_since_top = 0.0
            return
        if not long_enough:
            return
        self._last_active = ph
        if ph == CHG:
            for c in range(n):
                self._nu_on[c] = False
                # dendrite events belong to a charge: the level falls back for the next one (CRITICAL latches)
                self._clear_level(ev.DENDRITE, c)
        else:
            for c in range(n):
                self._void_eval(out, c, t_s)

    # ------------------------------------------------------------------ 1. soft short
    def _rest_tick(self, out, t_s, seg_age, dt_s, v_cell, t_c):
        cfg = self.cfg
        n = self.n
        a = dt_s / cfg["ocv_avg_s"]  # relaxed voltage: short moving average (EWMA) for the anchors
        if a > 1.0:
            a = 1.0
        avg = self._v_avg
        for c in range(n):
            avg[c] = v_cell[c] if avg[c] is None else avg[c] + a * (v_cell[c] - avg[c])
        # a cell on its balancing resistor is not at rest: its fall down the empty knee and its relaxation after
        # it are not noise. The balancer drains only early in a rest (bal_max_s <= ss_settle_s): the late-rest fit
        # below never sees it
        if self.bal is not None and self.bal.bleeding:
            self._bl_t = t_s
        if t_s - self._bl_t >= cfg["seg_min_s"]:
            self._learn_v_noise(t_s, seg_age, dt_s, v_cell)
        if seg_age < cfg["ss_settle_s"]:
            return
        if self._fit_n[0] == 0:
            self._fit_t0 = t_s
            self._fit_next = cfg["ss_eval_s"]
            for c in range(n):
                self._fit_v0[c] = v_cell[c]
        x = t_s - self._fit_t0
        for c in range(n):
            y = v_cell[c] - self._fit_v0[c]  # offsets keep single-precision sums exact enough
            self._fit_n[c] += 1
            self._fit_st[c] += x
            self._fit_sv[c] += y
            self._fit_stt[c] += x * x
            self._fit_stv[c] += x * y
        if x >= self._fit_next:  # long rest: evaluate periodically, keep fitting
            self._fit_next += cfg["ss_eval_s"]
            self._rest_eval(out, t_s, t_c)

    def _rest_eval(self, out, t_s, t_c):
        """Leakage C-rate from the late-rest voltage slope over the local OCV slope (dV/dt = OCV' * dsoc/dt)."""
        cfg = self.cfg
        n = self.n
        span = t_s - self._fit_t0
        if self._fit_n[0] < 3 or span < cfg["ss_min_fit_s"]:
            return
        ests = self._ests
        slope = self._ss_slope
        for c in range(n):
            m = self._fit_n[c]
            den = m * self._fit_stt[c] - self._fit_st[c] * self._fit_st[c]
            if den <= 0.0:
                return
            slope[c] = (m * self._fit_stv[c] - self._fit_st[c] * self._fit_sv[c]) / den  # V/s
        # common mode (relaxation the model does not know, temperature drift) is not a short in one cell
        ref = _median(slope) if n >= 3 else 0.0
        for c in range(n):
            soc = _soc_of_ocv(ests[c], self._v_avg[c], t_c[c])
            k = _ocv_slope(ests[c], soc, t_c[c])
            if k < cfg["ss_min_slope_v"]:  # flat OCV here: a leak does not show in the voltage
                continue
            leak = -(slope[c] - ref) * 3600.0 / k  # SoC per hour = C-rate
            self.leak_c[c] = leak
            # the fit's standard error from the voltage noise (var(slope) = sigma_v^2 m / den; the string's median
            # adds ~1.57/n of it), as a C-rate: a noisy front end's estimate is divided by its excess over the level
            m = self._fit_n[c]
            sd = self._v_sd(c) * sqrt(m / (m * self._fit_stt[c] - self._fit_st[c] * self._fit_st[c]))
            sd *= (sqrt(1.0 + 1.57 / n) if n >= 3 else 1.0) * 3600.0 / k
            self._ss_f[c] = _noise_factor(cfg["ss_k_sigma"], sd, cfg["ss_alarm_c"])
            self._leak_assess(out, c, t_s)

    def _leak_assess(self, out, c, t_s):
        """One level for both leakage estimates: the larger of the last rest fit and the last charge balance."""
        cfg = self.cfg
        v = self.leak_c[c] / self._ss_f[c]
        if self.cb_leak_c[c] > v:
            v = self.cb_leak_c[c]
        self._assess(out, ev.SOFT_SHORT, c, v, t_s, cfg["ss_warn_c"], cfg["ss_alarm_c"], cfg["ss_crit_c"])

    def _charge_balance(self, out, t_s, t_c, ests, k):
        """Leakage over whole cycles, where the OCV is flat in between (charge needed vs charge delivered).

        A cell's plated charge changes by the string's net charge minus its own leakage, so between two anchors of
        the same kind (rests after charges, or after discharges: the same state, so the OCV table's errors cancel)
        x_c = plated_c - string charge falls at the leakage current.  Anchors are the relaxed-OCV readings where the
        OCV is steep (the ends of NVP's curve; the string's cut-offs bring one cell there every cycle).  With >= 3
        cells the string's median rate is subtracted: a current-sensor offset and the common inventory loss are
        the same for every cell, a short is not.  The cells the short leaves behind climb along the steep branch,
        where the OCV table understates their climb, and lift the median; so the rate over the cell's own baseline
        (median of its first cb_base_n rates of this anchor kind) counts too, whichever is larger (with a string
        reference only for a cell that stands out from it by cb_own_gate x ss_warn_c), but only as the
        smaller of two anchors in a row: when another cell moves the string's cut-off, every cell stops in another
        state once, where the table's error differs (a one-cycle step common to the string, not a leak)."""
        cfg = self.cfg
        q = self.q_nom
        ok = self._cb_ok[k]
        x0 = self._cb_x[k]
        t0 = self._cb_t[k]
        dis0 = self._cb_dis[k]
        rate = self._cb_rate
        has = self._cb_has
        m = 0
        for c in range(self.n):
            has[c] = False
            soc = self._rest_soc[c]
            if _ocv_slope(ests[c], soc, t_c[c]) < cfg["cb_min_slope_v"]:
                continue  # flat here: keep the last readable anchor, the balance spans more cycles then
            x = soc * q - self.ah_net
            if self.bal is not None:
                x += self.bal.q_ah[c]  # what the balancer drained is not a leak
            if ok[c] and self.ah_dis - dis0[c] >= cfg["cb_min_dis_frac"] * q and t_s > t0[c]:
                rate[c] = -(x - x0[c]) * 3600.0 / (t_s - t0[c]) / q
                has[c] = True
                m += 1
            ok[c] = True
            x0[c] = x
            t0[c] = t_s
            dis0[c] = self.ah_dis
        if m == 0:
            return
        ref = _median([rate[c] for c in range(self.n) if has[c]]) if m >= 3 else None
        for c in range(self.n):
            if not has[c]:
                continue
            hist = self._cb_hist[k][c]
            leak = None if ref is None else rate[c] - ref
            if len(hist) < cfg["cb_base_n"]:
                hist.append(rate[c])
            else:
                own = rate[c] - _median(hist)
                prev = self._cb_own[k][c]
                self._cb_own[k][c] = own
                if prev < own:
                    own = prev
                # with a string reference the own baseline only sharpens a cell that stands out anyway: a short
                # that grows in another cell moves every healthy cell's stopping state together (common mode)
                if leak is None or (own > leak and leak >= cfg["cb_own_gate"] * cfg["ss_warn_c"]):
                    leak = own
            if leak is not None:
                # each anchor kind estimates the same leak: an after-charge anchor that sees little (NVP's top
                # branch) must not clear what the after-discharge anchors see
                self._cb_leak[k][c] = leak
                other = self._cb_leak[1 - k][c]
                self.cb_leak_c[c] = leak if leak > other else other
                self._leak_assess(out, c, t_s)

    # ------------------------------------------------------------------ 3. dead sodium
    def _empty_anchor(self, out, t_s, t_c, ests):
        """Rest after a discharge: per-cell sodium loss since the previous such rest, then a CUSUM on it.

        loss_c = (net string charge in) - (change of the cell's plated charge), the plated charge read from the
        relaxed OCV on the steep low-SoC branch; normalised by the charge discharged in between."""
        cfg = self.cfg
        q = self.q_nom
        lowest = min(self._rest_soc)
        for c in range(self.n):
            soc = self._rest_soc[c]
            # only cells at (or next to) the string's empty end: there the string's charge balance is the cell's
            # own and the SoC correction is small; the OCV table is not exact enough to correct more
            if (soc > cfg["dn_soc_empty"] or soc > lowest + cfg["dn_band"]
                    or _ocv_slope(ests[c], soc, t_c[c]) < cfg["dn_min_slope_v"]):
                self._an_ok[c] = False  # not readable here: wait for a deeper discharge
                continue
            if self._an_ok[c]:
                dis = self.ah_dis - self._an_dis[c]
                # an anchor that moved far on the table's empty end reads the table's error there (up to 10x on
                # a residue of a few mAh), not a loss: a doubled loss rate moves it by < 0.1 % per cycle
                if dis >= cfg["dn_min_dis_frac"] * q and abs(soc - self._an_soc[c]) <= cfg["dn_max_dsoc"]:
                    loss = (self.ah_net - self._an_net[c]) - (soc - self._an_soc[c]) * q
                    self._dead_eval(out, c, t_s, loss / dis, False,
                                    self._q_noise_factor(t_s - self._an_t[c], dis, cfg["dn_alarm"]))
            self._an_ok[c] = True
            self._an_soc[c] = soc
            self._an_net[c] = self.ah_net
            self._an_dis[c] = self.ah_dis
            self._an_t[c] = t_s
        self._relative_loss(out, t_s, t_c, ests)
        self._cut_anchor(out, t_s, t_c, ests, lowest)

    def _cut_anchor(self, out, t_s, t_c, ests, lowest):
        """The string's own loss per cycle, read at its cut-off. A discharge that stops because a cell ran out of
        sodium (the emptiest cell's relaxed OCV on the bare-collector branch, below dn_cut_soc) leaves that cell in
        the same state every time, so between two such rests the string's net charge in is the loss of the cell
        that sets the cut-off, whichever cell it is, with no OCV table in the reading: the table's first segment
        misreads residues of a few mAh by up to 10x. A faster loss shows as soon as the losing cell sets the
        cut-off: either it already did, or it takes over from the previous one. The cut-off's sampling error
        (one sample's charge) of one anchor cancels in the next reading."""
        cfg = self.cfg
        q = self.q_nom
        c = self._rest_soc.index(lowest)
        if lowest > cfg["dn_cut_soc"] or _ocv_slope(ests[c], lowest, t_c[c]) < cfg["dn_min_slope_v"]:
            return  # not emptied (a partial discharge, a string cut short by another fault): wait for the next
        if self._cut_ok:
            dis = self.ah_dis - self._cut_dis
            if dis < cfg["dn_min_dis_frac"] * q:
                return  # too little discharged to tell: keep the anchor
            # the time per capacity discharged: one cycle's length, also for a reading that spans two
            self._cut_eval(out, c, t_s, (self.ah_net - self._cut_net) / dis, (t_s - self._cut_t) * q / dis, lowest,
                           self._q_noise_factor(t_s - self._cut_t, dis, cfg["dn_cut_alarm"]))
        self._cut_ok = True
        self._cut_net = self.ah_net
        self._cut_dis = self.ah_dis
        self._cut_t = t_s

    def _cut_eval(self, out, c, t_s, loss, cycle_s, soc_cut, f_noise):
        """CUSUM of the string's loss per cycle at the cut-off over its own baseline (the median of dn_base_cycles
        readings after dn_skip_n), raised on the cell that sets the cut-off.  The excess of a cycle longer than
        dn_cut_t_ref_s is scaled down to that length; a reading whose cut-off cell kept more sodium than in the
        baseline cycles (dn_cut_rise) is skipped: the cut-off came earlier, so the reading is not a loss.  A noisy
        current sensor's excess is divided by f_noise (_q_noise_factor)."""
        cfg = self.cfg
        if self._cut_base is None:
            hist = self._cut_hist
            hist.append(loss)
            self._cut_low_hist.append(soc_cut)
            if len(hist) == cfg["dn_skip_n"] + cfg["dn_base_cycles"]:
                self._cut_base = _median(hist[cfg["dn_skip_n"]:])
                self._cut_low_base = _median(self._cut_low_hist[cfg["dn_skip_n"]:])
            return
        if soc_cut - self._cut_low_base > cfg["dn_cut_rise"]:
            return
        excess = (loss - self._cut_base) / f_noise
        if cycle_s > cfg["dn_cut_t_ref_s"]:
            excess *= cfg["dn_cut_t_ref_s"] / cycle_s
        s = self._cut_s + excess - cfg["dn_cut_k"]
        self._cut_s = s if s > 0.0 else 0.0
        self._assess(out, ev.DEAD_SODIUM, c, self._cut_s, t_s, cfg["dn_cut_warn"], cfg["dn_cut_alarm"],
                     cfg["dn_crit"], slot=DN_CUT_SLOT)

    def _relative_loss(self, out, t_s, t_c, ests):
        """A cell that loses more sodium than the others keeps less at each cut-off: loss_c - loss_median =
        -(d plated_c - median d plated), read from the relaxed OCV on the steep low-SoC branch.  The string's
        emptiest cell takes part: once the losing cell is the emptiest the cut-off pins it and the others climb,
        the same difference."""
        cfg = self.cfg
        q = self.q_nom
        dis = self.ah_dis - self._rl_dis
        self._rl_dis = self.ah_dis
        d = self._rl_d
        has = self._rl_has
        ok = self._rl_ok
        m = 0
        for c in range(self.n):
            soc = self._rest_soc[c]
            good = soc <= cfg["dn_soc_empty"] and _ocv_slope(ests[c], soc, t_c[c]) >= cfg["dn_min_slope_v"]
            has[c] = good and ok[c]
            if has[c]:
                d[c] = soc - self._rl_soc[c]
                m += 1
            ok[c] = good
            self._rl_soc[c] = soc
        if m < 3 or dis < cfg["dn_min_dis_frac"] * q:
            return
        med = _median([d[c] for c in range(self.n) if has[c]])
        for c in range(self.n):
            if has[c]:
                self._dead_eval(out, c, t_s, -(d[c] - med) * q / dis, True)

    def _bal_loss(self, out, t_s, bal):
        """Each cell's loss per cycle from the balancer (every cell drained to the same empty state at the rests
        after full discharges: bms.balance), less the string's median (>= 3 cells: the current sensor's offset
        and noise and a loss that speeds up in every cell alike are the string's), over the cell's own baseline
        (the mean of dn_base_cycles readings after dn_skip_n), summed by a one-sided CUSUM with slack dn_bal_k.
        No median filter: the cell that set the cut-off anchors up to one discharge sample deeper than the drained
        ones, and that jitter telescopes in a plain sum (a window of the CUSUM reads at most one sample's charge
        of it); a filter would keep it."""
        cfg = self.cfg
        n = self.n
        has = bal.has_loss
        m = 0
        for c in range(n):
            if has[c]:
                m += 1
        if n >= 3 and m < 3:
            return  # no string reference this time (cells still draining): a bare loss is not a relative one
        ref = _median([bal.loss[c] for c in range(n) if has[c]]) if n >= 3 else 0.0
        skip = cfg["dn_skip_n"]
        for c in range(n):
            if not has[c]:
                continue
            x = bal.loss[c] - ref
            hist = self._bl_hist[c]
            if len(hist) < skip + cfg["dn_base_cycles"]:
                hist.append(x)
                continue
            base = 0.0
            for y in hist[skip:]:
                base += y
            base /= len(hist) - skip
            s = self._bl_s[c] + x - base - cfg["dn_bal_k"]
            self._bl_s[c] = s if s > 0.0 else 0.0
            self._assess(out, ev.DEAD_SODIUM, c, self._bl_s[c], t_s, cfg["dn_bal_warn"], cfg["dn_bal_alarm"],
                         cfg["dn_crit"], slot=DN_BAL_SLOT)

    def _dead_eval(self, out, c, t_s, loss, relative=False, f_noise=1.0):
        """CUSUM (Page, upper side) of the loss per cycle over the cell's own baseline; two sources (the string's
        balance at the empty end, the relative loss above it) each with its own baseline and sum.  A noisy current
        sensor's excess is divided by f_noise (_q_noise_factor)."""
        cfg = self.cfg
        k = 1 if relative else 0
        if not relative:
            self.loss_frac[c] = loss
        hist = self._dn_hist[k][c]
        if len(hist) < cfg["dn_skip_n"] + cfg["dn_base_cycles"]:
            hist.append(loss)
            return
        base = _median(hist[cfg["dn_skip_n"]:])
        # the CUSUM takes the median of the last three cycles: a reading that jumps for one cycle (two cells that
        # take turns at the string's cut-off read the pinned one differently) is not a loss rate
        s = self._dn_s[k][c] + (_median_last3(self._dn_last[k][c], loss) - base) / f_noise - cfg["dn_k"]
        if s < 0.0:
            s = 0.0
        self._dn_s[k][c] = s
        # the string-balance sum less the string's median sum (>= 3 cells): a loss that speeds up in every cell
        # alike (cold, the whole string ageing) is the string's, not this cell's anomaly
        s_abs = self._dn_s[0]
        v = s_abs[c] - _median(s_abs) if self.n >= 3 else s_abs[c]
        # the relative estimate's scale rests on the OCV table's shape at the empty end (off by up to 10x there):
        # it may raise a warning, never an alarm on its own
        rel = self._dn_s[1][c]
        if rel > cfg["dn_warn"]:
            rel = cfg["dn_warn"]
        if rel > v:
            v = rel
        self._assess(out, ev.DEAD_SODIUM, c, v, t_s, cfg["dn_warn"], cfg["dn_alarm"], cfg["dn_crit"])

    # ------------------------------------------------------------------ 2. dendrites, 4. nucleation
    def _charge_tick(self, out, t_s, seg_age, dt_s, i_a, v_cell, t_c, ests):
        cfg = self.cfg
        n = self.n
        # 4. nucleation: the plating overpotential decays as the first sodium covers the collector, so the
        # voltage early in the charge (by charge passed) stands above its course a little later
        if self._nu_any:
            qf = (t_s - self.seg_t0) * i_a / 3600.0 / self.q_nom  # ~charge passed, fraction of capacity (CC)
            steady = abs(i_a - self._nu_i0) <= 0.1 * abs(self._nu_i0)
            early = cfg["nu_q_early"]
            late = cfg["nu_q_late"]
            for c in range(n):
                if not self._nu_on[c]:
                    continue
                if not steady:
                    self._nu_on[c] = False
                    continue
                if early[0] <= qf <= early[1]:
                    self._nu_e[c] += v_cell[c]
                    self._nu_en[c] += 1
                elif late[0] <= qf <= late[1]:
                    self._nu_l[c] += v_cell[c]
                    self._nu_ln[c] += 1
                elif qf > late[1]:
                    self._nu_on[c] = False
                    ne = self._nu_en[c]
                    nl = self._nu_ln[c]
                    if ne >= 2 and nl >= 2:
                        eta = self._nu_e[c] / ne - self._nu_l[c] / nl
                        # the feature's standard error from the voltage noise, over both windows' means
                        sd = self._v_sd(c) * sqrt(1.0 / ne + 1.0 / nl)
                        x = self._nucleation_eval(out, c, t_s, eta, sd)
                        if x is not None:
                            self._nu_step[c] = x
                            self._nu_has[c] = True
            if qf > late[1]:
                self._nu_any = False
                self._nucleation_string(out, t_s)
        # 2. dendrites: drop of the pseudo-OCV below its maximum over the last dd_win_s
        if self._dd_w == 0:
            self._dd_w = max(3, int(cfg["dd_win_s"] / dt_s + 0.5)) if dt_s > 0.0 else 10
            self._dd_ring = [[0.0] * self._dd_w for _ in range(n)]
            self._dd_iring = [0.0] * self._dd_w
        w = self._dd_w
        pos = self._dd_pos
        full = self._dd_fill >= w
        i_ok = False
        if full:
            ir = self._dd_iring
            i_ok = (max(ir) - min(ir)) <= cfg["dd_di_c"] * self.q_nom and abs(i_a - ir[pos]) <= cfg["dd_di_c"] * self.q_nom
        if i_a > self._dd_imax:
            self._dd_imax = i_a
        # constant-current part only: in CV the current falls and an R0 error looks like a voltage drop
        check = full and i_ok and seg_age >= cfg["dd_skip_s"] and i_a >= 0.95 * self._dd_imax
        for c in range(n):
            p = v_cell[c] - ests[c].r0_ohm(t_c[c]) * i_a
            ring = self._dd_ring[c]
            if check:
                var = self._dd_var[c]
                nv = self._dd_nvar[c]
                drop = max(ring) - p
                thr = cfg["dd_warn_v"]
                if var is not None and cfg["dd_k_sigma"] * sqrt(var) > thr:
                    thr = cfg["dd_k_sigma"] * sqrt(var)
                if nv < cfg["dd_var_n"] or var is None:
                    # the noise is learnt from every step first (a running mean): the first charge of a noisy
                    # front end otherwise meets the fixed levels with its noise still unknown
                    d = p - self._dd_prev[c]
                    nv += 1
                    self._dd_var[c] = d * d if var is None else var + (d * d - var) / nv
                    self._dd_nvar[c] = nv
                elif drop >= thr and t_s >= self._dd_quiet_until[c]:
                    self._dd_quiet_until[c] = t_s + cfg["dd_refractory_s"]
                    self._dd_count[c] += 1
                    val = drop
                    if self._dd_count[c] >= cfg["dd_count_alarm"] and val < cfg["dd_alarm_v"]:
                        val = cfg["dd_alarm_v"]
                    self._assess(out, ev.DENDRITE, c, val, t_s, cfg["dd_warn_v"], cfg["dd_alarm_v"], cfg["dd_crit_v"])
                elif drop < thr * 0.5:  # then followed, from quiet stretches only
                    d = p - self._dd_prev[c]
                    self._dd_var[c] = var + 0.002 * (d * d - var)
            self._dd_prev[c] = p
            ring[pos] = p
        self._dd_iring[pos] = i_a
        self._dd_pos = (pos + 1) % w
        self._dd_fill += 1

    def _nucleation_eval(self, out, c, t_s, eta, sd):
        """Step of the onset feature over its straight-line extrapolation from the cell's previous nu_base_n
        readings against equivalent full cycles (the feature drifts slowly as the end-of-discharge state moves
        with ageing, and charges that do not start from empty are skipped: a step is what we look for).
        sd: the feature's standard error from the sensor noise (0: unknown). Returns the step, None while the
        baseline is short; the step assessed is divided by _noise_factor (a noisy front end scatters it)."""
        cfg = self.cfg
        hist = self._nu_hist[c]
        hx = self._nu_hx[c]
        x_now = self.ah_dis / self.q_nom
        m = len(hist)
        step = None
        if m >= cfg["nu_base_n"]:
            # least-squares line through (hx[k], hist[k]), evaluated at x_now
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
            self._nu_sd[c] = sd * sqrt(1.0 + g)
            f = _noise_factor(cfg["nu_k_sigma"], self._nu_sd[c], cfg["nu_alarm_v"])
            self._assess(out, ev.NUCLEATION, c, step / f, t_s, cfg["nu_warn_v"], cfg["nu_alarm_v"], cfg["nu_crit_v"])
            hist.pop(0)
            hx.pop(0)
        hist.append(eta)
        hx.append(x_now)
        return step

    def _nucleation_string(self, out, t_s):
        """The median step of the cells evaluated in this charge (>= 3): a sodiophilic layer that degrades in
        every cell at once (one batch, one history) raises them together, by less than a single cell's reading
        scatters with its start state; so the string's median has lower levels of its own."""
        cfg = self.cfg
        has = self._nu_has
        xs = [self._nu_step[c] for c in range(self.n) if has[c]]
        if len(xs) >= 3:
            med = _median(xs)
            # a median's standard error: ~1.25 sigma / sqrt(k) for k normal readings
            sd = 1.25 * _median([self._nu_sd[c] for c in range(self.n) if has[c]]) / sqrt(len(xs))
            med /= _noise_factor(cfg["nu_k_sigma"], sd, cfg["nu_str_alarm_v"])
            for c in range(self.n):
                if has[c]:
                    self._assess(out, ev.NUCLEATION, c, med, t_s, cfg["nu_str_warn_v"], cfg["nu_str_alarm_v"],
                                 cfg["nu_crit_v"], slot=NU_STR_SLOT)
        for c in range(self.n):
            has[c] = False

    # ------------------------------------------------------------------ 5. stripping void
    def _discharge_tick(self, t_s, seg_age, i_a, v_cell, t_c, ests):
        cfg = self.cfg
        if seg_age < cfg["seg_min_s"] or -i_a < cfg["sv_min_c"] * self.q_nom:
            return
        q = self.q_nom
        for c in range(self.n):
            e = ests[c]
            # SoC by coulomb counting from the OCV read in the rest after the charge (robust to a filter that
            # wanders on the plateau); the EKF's SoC otherwise
            soc = self._top_soc[c] + self._ah_since_top / q if self._top_ok else e.soc
            if soc < cfg["sv_mid_lo"] - 0.1 and soc > cfg["sv_end_hi"]:
                continue  # between the windows: nothing to add
            r = (e.ocv(soc, t_c[c]) - v_cell[c]) / -i_a
            self._sv_last[c] = r
            self._sv_last_soc[c] = soc
            if cfg["sv_end_lo"] <= soc <= cfg["sv_end_hi"]:
                self._sv_end[c] += r
                self._sv_end_n[c] += 1
            elif cfg["sv_mid_lo"] <= soc <= cfg["sv_mid_hi"]:
                self._sv_mid[c] += r
                self._sv_mid_n[c] += 1

    def _void_eval(self, out, c, t_s):
        cfg = self.cfg
        if self._sv_mid_n[c] < 10:
            return
        r_mid = self._sv_mid[c] / self._sv_mid_n[c]
        if self._sv_end_n[c] >= 10:
            r_end = self._sv_end[c] / self._sv_end_n[c]
        elif self._sv_last_soc[c] > cfg["sv_end_hi"] and self._sv_end_n[c] == 0 and len(self._sv_hist[c]) >= cfg["sv_base_n"]:
            # the discharge stopped early, with this cell's SoC still above the end window (the string stops at
            # the first cell to reach its cut-off): its polarisation at the cut-off is the evidence
            r_end = self._sv_last[c]
            if self.evidence[ev.STRIPPING_VOID][c] <= 0.0 and r_end / r_mid - _median(self._sv_hist[c]) < cfg["sv_warn"]:
                return  # an early stop caused by another cell tells nothing about this one
        else:
            return
        if r_mid <= 1e-6:
            return
        ratio = r_end / r_mid
        hist = self._sv_hist[c]
        if len(hist) < cfg["sv_base_n"]:
            hist.append(ratio)
            return
        self._assess(out, ev.STRIPPING_VOID, c, ratio - _median(hist), t_s, cfg["sv_warn"], cfg["sv_alarm"], cfg["sv_crit"])

    # ------------------------------------------------------------------ 6. model mismatch
    def _model_tick(self, out, t_s, ests):
        cfg = self.cfg
        n = self.n
        if self._mm_t0 is None:
            self._mm_t0 = t_s
        s = self._mm_sum
        lo = cfg["mm_soc_lo"]
        hi = cfg["mm_soc_hi"]
        # the string's ends (knee, top branch) are where any ECM fits worst: not a fault. The string's median SoC
        # decides, not the cell's own (a cell whose model is wrong drags its EKF's SoC anywhere)
        socs = self._mm_soc
        for c in range(n):
            socs[c] = ests[c].soc
        soc = _median(socs)
        if lo <= soc <= hi:
            for c in range(n):
                s[c] += ests[c].nis
                self._mm_cnt[c] += 1
        self._mm_n += 1
        if t_s - self._mm_t0 < cfg["mm_win_s"]:
            return
        vals = self._mm_val
        for c in range(n):
            vals[c] = s[c] / self._mm_cnt[c] if self._mm_cnt[c] * 2 >= self._mm_n else -1.0  # -1: too few samples
            s[c] = 0.0
            self._mm_cnt[c] = 0
        # with >= 3 cells: relative to the string's median, so a model that fits no cell today (cold, a new
        # cell type) is not blamed on one cell; alone: the absolute mean NIS (chi^2, 1 dof: 1 if consistent)
        ref = _median(vals) if n >= 3 else 1.0
        if ref < 1.0:
            ref = 1.0
        for c in range(n):
            if vals[c] >= 0.0:
                self._assess(out, ev.MODEL_MISMATCH, c, vals[c] / ref, t_s, cfg["mm_warn"], cfg["mm_alarm"],
                             cfg["mm_crit"], cfg["mm_delay_n"])
        self._mm_n = 0
        self._mm_t0 = t_s

    def _step_eval(self, out, t_s, i_a, v_cell):
        """Step resistance dv/di from the rest's averaged voltage (less noise than one sample) to the first sample
        of the load, per cell against the string's median (>= 3 cells: the same current, temperature and timing
        for all), then over the cell's own baseline per step direction (the cell-to-cell spread is the cell's own).
        The EKF takes a resistance rise into its SoC on a sloping OCV, so NIS alone misses it.  The rest's own
        current (below i_rest) is the same for every cell, so the ratio to the median does not need it."""
        cfg = self.cfg
        n = self.n
        v0 = self._v_avg
        if n < 3 or abs(i_a) < cfg["mm_step_c"] * self.q_nom or v0[0] is None:
            return
        # a charge from the string's empty end carries the nucleation dip of the cells on a bare collector, and
        # which cells those are drifts with their place at the cut-off: not the cells' resistance
        if i_a > 0.0 and (not self._rest_fresh or min(self._rest_soc) < cfg["mm_step_soc_min"]):
            return
        r = self._mm_r
        for c in range(n):
            r[c] = (v_cell[c] - v0[c]) / i_a
            if not r[c] > 0.0:  # not a clean step (a cell at a knee, a sensor glitch): no reading
                return
        med = _median(r)
        k = 0 if i_a > 0.0 else 1
        for c in range(n):
            rel = r[c] / med
            hist = self._mm_rhist[k][c]
            if len(hist) < cfg["mm_step_base_n"]:
                hist.append(rel)
                continue
            # the median of the last three steps: one odd step (a cell just off a knee) is not a resistance
            x = _median_last3(self._mm_rlast[k][c], rel) / _median(hist)
            # a noisy front end: the growth is divided by max(1, mm_k_sigma * sd / (alarm - 1)), sd the step's
            # relative scatter from the cell's voltage noise (one sample against the rest's average)
            f = _noise_factor(cfg["mm_k_sigma"], self._v_sd(c) / abs(i_a) / med, cfg["mm_r_alarm"] - 1.0)
            if f > 1.0:
                x = 1.0 + (x - 1.0) / f
            self._assess(out, ev.MODEL_MISMATCH, c, x, t_s, cfg["mm_r_warn"], cfg["mm_r_alarm"], 0.0, 1, MM_STEP_SLOT)

    # ------------------------------------------------------------------ charge-current limit
    def _charge_limit(self, t_c, ests):
        cfg = self.cfg
        t_min = 1e9
        q_min = 1e9
        worst = 0
        for c in range(self.n):
            if t_c[c] < t_min:
                t_min = t_c[c]
            if ests[c].q_ah < q_min:
                q_min = ests[c].q_ah
            for kind in range(1, _N_SLOTS):
                if self.level[kind][c] > worst:
                    worst = self.level[kind][c]
        if t_min < cfg["cc_t_min_c"] or self.charge_inhibit:
            self.i_chg_limit_a = 0.0
            return
        # critical current density: Arrhenius in temperature, never above its 25 C value
        t_k = t_min + 273.15
        f_t = exp(-cfg["cc_ea_ev"] / _K_BOLTZMANN_EV * (1.0 / t_k - 1.0 / 298.15))
        if f_t > 1.0:
            f_t = 1.0
        # aged cells (less inventory, rougher deposits) tolerate less current
        age = q_min / self.q_nom
        if age > 1.0:
            age = 1.0
        elif age < 0.0:
            age = 0.0
        f_age = age ** cfg["cc_age_exp"]
        self.i_chg_limit_a = cfg["cc_max_c"] * self.q_nom * f_t * f_age * cfg["cc_risk"][worst]


def _soc_of_ocv(est, v, t_c):
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


def _ocv_slope(est, soc, t_c):
    """dOCV/dSoC [V per unit SoC] over +/-0.2 % around soc (the local slope: the ends are strongly curved)."""
    a = soc - 0.002
    b = soc + 0.002
    if a < 0.0:
        a = 0.0
    if b > 1.0:
        b = 1.0
    return (est.ocv(b, t_c) - est.ocv(a, t_c)) / (b - a)


def _noise_factor(k_sigma, sd, level):
    """>= 1: how far k_sigma standard errors (sd, from the noise the detectors learnt) reach above the level the
    thresholds were set at with a quiet front end; a detector divides its evidence (or its excess) by it."""
    f = k_sigma * sd / level
    return f if f > 1.0 else 1.0


def _median_last3(buf, x):
    """Append x to buf, keep its last three values, return their median."""
    buf.append(x)
    if len(buf) > 3:
        buf.pop(0)
    return _median(buf)


def _median(xs):
    s = sorted(xs)
    m = len(s)
    if m == 0:
        return 0.0
    h = m >> 1
    return s[h] if m & 1 else 0.5 * (s[h - 1] + s[h])
