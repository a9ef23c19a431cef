# Application layer: one sample in -> validation -> balancer -> estimators -> detectors -> protections -> limits
# and balancing resistors out.
# No I/O here (bms.hal moves bytes, bms.comm.service speaks the protocol), so tests drive it directly.
from bms.core import events as ev
from bms.comm import protocol as pr
from bms.compat import isfinite
from bms.core.protection import (
    T_PLAUSIBLE_MAX,
    T_PLAUSIBLE_MIN,
    V_PLAUSIBLE_MAX,
    V_PLAUSIBLE_MIN,
    Protection,
)

DEFAULT_PRESET = "nvp-mg-naf"
MAX_CELLS = 128
GOOD_SAMPLES_TO_TRUST = 3  # consecutive plausible samples before charging is allowed again after a sensor fault
MAX_DT_S = 3600.0  # a longer gap (a board asleep, a lost link) is integrated as at most this


class Bms:
    def __init__(self, n_cells=1, preset=DEFAULT_PRESET, soc0=None, cell=None, bal_r_ohm=None):
        """bal_r_ohm: the board's balancing resistor per cell (bms.config.board; None: balance.R_OHM_DEFAULT)."""
        self.stats = [0] * pr.N_STATS
        self.bal_r_ohm = bal_r_ohm
        self.configure(n_cells, preset, soc0, cell)

    def configure(self, n_cells, preset, soc0=None, cell=None):
        """(Re)build the estimators, detectors and protections. ValueError, with the reason, on a bad config;
        on error the running configuration is kept. cell: a parameter dict from bms.config.cellfile.load (a
        cell file) used instead of the preset's; preset then only names it."""
        from bms.config import cell as cellparams
        from bms.config import detect as detectparams
        from bms.balance import R_OHM_DEFAULT
        from bms.detect.plating import build as build_detectors
        from bms.est.estimator import CellEstimator

        if not 1 <= n_cells <= MAX_CELLS:
            raise ValueError("n_cells must be 1..%d" % MAX_CELLS)
        if soc0 is not None and not (isfinite(soc0) and 0.0 <= soc0 <= 1.0):
            raise ValueError("soc0 must be a fraction 0..1")
        params = cellparams.validate(cell if cell is not None else cellparams.preset(preset))
        if cell is not None:
            preset = params["name"]
        # a cell file names its detector thresholds (detectors.preset); else the preset's own, else the default's
        det_name = params.get("detect_preset") or preset
        det_cfg = detectparams.preset(det_name if det_name in detectparams.PRESET_NAMES else DEFAULT_PRESET)
        import gc

        gc.collect()  # the new string is built while the old one still runs: give it the garbage's room first
        estimators = [CellEstimator(params, soc0) for _ in range(n_cells)]
        bal_r_ohm = self.bal_r_ohm if self.bal_r_ohm is not None else R_OHM_DEFAULT
        bal, det = build_detectors(n_cells, params, det_cfg, bal_r_ohm)
        self.balancer = bal
        self.detectors = det
        self.protection = Protection(params)
        self.estimators = estimators
        self.preset = preset
        self.n_cells = n_cells
        self.last_t_ms = -1
        self.sensor_fault = False
        self.good_run = GOOD_SAMPLES_TO_TRUST  # start trusting: the first sample is validated anyway
        self.valid = False
        self.i_chg_max_a = 0.0
        self.i_dis_max_a = 0.0
        self.flags = 0
        self.plating_level = 0
        self.events = []  # (cell, kind, severity, t_ms, value) raised by the last sample

    def _plausible(self, i_a, v_cell, t_c):
        """Index of the first implausible cell voltage, -2 for a bad current/temperature, -1 if all fine."""
        if not isfinite(i_a):
            return -2
        for k in range(len(v_cell)):
            v = v_cell[k]
            if not (isfinite(v) and V_PLAUSIBLE_MIN <= v <= V_PLAUSIBLE_MAX):
                return k
        for t in t_c:
            if not (isfinite(t) and T_PLAUSIBLE_MIN <= t <= T_PLAUSIBLE_MAX):
                return -2
        return -1

    def on_sample(self, t_ms, i_a, v_cell, t_c):
        """Process one sample. Returns the ESTIMATE flags; self.events holds the events it raised."""
        events = self.events
        del events[:]
        n = self.n_cells
        if len(v_cell) != n or (len(t_c) != n and len(t_c) != 1 and len(t_c) != 0):
            raise ValueError("sample has %d voltages / %d temperatures for %d cells" % (len(v_cell), len(t_c), n))
        if self.last_t_ms >= 0 and t_ms <= self.last_t_ms:
            raise ValueError("sample time does not advance")
        dt_ms = 0 if self.last_t_ms < 0 else t_ms - self.last_t_ms
        self.last_t_ms = t_ms
        dt_s = dt_ms / 1000.0
        if dt_s > MAX_DT_S:
            dt_s = MAX_DT_S

        bad = self._plausible(i_a, v_cell, t_c)
        bal = self.balancer
        if bad != -1:
            if bal is not None:
                bal.abort()  # nothing is drained while the measurements cannot be trusted
            self.detectors.hold()  # ... and the detectors do not read across the samples they miss
            # fail safe: hold the estimate, charging off, until the sensors look right again
            self.stats[7] += 1
            self.good_run = 0
            if not self.sensor_fault:
                self.sensor_fault = True
                kind = ev.OPEN_WIRE if bad >= 0 and isfinite(v_cell[bad]) else ev.SENSOR_INVALID
                events.append((bad if bad >= 0 else 0xFF, kind, ev.CRITICAL, t_ms, v_cell[bad] if bad >= 0 else i_a))
            return self._publish(v_cell, hold=True)
        if self.sensor_fault:
            self.good_run += 1
            if self.good_run >= GOOD_SAMPLES_TO_TRUST:
                self.sensor_fault = False

        t_s = t_ms / 1000.0
        ests = self.estimators
        if bal is not None:
            soc_low = 1.0
            for e in ests:
                if e.soc < soc_low:
                    soc_low = e.soc
            bal.update(t_s, dt_s, i_a, v_cell, soc_low)
        for k in range(n):
            tk = t_c[k] if len(t_c) == n else (t_c[0] if t_c else 25.0)
            # a cell being drained carries the string's current less its resistor's
            i_k = i_a if bal is None else i_a - bal.i_a[k]
            if not ests[k].update(dt_s, i_k, v_cell[k], tk):
                self.stats[8] += 1
        self.valid = True
        t_list = t_c if len(t_c) == n else [t_c[0] if t_c else 25.0] * n
        for e in self.detectors.update(t_s, dt_s, i_a, v_cell, t_list, ests):
            events.append((e[0], e[1], e[2], t_ms, e[4]))
        self.protection.update(dt_ms, i_a, v_cell, t_c, t_ms, events)
        return self._publish(v_cell, hold=False)

    def _publish(self, v_cell, hold):
        prot = self.protection
        if hold:
            i_chg = 0.0
            i_dis = 0.0 if not self.valid else prot.current_limits(v_cell)[1]
        else:
            i_chg, i_dis = prot.current_limits(v_cell)
            i_chg = min(i_chg, self.detectors.i_chg_limit_a)
        if self.sensor_fault or self.detectors.charge_inhibit:
            i_chg = 0.0
        flags = 0
        if i_chg > 0.0:
            flags |= pr.FLAG_CHARGE_ALLOWED
        if i_dis > 0.0:
            flags |= pr.FLAG_DISCHARGE_ALLOWED
        if self.sensor_fault:
            flags |= pr.FLAG_SENSOR_FAULT
        if prot.tripped():
            flags |= pr.FLAG_PROTECTION_TRIP
        if self.valid:
            flags |= pr.FLAG_ESTIMATE_VALID
        # plating trouble does not heal: the level latches until a reconfiguration (a new cell)
        level = self.plating_level
        for e in self.events:
            if e[1] < ev.OVER_VOLTAGE and e[2] > level:
                level = e[2]
        self.plating_level = level
        if level >= ev.WARNING:
            flags |= pr.FLAG_PLATING_WARNING
        if level >= ev.ALARM:
            flags |= pr.FLAG_PLATING_ALARM
        if level >= ev.CRITICAL or self.detectors.charge_inhibit:
            flags |= pr.FLAG_PLATING_CRITICAL
        self.i_chg_max_a = i_chg
        self.i_dis_max_a = i_dis
        self.flags = flags
        return flags

    def estimate_payload(self):
        ests = self.estimators
        return pr.pack_estimate(
            self.last_t_ms if self.last_t_ms >= 0 else 0,
            self.flags,
            self.i_chg_max_a,
            self.i_dis_max_a,
            [e.soc for e in ests],
            [e.soc_sigma for e in ests],
            [e.q_ah for e in ests],
            self.balancer.on if self.balancer is not None else None,
        )
