"""A series string of anode-free sodium cells: the simulator's public entry point.

    from sim.pack import Pack
    pack = Pack(cathode="nvp", interphase="mg-naf", n_cells=4, q_ah=2.0,
                t_amb_c=25.0, seed=0, spread=True, faults=[...])
    st = pack.step(i_a, dt_s)          # i_a > 0 charges; st is pack.state

Keywords beyond the fixed contract: ``soc0`` (initial true SoC, default 0.5),
``params`` (dict of parameter overrides by name, see sim/params.py).

``spread``: False (identical cells), True (default spread of capacity,
resistance, self-discharge, cooling and ambient, sim.params.SPREAD) or a dict
overriding some of those keys.  ``t_amb_c`` may be a scalar or an array (n,).
``faults``: list of specs, see sim.faults.

State (``pack.state``; every array has shape (n_cells,)):

* ``v_cell`` true terminal voltage [V]; ``t_c`` cell temperature [degC];
  ``i_leak_a`` current through a soft/hard short and a balancing resistor
  switched on by ``set_bleed`` [A] (>= 0 while v > 0);
  ``t_s`` simulated time [s]; ``i_a`` the last series current [A].
* ``q_ah`` current usable capacity [Ah]: active sodium (cathode + plated)
  above the cathode's full-charge sodium fraction x_min, i.e. what a slow
  full charge could plate.  Fades with dead sodium, SEI growth and corrosion.
* ``soc`` TRUE STATE OF CHARGE = q_plated_ah / q_ah: the active sodium on the
  collector (what a slow discharge can strip back before the anode-limited
  knee) over the current usable capacity.  0 = no active metal plated; 1 =
  cathode at x_min, whose OCV equals the preset's v_max (3.70 V nvp, 4.00 V
  layered-oxide) at 25 degC.  It exceeds 1 only if charged past v_max at rest.
* ``ocv`` true open-circuit voltage [V] (cathode OCV at its sodium fraction and
  temperature minus the anode potential; hysteresis excluded, see ``v_hyst``).
* Sodium inventory [Ah]: ``q_cath_ah``, ``q_plated_ah``, ``q_dead_ah``,
  ``q_sei_ah`` (their sum is constant per cell); charge bookkeeping
  ``q_in_ah`` (external charge in, per cell), ``q_leak_ah`` (shorts and
  balancing), ``q_ox_ah``,
  ``q_corr_ah`` with
  ``q_in_ah == d(q_plated + q_dead + q_sei) + q_leak + q_ox - q_corr``.
* Morphology: ``dendrite`` (normalised length, >= 1 once penetrated),
  ``void`` (fraction of the interface without contact), ``short_r_ohm``
  (inf without a short), ``i_cell_a`` (electrochemical current, i_a - leak),
  ``u_anode_v`` (anode potential vs Na/Na+ with its overpotentials: the
  nucleation dip shows here as in a three-electrode measurement).

``pack.labels`` lists ground-truth labels (sim.faults describes them); sensor
faults from sim.sensors.SensorModel.measure are appended to the same list.
"""

import math

import numpy as np

from sim import faults as F
from sim.cell import CellArray


class PackState:
    """The pack's true state after the last step (a live view: read it, don't keep it)."""

    def __init__(self, pack):
        self._pack = pack
        self._cells = pack.cells
        self.labels = pack.labels
        self.n_cells = pack.n_cells
        self.v_max, self.v_min = pack.v_max, pack.v_min  # the preset's voltage window
        self.t_s = 0.0
        self.i_a = 0.0
        self.v_cell = pack.cells.v.copy()
        self.t_c = pack.cells.t_c.copy()
        self.i_leak_a = np.zeros(pack.n_cells)

    # Derived quantities are computed on access, so a fast loop does not pay for them.
    @property
    def q_ah(self):
        return self._cells.q_usable()

    @property
    def soc(self):
        return self._cells.q_plated / self._cells.q_usable()

    @property
    def ocv(self):
        return self._cells.ocv()

    @property
    def v_hyst(self):
        c = self._cells
        return c.cath["m_hyst_v"] * c.h + c.cath["m0_hyst_v"] * c.s

    q_cath_ah = property(lambda self: self._cells.q_cath.copy())
    q_plated_ah = property(lambda self: self._cells.q_plated.copy())
    q_dead_ah = property(lambda self: self._cells.q_dead.copy())
    q_sei_ah = property(lambda self: self._cells.q_sei.copy())
    q_leak_ah = property(lambda self: self._cells.q_leak.copy())
    q_ox_ah = property(lambda self: self._cells.q_ox.copy())
    q_corr_ah = property(lambda self: self._cells.q_corr.copy())
    q_in_ah = property(lambda self: self._cells.q_in + self._cells.q_in_adj)
    dendrite = property(lambda self: self._cells.dendrite.copy())
    void = property(lambda self: self._cells.void + self._cells.void_res)
    i_cell_a = property(lambda self: self._cells.i_int.copy())
    u_anode_v = property(lambda self: self._cells.u_anode())

    @property
    def short_r_ohm(self):
        g = self._cells.g_short
        with np.errstate(divide="ignore"):
            return np.where(g > 0, 1.0 / np.where(g > 0, g, 1.0), np.inf)


class Pack:
    """Series string of n_cells anode-free sodium cells (see the module docstring)."""

    def __init__(self, cathode="nvp", interphase="mg-naf", n_cells=1, q_ah=2.0, t_amb_c=25.0,
                 seed=0, spread=False, faults=(), soc0=0.5, params=None, r_bleed_ohm=20.0, r_bleed_tol=0.01):
        self.rng = np.random.default_rng(seed)
        self.cathode, self.interphase = cathode, interphase
        self.cells = CellArray(cathode, interphase, n_cells, q_ah, t_amb_c, self.rng, spread,
                               soc0, overrides=params)
        self.n_cells = self.cells.n
        self.q_ah_nominal = float(q_ah)
        self.v_max, self.v_min = self.cells.v_max, self.cells.v_min
        self.labels = []
        self._open = {}  # (cell, kind) -> open label
        self._pending = sorted((F.validate(f, self.n_cells) for f in (faults or ())),
                               key=lambda f: f["t_start_s"])
        self._ending = []
        self.t_s = 0.0
        # the BMS's balancing resistors: nominal value, each off by its tolerance (its own generator, so the
        # cells' draws do not depend on it)
        tol = np.random.default_rng(seed + 7919).uniform(-r_bleed_tol, r_bleed_tol, self.n_cells)
        self.r_bleed_ohm = float(r_bleed_ohm) * (1.0 + tol)
        self._bleed_on = None
        self.state = PackState(self)
        self._activate_due()

    # ----------------------------------------------------------------- labels
    def add_label(self, cell, kind, t_start_s, magnitude, unit, source, t_end_s=None):
        """Open a label unless one of this kind is already open for the cell; return it."""
        key = (int(cell), kind)
        if t_end_s is None and key in self._open:
            return None
        lab = {"cell": int(cell), "kind": kind, "t_start_s": float(t_start_s),
               "t_end_s": None if t_end_s is None else float(t_end_s),
               "magnitude": float(magnitude), "unit": unit, "source": source}
        self.labels.append(lab)
        if t_end_s is None:
            self._open[key] = lab
        return lab

    def close_label(self, cell, kind, t_end_s, source=None):
        lab = self._open.get((int(cell), kind))
        if lab is not None and (source is None or lab["source"] == source):
            lab["t_end_s"] = float(t_end_s)
            del self._open[(int(cell), kind)]

    # ------------------------------------------------------------------- step
    def _activate_due(self):
        while self._pending and self._pending[0]["t_start_s"] <= self.t_s:
            spec = self._pending.pop(0)
            F.activate(spec, self.cells, self.add_label)
            if spec.get("t_end_s") is not None:
                self._ending.append(spec)
        for spec in [s for s in self._ending if s["t_end_s"] <= self.t_s]:
            F.deactivate(spec, self.cells)
            self._ending.remove(spec)

    def set_bleed(self, on):
        """Switch each cell's balancing resistor on (truthy) or off, for the following steps."""
        on = np.asarray(on, dtype=bool)
        if on.shape != (self.n_cells,):
            raise ValueError("set_bleed needs one flag per cell (%d), got %d" % (self.n_cells, on.size))
        if self._bleed_on is not None and np.array_equal(on, self._bleed_on):
            return  # called every step by a closed loop: the conductances change only when a flag does
        self._bleed_on = on
        self.cells.set_bleed(np.where(on, 1.0 / self.r_bleed_ohm, 0.0))

    def step(self, i_a, dt_s):
        """Advance by dt_s seconds with series current i_a [A] (> 0 charges); return the state."""
        i_a = float(i_a)
        dt_s = float(dt_s)
        if not math.isfinite(i_a):
            raise ValueError("i_a must be a finite current in A, got %r" % (i_a,))
        if not (dt_s > 0.0 and math.isfinite(dt_s)):
            raise ValueError("dt_s must be a positive finite step in s, got %r" % (dt_s,))
        if self._pending or self._ending:
            self._activate_due()
        cells = self.cells
        cells.step(i_a, dt_s, self.t_s)
        self.t_s += dt_s
        if cells.events:
            self._events_to_labels()
        st = self.state
        st.t_s = self.t_s
        st.i_a = i_a
        st.v_cell = cells.v
        st.t_c = cells.t_c
        st.i_leak_a = cells.i_leak
        return st

    def _events_to_labels(self):
        cells = self.cells
        for ev in cells.events:
            kind, idx, t = ev[0], ev[1], ev[2]
            for k, cell in enumerate(idx):
                if kind == "dendrite_start":
                    self.add_label(cell, "dendrite", t[k], cells.dendrite[cell], "length", "physics")
                elif kind in ("dendrite_stop", "void_stop"):
                    self.close_label(cell, kind[:-5], t[k], source="physics")
                elif kind == "penetration":
                    self.close_label(cell, "dendrite", t, source="physics")
                    self.add_label(cell, "soft_short", t, 1.0 / cells.g_short[cell], "ohm", "physics")
                elif kind == "hard":
                    self.close_label(cell, "soft_short", t)
                    self.add_label(cell, "hard_short", t, 1.0 / cells.g_short[cell], "ohm", "physics")
                elif kind == "void_start":
                    self.add_label(cell, "void", t[k], cells.void[cell] + cells.void_res[cell],
                                   "void_fraction", "physics")
                elif kind == "micro":
                    tau = cells.c["micro_tau_s"]
                    self.add_label(cell, "micro_short", t, ev[3][k], "V", "physics",
                                   t_end_s=t + 3.0 * tau)
        cells.events.clear()

    # -------------------------------------------------------------------- run
    def run(self, profile, dt_s=1.0, t_max_s=None, sensors=None, i_chg_max_a=math.inf,
            i_dis_max_a=math.inf, limits=None, record_every=1):
        """Drive the pack with a profile until it is done (or t_max_s); return recorded signals.

        ``limits(t_s, st) -> (i_chg_max_a, i_dis_max_a)`` (magnitudes) stands in for a BMS and
        overrides the constant limits.  Returns a dict of numpy arrays: t_s, i_a (n_rec,) and
        v_cell, t_c, soc, ocv, i_leak_a (n_rec, n_cells); plus v_meas, i_meas, t_meas when
        ``sensors`` (a SensorModel) is given.
        """
        from sim.recorder import Recorder

        rec = Recorder(self.n_cells, with_sensors=sensors is not None)
        st = self.state
        t_end = math.inf if t_max_s is None else self.t_s + float(t_max_s)
        k = 0
        while not profile.done(self.t_s, st) and self.t_s < t_end - 1e-9:
            chg, dis = limits(self.t_s, st) if limits is not None else (i_chg_max_a, i_dis_max_a)
            i = profile(self.t_s, st, chg, dis)
            st = self.step(i, dt_s)
            if k % record_every == 0:
                meas = sensors.measure(self.t_s, i, st) if sensors is not None else None
                rec.add(st, i, meas)
            k += 1
        return rec.arrays()
