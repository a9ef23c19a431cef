"""Scenarios that cannot lie: every typo refused in one line, criteria by cell, deadline and limit, profiles from
experiment steps and from a user's CSV."""

import json

import numpy as np
import pytest

from hil.scenario import SCENARIOS, ScenarioError, build_profile, judge, load, parse_step, validate

BASE = {
    "name": "t",
    "cell": {"cathode": "nvp", "interphase": "mg-naf", "n_cells": 4, "q_ah": 2.0},
    "profile": [{"rest": {"duration_s": 10}}],
    "criteria": {},
}


def _sc(**changes):
    sc = json.loads(json.dumps(BASE))
    for path, val in changes.items():
        d = sc
        keys = path.split("__")
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = val
    return sc


@pytest.mark.parametrize("changes, message", [
    ({"criteria__forbiden_events": ["dendrite"]}, "unknown key 'forbiden_events'"),
    ({"criteria__forbidden_events": ["dendrit"]}, "unknown event kind 'dendrit'"),
    ({"criteria__required_events": ["soft-short"]}, "unknown event kind 'soft-short'"),
    ({"criteria__events": [{"kind": "soft_short", "cell": 4}]}, "cell 4 is not a cell of this string"),
    ({"criteria__events": [{"kind": "soft_short", "severty": "alarm"}]}, "unknown key 'severty'"),
    ({"criteria__events": [{"kind": "soft_short", "severity": "fatal"}]}, "unknown severity 'fatal'"),
    ({"criteria__charge_limit": [{"max_a": 0.8, "within_s": 10, "after": {"kind": "nope"}}]}, "unknown event kind 'nope'"),
    ({"criteria__no_events_on_healthy": ["soft_shorts"]}, "unknown event kind 'soft_shorts'"),
    ({"cell__n_cell": 4}, "cell: unknown key 'n_cell'"),
    ({"sensors": {"v_noise": 0.001}}, "sensors: unknown key 'v_noise'"),
    ({"firmware": {"preset": "nvp-mg-naf", "soc_0": 0.5}}, "firmware: unknown key 'soc_0'"),
    ({"profile": [{"rest": {"duration": 10}}]}, "rest: unknown key 'duration'"),
    ({"profile": [{"sprint": {}}]}, "unknown builder 'sprint'"),
    ({"profile": [{"experiment": ["Charge at C/2 until forever"]}]}, "not understood"),
    ({"cell__faults": [{"kind": "soft_short", "cell": 9}]}, "cell must be an int in 0..3"),
    ({"dt": 2.0}, "unknown key 'dt'"),
    ({"sensors": {"faults": [{"kind": "stuck", "cell": 1, "t_strat_s": 10}]}}, "unknown key 't_strat_s'"),
    ({"firmware": {"preset": "nvp-mgnaf"}}, "firmware preset 'nvp-mgnaf' unknown"),
    ({"cell__cathode": "lfp"}, "lfp"),
])
def test_every_typo_is_refused_in_one_line_naming_it(changes, message):
    with pytest.raises(ScenarioError, match=message) as e:
        validate(_sc(**changes), "x.json")
    assert "\n" not in str(e.value)


def test_every_shipped_scenario_validates():
    names = sorted(p.name for p in SCENARIOS.glob("*.json"))
    assert len(names) >= 10
    for name in names:
        load(name)


def test_bad_files_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        load(bad)
    bad.write_text('{"name": "x", "cell": {}}')
    with pytest.raises(ScenarioError, match="lacks 'profile'"):
        load(bad)
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load(tmp_path / "missing.json")


class _St:
    def __init__(self, v):
        self.v_cell = np.array([v])
        self.v_max, self.v_min = 4.0, 2.0


@pytest.mark.parametrize("text, i_a, dur, v_max, v_min", [
    ("Charge at C/2 until 3.7 V", 1.0, None, 3.7, None),
    ("Discharge at 1 A for 10 minutes", -1.0, 600.0, None, None),
    ("Discharge at 2C for 5 min or until 2.5 V", -4.0, 300.0, None, 2.5),
    ("charge at 500 mA for 1 hour", 0.5, 3600.0, None, None),
])
def test_experiment_steps_in_pybamm_words(text, i_a, dur, v_max, v_min):
    seg, _ = parse_step(text, q_ah=2.0)
    assert seg.i_a == pytest.approx(i_a)
    assert seg.duration_s == dur
    assert seg.v_max == v_max and seg.v_min == v_min


def test_experiment_rest_hold_and_repeat():
    seg, _ = parse_step("Rest for 30 minutes", 2.0)
    assert seg.duration_s == 1800.0
    prof = build_profile([{"experiment": ["Charge at C/2 until 3.7 V", "Hold at 3.7 V until C/20", "Rest for 1 hour"], "repeat": 2}], 2.0)
    assert len(prof.segments) == 6
    hold = prof.segments[1]
    assert hold.i_a == pytest.approx(1.0) and hold.i_cut_a == pytest.approx(0.1)  # CV at the charge's current


def test_csv_profile_plays_a_users_current(tmp_path):
    f = tmp_path / "i.csv"
    f.write_text("Time [s],Current [A]\n0,1.5\n10,-2\n20,0\n")
    prof = build_profile([{"csv": {"path": "i.csv"}}], 2.0, base_dir=tmp_path)
    st = _St(3.0)
    got = []
    for t in (0, 5, 10, 15, 20, 25, 30):
        if prof.done(t, st):
            break
        got.append(prof(t, st, 10.0, 10.0))
    assert got == [1.5, 1.5, -2.0, -2.0, 0.0, 0.0]  # zero-order hold, ends one period after the last row
    f.write_text("time_s,current_a\n0,1\n0,2\n")
    with pytest.raises(ScenarioError, match="row 3: time does not advance"):
        build_profile([{"csv": {"path": str(f)}}], 2.0)
    f.write_text("t,amps\n0,1\n1,2\n")
    with pytest.raises(ScenarioError, match="no time column"):
        build_profile([{"csv": {"path": str(f)}}], 2.0)


class E:
    def __init__(self, kind, cell, sev, t_s, value=0.01):
        from bms.core.events import KIND_NAMES, SEVERITY_NAMES

        self.kind = {v: k for k, v in KIND_NAMES.items()}[kind]
        self.kind_name, self.cell, self.severity_name, self.t_ms, self.value = kind, cell, sev, int(t_s * 1000), value
        self.severity = SEVERITY_NAMES.index(sev)


class Rec:
    t_s = np.arange(0.0, 1000.0, 10.0)
    i_chg_max_a = np.where(np.arange(0.0, 1000.0, 10.0) < 510, 1.0, 0.8)


def test_criteria_by_cell_deadline_limit_and_healthy_cells_give_reasons():
    events = [E("soft_short", 1, "warning", 300), E("soft_short", 1, "alarm", 500), E("dendrite", 2, "warning", 700)]
    labels = [{"cell": 1, "kind": "soft_short", "t_start_s": 100.0, "source": "injected"}]
    summary = {"samples": 100, "soc_rmse": 0.01, "soc_max_err": 0.02, "soc_rmse_converged": 0.01, "coverage_2sigma": 0.9}
    crit = {
        "min_samples": 50,
        "coverage_2sigma_min": 0.95,
        "events": [{"kind": "soft_short", "cell": 1, "severity": "alarm", "within_s_of_onset": 600},
                   {"kind": "soft_short", "cell": 1, "severity": "alarm", "by_s": 450},
                   {"kind": "soft_short", "cell": 0}],
        "charge_limit": [{"max_a": 0.8, "within_s": 10, "after": {"kind": "soft_short", "cell": 1, "severity": "alarm"}},
                         {"max_a": 0.5, "within_s": 10, "after": {"kind": "soft_short", "cell": 1, "severity": "alarm"}}],
        "no_events_on_healthy": ["dendrite", "soft_short"],
    }
    v = {x["name"]: x for x in judge(summary, events, crit, Rec(), labels)}
    ok = {name for name, x in v.items() if x["passed"]}
    assert ok == {"at least 50 samples", "soft_short alarm+ on cell 1 within 600 s of the fault's onset (t = 100 s)",
                  "charge limit <= 0.8 A within 10 s of soft_short on cell 1"}
    assert "50 s late" in v["soft_short alarm+ on cell 1 by t = 450 s"]["reason"]
    assert v["soft_short on cell 0"]["reason"] == "never raised"
    assert "at most 0.8 A" in v["charge limit <= 0.5 A within 10 s of soft_short on cell 1"]["reason"]
    assert "dendrite" in v["no dendrite/soft_short on healthy cells"]["reason"]
    assert "90.00 %" in v["coverage_2sigma >= 95.00 %"]["reason"]


def test_balancing_criteria_count_windows_and_cells_and_want_one_after_the_alarm():
    from hil.loop import bleed_windows

    t_s = np.arange(0.0, 3000.0, 2.0)
    bleed = np.zeros((len(t_s), 3))
    bleed[(t_s >= 100) & (t_s < 300), 0] = 1  # window 1: cells 0 and 1
    bleed[(t_s >= 100) & (t_s < 200), 1] = 1
    bleed[(t_s >= 2000) & (t_s < 2200), 2] = 1  # window 2, after the alarm: cell 2
    wins = bleed_windows(t_s, bleed)
    assert [(w["t0_s"], w["cells"]) for w in wins] == [(100.0, [0, 1]), (2000.0, [2])]
    summary = {"samples": len(t_s), "bleed_windows": wins}
    alarm = {"kind": "soft_short", "cell": 1, "severity": "alarm"}
    crit = {"balancing": {"windows_min": 3, "cells_min": 3, "after": alarm}}
    early = {x["name"]: x for x in judge(summary, [E("soft_short", 1, "alarm", 1000)], crit)}
    assert [x["passed"] for x in early.values()] == [False, True, True]
    assert "2 windows, opening at t = 100 s, 2000 s" in early["at least 3 balancing windows"]["reason"]
    late = {x["name"]: x for x in judge(summary, [E("soft_short", 1, "alarm", 2500)], crit)}
    assert late["a balancing window after soft_short on cell 1"]["reason"].endswith("no window after it")
    with pytest.raises(ScenarioError, match="unknown key 'windows'"):
        validate(_sc(criteria__balancing={"windows": 1}), "x.json")
    with pytest.raises(ScenarioError, match="cell 7 is not a cell"):
        validate(_sc(criteria__balancing={"after": {"kind": "soft_short", "cell": 7}}), "x.json")
