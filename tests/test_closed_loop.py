"""The whole loop: simulator -> sensors -> pty -> firmware on MicroPython -> limits -> profile, and the run folder."""

import json

import numpy as np
import pytest

from hil.scenario import judge, run_scenario

pytestmark = pytest.mark.mpy


def test_smoke_scenario_closed_loop_on_virtual_board(tmp_path):
    summary, run_dir = run_scenario("smoke.json", out=tmp_path)
    assert summary["passed"], summary["failed_criteria"]
    for name in ("log.csv", "events.csv", "plot.png", "summary.json", "report.html"):
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


def test_judge_reports_each_failed_criterion():
    class E:
        kind_name, severity_name, cell, t_ms = "over_voltage", "critical", 0, 1000

    verdicts = judge({"samples": 10, "soc_rmse": 0.2, "soc_max_err": 0.3}, [E()], {"min_samples": 100, "soc_rmse_max": 0.05, "forbidden_events": ["over_voltage"], "required_events": ["dendrite"]})
    assert [v["passed"] for v in verdicts] == [False] * 4


def test_a_soft_short_is_reported_over_the_link_and_lowers_the_charge_limit(tmp_path):
    # hil/scenarios/soft_short.json: the detectors on real MicroPython, fed by the simulator through the pty
    from bms.config import detect as detectparams
    from bms.core import events as ev

    summary, run_dir = run_scenario("soft_short.json", out=tmp_path)
    assert summary["passed"], summary["failed_criteria"]
    events = np.genfromtxt(run_dir / "events.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
    plating = {"soft_short", "dendrite", "dead_sodium", "nucleation", "stripping_void", "model_mismatch"}
    assert {int(e["cell"]) for e in events if e["kind"] in plating} == {1}  # the leaking cell only
    t_alarm = min(float(e["t_s"]) for e in events if e["kind"] == "soft_short" and e["severity"] == "alarm")
    log = np.genfromtxt(run_dir / "log.csv", delimiter=",", names=True)
    t_dis = log["t_s"][np.argmax(log["i_a"] < 0.0)]  # the rest after the charge ends here
    assert t_alarm <= t_dis + 120.0  # within that rest (a rest's end is seen after seg_min_s of the next phase)
    # the limit published is the lower of the protection's and the plating-aware one (cc_max_c x Q x the risk
    # factor of the worst level): after the alarm the plating-aware one is below what was allowed before
    cfg = detectparams.preset("layered-oxide-mg-naf")
    at_alarm = cfg["cc_risk"][ev.ALARM] * cfg["cc_max_c"] * 2.0
    before, after = log["t_s"] < t_alarm, log["t_s"] > t_alarm
    assert log["i_chg_max_a"][before].max() > at_alarm + 0.1
    assert log["i_chg_max_a"][after].max() <= at_alarm + 1e-6


def test_the_balancing_resistors_switched_over_the_link_empty_every_cell_after_a_full_discharge(tmp_path):
    # hil/scenarios/balance.json: the firmware on real MicroPython publishes its bleed mask in ESTIMATE, the loop
    # switches the simulator's resistors. First window: a new string's 40 mAh of spread, more than bal_max_s
    # drains; second window: every cell reaches its empty knee, and nothing trips
    from bms.config import detect as detectparams

    summary, run_dir = run_scenario("balance.json", out=tmp_path)
    assert summary["passed"], summary["failed_criteria"]
    log = np.genfromtxt(run_dir / "log.csv", delimiter=",", names=True)
    bleed = np.stack([log["bleed_%d" % k] for k in range(4)], axis=1) > 0.5
    assert bleed.any() and not (bleed & (log["i_a"] != 0.0)[:, None]).any()  # only at rest
    rest_after_dis = np.flatnonzero(np.diff(np.sign(log["i_a"])) > 0) + 1  # discharge -> rest
    windows = [k for k in rest_after_dis if log["i_a"][k - 1] < 0.0]
    assert len(windows) == 2
    max_s = detectparams.preset("nvp-mg-naf")["bal_max_s"]
    for k in windows:
        on = bleed[k:k + int(max_s / 2.0) + 3]
        assert not bleed[k + int(max_s / 2.0) + 2:k + 900].any()  # closed within bal_max_s
        assert on.any()
    k = windows[1]
    soc_after = np.array([log["soc_true_%d" % c][k + int(max_s / 2.0) + 2] for c in range(4)])
    assert soc_after.max() < 0.002  # every cell drained to within 4 mAh of bare (the spread was 40 mAh)
    assert summary["bleed_cell_s"] > 0.0
