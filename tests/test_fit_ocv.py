"""`nabms fit` on characterisation recordings made from an equivalent circuit with a known OCV (host.fit.ecm_voltage:
the fit's own model, so that what is tested is where the fit puts its OCV points, not how well an ECM fits a cell):
a knee between rests 10 % apart, the entropic term, the current sensor's noise."""

import numpy as np
import pytest

from bms.config import cellfile
from host.fit import ecm_voltage, fit
from host.readers import Recording

Q_AH = 2.0
KNEE_SOC = 0.55  # the OCV drops 0.3 V over 2 % SoC here: between the rests at 0.5 and 0.6


def _ocv(soc):
    return 3.0 + 0.4 * soc + 0.3 / (1.0 + np.exp(-(soc - KNEE_SOC) / 0.005))


def _char(t_c=25.0, docv_dt=0.0, i_noise_a=0.0, seed=1):
    """Rest 1 h at full, then 10 % steps at C/2 each followed by 40 min of rest, down to 0 (a characterisation)."""
    rng = np.random.default_rng(seed)
    t, i = [0.0], [0.0]

    def hold(i_a, dur_s, dt_s):
        for _ in range(int(dur_s / dt_s)):
            t.append(t[-1] + dt_s)
            i.append(i_a)

    hold(0.0, 3600.0, 10.0)
    for _ in range(10):
        hold(-0.5 * Q_AH, 720.0, 2.0)
        hold(0.0, 2400.0, 10.0)
    t, i = np.array(t), np.array(i)
    dt = np.diff(t, prepend=t[0])
    soc = 1.0 + np.cumsum(i * dt) / 3600.0 / Q_AH
    ocv_soc = np.linspace(0.0, 1.0, 2001)
    ocv_v = _ocv(ocv_soc) + docv_dt * (t_c - 25.0)
    v = ecm_voltage(t, i, soc, ocv_soc, ocv_v, 0.02, ((0.015, 60.0),))
    v = v + rng.normal(0.0, 0.0005, len(v))
    i_rec = i + rng.normal(0.0, i_noise_a, len(i)) if i_noise_a else i
    return Recording("synthetic-%gC.csv" % t_c, t, i_rec, v[:, None], np.full((len(t), 1), t_c))


def _table(doc):
    p = cellfile.load(doc)
    return np.array(p["soc_pts"]), np.array(p["ocv_pts"]), p


def test_the_ocv_knee_between_two_rests_is_resolved_by_the_loaded_stretch():
    doc, _ = fit([_char()], Q_AH, "knee", "lfp", log=lambda s: None)
    s, v, _ = _table(doc)
    # a table through the rest points alone is off by 60-85 mV on both sides of the knee; the stretch puts it in
    # place (the knee's own 4 % are left out: there any table's voltage error is its slope times a SoC shift)
    socs = np.array([0.45, 0.51, 0.52, 0.53, 0.58, 0.59, 0.65])
    fitted = np.max(np.abs(np.interp(socs, s, v) - _ocv(socs)))
    rests_only = np.max(np.abs(np.interp(socs, [0.4, 0.5, 0.6, 0.7], _ocv(np.array([0.4, 0.5, 0.6, 0.7])))
                               - _ocv(socs)))
    assert rests_only > 0.07  # what a fit through the rests alone gives
    assert fitted < 0.02


def test_docv_dt_is_zero_when_the_temperatures_agree_and_signed_when_they_do_not():
    same, _ = fit([_char(10.0), _char(35.0, seed=2)], Q_AH, "same", "lfp", log=lambda s: None)
    assert cellfile.load(same)["docv_dt_v_per_k"] == 0.0
    shifted, _ = fit([_char(10.0, docv_dt=-3e-4), _char(35.0, docv_dt=-3e-4, seed=2)], Q_AH, "shift", "lfp",
                     log=lambda s: None)
    assert cellfile.load(shifted)["docv_dt_v_per_k"] == pytest.approx(-3e-4, rel=0.2)


def test_the_entropic_term_is_bounded():
    doc, _ = fit([_char(10.0, docv_dt=3e-3), _char(35.0, docv_dt=3e-3, seed=2)], Q_AH, "big", "lfp",
                 log=lambda s: None)
    assert cellfile.load(doc)["docv_dt_v_per_k"] == pytest.approx(5e-4)


def test_the_current_sensors_noise_is_taken_from_the_rests():
    doc, _ = fit([_char(i_noise_a=0.004)], Q_AH, "noisy", "lfp", log=lambda s: None)
    assert doc["estimator"]["i_noise_sigma_a"] == pytest.approx(0.004, rel=0.1)
    assert cellfile.load(doc)["i_noise_sigma_a"] == pytest.approx(0.004, rel=0.1)
