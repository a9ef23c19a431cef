# Input diagnosis, one table (after foxBMS 2's DIAG module): every way a sample can be untrusted, what it does,
# and how it is left. A sample that fails any check feeds nothing (estimators, detectors, balancer, time base);
# both current paths go off and an event names the channel (events.CH_*) and the reason (the event kind).
#
#   kind                  channel            action
#   SENSOR_INVALID        cell / temp / I    HOLD   NaN or inf
#   OPEN_WIRE             cell               HOLD   voltage outside V_PLAUSIBLE, or below it by a step (a collapsed
#                                                   cell gets there continuously: it is read, and the floor latches)
#   SENSOR_IMPLAUSIBLE    temperature        HOLD   outside T_PLAUSIBLE
#   SENSOR_MISSING        temp / cell        HOLD   no temperature (never a default 25 degC), wrong count
#   CURRENT_RANGE         current            HOLD   |i| beyond the sensor's range
#   SENSOR_STUCK          cell / current     HOLD   the same reading, bit for bit, for stuck_s while current flows
#   TIME_PAST             time               HOLD   stamped at or before the last sample (u32 wrap-safe)
#   TIME_AHEAD            time               HOLD   stamped more than ahead_ms after it (unless the new time base
#                                                   holds for good_n samples: then the stretch is a gap)
#   LINK_TIMEOUT          link               HOLD   no SAMPLE for timeout_ms (bms.comm.service)
#   FLOOR_BREACH          cell / temp / I    LATCH  a plausible reading beyond the compiled floor (bms.core.floor)
#                                                   for floor_ms: FAULT, left only by an authenticated clear
# HOLD is left after good_n sane samples in a row spanning recover_ms.
from bms.compat import isfinite
from bms.core import events as ev
from bms.core import floor as fl

V_PLAUSIBLE_MIN = 0.5  # an open sense wire reads ~0 V (or floats)
# An anode-free cell that a short has stripped reads 0-0.5 V, and a string can drive it a little negative: a
# reading there is a collapsed cell when the cell got there continuously (within DV_CONTINUOUS_V of its last
# plausible reading); a step into it from a normal voltage is an open wire. Either way the floor latches FAULT.
V_COLLAPSED_MIN = -0.5
DV_CONTINUOUS_V = 0.5
V_PLAUSIBLE_MAX = 5.5
T_PLAUSIBLE_MIN = -50.0
T_PLAUSIBLE_MAX = 125.0
U32 = 0x100000000
HALF = 0x80000000

# settings a board may change (Bms(settings=...)); the defaults and why: docs/safety.md
DEFAULTS = {
    "i_range_a": 100.0,  # current sensor's full scale
    "stuck_s": 300.0,  # the same reading, bit for bit, this long while current flows: a stuck sensor
    "i_flow_c": 0.02,  # "current flows": |i| above this C-rate
    "recover_ms": 3000,
    "good_n": 3,
    "gap_ms": 10000,  # a longer stretch between samples is bridged as a gap, not integrated
    "ahead_ms": 600000,
    "floor_ms": 1000,
    "timeout_ms": 30000,
    "save_s": 600.0,  # learned state is saved this often (sample time), and at every configuration, fault, clear
}


def settings(over=None):
    s = dict(DEFAULTS)
    if over:
        for k in over:
            if k not in DEFAULTS:
                raise ValueError("settings: unknown key %r" % k)
            x = over[k]
            if not (isfinite(x) and x > 0):
                raise ValueError("settings: %s must be a finite number > 0" % k)
            s[k] = x
    return s


class Diag:
    def __init__(self, n_cells, floor, q_ah, st):
        self.n = n_cells
        self.floor = floor
        self.st = st
        self.i_flow_a = st["i_flow_c"] * q_ah
        self.i_floor_chg = 1.5 * floor[fl.I_CHG_C] * q_ah
        self.i_floor_dis = -1.5 * floor[fl.I_DIS_C] * q_ah
        self.i_range = st["i_range_a"]
        self.i_range_neg = -self.i_range
        self.i_flow_neg = -self.i_flow_a
        self.stuck_ms = int(st["stuck_s"] * 1000)
        self.v_ref = [-9.0] * n_cells  # the last plausible reading (none yet); a list: reading it back boxes no float
        self.v_still_ms = [0] * n_cells
        self.i_ref = 0.0
        self.i_still_ms = 0
        self.hold = 0  # kind of the standing HOLD fault, 0 when inputs are trusted
        self.good_n = 0
        self.good_ms = 0
        self.floor_ms = 0
        self.t_last = -1  # u32 time of the last time-valid sample
        self.t_cand = -1  # a new time base being confirmed after TIME_AHEAD
        self.cand_n = 0
        # the last check's findings (attributes, not a returned tuple: nothing is allocated per sample)
        self.dt_ms = 0
        self.ch = 0
        self.x = 0.0

    def check_time(self, t_ms):
        """0 when t_ms is acceptable (self.dt_ms: the wrap-safe step), else the fault's kind."""
        self.dt_ms = 0
        if self.t_last < 0:
            return 0
        dt = (t_ms - self.t_last) % U32
        if dt == 0 or dt >= HALF:
            return self._found(ev.TIME_PAST, ev.CH_TIME, float(t_ms))
        if dt <= self.st["ahead_ms"]:
            self.t_cand = -1
            self.dt_ms = dt
            return 0
        # a jump: accept it once the new time base holds (the host restarted, the board slept)
        if self.t_cand >= 0 and 0 < (t_ms - self.t_cand) % U32 <= self.st["gap_ms"]:
            self.cand_n += 1
        else:
            self.cand_n = 0
        self.t_cand = t_ms
        if self.cand_n + 1 >= self.st["good_n"]:
            self.t_cand = -1
            self.dt_ms = dt
            return 0
        return self._found(ev.TIME_AHEAD, ev.CH_TIME, float(t_ms))

    def check_sample(self, dt_ms, i_a, v_cell, t_c):
        """The kind of the first untrusted reading (self.ch, self.x: its channel and value), 0 if all are sane.
        Also runs the stuck-sensor clocks (they advance only on samples whose time is valid). Range tests
        also catch NaN and inf (every comparison with NaN is false), so a sane sample allocates nothing."""
        n = self.n
        if len(v_cell) != n:
            return self._found(ev.SENSOR_MISSING, ev.CH_STRING, len(v_cell))
        if len(t_c) == 0:
            return self._found(ev.SENSOR_MISSING, ev.CH_TEMP0, 0.0)
        if len(t_c) != 1 and len(t_c) != n:
            return self._found(ev.SENSOR_MISSING, ev.CH_TEMP0, len(t_c))
        if not self.i_range_neg <= i_a <= self.i_range:
            return self._found(ev.CURRENT_RANGE if isfinite(i_a) else ev.SENSOR_INVALID, ev.CH_CURRENT, i_a)
        for k in range(n):
            v = v_cell[k]
            if not V_PLAUSIBLE_MIN <= v <= V_PLAUSIBLE_MAX and not self._collapsed(k, v):
                return self._found(ev.OPEN_WIRE if isfinite(v) else ev.SENSOR_INVALID, k, v)
        for k in range(len(t_c)):
            t = t_c[k]
            if not T_PLAUSIBLE_MIN <= t <= T_PLAUSIBLE_MAX:
                return self._found(ev.SENSOR_IMPLAUSIBLE if isfinite(t) else ev.SENSOR_INVALID, ev.CH_TEMP0 + k, t)
        # stuck: the very same reading (a real front end's noise changes it every few samples) while current flows
        flowing = i_a > self.i_flow_a or i_a < self.i_flow_neg
        if dt_ms > self.st["gap_ms"]:
            dt_ms = 0  # a gap says nothing about a sensor's motion
        stuck = self.stuck_ms
        bad = -1
        v_ref = self.v_ref
        still = self.v_still_ms
        for k in range(n):
            if v_cell[k] != v_ref[k]:
                v_ref[k] = v_cell[k]
                still[k] = 0
            elif flowing:
                still[k] += dt_ms
                if still[k] >= stuck and bad < 0:
                    bad = k
        if i_a != self.i_ref or not flowing:
            self.i_ref = i_a
            self.i_still_ms = 0
        else:
            self.i_still_ms += dt_ms
            if self.i_still_ms >= stuck:
                return self._found(ev.SENSOR_STUCK, ev.CH_CURRENT, i_a)
        if bad >= 0:
            return self._found(ev.SENSOR_STUCK, bad, v_cell[bad])
        return 0

    def _collapsed(self, k, v):
        # v_ref starts far below the band: a first reading in the collapsed band has no history and is held as an open wire
        return V_COLLAPSED_MIN <= v < V_PLAUSIBLE_MIN and -DV_CONTINUOUS_V <= v - self.v_ref[k] <= DV_CONTINUOUS_V

    def check_floor(self, dt_ms, i_a, v_cell, t_c):
        """FLOOR_BREACH (self.ch, self.x) once a reading has stood beyond the floor for floor_ms, else 0."""
        f = self.floor
        ch = -1
        x = 0.0
        for k in range(self.n):
            v = v_cell[k]
            if v > f[fl.V_MAX] or v < f[fl.V_MIN]:
                ch = k
                x = v
                break
        if ch < 0:
            for k in range(len(t_c)):
                t = t_c[k]
                if t > f[fl.T_MAX] or t < f[fl.T_MIN]:
                    ch = ev.CH_TEMP0 + k
                    x = t
                    break
        if ch < 0 and (i_a > self.i_floor_chg or i_a < self.i_floor_dis):
            ch = ev.CH_CURRENT
            x = i_a
        if ch < 0:
            self.floor_ms = 0
            return 0
        self.floor_ms += dt_ms
        if self.floor_ms >= self.st["floor_ms"]:
            return self._found(ev.FLOOR_BREACH, ch, x)
        return 0

    def _found(self, kind, ch, x):
        self.ch = ch
        self.x = x
        return kind

    def bad(self, kind, ch, value, t_ms, events):
        """A HOLD fault: raises its event on entry (or when the reason changes); resets the debounce."""
        self.good_n = 0
        self.good_ms = 0
        if self.hold != kind:
            self.hold = kind
            events.append((ch, kind, ev.CRITICAL, t_ms, value))

    def good(self, dt_ms, t_ms, events):
        """A sane sample; True once the inputs are trusted (again)."""
        if not self.hold:
            return True
        self.good_n += 1
        self.good_ms += dt_ms
        if self.good_n >= self.st["good_n"] and self.good_ms >= self.st["recover_ms"]:
            self.hold = 0
            events.append((ev.CH_STRING, ev.INPUTS_TRUSTED, ev.INFO, t_ms, 0.0))
            return True
        return False
