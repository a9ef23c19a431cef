"""Profiles: closed-loop current sources that obey the BMS's limits."""

import math

import numpy as np
import pytest

from sim import profiles as P
from sim.pack import Pack


def test_every_builder_obeys_current_limits():
    builders = [P.cc(5.0, 600), P.cc(-5.0, 600), P.cccv(5.0), P.drive("aggressive", 2.0, duration_s=900, scale=2.0),
                P.hppc(2.0, c_pulse=3.0, n_steps=2, rest_s=60), P.gitt(-4.0, 60, 60, 3),
                P.cycles(1, 2.0, c_chg=3.0, c_dis=3.0, rest_s=60),
                P.from_function(lambda t, st, c, d: 9.0 * math.sin(t / 50.0), duration_s=600)]
    for prof in builders:
        pack = Pack(n_cells=2, soc0=0.5)
        limits = lambda t, st: (1.5 if t < 300 else 0.7, 2.5)  # noqa: E731 - a BMS stand-in
        rec = pack.run(prof, limits=limits, t_max_s=20000)
        i, t = rec["i_a"], rec["t_s"] - 1.0
        assert len(i) > 10
        assert np.all(i <= np.where(t < 300, 1.5, 0.7) + 1e-12)
        assert np.all(i >= -2.5 - 1e-12)


def test_cccv_holds_the_highest_cell_at_v_max_and_cuts_off():
    pack = Pack(n_cells=4, spread=True, seed=2, soc0=0.1)
    rec = pack.run(P.cccv(2.0, v_max=3.65, i_cut_a=0.1))
    v_hi = rec["v_cell"].max(axis=1)
    assert v_hi.max() < 3.65 + 0.01
    assert rec["i_a"][-1] <= 0.1
    cv = rec["i_a"] < 1.99
    assert np.all(np.abs(v_hi[cv][5:] - 3.65) < 0.01)


def test_cccv_charges_again_when_a_bms_limit_lifts():
    # a BMS publishes no charge current until it has seen a sample: a charge that starts under a zero limit
    # must take its full CC current once the limit lifts (it used to stay at zero for good)
    pack = Pack(n_cells=2, soc0=0.1)
    limits = lambda t, st: (0.0 if t < 10 else 5.0, 5.0)  # noqa: E731 - a BMS stand-in
    rec = pack.run(P.cccv(2.0, v_max=3.65, i_cut_a=0.1), limits=limits, t_max_s=600)
    t, i = rec["t_s"] - 1.0, rec["i_a"]
    assert np.all(i[t < 10] == 0.0) and np.all(i[(t >= 12) & (t < 600)] == 2.0)


def test_cccv_is_stable_when_cold():
    pack = Pack(soc0=0.5, t_amb_c=-20.0)
    rec = pack.run(P.cccv(2.0, i_cut_a=0.2), t_max_s=20000)
    v = rec["v_cell"][:, 0]
    assert np.all(v[300:] < pack.v_max + 0.01)
    assert np.all(np.diff(rec["i_a"][300:]) < 0.05)  # no current oscillation


def test_cc_stops_at_voltage_limits():
    pack = Pack(soc0=0.9)
    rec = pack.run(P.cc(2.0))
    assert rec["v_cell"][-1, 0] >= pack.v_max and rec["v_cell"][-2, 0] < pack.v_max
    rec = pack.run(P.cc(-2.0, v_min=3.0))
    assert rec["v_cell"][-1, 0] <= 3.0 < rec["v_cell"][-2, 0]


def test_sequence_rest_and_durations():
    pack = Pack()
    rec = pack.run(P.sequence([P.rest(30), P.cc(-1.0, 60), P.rest(10), P.cc(0.5, 20)]))
    i = rec["i_a"]
    assert len(i) == 120
    assert np.all(i[:30] == 0) and np.all(i[30:90] == -1.0) and np.all(i[90:100] == 0)
    assert np.all(i[100:] == 0.5)


def test_hppc_and_gitt_shapes():
    pack = Pack(soc0=0.9)
    rec = pack.run(P.hppc(2.0, n_steps=2, rest_s=100))
    i = rec["i_a"]
    assert (i == -2.0).sum() == 20 and (i == 1.5).sum() == 20
    assert np.sum(i == -1.0) == 2 * 720  # 10 % SoC steps at C/2
    pack = Pack(soc0=0.2)
    g = P.gitt(-1.0, pulse_s=600, rest_s=600, n_pulses=50)
    rec = pack.run(g)
    assert any(p.hit_limit for p in g.pulses)  # ends at v_min, not after 50 pulses
    assert rec["v_cell"][:, 0].min() <= pack.v_min


def test_drive_profiles_are_shipped_and_scaled():
    assert set(P.drive_names()) >= {"urban", "highway", "aggressive"}
    for name in P.drive_names():
        t, c = P.load_drive(name)
        assert np.all(np.diff(t) == 1.0) and c.min() < 0 < c.max()
    pack = Pack(q_ah=4.0)
    rec = pack.run(P.drive("urban", 4.0, repeat=False))
    t, c = P.load_drive("urban")
    np.testing.assert_allclose(rec["i_a"], c * 4.0)
    with pytest.raises(ValueError):
        P.drive("moon", 2.0)


def test_cycles_counts_cycles():
    pack = Pack(soc0=0.0)
    prof = P.cycles(2, 2.0, c_chg=1.0, c_dis=1.0, rest_s=60)
    rec = pack.run(prof)
    i = rec["i_a"]
    starts = np.flatnonzero((i[1:] > 0) & (i[:-1] <= 0)) + 1
    assert len(starts) == 1 and i[0] > 0  # two charges: one at t=0, one later
    assert prof.cycle_index == 1


def test_drive_discharges_to_the_cut_off_by_default():
    pack = Pack(soc0=0.3)
    rec = pack.run(P.drive("aggressive", 2.0))
    assert rec["v_cell"][-1, 0] <= pack.v_min < rec["v_cell"][-2, 0]
    assert pack.state.soc[0] < 0.05
