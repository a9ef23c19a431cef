"""A cycler, as test equipment drives a string: a profile's current applied to a Pack, with a discharge cut off
within cutoff_dt_s of v_min (finer steps near an empty cell), and the truth a bench scores against.

    cyc = Cycler(pack, profiles.cycles(10, 2.0), dt_s=2.0)
    while not cyc.done():
        t_s, i_a, dt_s, st = cyc.step()   # one sampling interval: its end, mean current, length, pack state

An interval ends where the current steps (a cut-off), so its mean current and its last voltage belong together.
Truth kept: rests (start, end) of >= rest_min_s with zero current, cycle_t (when each profile cycle began),
cutoff_cells ((t, cell with the least plated sodium) at the end of each discharge).
"""
import math

import numpy as np


class Cycler:
    def __init__(self, pack, profile, dt_s=2.0, knee_ah=0.003, cutoff_dt_s=0.1, rest_min_s=1800.0):
        self.pack = pack
        self.prof = profile
        self.dt_s = dt_s
        self.knee_ah = knee_ah  # fine steps start this close to an empty cell (plus one step's charge) ...
        self.cutoff_dt_s = cutoff_dt_s  # ... and are this long
        self.rest_min_s = rest_min_s
        self.st = pack.state
        self.t = 0.0
        self.rests = []
        self.cycle_t = []
        self.cutoff_cells = []
        self.i_chg_max_a = math.inf  # the BMS's limits (open loop: inf)
        self.i_dis_max_a = math.inf
        self._cycle = profile.cycle_index if hasattr(profile, "cycle_index") else 0
        self._pending = None  # a current the profile gave at a cut-off, for the next interval
        self._rest_t0 = None
        self._i_prev = 0.0

    def done(self):
        return self._pending is None and self.prof.done(self.t, self.st)

    def step(self):
        dt = self.dt_s
        pack = self.pack
        sub = 1
        if self._i_prev < 0.0 and float(pack.cells.q_plated.min()) < self.knee_ah - self._i_prev * dt / 3600.0:
            sub = int(round(dt / self.cutoff_dt_s))
        i_sum = 0.0
        k = 0
        i0 = None
        while k < sub:
            i = self._pending if self._pending is not None else self.prof(self.t, self.st, self.i_chg_max_a,
                                                                          self.i_dis_max_a)
            self._pending = None
            if i0 is None:
                i0 = i
            elif i != i0:
                self._pending = i  # the next interval starts with it
                break
            self._truth(i)
            self.st = pack.step(i, dt / sub)
            self.t = self.st.t_s
            i_sum += i
            k += 1
        return self.t, i_sum / k, k * dt / sub, self.st

    def _truth(self, i):
        t = self.t
        idx = getattr(self.prof, "cycle_index", 0)
        if idx != self._cycle:
            self._cycle = idx
            self.cycle_t.append(t)
        if i == 0.0 and self._rest_t0 is None:
            self._rest_t0 = t
        elif i != 0.0 and self._rest_t0 is not None:
            if t - self._rest_t0 >= self.rest_min_s:
                self.rests.append((self._rest_t0, t))
            self._rest_t0 = None
        if i == 0.0 and self._i_prev < 0.0:  # the end of a discharge: which cell ran out of sodium
            self.cutoff_cells.append((t, int(np.argmin(self.pack.cells.q_plated))))
        self._i_prev = i
