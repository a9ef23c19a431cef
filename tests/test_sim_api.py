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
