"""Cycle ageing: run charge/discharge cycles on a Pack and report the capacity per cycle.

The calibration protocol (the seed study's protocol is not public; this is our
documented choice, cell-physics.md):

    CALIBRATION_PROTOCOL: NVP cathode, 25 degC ambient, CC-CV charge at C/2 to
    3.70 V with a C/20 cut-off, 10 min rest, CC discharge at C/2 to 2.50 V,
    10 min rest; capacity = charge delivered by each discharge; retention
    relative to the first cycle's discharge.

With it the ``mg-naf`` preset keeps 82.7 % after 350 cycles (seed study:
eScience 2024, DOI 10.1016/j.esci.2024.100274) and ``bare-cu`` fades several
times faster (tests/test_sim_calibration.py).

``run_cycles(..., skip=k)`` simulates every k-th cycle with the full model and
extrapolates the k-1 cycles in between (cycle jumping): each skipped cycle
loses the same sodium (dead + SEI, scaled by the capacity it cycles) and
void residue as the simulated one, which is the inventory bookkeeping of
those cycles, not an approximation of the voltage.  ``skip=1`` simulates every
cycle.  The sodium and charge bookkeeping stays exact either way (a skipped
cycle's net charge equals the sodium it lost).
"""

import time

import numpy as np

from sim import profiles
from sim.pack import Pack

CALIBRATION_PROTOCOL = {
    "cathode": "nvp",
    "t_amb_c": 25.0,
    "c_chg": 0.5,
    "c_dis": 0.5,
    "c_cut": 0.05,
    "rest_s": 600.0,
}


def run_cycles(pack, n_cycles, c_chg=0.5, c_dis=0.5, c_cut=0.05, rest_s=600.0, dt_s=10.0, skip=1):
    """Cycle the pack n_cycles times; return a dict of per-cycle arrays (n_cycles, n_cells):
    q_dis_ah (discharge capacity), q_chg_ah, ce, simulated (bool per cycle).  The string is in
    series, so every cell passes the same charge: the weakest cell ends each discharge (per-cell
    usable capacity is ``pack.state.q_ah``)."""
    if not (isinstance(skip, int) and skip >= 1):
        raise ValueError("skip must be an int >= 1, got %r" % (skip,))
    n = pack.n_cells
    q_nom = pack.q_ah_nominal
    q_dis = np.zeros((n_cycles, n))
    q_chg = np.zeros((n_cycles, n))
    simulated = np.zeros(n_cycles, dtype=bool)
    cells = pack.cells
    k = 0
    while k < n_cycles:
        dead0, sei0 = cells.q_dead.copy(), cells.q_sei.copy()
        void0 = cells.void_res.copy()
        q_use0 = cells.q_usable()
        chg, dis = _one_cycle(pack, q_nom, c_chg, c_dis, c_cut, rest_s, dt_s)
        q_chg[k], q_dis[k] = chg, dis
        simulated[k] = True
        d_dead, d_sei = cells.q_dead - dead0, cells.q_sei - sei0
        dvoid = cells.void_res - void0
        n_jump = min(skip - 1, n_cycles - 1 - k - 1)  # always simulate the last cycle
        for j in range(1, n_jump + 1):
            scale = cells.q_usable() / q_use0
            _apply_skipped_cycle(cells, d_dead * scale, d_sei * scale, dvoid)
            q_dis[k + j] = dis * scale
            q_chg[k + j] = chg * scale
        k += 1 + max(n_jump, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ce = np.where(q_chg > 0, q_dis / q_chg, np.nan)
    return {"q_dis_ah": q_dis, "q_chg_ah": q_chg, "ce": ce, "simulated": simulated}


def _one_cycle(pack, q_nom, c_chg, c_dis, c_cut, rest_s, dt_s):
    """One CC-CV charge / rest / CC discharge / rest; returns (charge in, charge out) per cell."""
    segs = [profiles.cccv(c_chg * q_nom, None, c_cut * q_nom),
            profiles.rest(rest_s), profiles.cc(-c_dis * q_nom), profiles.rest(rest_s)]
    st = pack.state
    cells = pack.cells
    knee = 0.02 * q_nom
    q_in = np.zeros(2)
    for idx, seg in enumerate(segs):
        while not seg.done(pack.t_s, st):
            i = seg(pack.t_s, st)
            # 1 s steps near the anode-limited knee, so the cut-off is not overshot.
            dt = dt_s if (i >= 0 or cells.q_plated.min() > knee) else 1.0
            st = pack.step(i, dt)
            if i > 0:
                q_in[0] += i * dt / 3600.0
            elif i < 0:
                q_in[1] -= i * dt / 3600.0
    return np.full(pack.n_cells, q_in[0]), np.full(pack.n_cells, q_in[1])


def _apply_skipped_cycle(cells, d_dead, d_sei, dvoid):
    """Book one skipped cycle: its sodium loss leaves the active inventory (cathode side)."""
    cells.q_dead = cells.q_dead + d_dead
    cells.q_sei = cells.q_sei + d_sei
    cells.q_cath = cells.q_cath - d_dead - d_sei
    cells.q_in_adj = cells.q_in_adj + d_dead + d_sei  # net charge of a full cycle = sodium lost
    cells.void_res = np.minimum(cells.void_res + dvoid, cells.c["void_max"])


def retention(result, cycle=-1):
    """Discharge capacity at `cycle` over the first cycle's (per cell)."""
    q = result["q_dis_ah"]
    return q[cycle] / q[0]


def calibration_run(interphase="mg-naf", n_cycles=350, dt_s=10.0, skip=10, seed=0, q_ah=2.0):
    """The documented calibration protocol on one cell; returns (result, seconds)."""
    p = CALIBRATION_PROTOCOL
    pack = Pack(cathode=p["cathode"], interphase=interphase, n_cells=1, q_ah=q_ah,
                t_amb_c=p["t_amb_c"], seed=seed, spread=False, soc0=0.0)
    t0 = time.perf_counter()
    res = run_cycles(pack, n_cycles, p["c_chg"], p["c_dis"], p["c_cut"], p["rest_s"], dt_s, skip)
    return res, time.perf_counter() - t0
