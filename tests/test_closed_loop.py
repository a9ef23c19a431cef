"""The whole loop: simulator -> sensors -> pty -> firmware on MicroPython -> limits -> profile, and the run folder."""

import json

import numpy as np
import pytest

from hil.scenario import build_profile, judge, load, run_scenario

pytestmark = pytest.mark.mpy


def test_smoke_scenario_closed_loop_on_virtual_board(tmp_path):
    summary, run_dir = run_scenario("smoke.json", out=tmp_path)
    assert summary["passed"], summary["failed_criteria"]
    for name in ("log.csv", "events.csv", "plot.png", "summary.json"):
        assert (run_dir / name).stat().st_size > 0
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert {"samples", "soc_rmse", "samples_per_s"} <= on_disk.keys()
    assert on_disk["samples"] == summary["samples"] >= 500
    # the loop is closed: the charger followed the firmware's limit (never above it)
    log = np.genfromtxt(run_dir / "log.csv", delimiter=",", names=True)
    i_chg_prev = np.concatenate([[0.0], log["i_chg_max_a"][:-1]])
    assert np.all(log["i_a"] <= i_chg_prev + 1e-6)
    assert summary["firmware_stats"]["rx_frames"] >= summary["samples"]
    assert summary["firmware_stats"]["rx_crc_errors"] == 0


def test_scenario_errors_are_specific(tmp_path):
    with pytest.raises(ValueError, match="unknown builder 'sprint'"):
        build_profile([{"sprint": {}}], 2.0)
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load(bad)
    bad.write_text('{"name": "x", "cell": {}}')
    with pytest.raises(ValueError, match="lacks 'profile'"):
        load(bad)


def test_judge_reports_each_failed_criterion():
    class E:
        kind_name = "over_voltage"

    failed = judge({"samples": 10, "soc_rmse": 0.2, "soc_max_err": 0.3}, [E()], {"min_samples": 100, "soc_rmse_max": 0.05, "forbidden_events": ["over_voltage"], "required_events": ["dendrite"]})
    assert len(failed) == 4
