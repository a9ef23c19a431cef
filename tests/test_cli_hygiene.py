"""Host hygiene for every `nabms` command: a user error is one line and a non-zero exit (never a traceback); a run
streams its log to disk, so an interrupted run keeps what it recorded and says "aborted"; CI output."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

NABMS = [sys.executable, "-m", "host.cli"]
ROOT = Path(__file__).resolve().parents[1]


def nabms(*args, timeout=120, cwd=None):
    return subprocess.run(NABMS + list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT)


@pytest.mark.parametrize("args, says", [
    (["run", "no_such_scenario"], "no such scenario file"),
    (["run", "smoke", "--target", "instruments"], "needs --visa"),
    (["run", "smoke", "--target", "instruments", "--visa", "supply=x"], "needs --visa"),
    (["run", "smoke", "--target", "instruments", "--visa", "psu=x"], "'psu=x' is not supply="),
    (["run", "smoke", "--target", "serial"], "target serial needs --port"),
    (["hello", "--port", "/dev/nonexistent-nabms"], "/dev/nonexistent-nabms"),
    (["stats", "--port", "/dev/nonexistent-nabms"], "/dev/nonexistent-nabms"),
    (["campaign", "no_such_matrix"], "no such campaign matrix"),
    (["campaign", "soft_short_resistance", "--workers", "0"], "--workers must be >= 1"),
])
def test_a_user_error_is_one_line_and_a_non_zero_exit(args, says):
    r = nabms(*args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], r.stderr


def test_a_typo_in_a_scenario_is_named_in_one_line(tmp_path):
    sc = json.loads((ROOT / "hil/scenarios/smoke.json").read_text())
    sc["criteria"]["forbiden_events"] = sc["criteria"].pop("forbidden_events")
    f = tmp_path / "typo.json"
    f.write_text(json.dumps(sc))
    r = nabms("run", str(f), "--target", "inprocess", "--out", str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "unknown key 'forbiden_events'" in r.stderr.strip()
    assert not any(tmp_path.glob("*-smoke"))  # nothing half-made


def test_a_completed_run_its_log_and_junit(tmp_path):
    junit = tmp_path / "junit.xml"
    r = nabms("run", "smoke", "--target", "inprocess", "--out", str(tmp_path), "--junit", str(junit), "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = next(tmp_path.glob("*-smoke"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["passed"]
    assert "pass  " in r.stdout and "run folder" in r.stdout
    rows = list(csv.DictReader(open(run_dir / "log.csv")))
    assert len(rows) == summary["samples"]
    assert "charge_allowed" in rows[-1]["flags"].split("|")  # names, not a raw integer
    assert next(csv.reader(open(run_dir / "events.csv"))) == ["t_s", "cell", "kind", "severity", "value", "unit"]
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(summary["verdicts"]) >= 3
    assert int(suite.get("failures")) == 0 and all(c.find("failure") is None for c in cases)
    assert (run_dir / "report.html").stat().st_size > 10000


def test_a_failed_criterion_is_a_junit_failure_with_its_reason(tmp_path):
    sc = json.loads((ROOT / "hil/scenarios/smoke.json").read_text())
    sc["criteria"]["required_events"] = ["dendrite"]
    f = tmp_path / "fails.json"
    f.write_text(json.dumps(sc))
    junit = tmp_path / "j.xml"
    r = nabms("run", str(f), "--target", "inprocess", "--out", str(tmp_path), "--junit", str(junit), "--quiet")
    assert r.returncode == 1
    assert "FAIL  dendrite event raised: never raised" in r.stdout
    fails = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in fails] == ["dendrite event raised"]
    assert fails[0].find("failure").get("message") == "never raised"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_keeps_its_log_and_says_aborted(tmp_path, sig):
    # balance.json: 40,000 s simulated, several seconds in process: interrupted once its log has rows on disk
    p = subprocess.Popen(NABMS + ["run", "balance", "--target", "inprocess", "--out", str(tmp_path), "--quiet"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    log = None
    while time.monotonic() < deadline:
        logs = list(tmp_path.glob("*-balance/log.csv"))
        if logs and logs[0].stat().st_size > 200_000:
            log = logs[0]
            break
        time.sleep(0.05)
    assert log is not None, "the run wrote nothing to disk while running"
    os.kill(p.pid, sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert "Traceback" not in err
    summary = json.loads((log.parent / "summary.json").read_text())
    assert summary["status"] == "aborted" and "interrupted" in summary["abort_reason"]
    assert not summary["passed"] and summary["verdicts"][0]["name"] == "run completed"
    rows = list(csv.DictReader(open(log)))
    assert 0 < summary["samples"] and len(rows) >= summary["samples"] - 1  # every tick recorded reached the file
    assert "aborted" in out


def test_a_board_that_is_not_there_still_leaves_a_summary_that_says_so(tmp_path):
    r = nabms("run", "smoke", "--port", "/dev/nonexistent-nabms", "--out", str(tmp_path), "--quiet")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    summary = json.loads(next(tmp_path.glob("*-smoke/summary.json")).read_text())
    assert summary["status"] == "aborted" and "/dev/nonexistent-nabms" in summary["abort_reason"]
    assert summary["samples"] == 0
