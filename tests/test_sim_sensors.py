"""Sensor model: errors, quantisation, sample-and-hold and sensor faults with labels."""

import math

import numpy as np
import pytest

from sim.pack import Pack
from sim.sensors import SensorModel


def _readings(sensors, pack, n=400, i_a=-1.0, dt=1.0):
    out = []
    for _ in range(n):
        st = pack.step(i_a, dt)
        out.append(sensors.measure(st.t_s, i_a, st))
    v = np.array([o[0] for o in out])
    i = np.array([o[1] for o in out])
    t = np.array([o[2] for o in out])
    return v, i, t


def test_noise_offset_gain_statistics():
    pack = Pack(n_cells=3, soc0=0.6)
    s = SensorModel(seed=1, v_noise_v=2e-3, i_noise_a=0.02, i_gain=0.01, i_offset_a=0.05,
                    t_noise_c=0.5)
    v, i, t = _readings(s, pack, n=2000, i_a=-1.0, dt=0.5)
    # the true voltage drifts slowly, so judge the noise by first differences
    assert np.std(np.diff(v[:, 0])) == pytest.approx(2e-3 * math.sqrt(2), rel=0.15)
    assert np.mean(i) == pytest.approx((-1.0 + 0.05) * 1.01, abs=0.003)
    assert np.std(i) == pytest.approx(0.02, rel=0.15)
    assert np.std(t[:, 1] - pack.state.t_c[1]) < 1.0
    assert v.shape == (2000, 3) and i.shape == (2000,) and t.shape == (2000, 3)


def test_adc_quantisation():
    pack = Pack(n_cells=2)
    s = SensorModel(seed=0, v_noise_v=0.0, i_noise_a=0.0, t_noise_c=0.0, adc_bits=10)
    v, i, _ = _readings(s, pack, n=20, i_a=-1.3)
    lsb = 5.0 / 1023
    np.testing.assert_allclose(v / lsb, np.round(v / lsb), atol=1e-6)
    assert abs(i - -1.3).max() <= 100.0 / 1023
    assert abs(v[-1] - pack.state.v_cell).max() <= lsb / 2 + 1e-12


def test_sample_period_holds_readings():
    pack = Pack(n_cells=1)
    s = SensorModel(seed=0, sample_period_s=5.0)
    v, _, _ = _readings(s, pack, n=20)
    assert len(np.unique(v[:, 0])) == 4  # one fresh sample per 5 s of 1 s steps


def test_sensor_faults_and_labels():
    faults = [{"kind": "stuck", "cell": 0, "t_start_s": 10.0},
              {"kind": "open_wire", "cell": 1, "t_start_s": 20.0, "mode": "zero"},
              {"kind": "nan", "signal": "t", "cell": 2, "t_start_s": 30.0, "t_end_s": 40.0},
              {"kind": "offset", "cell": 3, "t_start_s": 0.0, "value": 0.05},
              {"kind": "gain", "signal": "i", "t_start_s": 50.0, "value": 0.1},
              {"kind": "open_wire", "cell": 4, "t_start_s": 5.0, "mode": "float"}]
    pack = Pack(n_cells=6, soc0=0.5)
    s = SensorModel(seed=3, v_noise_v=0.0, i_noise_a=0.0, t_noise_c=0.0, faults=faults)
    v, i, t = _readings(s, pack, n=60, i_a=-2.0)
    tt = np.arange(1, 61)
    assert np.all(v[tt >= 10, 0] == v[tt == 10, 0][0]) and v[0, 0] != v[-1, 0]
    assert np.all(v[tt >= 20, 1] == 0.0) and np.all(v[tt < 20, 1] > 3.0)
    assert np.all(np.isnan(t[(tt >= 30) & (tt < 40), 2])) and not np.isnan(t[tt >= 40, 2]).any()
    np.testing.assert_allclose(v[-1, 3] - pack.state.v_cell[3], 0.05, atol=1e-12)
    assert i[-1] == pytest.approx(-2.2) and i[0] == pytest.approx(-2.0)
    # a floating tap: the two readings that share it stay summed, each one is wrong
    float_err = v[tt >= 5, 4] - pack.state.v_cell[4]
    assert np.max(np.abs(float_err)) > 0.05
    kinds = sorted(lab["kind"] for lab in s.labels)
    assert kinds == ["sensor_gain", "sensor_nan", "sensor_offset", "sensor_open_wire",
                     "sensor_open_wire", "sensor_stuck"]
    assert sorted(lab["kind"] for lab in pack.labels) == kinds  # also next to the pack's labels
    nan_lab = next(lab for lab in s.labels if lab["kind"] == "sensor_nan")
    assert nan_lab["t_start_s"] == 30.0 and nan_lab["t_end_s"] == 40.0 and nan_lab["cell"] == 2


def test_open_wire_float_preserves_the_sum_of_neighbours():
    pack = Pack(n_cells=3, soc0=0.5)
    s = SensorModel(seed=2, v_noise_v=0.0, i_noise_a=0.0, t_noise_c=0.0,
                    faults=[{"kind": "open_wire", "cell": 0, "mode": "float"}])
    for _ in range(30):
        st = pack.step(0.5, 1.0)
        v, _, _ = s.measure(st.t_s, 0.5, st)
        assert v[0] + v[1] == pytest.approx(st.v_cell[0] + st.v_cell[1], abs=1e-9)


@pytest.mark.parametrize("kw", [{"adc_bits": 2}, {"v_noise_v": -1.0},
                                {"faults": [{"kind": "melted", "cell": 0}]},
                                {"faults": [{"kind": "stuck", "signal": "v"}]},
                                {"faults": [{"kind": "offset", "cell": 0}]}])
def test_bad_sensor_config_is_rejected(kw):
    with pytest.raises(ValueError):
        SensorModel(**kw)
