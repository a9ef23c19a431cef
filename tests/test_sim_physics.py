"""Behaviour of the simulator's physics: shapes the estimator and detectors must face."""

import math

import numpy as np
import pytest

from sim import profiles as P
from sim.pack import Pack


def _hold(pack, i_a, seconds, dt=1.0):
    for _ in range(int(seconds / dt)):
        st = pack.step(i_a, dt)
    return st


def test_soc_definition_full_and_empty():
    pack = Pack(soc0=0.0)
    pack.run(P.cccv(1.0, i_cut_a=0.02), dt_s=2.0)
    assert pack.state.soc[0] > 0.98
    pack.run(P.sequence([P.rest(600), P.cc(-0.2)]), dt_s=2.0)
    st = pack.state
    assert st.soc[0] < 0.01  # the anode-limited knee ends a slow discharge at ~0 % SoC
    assert st.v_cell[0] <= st.v_min


def test_nvp_is_flat_and_layered_oxide_slopes():
    def ocv_span(cathode):
        out = []
        for soc in (0.2, 0.8):
            out.append(Pack(cathode=cathode, soc0=soc).state.ocv[0])
        return out[1] - out[0]

    assert 0 < ocv_span("nvp") < 0.05
    assert ocv_span("layered-oxide") > 0.3


def test_ocv_temperature_coefficient_nvp():
    warm = Pack(soc0=0.5, t_amb_c=45.0).state.ocv[0]
    ref = Pack(soc0=0.5, t_amb_c=25.0).state.ocv[0]
    assert (warm - ref) / 20.0 == pytest.approx(-0.15e-3, rel=0.1)  # Wei et al. 2022


def test_cold_cell_polarises_more_arrhenius():
    def pulse_drop(t):
        pack = Pack(soc0=0.5, t_amb_c=t)
        v0 = pack.step(0.0, 1.0).v_cell[0]
        return v0 - _hold(pack, -2.0, 10).v_cell[0]

    d25, d0, dm20 = pulse_drop(25.0), pulse_drop(0.0), pulse_drop(-20.0)
    assert d0 > 1.8 * d25 and dm20 > 1.8 * d0


def test_two_time_constants_in_relaxation():
    pack = Pack(soc0=0.5)
    _hold(pack, -2.0, 900)
    v = np.array([pack.step(0.0, 1.0).v_cell[0] for _ in range(1800)])
    fast = v[30] - v[0]
    slow = v[1799] - v[60]
    assert fast > 0.005 and slow > 0.005  # seconds-scale and minutes-scale branches


def test_hysteresis_sign_after_charge_and_discharge():
    up, down = Pack(soc0=0.3), Pack(soc0=0.7)
    _hold(up, 1.0, 1800)
    _hold(down, -1.0, 1800)
    for p in (up, down):
        _hold(p, 0.0, 3600, dt=10.0)
    assert up.state.v_cell[0] - up.state.ocv[0] > 0.005
    assert down.state.v_cell[0] - down.state.ocv[0] < -0.005


def test_ccd_falls_with_temperature_like_arrhenius():
    # 0.8x the 25 C critical current: safe when warm, dendrites at 0 C (CCD ~0.6x).
    i_a = 0.8 * 3.0 * 1.0  # mg-naf CCD 3 mA/cm^2 x 1000 cm^2 for 2 Ah
    for t, expect in ((25.0, False), (0.0, True)):
        pack = Pack(soc0=0.2, t_amb_c=t)
        pack.run(P.cc(i_a, 600, v_max=math.inf))
        has = any(lab["kind"] == "dendrite" for lab in pack.labels)
        assert has == expect, t
    pack = Pack(soc0=0.2, t_amb_c=0.0)
    pack.run(P.cc(0.5 * 3.0, 600, v_max=math.inf))
    assert not pack.labels


def test_fast_charge_on_bare_cu_grows_a_dendrite_into_a_soft_short():
    pack = Pack(interphase="bare-cu", soc0=0.05)
    pack.run(P.cc(2.0, 3000, v_max=math.inf))
    kinds = [(lab["kind"], lab["source"]) for lab in pack.labels]
    assert ("dendrite", "physics") in kinds and ("soft_short", "physics") in kinds
    short = next(lab for lab in pack.labels if lab["kind"] == "soft_short")
    dend = next(lab for lab in pack.labels if lab["kind"] == "dendrite")
    assert dend["t_start_s"] < short["t_start_s"] and dend["t_end_s"] == short["t_start_s"]
    assert pack.state.short_r_ohm[0] < short["magnitude"]  # the filament's conductance rises while charging
    assert pack.state.i_leak_a[0] > 0


def test_soft_short_leaks_at_rest_and_shows_micro_drops_during_charge():
    faults = [{"kind": "soft_short", "cell": 1, "t_start_s": 0.0, "r_ohm": 30.0}]
    # A sloping cathode, so the self-discharge shows in the rest voltage too.
    pack = Pack(cathode="layered-oxide", n_cells=2, soc0=0.2, seed=4, faults=faults,
                params={"micro_rate_per_h": 30.0})
    rec = pack.run(P.sequence([P.cc(1.0, 3600), P.rest(7200)]))
    v, soc = rec["v_cell"], rec["soc"]
    # Leakage ~ v / r, the cell loses charge at rest, its rest voltage decays faster.
    assert rec["i_leak_a"][-1, 1] == pytest.approx(v[-1, 1] / 30.0, rel=1e-6)
    assert rec["i_leak_a"][-1, 0] == 0.0
    k_rest = 3600 + 1800
    lost = soc[k_rest, 1] - soc[-1, 1]
    rest_s = len(soc) - k_rest
    assert lost == pytest.approx(np.mean(rec["i_leak_a"][k_rest:, 1]) * rest_s / 3600 / 2.0, rel=0.05)
    assert soc[k_rest, 0] - soc[-1, 0] < 1e-4
    assert (v[k_rest, 1] - v[-1, 1]) > (v[k_rest, 0] - v[-1, 0]) + 0.002
    # Each transient micro-short: a 20-80 mV drop relative to the healthy cell, then recovery.
    micro = [lab for lab in pack.labels if lab["kind"] == "micro_short"]
    assert len(micro) >= 5
    for lab in micro:
        k = int(lab["t_start_s"])  # rec row k is the state at t = k + 1
        d = (v[k, 1] - v[k, 0]) - (v[k - 1, 1] - v[k - 1, 0])
        assert -0.085 < d < -0.015
        alone = not any(0 < other["t_start_s"] - k <= 30 for other in micro)
        if alone and k + 30 < 3600:
            rec_d = (v[k + 30, 1] - v[k + 30, 0]) - (v[k - 1, 1] - v[k - 1, 0])
            assert rec_d > d / 3  # recovered most of the drop within 30 s


def test_hard_short_collapses_voltage():
    pack = Pack(n_cells=2, soc0=0.6, faults=[{"kind": "hard_short", "cell": 0, "t_start_s": 100}])
    rec = pack.run(P.cc(1.0, 700, v_max=math.inf))
    assert rec["v_cell"][50, 0] > 3.3
    assert rec["v_cell"][-1, 0] < 0.5 and rec["v_cell"][-1, 1] > 3.3
    assert [lab["kind"] for lab in pack.labels] == ["hard_short"]


def test_soft_short_with_growth_becomes_hard():
    faults = [{"kind": "soft_short", "cell": 0, "t_start_s": 0, "r_ohm": 10.0, "growth_per_h": 20.0}]
    pack = Pack(soc0=0.2, faults=faults)
    pack.run(P.cc(1.0, 3600, v_max=math.inf))
    kinds = [lab["kind"] for lab in pack.labels if lab["kind"] != "micro_short"]
    assert kinds == ["soft_short", "hard_short"]
    soft = pack.labels[0]
    hard = next(lab for lab in pack.labels if lab["kind"] == "hard_short")
    assert soft["t_end_s"] == hard["t_start_s"]


def test_voids_raise_polarisation_towards_end_of_discharge():
    faults = [{"kind": "void", "cell": 1, "t_start_s": 0.0, "factor": 0.3}]
    pack = Pack(n_cells=2, soc0=1.0, faults=faults)
    rec = pack.run(P.cc(-2.0, 3400, v_min=-math.inf))
    gap = rec["v_cell"][:, 0] - rec["v_cell"][:, 1]
    n = len(gap)
    assert gap[int(0.9 * n)] > gap[int(0.2 * n)] + 0.02
    assert pack.state.void[1] > 0.1 and pack.state.void[0] == 0.0
    assert any(lab["kind"] == "void" and lab["cell"] == 1 for lab in pack.labels)


def test_dead_sodium_grows_faster_at_high_current_and_cold():
    def dead_per_ah(c_rate, t):
        pack = Pack(soc0=0.9, t_amb_c=t)
        d0 = pack.state.q_dead_ah[0]
        _hold(pack, -2.0 * c_rate, 0.5 * 3600 / c_rate)
        return (pack.state.q_dead_ah[0] - d0) / 1.0  # 1 Ah stripped

    assert dead_per_ah(2.0, 25.0) > 1.5 * dead_per_ah(0.5, 25.0)
    assert dead_per_ah(0.5, 0.0) > 1.2 * dead_per_ah(0.5, 25.0)


def test_dead_sodium_fault_accelerates_fade():
    from sim.ageing import run_cycles

    pack = Pack(n_cells=2, soc0=0.0, faults=[{"kind": "dead_sodium", "cell": 1, "factor": 10.0}])
    q0 = pack.state.q_ah
    run_cycles(pack, 4, dt_s=10.0)
    loss = q0 - pack.state.q_ah  # per cell (a series string's discharge ends at its weakest)
    assert loss[1] > 4.0 * loss[0] > 0
    assert pack.labels[0]["kind"] == "dead_sodium"


def test_capacity_and_soc_follow_lost_inventory():
    pack = Pack(soc0=0.5)
    q0 = pack.state.q_ah[0]
    pack.cells.q_dead = pack.cells.q_dead + 0.1  # 0.1 Ah of plated sodium isolated
    pack.cells.q_plated = pack.cells.q_plated - 0.1
    st = pack.state
    assert st.q_ah[0] == pytest.approx(q0 - 0.1)
    assert st.soc[0] == pytest.approx((0.5 * q0 - 0.1) / (q0 - 0.1))


def test_self_heating_and_cooling():
    pack = Pack(soc0=1.0, t_amb_c=25.0)
    st = _hold(pack, -4.0, 1500)
    assert st.t_c[0] > 28.0
    st = _hold(pack, 0.0, 7200, dt=10.0)
    assert abs(st.t_c[0] - 25.0) < 0.5


def test_deterministic_from_seed():
    def run(seed):
        faults = [{"kind": "soft_short", "cell": 2, "t_start_s": 10, "r_ohm": 40.0}]
        p = Pack(n_cells=6, spread=True, seed=seed, faults=faults)
        return p.run(P.drive("urban", 2.0, duration_s=1200)), p.labels

    (a, la), (b, lb), (c, _) = run(7), run(7), run(8)
    np.testing.assert_array_equal(a["v_cell"], b["v_cell"])
    assert la == lb
    assert not np.array_equal(a["v_cell"], c["v_cell"])


def test_spread_gives_different_cells():
    st = Pack(n_cells=50, spread=True, seed=1).state
    assert 0.005 < np.std(st.q_ah) / 2.0 < 0.03
    st = Pack(n_cells=50, spread=False).state
    assert np.ptp(st.q_ah) == 0.0
    st = Pack(n_cells=50, spread={"q_rel_std": 0.05}, seed=1).state
    assert np.std(st.q_ah) / 2.0 > 0.03


def test_labels_only_for_material_episodes():
    # An urban drive's short 2C peaks leave traces of voids but nothing worth a label...
    pack = Pack(soc0=0.6)
    pack.run(P.drive("urban", 2.0, duration_s=7200))
    assert pack.labels == []
    # ...a sustained 3C discharge does.
    pack = Pack(soc0=1.0)
    pack.run(P.sequence([P.cc(-6.0), P.rest(300)]))
    voids = [lab for lab in pack.labels if lab["kind"] == "void"]
    assert len(voids) == 1 and voids[0]["source"] == "physics" and voids[0]["t_end_s"] is not None


def test_ccd_falls_as_the_anode_ages():
    # 0.8x the fresh CCD: harmless on a fresh cell, dendrites once voids and dead sodium
    # have taken away part of the contact area.
    def grows(pack):
        pack.run(P.cc(2.4, 600, v_max=math.inf))
        return any(lab["kind"] == "dendrite" for lab in pack.labels)

    assert not grows(Pack(soc0=0.2))
    aged = Pack(soc0=0.2)
    aged.cells.void_res = aged.cells.void_res + 0.15  # accumulated over many cycles
    assert grows(aged)
    dead = Pack(soc0=0.2)
    dead.cells.q_dead = dead.cells.q_dead + 0.3 * dead.cells.q_site  # booked from the cathode
    dead.cells.q_cath = dead.cells.q_cath - 0.3 * dead.cells.q_site
    assert grows(dead)


def test_a_hot_cell_warms_its_neighbours():
    faults = [{"kind": "soft_short", "cell": 2, "t_start_s": 0.0, "r_ohm": 2.0, "micro": False}]
    pack = Pack(n_cells=5, soc0=0.8, faults=faults)
    for _ in range(360):
        st = pack.step(0.0, 10.0)
    t = st.t_c - 25.0
    assert t[2] > 3.0
    assert t[2] > t[1] > t[0] > 0.0 and t[2] > t[3] > t[4] > 0.0
