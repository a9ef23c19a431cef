"""Scenario files: a cell, sensors, a profile and pass/fail criteria, run in closed loop on a board.

A scenario is JSON (hil/scenarios/*.json):

  name, description
  cell      keyword arguments of sim.pack.Pack (cathode, interphase, n_cells, q_ah, t_amb_c, seed, soc0, spread, faults)
  sensors   keyword arguments of sim.sensors.SensorModel
  firmware  {"preset": ..., "soc0": null | fraction}   sent to the board as CONFIG before the run
  dt_s      sample period [s]
  max_t_s   simulated time after which the run stops whatever the profile says (default 2 days)
  profile   list of steps {"<builder>": {kwargs}} for sim.profiles (cc, cccv, rest, drive, hppc, gitt, cycles);
            "c_rate" in place of "i_a" is converted with the cell's q_ah (charge > 0), and q_ah is passed
            to the builders that take it
  criteria  soc_rmse_max, soc_max_err_max (fractions), min_samples, forbidden_events (kind names),
            required_events (kind names)
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from sim import profiles
from sim.pack import Pack
from sim.sensors import SensorModel

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_BUILDERS = {"cc": profiles.cc, "cccv": profiles.cccv, "rest": profiles.rest, "drive": profiles.drive, "hppc": profiles.hppc, "gitt": profiles.gitt, "cycles": profiles.cycles}


def load(path) -> dict:
    p = Path(path)
    if not p.exists() and (SCENARIOS / p).exists():
        p = SCENARIOS / p
    try:
        sc = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError("%s: not valid JSON: %s" % (p, e)) from None
    for key in ("name", "cell", "profile", "criteria"):
        if key not in sc:
            raise ValueError("%s: scenario lacks %r" % (p, key))
    return sc


def build_profile(steps, q_ah: float):
    segs = []
    for k, step in enumerate(steps):
        if not isinstance(step, dict) or len(step) != 1:
            raise ValueError("profile step %d must be one {builder: {kwargs}} pair, got %r" % (k, step))
        (name, kwargs), = step.items()
        if name not in _BUILDERS:
            raise ValueError("profile step %d: unknown builder %r (known: %s)" % (k, name, ", ".join(sorted(_BUILDERS))))
        fn = _BUILDERS[name]
        kwargs = dict(kwargs)
        if "c_rate" in kwargs:
            kwargs["i_a"] = kwargs.pop("c_rate") * q_ah
        if "q_ah" in inspect.signature(fn).parameters:
            kwargs.setdefault("q_ah", q_ah)
        segs.append(fn(**kwargs))
    return profiles.sequence(segs)


def judge(summary: dict, events, criteria: dict):
    """List of failed criteria (empty: passed)."""
    failed = []
    if summary["samples"] < criteria.get("min_samples", 1):
        failed.append("samples %d < %d" % (summary["samples"], criteria.get("min_samples", 1)))
    for key, metric in (("soc_rmse_max", "soc_rmse"), ("soc_max_err_max", "soc_max_err")):
        if key in criteria and not summary[metric] <= criteria[key]:
            failed.append("%s %.4f > %.4f" % (metric, summary[metric], criteria[key]))
    kinds = {e.kind_name for e in events}
    for kind in criteria.get("forbidden_events", []):
        if kind in kinds:
            failed.append("forbidden event %s raised" % kind)
    for kind in criteria.get("required_events", []):
        if kind not in kinds:
            failed.append("required event %s not raised" % kind)
    return failed


def run_scenario(path, port: str | None = None, out="runs", max_steps: int = 10**7):
    """Run a scenario on a real board (port) or a virtual one; returns (summary, run_dir)."""
    from hil.loop import run_closed_loop
    from hil.report import new_run_dir, write_run
    from hil.virtual_board import VirtualBoard
    from hil.link import BoardLink

    sc = load(path)
    cell = dict(sc["cell"])
    pack = Pack(**cell)
    sensors = SensorModel(**sc.get("sensors", {}))
    profile = build_profile(sc["profile"], pack.q_ah_nominal)
    fw = sc.get("firmware", {})
    board = None if port else VirtualBoard().start()
    try:
        with BoardLink(port or board.port) as link:
            link.configure(pack.n_cells, fw.get("preset", "%s-%s" % (pack.cathode, pack.interphase)), fw.get("soc0"))
            dt_s = sc.get("dt_s", 1.0)
            max_steps = min(max_steps, int(sc.get("max_t_s", 2 * 86400) / dt_s))
            rec = run_closed_loop(link, pack, sensors, profile, dt_s=dt_s, max_steps=max_steps)
    finally:
        if board is not None:
            stderr = board.stderr_text()
            if not board.alive():
                raise RuntimeError("virtual board died:\n" + stderr)
            board.stop()
    run_dir = new_run_dir(out, sc["name"])
    summary = write_run(rec, run_dir, sc, title="%s (%s)" % (sc["name"], "port " + port if port else "virtual board, MicroPython"))
    failed = judge(summary, rec.events, sc["criteria"])
    summary["passed"] = not failed
    summary["failed_criteria"] = failed
    summary["labels"] = pack.labels
    (Path(run_dir) / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    return summary, run_dir
