"""The simulator's API contract (sim.pack.Pack, state fields, errors on bad input)."""

import math

import numpy as np
import pytest

from sim.pack import Pack


def test_contract_fields_and_shapes():
    pack = Pack(cathode="layered-oxide", interphase="bare-cu", n_cells=5, q_ah=3.0, t_amb_c=10.0,
                seed=1, spread=True, faults=[])
    st = pack.step(1.5, 1.0)
    assert st is pack.state
    for name in ("v_cell", "t_c", "soc", "q_ah", "i_leak_a", "ocv"):
        arr = getattr(st, name)
        assert isinstance(arr, np.ndarray) and arr.shape == (5,) and np.all(np.isfinite(arr)), name
    assert st.t_s == 1.0
    assert np.all((st.soc > 0) & (st.soc < 1)) and np.all(st.i_leak_a == 0)
    assert abs(np.mean(st.q_ah) - 3.0) < 0.1
    assert np.all(np.abs(st.t_c - 10.0) < 2.0)
    assert isinstance(pack.labels, list)


def test_state_arrays_are_not_overwritten_by_later_steps():
    pack = Pack(n_cells=2)
    v1 = pack.step(1.0, 1.0).v_cell
    keep = v1.copy()
    pack.step(-3.0, 1.0)
    np.testing.assert_array_equal(v1, keep)


def test_soc_moves_by_coulomb_count():
    pack = Pack(soc0=0.5, q_ah=2.0)
    s0 = pack.state.soc[0]
    for _ in range(360):
        st = pack.step(-2.0, 1.0)
    assert st.soc[0] == pytest.approx(s0 - 0.1, abs=2e-4)


@pytest.mark.parametrize("kw", [{"cathode": "lfp"}, {"interphase": "gold"}, {"n_cells": 0},
                                {"n_cells": 2.5}, {"q_ah": -1.0}, {"soc0": 1.5},
                                {"spread": {"q_std": 0.1}}, {"params": {"no_such": 1}},
                                {"faults": [{"kind": "soft_short", "cell": 9}]},
                                {"faults": [{"kind": "soft_short", "cell": 0, "r_ohm": -2}]},
                                {"faults": [{"kind": "typo", "cell": 0}]},
                                {"faults": [{"kind": "void", "cell": 0, "size": 1}]}])
def test_bad_construction_is_rejected_with_a_clear_error(kw):
    with pytest.raises(ValueError):
        Pack(**kw)


@pytest.mark.parametrize("i_a,dt", [(math.nan, 1.0), (math.inf, 1.0), (1.0, 0.0), (1.0, -1.0),
                                    (1.0, math.nan)])
def test_bad_step_is_rejected(i_a, dt):
    pack = Pack()
    with pytest.raises(ValueError):
        pack.step(i_a, dt)


def test_faults_start_at_their_time_and_label():
    faults = [{"kind": "soft_short", "cell": 1, "t_start_s": 5.0, "r_ohm": 100.0, "micro": False}]
    pack = Pack(n_cells=3, faults=faults)
    for _ in range(5):
        st = pack.step(0.0, 1.0)
    assert np.all(st.i_leak_a == 0) and pack.labels == []
    st = pack.step(0.0, 1.0)
    assert st.i_leak_a[1] == pytest.approx(st.v_cell[1] / 100.0)
    assert pack.labels == [{"cell": 1, "kind": "soft_short", "t_start_s": 5.0, "t_end_s": None,
                            "magnitude": 100.0, "unit": "ohm", "source": "injected"}]


def test_series_string_up_to_128_and_large_n():
    pack = Pack(n_cells=128, spread=True)
    st = pack.step(-1.0, 1.0)
    assert st.v_cell.shape == (128,)
    assert Pack(n_cells=10000).step(-1.0, 1.0).v_cell.shape == (10000,)


def test_a_balancing_resistor_drains_its_cell_through_v_over_r_and_stops_at_an_empty_cell():
    pack = Pack(n_cells=3, q_ah=2.0, soc0=0.002, seed=2, r_bleed_ohm=20.0, r_bleed_tol=0.0)
    pack.set_bleed([True, False, False])
    plated0 = pack.state.q_plated_ah
    q_ah = 0.0
    v_prev = pack.state.v_cell[0]
    t_c0 = pack.state.t_c.copy()
    for _ in range(60):
        st = pack.step(0.0, 2.0)
        q_ah += 0.5 * (st.v_cell[0] + v_prev) / 20.0 * 2.0 / 3600.0
        v_prev = st.v_cell[0]
    plated = st.q_plated_ah
    assert plated0[0] - plated[0] == pytest.approx(q_ah, rel=0.02)  # only the drained cell lost sodium ...
    assert plated[1:] == pytest.approx(plated0[1:], abs=1e-6)
    assert st.q_leak_ah[0] == pytest.approx(q_ah, rel=0.02)  # ... booked as leakage, the bookkeeping closes
    # the resistor's 0.4 W is the board's heat (it would warm a 26 g cell by ~1.5 degC in these 2 min); the cell
    # keeps only its own discharge losses
    assert st.t_c[0] - t_c0[0] < 0.1
    for _ in range(3000):  # drained past empty (no BMS to stop it): the cell collapses instead of corroding
        st = pack.step(0.0, 2.0)
    assert st.v_cell[0] < 0.5 and st.q_corr_ah[0] == 0.0
    pack.set_bleed([False] * 3)
    with pytest.raises(ValueError, match="one flag per cell"):
        pack.set_bleed([True])
