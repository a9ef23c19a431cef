# Application layer: one sample in -> input diagnosis -> balancer -> estimators -> detectors -> protections ->
# state machine -> limits, enable outputs and balancing resistors out.
# No I/O here (bms.hal moves bytes, bms.comm.service speaks the protocol), so tests drive it directly.
# The safety model (what is trusted, what fails safe): docs/safety.md.
import gc

from bms.comm import protocol as pr
from bms.compat import isfinite
from bms.config.constants import I_REST_C
from bms.core import diag as dg
from bms.core import events as ev
from bms.core import floor as fl
from bms.core import state as sm
from bms.core.protection import Protection

DEFAULT_PRESET = "nvp-mg-naf"
MAX_CELLS = pr.MAX_CELLS
GOOD_SAMPLES_TO_TRUST = dg.DEFAULTS["good_n"]  # sane samples in a row (spanning recover_ms) to leave HOLD
SOC0_SIGMA_MIN = 0.01  # nobody knows a cell's SoC better than 1 % from outside
SOC0_SIGMA_DEFAULT = 0.05
# Heap a configuration needs, measured on the 64-bit unix port from the .mpy image (docs/safety.md): building n
# cells allocates ~16 KB + 3.3 KB per cell (with the collector off), beside the running string; after the build
# a sample's processing needs room of its own.
HEAP_PER_CELL = 3400
HEAP_BUILD = 2000
HEAP_RUN = 8000
U32 = 0x100000000
N_LOG = 16  # events kept in the persisted log


def mem_free():
    """Free heap after a collection, or None where the interpreter cannot tell (CPython)."""
    gc.collect()
    f = getattr(gc, "mem_free", None)
    return f() if f is not None else None


def _nothing(*args):
    pass


def load_cell(doc):
    """(params, detector config, name) from a configuration: a preset name, a cell file (JSON text or bytes, read by
    bms.config.cellfile) or a parameter dict cellfile.load made."""
    from bms.config import cell as cellparams
    from bms.config import detect as detectparams

    if isinstance(doc, (bytes, bytearray)):
        doc = bytes(doc).decode()
    if isinstance(doc, dict):
        params = doc
    elif doc.strip().startswith("{"):
        from bms.config import cellfile

        params = cellfile.load(doc.strip())
    else:
        params = cellparams.preset(doc)
    params = cellparams.validate(params)
    name = params.get("name", doc) if not isinstance(doc, str) or doc.strip().startswith("{") else doc
    # a cell file names its detector thresholds (detectors.preset); else the preset's own, else the default's
    det_name = params.get("detect_preset") or name
    det = detectparams.preset(det_name if det_name in detectparams.PRESET_NAMES else DEFAULT_PRESET)
    return params, det, name


class Bms:
    def __init__(self, n_cells=1, preset=DEFAULT_PRESET, soc0=None, soc0_sigma=None, settings=None, chemistry_lock=None,
                 cell=None, bal_r_ohm=None):
        """bal_r_ohm: the board's balancing resistor per cell (bms.config.board; None: balance.R_OHM_DEFAULT)."""
        self.stats = [0] * pr.N_STATS
        self.bal_r_ohm = bal_r_ohm
        self.settings = dg.settings(settings)
        self.chemistry_lock = chemistry_lock  # provisioned with the key: a CONFIG of another chemistry is refused
        self.on_outputs = _nothing  # fn(charge_enable, discharge_enable), the board's switches (bms.hal)
        self.on_persist = _nothing  # fn(bms): the store saves a snapshot (bms.core.store)
        self.state = sm.INIT
        self.latched = None  # (kind, channel, value) of the latched fault
        self.config_version = 0
        self.events = []  # (cell, kind, severity, t_ms, value) raised by the last sample
        self.log = []  # the last N_LOG events, persisted
        # the first configure() makes every attribute it swaps, so a later swap allocates nothing
        self.configure(n_cells, preset, soc0, cell, soc0_sigma)

    # ------------------------------------------------------------------ configuration
    def configure(self, n_cells, doc, soc0=None, cell=None, soc0_sigma=None):
        """(Re)build the string: all of it, then swap. ValueError "field: rule" on a configuration that is
        malformed, beyond the safety floor or too large for the heap; the running configuration is kept.
        doc: a preset name, a cell file (JSON text/bytes) or a dict from bms.config.cellfile.load; cell: the
        same dict (main's keyword), which then wins over doc."""
        if cell is not None:
            doc = cell
        params, det_cfg, name, floor, sigma = self._checked(n_cells, doc, soc0, soc0_sigma)
        ests, bal, det, prot, diag, t_list = self._build(n_cells, params, det_cfg, floor, soc0, sigma)
        # the swap: nothing below allocates or raises
        self.estimators = ests
        self.balancer = bal
        self.detectors = det
        self.protection = prot
        self.diag = diag
        self.floor = floor
        self._t_list = t_list
        self.preset = name
        self.doc = doc
        self.soc0 = soc0
        self.soc0_sigma = sigma
        self.n_cells = n_cells
        self._reset_run(det)

    def _checked(self, n_cells, doc, soc0, soc0_sigma):
        """(params, detector config, name, floor, soc0 sigma) of a configuration; ValueError "field: rule"."""
        if not (isinstance(n_cells, int) and 1 <= n_cells <= MAX_CELLS):
            raise ValueError("n_cells: must be 1..%d" % MAX_CELLS)
        if soc0 is not None and not (isfinite(soc0) and 0.0 <= soc0 <= 1.0):
            raise ValueError("soc0: must be a fraction 0..1")
        if soc0_sigma is not None and not (isfinite(soc0_sigma) and SOC0_SIGMA_MIN <= soc0_sigma <= 0.5):
            raise ValueError("soc0_sigma: must be %.2f..0.5" % SOC0_SIGMA_MIN)
        try:
            params, det_cfg, name = load_cell(doc)
        except MemoryError:
            gc.collect()
            self.stats[pr.STAT_MEM_ERRORS] += 1
            raise ValueError("memory: no room to read the configuration; the running one is kept")
        floor = fl.check_config(params)
        if self.chemistry_lock and params["cathode"] != self.chemistry_lock:
            raise ValueError("chemistry: this board is provisioned for %s cells, not %s" % (self.chemistry_lock, params["cathode"]))
        need = HEAP_PER_CELL * n_cells + HEAP_BUILD
        free = mem_free()
        if free is not None and free < need:
            raise ValueError("memory: %d cells need ~%d KB free, %d KB are" % (n_cells, need // 1024, free // 1024))
        sigma = None
        if soc0 is not None:
            sigma = soc0_sigma if soc0_sigma is not None else SOC0_SIGMA_DEFAULT
        return params, det_cfg, name, floor, sigma

    def _build(self, n_cells, params, det_cfg, floor, soc0, sigma):
        """The new string, built whole beside the running one; ValueError "memory: ..." if it does not fit."""
        from bms.balance import R_OHM_DEFAULT
        from bms.detect.plating import build as build_detectors
        from bms.est.estimator import CellEstimator

        try:
            ests = [CellEstimator(params, soc0) for _ in range(n_cells)]
            if sigma is not None:
                for e in ests:
                    e.ekf.P[0] = sigma * sigma
                    e.soc_sigma = sigma
            bal_r_ohm = self.bal_r_ohm if self.bal_r_ohm is not None else R_OHM_DEFAULT
            bal, det = build_detectors(n_cells, params, det_cfg, bal_r_ohm)
            prot = Protection(params)
            diag = dg.Diag(n_cells, floor, params["q_ah"], self.settings)
            t_list = [25.0] * n_cells
            old = getattr(self, "protection", None)
            if old is not None and len(old.active) == len(prot.active):
                for k in range(len(prot.active)):
                    prot.active[k] = old.active[k]  # a standing trip survives a reconfiguration
            old = getattr(self, "detectors", None)
            if old is not None and old.charge_inhibit:
                det.charge_inhibit = True  # so does a latched plating CRITICAL: only a clear forgets it
            free = mem_free()
            if free is not None and free < HEAP_RUN:
                raise MemoryError
        except MemoryError:
            ests = bal = det = prot = diag = t_list = None
            gc.collect()
            self.stats[pr.STAT_MEM_ERRORS] += 1
            raise ValueError("memory: %d cells do not fit beside the running string; it is kept" % n_cells)
        return ests, bal, det, prot, diag, t_list

    def _reset_run(self, det):
        self.t_est = -1  # u32 time of the last sample fed to the estimators
        self.t_s = 0.0  # monotonic seconds of estimator time (the detectors' clock: survives the u32 wrap)
        self.valid = False
        self.i_chg_max_a = 0.0
        self.i_dis_max_a = 0.0
        self.flags = 0
        if det.charge_inhibit is False:
            self.plating_level = 0
        self.t_min_c = 25.0
        self.ah_through = 0.0  # |Ah| moved since configuration (cycle count = ah / (2 q))
        self.since_save_s = 0.0
        if self.state != sm.FAULT:
            self.state = sm.INIT
        self.config_version += 1
        self.stats[pr.STAT_CONFIG_VERSION] = self.config_version
        self._outputs()
        self.persist()

    # ------------------------------------------------------------------ per sample
    def on_sample(self, t_ms, i_a, v_cell, t_c):
        """Process one sample. Returns the ESTIMATE flags; self.events holds the events it raised."""
        events = self.events
        del events[:]
        d = self.diag
        t_ms = int(t_ms) % U32
        kind = d.check_time(t_ms)
        if kind:
            self.stats[pr.STAT_TIME_FAULTS] += 1
            return self._reject(kind, d.ch, d.x, t_ms)
        d.t_last = t_ms  # only a time-valid sample moves the time base
        dt_ms = d.dt_ms
        kind = d.check_sample(dt_ms, i_a, v_cell, t_c)
        if kind:
            return self._reject(kind, d.ch, d.x, t_ms)
        n = self.n_cells
        t_list = self._t_list
        t_min = t_c[0]
        for k in range(n):
            t_list[k] = t_c[k] if len(t_c) == n else t_c[0]
            if t_list[k] < t_min:
                t_min = t_list[k]
        self.t_min_c = t_min
        cond = 0
        kind = d.check_floor(dt_ms, i_a, v_cell, t_list)
        if kind:
            self._latch(kind, d.ch, d.x, t_ms)
            cond |= sm.C_FLOOR
        if d.good(dt_ms, t_ms, events):
            cond |= sm.C_TRUSTED
        else:
            cond |= sm.C_UNTRUSTED

        dt_s = self._estimate(t_ms, i_a, v_cell, t_list)
        self.protection.update(dt_ms, i_a, v_cell, t_list, t_ms, events)
        cond |= self._flow(i_a)
        self.state = sm.next_state(self.state, cond)
        flags = self._publish(v_cell)
        self._log(events)
        self.since_save_s += dt_s
        if self.since_save_s >= self.settings["save_s"]:
            self.persist()
        return flags

    def _estimate(self, t_ms, i_a, v_cell, t_list):
        """Balancer, estimators, detectors on a trusted sample; returns the step integrated [s]."""
        events = self.events
        n = self.n_cells
        # time since the last estimator update: a gap is bridged (the filters' sigma grows), never integrated
        dt_est_ms = 0 if self.t_est < 0 else (t_ms - self.t_est) % U32
        self.t_est = t_ms
        ests = self.estimators
        if dt_est_ms > self.settings["gap_ms"]:
            for e in ests:
                e.bridge_gap(dt_est_ms / 1000.0)
            dt_est_ms = 0
        dt_s = dt_est_ms / 1000.0
        self.t_s += dt_s
        t_s = self.t_s
        self.ah_through += abs(i_a) * dt_s / 3600.0
        bal = self.balancer
        if bal is not None:
            soc_low = 1.0
            for e in ests:
                if e.soc < soc_low:
                    soc_low = e.soc
            bal.update(t_s, dt_s, i_a, v_cell, soc_low)
        for k in range(n):
            # a cell being drained carries the string's current less its resistor's
            i_k = i_a if bal is None else i_a - bal.i_a[k]
            if not ests[k].update(dt_s, i_k, v_cell[k], t_list[k]):
                self.stats[8] += 1
        self.valid = True
        for e in self.detectors.update(t_s, dt_s, i_a, v_cell, t_list, ests):
            events.append((e[0], e[1], e[2], t_ms, e[4]))
        return dt_s

    def _flow(self, i_a):
        """The state machine's current conditions: charging, discharging, a balancing resistor on."""
        cond = 0
        i_rest = I_REST_C * self.estimators[0].q_ah
        if i_a > i_rest:
            cond |= sm.C_CHARGING
        elif i_a < -i_rest:
            cond |= sm.C_DISCHARGING
        bal = self.balancer
        if bal is not None:
            for on in bal.on:
                if on:
                    cond |= sm.C_BLEEDING
                    break
        return cond

    def _reject(self, kind, ch, x, t_ms):
        # fail safe: hold the estimate, both paths off, until the sensors look right again
        self.stats[7] += 1
        self.detectors.hold()  # untrusted: nothing is drained, no detector reads across the samples it misses
        d = self.diag
        before = d.hold
        d.bad(kind, ch, x, t_ms, self.events)
        if before != d.hold:
            self.stats[pr.STAT_INPUT_FAULTS] += 1
            self._log(self.events)
        self.state = sm.next_state(self.state, sm.C_UNTRUSTED)
        return self._publish(None)

    def link_timeout(self):
        """No SAMPLE for the settings' timeout_ms (bms.comm.service keeps the clock): both paths off."""
        del self.events[:]
        self.stats[pr.STAT_LINK_TIMEOUTS] += 1
        return self._reject(ev.LINK_TIMEOUT, ev.CH_LINK, 0.0, self.diag.t_last if self.diag.t_last >= 0 else 0)

    def _latch(self, kind, ch, x, t_ms):
        if self.latched is None:
            self.latched = (kind, ch, x)
            self.events.append((ch, kind, ev.CRITICAL, t_ms, x))
            self.state = sm.FAULT
            self.persist()

    def clear_fault(self):
        """The authenticated clear (bms.comm.service checks the tag): leaves FAULT once its condition is gone,
        and forgets the detectors' latched charge inhibit. ValueError with the reason otherwise."""
        if self.state == sm.FAULT:
            if self.diag.t_last < 0 or self.diag.floor_ms > 0:
                raise ValueError("fault: the condition still stands (or no sample since boot)")
            self.state = sm.next_state(self.state, sm.C_CLEARED)
        self.latched = None
        self.detectors.clear_inhibit()
        self.plating_level = 0
        e = (ev.CH_STRING, ev.FAULT_CLEARED, ev.INFO, self.diag.t_last if self.diag.t_last >= 0 else 0, 0.0)
        self._log((e,))
        self._publish(None)
        self.persist()

    def _publish(self, v_cell):
        state = self.state
        i_chg = 0.0
        i_dis = 0.0
        det = self.detectors
        prot = self.protection
        if v_cell is not None and sm.paths_may_close(state):
            i_chg, i_dis = prot.current_limits(v_cell)
            i_chg = min(i_chg, det.i_chg_limit_a)
            if det.charge_inhibit or self.t_min_c < self.floor[fl.T_CHARGE_MIN]:
                i_chg = 0.0  # the cold-charge block of the floor: no configuration reaches below it
        flags = 0
        if i_chg > 0.0:
            flags |= pr.FLAG_CHARGE_ALLOWED
        if i_dis > 0.0:
            flags |= pr.FLAG_DISCHARGE_ALLOWED
        if state == sm.HOLD:
            flags |= pr.FLAG_SENSOR_FAULT
        if state == sm.FAULT:
            flags |= pr.FLAG_FAULT
        if prot.tripped():
            flags |= pr.FLAG_PROTECTION_TRIP
        if self.valid:
            flags |= pr.FLAG_ESTIMATE_VALID
        # plating trouble does not heal: the level latches until an authenticated clear or a new cell
        level = self.plating_level
        for e in self.events:
            if ev.SOFT_SHORT <= e[1] <= ev.STRIPPING_VOID and e[2] > level:
                level = e[2]
        self.plating_level = level
        if level >= ev.WARNING:
            flags |= pr.FLAG_PLATING_WARNING
        if level >= ev.ALARM:
            flags |= pr.FLAG_PLATING_ALARM
        if level >= ev.CRITICAL or det.charge_inhibit:
            flags |= pr.FLAG_PLATING_CRITICAL
        self.i_chg_max_a = i_chg
        self.i_dis_max_a = i_dis
        self.flags = flags
        self._outputs()
        return flags

    def publish_held(self):
        """Publish limits without a sample (after a restore, a clear): the state decides, both paths may stay off."""
        return self._publish(None)

    def _outputs(self):
        self.on_outputs(self.i_chg_max_a > 0.0, self.i_dis_max_a > 0.0)

    def _log(self, events):
        log = self.log
        for e in events:
            if e[2] >= ev.WARNING or e[1] == ev.FAULT_CLEARED:
                if len(log) >= N_LOG:
                    log.pop(0)
                log.append((e[0], e[1], e[2], e[3], e[4]))

    # ------------------------------------------------------------------ persistence
    def persist(self):
        self.since_save_s = 0.0
        try:
            self.on_persist(self)
        except (OSError, MemoryError):
            self.stats[pr.STAT_STORE_ERRORS] += 1

    def estimate_payload(self):
        ests = self.estimators
        return pr.pack_estimate(
            self.t_est if self.t_est >= 0 else 0,
            self.flags,
            self.i_chg_max_a,
            self.i_dis_max_a,
            [e.soc for e in ests],
            [e.soc_sigma for e in ests],
            [e.q_ah for e in ests],
            self.balancer.on if self.balancer is not None else None,
            self.state,
        )
