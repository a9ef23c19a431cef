"""Scenario files: a cell string, sensors, a profile and pass/fail criteria, run in closed loop on a board.

A scenario is JSON (hil/scenarios/*.json); every key is checked, a typo is refused with one line naming it.

  name, description
  slow      true: a long run (its pytest case is marked slow)
  known_failure  what the firmware gets wrong in this scenario today (its pytest case is an expected failure)
  cell      keyword arguments of sim.pack.Pack (cathode, interphase, n_cells, q_ah, t_amb_c, seed, soc0, spread,
            faults: sim.faults specs)
  sensors   keyword arguments of sim.sensors.SensorModel (faults: sensor fault specs)
  firmware  {"preset": ..., "soc0": null | fraction}   sent to the board as CONFIG before the run
  dt_s      sample period [s]
  max_t_s   simulated time after which the run stops whatever the profile says (default 2 days)
  profile   list of steps, each one of
              {"<builder>": {kwargs}}  sim.profiles builders (cc, cccv, rest, drive, hppc, gitt, cycles); "c_rate"
                                       in place of "i_a" is scaled by the cell's q_ah (charge > 0)
              {"experiment": ["Charge at C/2 until 3.7 V", "Rest for 30 minutes", ...], "repeat": n}
                                       steps in PyBaMM's words (see parse_step)
              {"ignore_limits": {"<builder>": {kwargs}}}
                                       a charger or load that disobeys the BMS (to provoke its protections)
              {"csv": {"path": "current.csv", "repeat": false, "sign": "charge-positive"}}
                                       a user's current against time (columns time_s and current_a, or
                                       "Time [s]" and "Current [A]"; path relative to the scenario file)
  criteria  min_samples; soc_rmse_max, soc_max_err_max, soc_rmse_converged_max (fractions); coverage_2sigma_min;
            forbidden_events / required_events (kind names, any cell);
            events: [{"kind", "cell", "severity" (at least), "by_s" (deadline), "within_s_of_onset"}] required;
            no_events_on_healthy: [kind names] (healthy: no fault injected on the cell, by the physics or a sensor);
            charge_limit: [{"max_a", "within_s", "for_s", "after": {"kind", "cell", "severity"}}]: from within_s after
              the first such event, for for_s (default: to the end of the run), the limit stays <= max_a;
            balancing: {"windows_min", "cells_min", "after": {"kind", "cell", "severity"}}: at least windows_min
              balancing windows (a stretch with some resistor on), at least cells_min cells bled in all, and (with
              "after") a window that opens after the first such event
"""

from __future__ import annotations

import csv
import inspect
import json
import math
import re
from pathlib import Path

import numpy as np

from sim import profiles
from sim.pack import Pack
from sim.sensors import SensorModel

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_BUILDERS = {"cc": profiles.cc, "cccv": profiles.cccv, "rest": profiles.rest, "drive": profiles.drive, "hppc": profiles.hppc, "gitt": profiles.gitt, "cycles": profiles.cycles}
TOP_KEYS = {"name", "description", "slow", "known_failure", "cell", "sensors", "firmware", "dt_s", "max_t_s", "profile", "criteria"}
FIRMWARE_KEYS = {"preset", "soc0"}
CRITERIA_KEYS = {"min_samples", "soc_rmse_max", "soc_max_err_max", "soc_rmse_converged_max", "coverage_2sigma_min",
                 "forbidden_events", "required_events", "events", "no_events_on_healthy", "charge_limit", "balancing"}
EVENT_CRIT_KEYS = {"kind", "cell", "severity", "by_s", "within_s_of_onset"}
LIMIT_CRIT_KEYS = {"max_a", "within_s", "for_s", "after"}
AFTER_KEYS = {"kind", "cell", "severity"}
BALANCE_CRIT_KEYS = {"windows_min", "cells_min", "after"}
SENSOR_FAULT_KEYS = {"kind", "cell", "signal", "t_start_s", "t_end_s", "mode", "value"}


class ScenarioError(ValueError):
    """A scenario that cannot run as written: the message names the file, the place and the rule."""


def _kinds():
    from bms.core.events import KIND_NAMES

    return set(KIND_NAMES.values())


def _severities():
    from bms.core.events import SEVERITY_NAMES

    return list(SEVERITY_NAMES)


def _check_keys(where, d, known):
    if not isinstance(d, dict):
        raise ScenarioError("%s must be an object, got %r" % (where, d))
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ScenarioError("%s: unknown key %s (known: %s)" % (where, ", ".join(map(repr, unknown)), ", ".join(sorted(known))))


def _params(fn):
    return {p for p in inspect.signature(fn).parameters if p != "self"}


# ---------------------------------------------------------------------------------------------- loading
def find(path) -> Path:
    p = Path(path)
    if not p.exists() and (SCENARIOS / p).exists():
        p = SCENARIOS / p
    if not p.exists() and (SCENARIOS / (str(path) + ".json")).exists():
        p = SCENARIOS / (str(path) + ".json")
    if not p.exists():
        raise ScenarioError("%s: no such scenario file (the library: %s)" % (path, ", ".join(sorted(q.stem for q in SCENARIOS.glob("*.json")))))
    return p


def load(path) -> dict:
    """Read and validate a scenario; ScenarioError (one line) on anything wrong."""
    p = find(path)
    try:
        sc = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ScenarioError("%s: not valid JSON: %s" % (p, e)) from None
    validate(sc, str(p))
    sc["_dir"] = str(p.parent)
    return sc


def validate(sc: dict, where: str = "scenario") -> None:
    _check_keys(where, sc, TOP_KEYS)
    for key in ("name", "cell", "profile", "criteria"):
        if key not in sc:
            raise ScenarioError("%s: scenario lacks %r" % (where, key))
    _check_keys(where + ": cell", sc["cell"], _params(Pack.__init__))
    _check_keys(where + ": sensors", sc.get("sensors", {}), _params(SensorModel.__init__))
    _check_keys(where + ": firmware", sc.get("firmware", {}), FIRMWARE_KEYS)
    n = sc["cell"].get("n_cells", 1)
    for j, f in enumerate(sc.get("sensors", {}).get("faults", ())):
        _check_keys("%s: sensors.faults[%d]" % (where, j), f, SENSOR_FAULT_KEYS)
    try:  # the simulator's and the firmware's own checks (cell, fault specs, sensor faults, preset), as one line
        from bms.config import cell as cell_config

        Pack(**sc["cell"])
        SensorModel(**sc.get("sensors", {}))._setup(n)
        preset = sc.get("firmware", {}).get("preset")
        if preset is not None and preset not in cell_config.PRESETS:
            raise ValueError("firmware preset %r unknown (known: %s)" % (preset, ", ".join(cell_config.PRESETS)))
    except (ValueError, TypeError, KeyError) as e:
        raise ScenarioError("%s: %s" % (where, str(e).strip("'\""))) from None
    if not isinstance(sc["profile"], list) or not sc["profile"]:
        raise ScenarioError("%s: profile must be a non-empty list of steps" % where)
    build_profile(sc["profile"], float(sc["cell"].get("q_ah", 2.0)), where=where, base_dir=Path(where).parent)
    _validate_criteria(where + ": criteria", sc["criteria"], n)


def _validate_criteria(where, cr, n_cells):
    _check_keys(where, cr, CRITERIA_KEYS)
    kinds, sevs = _kinds(), _severities()

    def kind_ok(w, k):
        if k not in kinds:
            raise ScenarioError("%s: unknown event kind %r (known: %s)" % (w, k, ", ".join(sorted(kinds))))

    def cell_ok(w, c):
        if c is not None and c != "string" and not (isinstance(c, int) and 0 <= c < n_cells):
            raise ScenarioError("%s: cell %r is not a cell of this string (0..%d or \"string\")" % (w, c, n_cells - 1))

    def sev_ok(w, s):
        if s is not None and s not in sevs:
            raise ScenarioError("%s: unknown severity %r (known: %s)" % (w, s, ", ".join(sevs)))

    for key in ("forbidden_events", "required_events", "no_events_on_healthy"):
        for k in cr.get(key, []):
            kind_ok("%s.%s" % (where, key), k)
    for j, e in enumerate(cr.get("events", [])):
        w = "%s.events[%d]" % (where, j)
        _check_keys(w, e, EVENT_CRIT_KEYS)
        kind_ok(w, e.get("kind"))
        cell_ok(w, e.get("cell"))
        sev_ok(w, e.get("severity"))
    for j, c in enumerate(cr.get("charge_limit", [])):
        w = "%s.charge_limit[%d]" % (where, j)
        _check_keys(w, c, LIMIT_CRIT_KEYS)
        for key in ("max_a", "within_s", "for_s"):
            if key == "for_s" and key not in c:
                continue
            if not isinstance(c.get(key), (int, float)):
                raise ScenarioError("%s: %s must be a number" % (w, key))
        _check_keys(w + ".after", c.get("after"), AFTER_KEYS)
        kind_ok(w + ".after", c["after"].get("kind"))
        cell_ok(w + ".after", c["after"].get("cell"))
        sev_ok(w + ".after", c["after"].get("severity"))
    if "balancing" in cr:
        w = "%s.balancing" % where
        b = cr["balancing"]
        _check_keys(w, b, BALANCE_CRIT_KEYS)
        for key in ("windows_min", "cells_min"):
            if key in b and not (isinstance(b[key], int) and b[key] >= 0):
                raise ScenarioError("%s: %s must be a whole number >= 0" % (w, key))
        if "after" in b:
            _check_keys(w + ".after", b["after"], AFTER_KEYS)
            kind_ok(w + ".after", b["after"].get("kind"))
            cell_ok(w + ".after", b["after"].get("cell"))
            sev_ok(w + ".after", b["after"].get("severity"))


# ---------------------------------------------------------------------------------------------- profiles
_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
_RATE = r"(?:C/%s|%s\s*C|%s\s*(A|mA))" % (_NUM, _NUM, _NUM)
_DUR = r"%s\s*(seconds?|secs?|s|minutes?|mins?|hours?|h)" % _NUM
_STEP_CD = re.compile(r"^(charge|discharge) at %s(?: for %s)?(?: (?:or )?until %s\s*V)?$" % (_RATE, _DUR, _NUM), re.I)
_STEP_REST = re.compile(r"^rest for %s$" % _DUR, re.I)
_STEP_HOLD = re.compile(r"^hold at %s\s*V until %s$" % (_NUM, _RATE), re.I)


def _rate_a(groups, q_ah):
    c_div, c_mul, i_val, i_unit = groups
    if c_div is not None:
        return q_ah / float(c_div)
    if c_mul is not None:
        return q_ah * float(c_mul)
    return float(i_val) / (1000.0 if i_unit.lower() == "ma" else 1.0)


def _dur_s(val, unit):
    u = unit.lower()
    return float(val) * (3600.0 if u.startswith("h") else 60.0 if u.startswith("m") else 1.0)


def parse_step(text: str, q_ah: float, i_chg_a: float | None = None):
    """One experiment step in PyBaMM's words to a profile segment:
    "Charge at C/2 until 3.7 V", "Discharge at 1 A for 10 minutes", "Discharge at 2C for 5 min or until 2.5 V",
    "Rest for 30 minutes", "Hold at 3.7 V until C/20" (CV at the previous charge's current, else 1C)."""
    s = " ".join(str(text).split())
    m = _STEP_REST.match(s)
    if m:
        return profiles.rest(_dur_s(*m.groups())), None
    m = _STEP_CD.match(s)
    if m:
        g = m.groups()
        i_a = _rate_a(g[1:5], q_ah)
        dur = _dur_s(g[5], g[6]) if g[5] is not None else None
        v = float(g[7]) if g[7] is not None else None
        if dur is None and v is None:
            raise ScenarioError("experiment step %r: says neither how long nor until which voltage" % text)
        if g[0].lower() == "charge":
            return profiles.cc(i_a, dur, v_max=v), i_a
        return profiles.cc(-i_a, dur, v_min=v), None
    m = _STEP_HOLD.match(s)
    if m:
        v, g = float(m.group(1)), m.groups()[1:5]
        return profiles.cccv(i_chg_a or q_ah, v_max=v, i_cut_a=_rate_a(g, q_ah)), None
    raise ScenarioError("experiment step %r not understood (examples: \"Charge at C/2 until 3.7 V\", \"Discharge at 1 A "
                        "for 10 minutes\", \"Rest for 30 minutes\", \"Hold at 3.7 V until C/20\")" % text)


_CSV_TIME = ("time_s", "t_s", "time [s]", "time")
_CSV_CURRENT = ("current_a", "i_a", "current [a]", "current")


def csv_profile(path, sign="charge-positive", repeat=False):
    """A user's current against time (zero-order hold) as a profile. One line on a bad file: the row and why."""
    if sign not in ("charge-positive", "discharge-positive"):
        raise ScenarioError("csv profile %s: sign must be charge-positive or discharge-positive, got %r" % (path, sign))
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise ScenarioError("csv profile %s: %s" % (path, e.strerror)) from None
    if len(rows) < 3:
        raise ScenarioError("csv profile %s: needs a header and at least two rows" % path)
    head = [h.strip().lower() for h in rows[0]]
    cols = []
    for names, what in ((_CSV_TIME, "time"), (_CSV_CURRENT, "current")):
        hit = [j for j, h in enumerate(head) if h in names]
        if not hit:
            raise ScenarioError("csv profile %s: no %s column (one of %s)" % (path, what, ", ".join(names)))
        cols.append(hit[0])
    t, i = [], []
    for r, row in enumerate(rows[1:], start=2):
        try:
            tv, iv = float(row[cols[0]]), float(row[cols[1]])
        except (ValueError, IndexError):
            raise ScenarioError("csv profile %s: row %d is not two numbers: %r" % (path, r, row)) from None
        if not (math.isfinite(tv) and math.isfinite(iv)):
            raise ScenarioError("csv profile %s: row %d has a non-finite value" % (path, r))
        if t and tv <= t[-1]:
            raise ScenarioError("csv profile %s: row %d: time does not advance (%g after %g)" % (path, r, tv, t[-1]))
        t.append(tv)
        i.append(iv if sign == "charge-positive" else -iv)
    t_arr, i_arr = np.asarray(t) - t[0], np.asarray(i)
    period = float(t_arr[-1] + (t_arr[-1] - t_arr[-2]))

    t_first = []  # the segment's own clock starts at its first call

    def current(t_s, st, i_chg_max_a, i_dis_max_a):
        if not t_first:
            t_first.append(t_s)
        tau = t_s - t_first[0]
        if repeat:
            tau %= period
        return float(i_arr[max(int(np.searchsorted(t_arr, tau, side="right")) - 1, 0)])

    return profiles.from_function(current, duration_s=None if repeat else period)


class _Disobedient(profiles.Profile):
    """A segment that ignores the BMS's current limits."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def __call__(self, t_s, st, i_chg_max_a=None, i_dis_max_a=None):
        return self.inner(t_s, st, None, None)

    def done(self, t_s, st):
        return self.inner.done(t_s, st)


def build_profile(steps, q_ah: float, where: str = "profile", base_dir=None):
    segs = []
    for k, step in enumerate(steps):
        w = "%s: profile step %d" % (where, k)
        if not isinstance(step, dict) or not step:
            raise ScenarioError("%s must be an object such as {\"rest\": {\"duration_s\": 600}}, got %r" % (w, step))
        if "experiment" in step:
            _check_keys(w, step, {"experiment", "repeat"})
            texts = step["experiment"]
            if isinstance(texts, str):
                texts = [texts]
            reps = step.get("repeat", 1)
            if not (isinstance(reps, int) and reps >= 1):
                raise ScenarioError("%s: repeat must be an int >= 1" % w)
            for _ in range(reps):
                i_chg = None
                for text in texts:
                    try:
                        seg, i_new = parse_step(text, q_ah, i_chg)
                    except ScenarioError as e:
                        raise ScenarioError("%s: %s" % (w, e)) from None
                    i_chg = i_new or i_chg
                    segs.append(seg)
            continue
        if len(step) != 1:
            raise ScenarioError("%s must be one {builder: {kwargs}} pair, got keys %s" % (w, sorted(step)))
        (name, kwargs), = step.items()
        if name == "ignore_limits":
            inner = build_profile([kwargs], q_ah, where, base_dir).segments[0]
            segs.append(_Disobedient(inner))
            continue
        if name == "csv":
            _check_keys(w + ": csv", kwargs, {"path", "sign", "repeat"})
            path = Path(kwargs.get("path", ""))
            if not path.is_absolute() and base_dir is not None:
                path = Path(base_dir) / path
            segs.append(csv_profile(path, kwargs.get("sign", "charge-positive"), kwargs.get("repeat", False)))
            continue
        if name not in _BUILDERS:
            raise ScenarioError("%s: unknown builder %r (known: %s, experiment, csv)" % (w, name, ", ".join(sorted(_BUILDERS))))
        fn = _BUILDERS[name]
        params = _params(fn)
        _check_keys("%s: %s" % (w, name), kwargs, params | ({"c_rate"} if "i_a" in params else set()))
        kwargs = dict(kwargs)
        if "c_rate" in kwargs:
            kwargs["i_a"] = kwargs.pop("c_rate") * q_ah
        if "q_ah" in params:
            kwargs.setdefault("q_ah", q_ah)
        try:
            segs.append(fn(**kwargs))
        except (TypeError, ValueError) as e:
            raise ScenarioError("%s: %s: %s" % (w, name, e)) from None
    return profiles.sequence(segs)


# ---------------------------------------------------------------------------------------------- verdicts
def _sev_at_least(e, severity):
    return severity is None or _severities().index(e.severity_name) >= _severities().index(severity)


def _matches(e, kind, cell=None, severity=None):
    ecell = "string" if e.cell == 0xFF else e.cell
    return e.kind_name == kind and (cell is None or ecell == cell) and _sev_at_least(e, severity)


def event_text(e):
    return "%s %s on %s at t = %.0f s" % (e.kind_name, e.severity_name, "the string" if e.cell == 0xFF else "cell %d" % e.cell, e.t_ms / 1000.0)


def faulty_cells(labels, sensor_faults=()):
    """Cells with a fault of their own: injected or grown by the physics, or a sensor fault on the cell."""
    cells = {lab["cell"] for lab in labels or ()}
    cells |= {f["cell"] for f in sensor_faults or () if isinstance(f.get("cell"), int)}
    return cells


def judge(summary: dict, events, criteria: dict, rec=None, labels=(), sensor_faults=()):
    """Every criterion with its verdict: [{"name", "passed", "reason"}] (reason says what was measured)."""
    out = []

    def add(name, passed, reason):
        out.append({"name": name, "passed": bool(passed), "reason": reason})

    if "min_samples" in criteria:
        m = criteria["min_samples"]
        add("at least %d samples" % m, summary["samples"] >= m, "%d samples" % summary["samples"])
    for key, metric, sense in (("soc_rmse_max", "soc_rmse", "<="), ("soc_max_err_max", "soc_max_err", "<="),
                               ("soc_rmse_converged_max", "soc_rmse_converged", "<="),
                               ("coverage_2sigma_min", "coverage_2sigma", ">=")):
        if key in criteria:
            x, lim = summary.get(metric), criteria[key]
            ok = x is not None and (x <= lim if sense == "<=" else x >= lim)
            add("%s %s %.2f %%" % (metric, sense, 100 * lim), ok,
                "never converged" if x is None else "%s = %.2f %%" % (metric, 100 * x))
    for kind in criteria.get("forbidden_events", []):
        hits = [e for e in events if e.kind_name == kind]
        add("no %s event" % kind, not hits, "none" if not hits else "%d raised, first %s" % (len(hits), event_text(hits[0])))
    for kind in criteria.get("required_events", []):
        hits = [e for e in events if e.kind_name == kind]
        add("%s event raised" % kind, hits, "first %s" % event_text(hits[0]) if hits else "never raised")
    for c in criteria.get("events", []):
        kind, cell, sev = c["kind"], c.get("cell"), c.get("severity")
        hits = [e for e in events if _matches(e, kind, cell, sev)]
        name = "%s%s%s" % (kind, " %s+" % sev if sev else "", " on cell %s" % cell if cell is not None else "")
        deadline, what = None, ""
        if "by_s" in c:
            deadline, what = float(c["by_s"]), " by t = %.0f s" % c["by_s"]
        if "within_s_of_onset" in c:
            onsets = [lab["t_start_s"] for lab in labels or () if cell is None or lab["cell"] == cell]
            t0 = min(onsets) if onsets else 0.0
            d = t0 + float(c["within_s_of_onset"])
            deadline = d if deadline is None else min(deadline, d)
            what += " within %.0f s of the fault's onset (t = %.0f s)" % (c["within_s_of_onset"], t0)
        if not hits:
            add(name + what, False, "never raised")
        else:
            t = hits[0].t_ms / 1000.0
            ok = deadline is None or t <= deadline
            add(name + what, ok, "first at t = %.0f s%s" % (t, "" if ok else ", %.0f s late" % (t - deadline)))
    kinds = criteria.get("no_events_on_healthy", [])
    if kinds:
        bad_cells = faulty_cells(labels, sensor_faults)
        hits = [e for e in events if e.kind_name in kinds and e.cell != 0xFF and e.cell not in bad_cells]
        add("no %s on healthy cells" % "/".join(kinds), not hits,
            "healthy cells: all but %s; %s" % (sorted(bad_cells) or "none",
                                              "quiet" if not hits else "%d raised, first %s" % (len(hits), event_text(hits[0]))))
    for c in criteria.get("charge_limit", []):
        a = c["after"]
        name = "charge limit <= %.3g A within %.0f s of %s%s%s" % (
            c["max_a"], c["within_s"], a["kind"], " on cell %s" % a["cell"] if "cell" in a else "",
            ", for %.0f s" % c["for_s"] if "for_s" in c else "")
        hits = [e for e in events if _matches(e, a["kind"], a.get("cell"), a.get("severity"))]
        if not hits or rec is None or not len(rec.t_s):
            add(name, False, "%s never raised" % a["kind"] if not hits else "no recording")
            continue
        t0 = hits[0].t_ms / 1000.0
        after = (rec.t_s >= t0 + c["within_s"]) & (rec.t_s <= t0 + c["within_s"] + c.get("for_s", math.inf))
        if not np.any(after):
            add(name, False, "the run ended before t = %.0f s" % (t0 + c["within_s"]))
            continue
        worst = float(np.max(rec.i_chg_max_a[after]))
        add(name, worst <= c["max_a"] + 1e-9, "event at t = %.0f s; afterwards the limit was at most %.3g A" % (t0, worst))
    if "balancing" in criteria:
        _judge_balancing(criteria["balancing"], summary, events, add)
    return out


def _judge_balancing(c, summary, events, add):
    wins = summary.get("bleed_windows") or []
    cells = sorted(set().union(*[set(w["cells"]) for w in wins])) if wins else []
    if "windows_min" in c:
        add("at least %d balancing windows" % c["windows_min"], len(wins) >= c["windows_min"],
            "%d windows%s" % (len(wins), "" if not wins else ", opening at t = " + ", ".join("%.0f s" % w["t0_s"] for w in wins)))
    if "cells_min" in c:
        add("at least %d cells bled" % c["cells_min"], len(cells) >= c["cells_min"],
            "cells bled: %s" % (", ".join(str(k) for k in cells) or "none"))
    if "after" in c:
        a = c["after"]
        name = "a balancing window after %s%s" % (a["kind"], " on cell %s" % a["cell"] if "cell" in a else "")
        hits = [e for e in events if _matches(e, a["kind"], a.get("cell"), a.get("severity"))]
        if not hits:
            add(name, False, "%s never raised" % a["kind"])
        else:
            t0 = hits[0].t_ms / 1000.0
            later = [w for w in wins if w["t0_s"] >= t0]
            add(name, later, "event at t = %.0f s; %s" % (t0, "window at t = %.0f s" % later[0]["t0_s"] if later else "no window after it"))


def run_scenario(path, **kwargs):
    """hil.runner.run_scenario (kept here: scenarios are run from here by tests and tools)."""
    from hil.runner import run_scenario as run

    return run(path, **kwargs)


def failed_reasons(verdicts):
    return ["%s: %s" % (v["name"], v["reason"]) for v in verdicts if not v["passed"]]
