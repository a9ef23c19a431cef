"""The detectors' channels and their one level machine (foxBMS-style levels; docs/detectors.md).

Every detector reports evidence on named channels; CHANNELS says which event kind each raises, which
configuration keys hold its levels, how many consecutive evaluations a higher level needs, and how long a level
lives. The bench's threshold sweep (bench/detection_score.py) reads the same table.
"""
from bms.core import events as ev
from bms.sums import floats

# latch: CRITICAL latches until a service action (clear_inhibit); lower levels follow the evidence with hysteresis
LATCH_CRITICAL = "critical"
# ... and also fall back at the end of each charge (events that belong to one charge)
LATCH_CHARGE = "charge"
# ALARM latches too (only the operator's clear_inhibit lowers it): a short does not heal when its evidence quietens
LATCH_ALARM = "alarm"

# (kind, channel, (warn key, alarm key, critical key or None), delay key or None, latch)
CHANNELS = (
    (ev.SOFT_SHORT, "soft_short", ("ss_warn_c", "ss_alarm_c", "ss_crit_c"), None, LATCH_ALARM),
    (ev.DENDRITE, "dendrite", ("dd_warn_v", "dd_alarm_v", "dd_crit_v"), None, LATCH_CHARGE),
    (ev.DEAD_SODIUM, "dead_sodium", ("dn_warn", "dn_alarm", "dn_crit"), None, LATCH_CRITICAL),
    (ev.DEAD_SODIUM, "dead_sodium_cut", ("dn_cut_warn", "dn_cut_alarm", "dn_crit"), None, LATCH_CRITICAL),
    (ev.DEAD_SODIUM, "dead_sodium_bal", ("dn_bal_warn", "dn_bal_alarm", "dn_crit"), None, LATCH_CRITICAL),
    (ev.NUCLEATION, "nucleation", ("nu_warn_v", "nu_alarm_v", "nu_crit_v"), None, LATCH_CRITICAL),
    (ev.NUCLEATION, "nucleation_string", ("nu_str_warn_v", "nu_str_alarm_v", "nu_crit_v"), None, LATCH_CRITICAL),
    (ev.STRIPPING_VOID, "stripping_void", ("sv_warn", "sv_alarm", "sv_crit"), None, LATCH_CRITICAL),
    (ev.MODEL_MISMATCH, "model_mismatch", ("mm_warn", "mm_alarm", "mm_crit"), "mm_delay_n", LATCH_CRITICAL),
    (ev.MODEL_MISMATCH, "model_mismatch_step", ("mm_r_warn", "mm_r_alarm", None), None, LATCH_CRITICAL),
)
CHANNEL_NAMES = tuple(row[1] for row in CHANNELS)


def channel(name):
    """The index of a channel by its name (ValueError naming it if unknown)."""
    for k in range(len(CHANNEL_NAMES)):
        if CHANNEL_NAMES[k] == name:
            return k
    raise ValueError("unknown detector channel %r" % (name,))


class Levels:
    """level[ch][cell], evidence[ch][cell]; assess() raises an event on entry into a higher level."""

    def __init__(self, n_cells, cfg):
        m = len(CHANNELS)
        self.n = n_cells
        self.level = [[0] * n_cells for _ in range(m)]
        self.evidence = [floats(n_cells) for _ in range(m)]
        self._pending = [[0] * n_cells for _ in range(m)]
        self._kind = [row[0] for row in CHANNELS]
        self._warn = [cfg[row[2][0]] for row in CHANNELS]
        self._alarm = [cfg[row[2][1]] for row in CHANNELS]
        self._crit = [cfg[row[2][2]] if row[2][2] else 0.0 for row in CHANNELS]
        self._delay = [cfg[row[3]] if row[3] else 1 for row in CHANNELS]
        self._per_charge = [k for k in range(m) if CHANNELS[k][4] == LATCH_CHARGE]
        self._floor = [ev.ALARM if row[4] == LATCH_ALARM else ev.CRITICAL for row in CHANNELS]  # latched from here
        self._hyst = cfg["hyst_frac"]
        self.trace = None  # callable(cell, channel name, t_s, value) at every evaluation (threshold sweeps)
        self.charge_inhibit = False  # a CRITICAL level stands (latched until clear_inhibit())
        self.out = []  # the events of the current update: (cell, kind, severity, t_s, value)

    def assess(self, ch, c, value, t_s):
        self.evidence[ch][c] = value
        if self.trace is not None:
            self.trace(c, CHANNEL_NAMES[ch], t_s, value)
        warn = self._warn[ch]
        alarm = self._alarm[ch]
        crit = self._crit[ch]
        target = 0
        if value >= warn:
            target = ev.WARNING
            if value >= alarm:
                target = ev.ALARM
                if crit > 0.0 and value >= crit:
                    target = ev.CRITICAL
        lvl = self.level[ch][c]
        if target > lvl:
            k = self._pending[ch][c] + 1
            if k >= self._delay[ch]:
                self._pending[ch][c] = 0
                self.level[ch][c] = target
                self.out.append((c, self._kind[ch], target, t_s, value))
                if target == ev.CRITICAL:
                    self.charge_inhibit = True
            else:
                self._pending[ch][c] = k
            return
        self._pending[ch][c] = 0
        if ev.WARNING <= lvl < self._floor[ch]:
            h = self._hyst
            if value < warn * h:
                self.level[ch][c] = 0
            elif lvl == ev.ALARM and value < alarm * h:
                self.level[ch][c] = ev.WARNING

    def end_charge(self):
        """Channels whose events belong to one charge fall back (CRITICAL stays)."""
        for ch in self._per_charge:
            lv = self.level[ch]
            pend = self._pending[ch]
            for c in range(self.n):
                if lv[c] < ev.CRITICAL:
                    lv[c] = 0
                    pend[c] = 0

    def worst(self):
        """The highest level of any channel on any cell."""
        w = 0
        for lv in self.level:
            for x in lv:
                if x > w:
                    w = x
        return w

    def clear_inhibit(self):
        """Service action: forget the latched levels (CRITICAL, and ALARM where it latches) and allow charging
        again."""
        self.charge_inhibit = False
        for ch in range(len(self.level)):
            lv = self.level[ch]
            floor = self._floor[ch]
            for c in range(self.n):
                if lv[c] >= floor:
                    lv[c] = 0
