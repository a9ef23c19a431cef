"""Current profiles: closed-loop callables that obey the BMS's current limits.

Every profile is called as ``i_a = profile(t_s, st, i_chg_max_a, i_dis_max_a)``
and answers ``profile.done(t_s, st) -> bool``.  ``i_chg_max_a`` and
``i_dis_max_a`` are the magnitudes (>= 0 A; None or inf = no limit) the BMS
allows for charge and discharge; the returned current (charge > 0) always lies
within ``[-i_dis_max_a, +i_chg_max_a]``.  ``st`` is the pack state
(sim.pack.PackState): voltage limits act on the highest/lowest cell.  A
segment starts its own clock at its first call, so profiles compose in
``sequence``.  Voltage limits default to the pack preset's window
(``st.v_max`` / ``st.v_min``).

Builders: ``cc``, ``cccv``, ``rest``, ``hppc``, ``gitt``, ``drive`` (synthetic
drive-style CSVs shipped in sim/profiles/*.csv, columns ``t_s,c_rate``: current
per Ah of capacity, charge/regen > 0; see sim/make_drive_profiles.py),
``sequence``, ``cycles`` (CC-CV charge / rest / CC discharge / rest) and
``from_function`` (wrap your own closed-loop callback).
"""

import csv
import math
import os

import numpy as np

PROFILE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")


def clamp(i_a, i_chg_max_a, i_dis_max_a):
    """Limit a current to the BMS's allowed charge/discharge magnitudes."""
    chg = math.inf if i_chg_max_a is None else max(float(i_chg_max_a), 0.0)
    dis = math.inf if i_dis_max_a is None else max(float(i_dis_max_a), 0.0)
    if i_a > chg:
        return chg
    if i_a < -dis:
        return -dis
    return float(i_a)


def _check_current(name, val):
    if not (isinstance(val, (int, float)) and math.isfinite(val)):
        raise ValueError("%s must be a finite current in A, got %r" % (name, val))


class Profile:
    """Base class: a segment with its own clock (started at the first call)."""

    duration_s = None

    def __init__(self):
        self.t0 = None

    def elapsed(self, t_s):
        if self.t0 is None:
            return 0.0
        return t_s - self.t0

    def __call__(self, t_s, st, i_chg_max_a=None, i_dis_max_a=None):
        if self.t0 is None:
            self.t0 = t_s
        return clamp(self.current(t_s, st), i_chg_max_a, i_dis_max_a)

    def current(self, t_s, st):
        raise NotImplementedError

    def done(self, t_s, st):
        return self.duration_s is not None and self.t0 is not None and self.elapsed(t_s) >= self.duration_s - 1e-9


class _CC(Profile):
    def __init__(self, i_a, duration_s, v_max, v_min):
        super().__init__()
        _check_current("i_a", i_a)
        self.i_a, self.duration_s, self.v_max, self.v_min = float(i_a), duration_s, v_max, v_min
        self.hit_limit = False

    def current(self, t_s, st):
        return self.i_a

    def done(self, t_s, st):
        if super().done(t_s, st):
            return True
        if self.t0 is None:
            return False
        v_max = self.v_max if self.v_max is not None else st.v_max
        v_min = self.v_min if self.v_min is not None else st.v_min
        if (self.i_a > 0 and np.max(st.v_cell) >= v_max) or (self.i_a < 0 and np.min(st.v_cell) <= v_min):
            self.hit_limit = True
        return self.hit_limit


def cc(i_a, duration_s=None, v_max=None, v_min=None):
    """Constant current until duration_s, or the highest cell reaches v_max (charge) /
    the lowest reaches v_min (discharge).  Pass v_max/v_min = math.inf/-math.inf to disable."""
    return _CC(i_a, duration_s, v_max, v_min)


class _CCCV(Profile):
    def __init__(self, i_a, v_max, i_cut_a, duration_s, r_est_ohm):
        super().__init__()
        _check_current("i_a", i_a)
        if i_a <= 0:
            raise ValueError("cccv charges: i_a must be > 0, got %r" % (i_a,))
        if r_est_ohm is not None and r_est_ohm <= 0:
            raise ValueError("r_est_ohm must be > 0")
        self.i_a, self.v_max, self.i_cut_a = float(i_a), v_max, float(i_cut_a)
        self._r_given = r_est_ohm is not None
        self.duration_s, self.r_est = duration_s, 0.2 if r_est_ohm is None else float(r_est_ohm)
        self.cv = False
        self.i_last = float(i_a)
        self._prev = None  # (current, highest voltage) of the step before
        self._first = None
        self.v_hi = -math.inf

    def current(self, t_s, st):
        v_max = self.v_max if self.v_max is not None else st.v_max
        v_hi = float(np.max(st.v_cell))
        if self._first is None:
            self._first = (v_hi, float(getattr(st, "i_a", 0.0)))
        elif self._first is not False:
            # The voltage step of our first step is the string's immediate resistance.
            v0, i0 = self._first
            i1 = float(getattr(st, "i_a", self.i_a))  # what was applied (a BMS may have cut it)
            if abs(i1 - i0) > 0.2 * self.i_a and not self._r_given:
                self.r_est = min(max(1.2 * (v_hi - v0) / (i1 - i0), 1e-3), 100.0)
            self._first = False
        self.v_hi = v_hi
        if not self.cv and v_hi >= v_max:
            self.cv = True
        if self.cv:
            # Learn a pessimistic resistance from the last current change, so the integral
            # control of the highest cell's voltage stays stable when the cell is cold.
            if self._prev is not None and abs(self.i_last - self._prev[0]) > 1e-3 * self.i_a:
                r_obs = (v_hi - self._prev[1]) / (self.i_last - self._prev[0])
                if r_obs > self.r_est:
                    self.r_est = min(1.5 * r_obs, 100.0)
            self._prev = (self.i_last, v_hi)
            self.i_last = min(max(self.i_last + (v_max - v_hi) / self.r_est, 0.0), self.i_a)
            return self.i_last
        return self.i_a  # CC: asks for the full current again once a BMS limit lifts

    def __call__(self, t_s, st, i_chg_max_a=None, i_dis_max_a=None):
        i = super().__call__(t_s, st, i_chg_max_a, i_dis_max_a)
        # CC: the CV integrator will start from what was applied; CV: a BMS limit winds the integrator down
        self.i_last = max(i, 0.0) if not self.cv else min(self.i_last, max(i, 0.0))
        return i

    def done(self, t_s, st):
        if super().done(t_s, st):
            return True
        if not (self.cv and self.i_last <= self.i_cut_a):
            return False
        v_max = self.v_max if self.v_max is not None else st.v_max
        return float(np.max(st.v_cell)) >= v_max - 0.01  # holding v_max, not an overshoot


def cccv(i_a, v_max=None, i_cut_a=None, duration_s=None, r_est_ohm=None):
    """CC charge at i_a until the highest cell reaches v_max, then hold it there (CV) until
    the current falls to i_cut_a (default i_a / 10).  The CV loop's resistance r_est_ohm is
    learnt from the voltage step of the first CC step (0.2 ohm if that step did not change the
    current) and raised whenever the loop sees a larger dV/dI."""
    return _CCCV(i_a, v_max, i_a / 10.0 if i_cut_a is None else i_cut_a, duration_s, r_est_ohm)


class _Rest(Profile):
    def __init__(self, duration_s):
        super().__init__()
        if not (duration_s >= 0 and math.isfinite(duration_s)):
            raise ValueError("rest duration_s must be finite and >= 0, got %r" % (duration_s,))
        self.duration_s = float(duration_s)

    def current(self, t_s, st):
        return 0.0

    def done(self, t_s, st):
        return self.duration_s <= 0 or super().done(t_s, st)


def rest(duration_s):
    """Zero current for duration_s."""
    return _Rest(duration_s)


class _Sequence(Profile):
    def __init__(self, segments):
        super().__init__()
        self.segments = segments  # a list, or an iterator producing segments lazily
        self._iter = iter(segments)
        self.current_segment = next(self._iter, None)
        self.index = 0

    def _advance(self, t_s, st):
        while self.current_segment is not None and self.current_segment.done(t_s, st):
            self.current_segment = next(self._iter, None)
            self.index += 1

    def __call__(self, t_s, st, i_chg_max_a=None, i_dis_max_a=None):
        if self.t0 is None:
            self.t0 = t_s
        self._advance(t_s, st)
        if self.current_segment is None:
            return 0.0
        return self.current_segment(t_s, st, i_chg_max_a, i_dis_max_a)

    def done(self, t_s, st):
        self._advance(t_s, st)
        return self.current_segment is None


def sequence(segments):
    """Run the profiles one after another (each until its done())."""
    return _Sequence(list(segments))


class _Cycles(_Sequence):
    """Charge/rest/discharge/rest cycles; ``cycle`` is the 0-based index of the running cycle."""

    def __init__(self, n, make_cycle):
        self.n = n
        self._make = make_cycle
        super().__init__(self._gen())

    def _gen(self):
        for k in range(self.n):
            self.cycle = k
            for seg in self._make():
                yield seg

    @property
    def cycle_index(self):
        return getattr(self, "cycle", 0)


def cycles(n, q_ah, c_chg=0.5, c_dis=0.5, v_max=None, v_min=None, c_cut=0.05, rest_s=600.0,
           r_est_ohm=None):
    """n cycles of CC-CV charge at c_chg*q_ah to v_max (cut at c_cut*q_ah), rest, CC
    discharge at c_dis*q_ah to v_min, rest."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError("cycles: n must be an int >= 1, got %r" % (n,))
    def one():
        return [cccv(c_chg * q_ah, v_max, c_cut * q_ah, r_est_ohm=r_est_ohm), rest(rest_s),
                cc(-c_dis * q_ah, v_min=v_min), rest(rest_s)]

    return _Cycles(n, one)


def hppc(q_ah, c_pulse=1.0, c_chg_pulse=0.75, pulse_s=10.0, rest_pulse_s=40.0, soc_step=0.1,
         n_steps=9, c_step=0.5, rest_s=1800.0, v_min=None):
    """Hybrid pulse power characterisation from the current SoC downwards: at each step a
    discharge pulse, rest, a charge pulse, rest, then a c_step discharge of soc_step."""
    segs = []
    for _ in range(n_steps):
        segs += [rest(rest_s), cc(-c_pulse * q_ah, pulse_s, v_min=v_min), rest(rest_pulse_s),
                 cc(c_chg_pulse * q_ah, pulse_s), rest(rest_pulse_s),
                 cc(-c_step * q_ah, soc_step * 3600.0 / c_step, v_min=v_min)]
    segs.append(rest(rest_s))
    return sequence(segs)


class _GITT(_Sequence):
    def __init__(self, i_a, pulse_s, rest_s, n_pulses, v_max, v_min):
        self.pulses = [cc(i_a, pulse_s, v_max=v_max, v_min=v_min) for _ in range(n_pulses)]
        segs = []
        for p in self.pulses:
            segs += [p, rest(rest_s)]
        super().__init__(segs)

    def _advance(self, t_s, st):
        super()._advance(t_s, st)
        if any(p.hit_limit for p in self.pulses):  # a voltage limit ends the titration
            self.current_segment = None


def gitt(i_a, pulse_s=600.0, rest_s=3600.0, n_pulses=20, v_max=None, v_min=None):
    """Galvanostatic intermittent titration: n_pulses of i_a for pulse_s, each followed by a
    rest; stops when a pulse reaches a voltage limit."""
    return _GITT(i_a, pulse_s, rest_s, n_pulses, v_max, v_min)


def drive_names():
    return sorted(f[:-4] for f in os.listdir(PROFILE_DIR) if f.endswith(".csv"))


def load_drive(name):
    """(t_s, c_rate) arrays of a shipped drive profile."""
    path = os.path.join(PROFILE_DIR, name + ".csv")
    if not os.path.exists(path):
        raise ValueError("unknown drive profile %r; shipped: %s" % (name, drive_names()))
    with open(path) as fh:
        rows = [(float(r["t_s"]), float(r["c_rate"])) for r in csv.DictReader(fh)]
    arr = np.asarray(rows)
    return arr[:, 0], arr[:, 1]


class _Drive(Profile):
    def __init__(self, name, q_ah, duration_s, repeat, scale, v_min, v_max):
        super().__init__()
        self.t_tab, c = load_drive(name)
        self.i_tab = c * q_ah * scale
        self.period = self.t_tab[-1] + (self.t_tab[1] - self.t_tab[0])
        self.repeat = repeat
        self.duration_s = duration_s if duration_s is not None else (None if repeat else self.period)
        self.v_min, self.v_max = v_min, v_max

    def current(self, t_s, st):
        tau = self.elapsed(t_s)
        if self.repeat:
            tau = tau % self.period
        k = int(np.searchsorted(self.t_tab, tau, side="right")) - 1
        return float(self.i_tab[min(max(k, 0), len(self.i_tab) - 1)])

    def done(self, t_s, st):
        if super().done(t_s, st):
            return True
        if self.t0 is None:
            return False
        v_min = self.v_min if self.v_min is not None else st.v_min
        if np.min(st.v_cell) <= v_min:
            return True
        return self.v_max is not None and np.max(st.v_cell) >= self.v_max


def drive(name, q_ah, duration_s=None, repeat=True, scale=1.0, v_min=None, v_max=None):
    """A shipped synthetic drive profile (sim/profiles/<name>.csv) scaled to q_ah; repeats
    until duration_s (or plays once with repeat=False) and stops when the lowest cell reaches
    v_min (default: the preset's; -math.inf disables) or, if given, the highest reaches v_max."""
    return _Drive(name, q_ah, duration_s, repeat, scale, v_min, v_max)


class _Function(Profile):
    def __init__(self, fn, done, duration_s):
        super().__init__()
        self.fn, self._done, self.duration_s = fn, done, duration_s

    def __call__(self, t_s, st, i_chg_max_a=None, i_dis_max_a=None):
        if self.t0 is None:
            self.t0 = t_s
        i = self.fn(t_s, st, i_chg_max_a, i_dis_max_a)
        return clamp(i, i_chg_max_a, i_dis_max_a)

    def done(self, t_s, st):
        if super().done(t_s, st):
            return True
        return self._done is not None and bool(self._done(t_s, st))


def from_function(fn, done=None, duration_s=None):
    """Wrap fn(t_s, st, i_chg_max_a, i_dis_max_a) -> i_a as a profile (result clamped to the
    limits); it ends when done(t_s, st) is true or after duration_s."""
    return _Function(fn, done, duration_s)
