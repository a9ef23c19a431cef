# Protections as one diagnostics table (after foxBMS 2): every entry has a limit, a delay, a hysteresis
# (release threshold) and a severity. A level is entered after its condition has held for `delay_ms`
# and left once the value is back beyond limit -/+ hysteresis. CRITICAL entries switch charging (or
# discharging) off; the others derate or only report.
from bms.config.constants import T_MIN_CHARGE_C
from bms.core import events as ev

# Charging sodium metal below T_MIN_CHARGE_C plates dendrites at any useful current (critical current density
# ~0.35x its 25 degC value at -20 degC, cell-physics.md); the detectors derate above it, this stops it.

TAPER_V = 0.05  # current derating band at the voltage limits [V]

# plausibility (a reading beyond it is a sensor fault, not a cell state) lives in bms.core.diag; the absolute
# limits no configuration relaxes in bms.core.floor

# columns of a diagnostics row
KIND = 0
LIMIT = 1
HYST = 2
DELAY_MS = 3
SEVERITY = 4
ABOVE = 5  # True: trips when value > limit; False: when value < limit


def diagnostics_table(p):
    """Rows (kind, limit, hysteresis, delay_ms, severity, above) from a validated cellparams dict, whose
    v_min/v_max/i_*_max_a/t_*_c are the operating limits; the trip levels sit a margin beyond them."""
    return (
        (ev.OVER_VOLTAGE, p["v_max"] + 0.05, 0.1, 500, ev.CRITICAL, True),
        (ev.UNDER_VOLTAGE, p["v_min"] - 0.2, 0.3, 2000, ev.CRITICAL, False),
        (ev.OVER_CURRENT_CHARGE, p["i_chg_max_a"] * 1.25, 0.1 * p["i_chg_max_a"], 2000, ev.CRITICAL, True),
        (ev.OVER_CURRENT_DISCHARGE, -p["i_dis_max_a"] * 1.25, 0.1 * p["i_dis_max_a"], 2000, ev.CRITICAL, False),
        (ev.OVER_TEMPERATURE, p["t_max_c"], 5.0, 2000, ev.CRITICAL, True),
        (ev.UNDER_TEMPERATURE_CHARGE, max(p["t_min_c"], T_MIN_CHARGE_C), 3.0, 2000, ev.ALARM, False),
    )


class Protection:
    """Evaluates the diagnostics table each tick; keeps which rows stand and for how long they were pending."""

    def __init__(self, p):
        self.p = p
        self.table = diagnostics_table(p)
        n = len(self.table)
        self.active = [False] * n  # row stands
        self.pending_ms = [0] * n  # how long the condition has held while not yet active

    def _worst(self, row, v_max, v_min, i_a, t_max, t_min):
        kind = row[KIND]
        if kind == ev.OVER_VOLTAGE:
            return v_max
        if kind == ev.UNDER_VOLTAGE:
            return v_min
        if kind == ev.OVER_CURRENT_CHARGE or kind == ev.OVER_CURRENT_DISCHARGE:
            return i_a
        if kind == ev.OVER_TEMPERATURE:
            return t_max
        return t_min

    def update(self, dt_ms, i_a, v_cell, t_c, t_ms, out_events):
        """Appends (cell, kind, severity, t_ms, value) to out_events for rows entered this tick."""
        v_max = max(v_cell)
        v_min = min(v_cell)
        t_max = max(t_c)  # never empty: bms.core.diag refuses a sample without a temperature
        t_min = min(t_c)
        for k in range(len(self.table)):
            row = self.table[k]
            x = self._worst(row, v_max, v_min, i_a, t_max, t_min)
            above = row[ABOVE]
            beyond = x > row[LIMIT] if above else x < row[LIMIT]
            if self.active[k]:
                back = x < row[LIMIT] - row[HYST] if above else x > row[LIMIT] + row[HYST]
                if back:
                    self.active[k] = False
                    self.pending_ms[k] = 0
            elif beyond:
                self.pending_ms[k] += dt_ms
                if self.pending_ms[k] >= row[DELAY_MS]:
                    self.active[k] = True
                    out_events.append((self._cell_of(row[KIND], v_cell, t_c), row[KIND], row[SEVERITY], t_ms, x))
            else:
                self.pending_ms[k] = 0

    def _cell_of(self, kind, v_cell, t_c):
        if kind == ev.OVER_VOLTAGE:
            return v_cell.index(max(v_cell))
        if kind == ev.UNDER_VOLTAGE:
            return v_cell.index(min(v_cell))
        if kind == ev.OVER_TEMPERATURE:
            return t_c.index(max(t_c))
        if kind == ev.UNDER_TEMPERATURE_CHARGE:
            return t_c.index(min(t_c))
        return 0xFF  # string-level

    def charge_allowed(self):
        for k in range(len(self.table)):
            if self.active[k]:
                kind = self.table[k][KIND]
                if kind != ev.UNDER_VOLTAGE and kind != ev.OVER_CURRENT_DISCHARGE:
                    return False
        return True

    def discharge_allowed(self):
        for k in range(len(self.table)):
            if self.active[k]:
                kind = self.table[k][KIND]
                if kind == ev.UNDER_VOLTAGE or kind == ev.OVER_CURRENT_DISCHARGE or kind == ev.OVER_TEMPERATURE:
                    return False
        return True

    def tripped(self):
        for a in self.active:
            if a:
                return True
        return False

    def current_limits(self, v_cell):
        """(i_chg_max_a, i_dis_max_a) >= 0 from the operating limits, derated near the voltage limits.

        Charge: full current up to v_max - TAPER_V, then falling to a CV-tail current (C/20) at v_max, so a
        charger doing CC-CV at v_max still reaches its CV phase and finishes; zero from v_max + TAPER_V/2.
        Discharge: full down to v_min + TAPER_V, zero at v_min.
        """
        p = self.p
        i_chg = p["i_chg_max_a"]
        i_dis = p["i_dis_max_a"]
        i_tail = 0.05 * p["q_ah"]
        v_hi = max(v_cell)
        over = v_hi - (p["v_max"] - TAPER_V)
        if over > 0.0:
            if over <= TAPER_V:
                i_chg = i_tail + (i_chg - i_tail) * (1.0 - over / TAPER_V)
            else:
                i_chg = i_tail * max(0.0, 1.0 - (over - TAPER_V) / (0.5 * TAPER_V))
        floor = min(v_cell) - p["v_min"]
        if floor < TAPER_V:
            i_dis *= max(0.0, floor / TAPER_V)
        if not self.charge_allowed():
            i_chg = 0.0
        if not self.discharge_allowed():
            i_dis = 0.0
        return i_chg, i_dis
