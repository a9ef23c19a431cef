"""bench/pybamm_recordings.py: a leak drains the cell and stays out of the recorded current; a string's healthy twin
carries the same external current; a cell leaving its window is cut there. Needs PyBaMM (the bench extra)."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pybamm", reason="PyBaMM not installed (pip install -e '.[bench]')")
sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import pybamm_recordings as pbr  # noqa: E402


def _short_test(cell):
    q = cell.q_nom
    for i_c, d in ((1.0, 60), (0.0, 60), (-0.5, 60), (0.0, 120)):
        cell.run(i_c * q, d, 1.0)


def test_leak_is_applied_not_recorded_and_the_twin_follows_the_same_current(monkeypatch):
    monkeypatch.setattr(pbr, "char_test", _short_test)
    leak_c = 0.05
    leaky = pbr._with_leak(lambda: pbr.Cell("lfp", 25.0, 0.5), "char", leak_c, 1)
    twin = pbr._twin("lfp", 25.0, 0.5, leaky, leak_c * leaky.q_nom)
    t_l, i_l, v_l, q_l = leaky.arrays()
    t_t, i_t, v_t, q_t = twin.arrays()
    assert np.array_equal(t_l, t_t) and np.allclose(i_l, i_t)  # the same external current, sample by sample
    assert q_l[-1] - q_t[-1] == pytest.approx(leak_c * leaky.q_nom * t_l[-1] / 3600.0, rel=1e-3)  # the leak drained
    assert v_l[-1] < v_t[-1]


def test_a_step_leaving_the_window_is_cut_there():
    cell = pbr.Cell("lfp", 25.0, 0.05)
    ran = cell.run(2.0 * cell.q_nom, 3600.0, 1.0)  # 2C from 5 %: the cut-off within minutes
    assert 0 < ran < 600 and min(cell.v) >= cell.v_min
