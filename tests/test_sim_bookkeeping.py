"""Sodium and charge bookkeeping of the simulator: exact to rounding, for any profile."""

import math

import numpy as np
import pytest

from sim import profiles as P
from sim.pack import Pack


def _inventory(st):
    return st.q_cath_ah + st.q_plated_ah + st.q_dead_ah + st.q_sei_ah


def _anode_side(st):
    return st.q_plated_ah + st.q_dead_ah + st.q_sei_ah


def _run_and_check(pack, profile, dt_s=1.0, t_max_s=None, **run_kw):
    st = pack.state
    inv0, anode0, q_in0 = _inventory(st), _anode_side(st), st.q_in_ah
    pack.run(profile, dt_s=dt_s, t_max_s=t_max_s, **run_kw)
    st = pack.state
    # Sodium is conserved cell by cell.
    np.testing.assert_allclose(_inventory(st), inv0, rtol=0, atol=1e-12)
    # Charge in = what plated (active + dead + SEI) + what leaked + side reactions.
    booked = (_anode_side(st) - anode0) + st.q_leak_ah + st.q_ox_ah - st.q_corr_ah
    np.testing.assert_allclose(st.q_in_ah - q_in0, booked, rtol=0, atol=1e-11)
    return st


PROFILES = {
    "cycles": lambda: P.cycles(2, 2.0, c_chg=1.0, c_dis=1.0),
    "drive_limited": lambda: P.drive("urban", 2.0, duration_s=3600),
    "hppc": lambda: P.hppc(2.0, n_steps=3, rest_s=300),
    "gitt": lambda: P.gitt(1.0, pulse_s=300, rest_s=300, n_pulses=6),
    "overcharge_no_limit": lambda: P.cc(4.0, 4000, v_max=math.inf),
    "overdischarge_no_limit": lambda: P.cc(-4.0, 3000, v_min=-math.inf),
}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_bookkeeping_holds_for_profiles(name):
    pack = Pack(n_cells=4, spread=True, seed=3, soc0=0.4)
    st = _run_and_check(pack, PROFILES[name](), i_chg_max_a=3.0, i_dis_max_a=5.0)
    if name == "overcharge_no_limit":
        assert st.q_ox_ah.min() > 0  # the side reaction really was exercised
    if name == "overdischarge_no_limit":
        assert st.q_corr_ah.min() > 0


def test_bookkeeping_with_soft_and_hard_shorts_and_dendrites():
    faults = [{"kind": "soft_short", "cell": 0, "t_start_s": 60, "r_ohm": 20.0, "growth_per_h": 2.0},
              {"kind": "hard_short", "cell": 1, "t_start_s": 900},
              {"kind": "dendrite", "cell": 2, "t_start_s": 0, "ccd_factor": 0.2},
              {"kind": "void", "cell": 3, "t_start_s": 0}]
    pack = Pack(n_cells=5, seed=1, soc0=0.3, t_amb_c=5.0, faults=faults)
    st = _run_and_check(pack, P.cycles(1, 2.0, c_chg=1.0, c_dis=1.0, rest_s=300), dt_s=2.0)
    assert st.q_leak_ah[0] > 0 and st.q_leak_ah[1] > 0


def test_bookkeeping_with_variable_steps_and_cycle_jumping():
    from sim.ageing import run_cycles

    pack = Pack(n_cells=3, spread=True, seed=5, soc0=0.0)
    st = pack.state
    inv0, anode0 = _inventory(st), _anode_side(st)
    run_cycles(pack, 6, dt_s=7.0, skip=3)
    for dt in (0.1, 0.5, 3.0, 30.0):
        pack.step(-0.3, dt)
    st = pack.state
    np.testing.assert_allclose(_inventory(st), inv0, atol=1e-12)
    booked = (_anode_side(st) - anode0) + st.q_leak_ah + st.q_ox_ah - st.q_corr_ah
    np.testing.assert_allclose(st.q_in_ah, booked, atol=1e-11)


def test_short_drains_an_empty_cell_to_zero_volts_without_corroding_it():
    pack = Pack(n_cells=2, soc0=0.02, faults=[{"kind": "soft_short", "cell": 0, "r_ohm": 5.0}])
    st = _run_and_check(pack, P.rest(6 * 3600), dt_s=10.0)
    assert st.v_cell[0] < 0.01 and st.soc[0] < 1e-3
    assert st.q_corr_ah[0] == 0.0 and st.q_leak_ah[0] > 0
    assert st.v_cell[1] > 3.0


@pytest.mark.parametrize("seed", range(4))
def test_abuse_stays_finite_and_booked(seed):
    """Random currents up to ~4C both ways, step lengths 0.1-60 s, cold to hot, random faults."""
    rng = np.random.default_rng(seed)
    n = 6
    kinds = ["soft_short", "hard_short", "dendrite", "dead_sodium", "void", "nucleation", "impedance"]
    faults = [{"kind": kinds[k], "cell": int(rng.integers(0, n)), "t_start_s": float(rng.uniform(0, 2000))}
              for k in rng.choice(len(kinds), size=3, replace=False)]
    pack = Pack(cathode=["nvp", "layered-oxide"][seed % 2], interphase=["mg-naf", "bare-cu"][seed // 2],
                n_cells=n, t_amb_c=float(rng.uniform(-40, 60)), seed=seed, spread=True, faults=faults,
                soc0=float(rng.uniform(0, 1)))
    st = pack.state
    inv0, anode0 = _inventory(st), _anode_side(st)
    for k in range(800):
        i = float(rng.normal(0, 4)) if k % 100 < 60 else 0.0
        st = pack.step(i, float(rng.choice([0.1, 1.0, 10.0, 60.0])))
        for arr in (st.v_cell, st.t_c, st.soc, st.q_ah, st.i_leak_a, st.ocv):
            assert np.all(np.isfinite(arr))
        assert np.all(np.abs(st.v_cell) < 100.0)  # huge cold polarisation is allowed, blow-up is not
    np.testing.assert_allclose(_inventory(st), inv0, atol=1e-11)
    booked = (_anode_side(st) - anode0) + st.q_leak_ah + st.q_ox_ah - st.q_corr_ah
    np.testing.assert_allclose(st.q_in_ah, booked, atol=1e-10)
    assert np.all(st.q_plated_ah >= -1e-12)
