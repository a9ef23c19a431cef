"""Campaigns: a matrix of closed-loop runs (cell presets x temperatures x faults x magnitudes x seeds) on Dask.

A matrix is JSON (hil/campaigns/*.json):

  name, description
  base      a scenario (file name in hil/scenarios or an inline object) whose cell/sensors/firmware/profile are used
  presets   firmware presets "<cathode>-<interphase>" (the simulated cell is built with the same chemistry)
  t_amb_c   ambient temperatures [degC]
  faults    [{"kind": "soft_short", "cell": 1, "t_start_s": 1800, "magnitudes": [10, 100, 1000], ...other fault keys}]
            a magnitude is r_ohm for shorts and factor (ccd_factor for dendrite) otherwise
  healthy   true: also one run without any fault per preset x temperature x seed (false alarms)
  seeds     simulator seeds (the sensors' seed is seed + 1000)
  max_t_s, profile   replace the base scenario's

Every run drives the firmware in process (its own modules on CPython, through the protocol's frames), on a
dask.distributed cluster: a LocalCluster with every core by default, or a scheduler's address for a real cluster
(the same code path). Results: one row per run (campaign.csv, campaign.json), the tables grouped by fault and
magnitude, time to detect against the magnitude, false alarms per 1,000 healthy cell-hours, and report.html.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import time
from pathlib import Path

CAMPAIGNS = Path(__file__).resolve().parent / "campaigns"
MATRIX_KEYS = {"name", "description", "base", "presets", "t_amb_c", "faults", "healthy", "seeds", "max_t_s", "profile"}
PLATING_KINDS = ("soft_short", "dendrite", "dead_sodium", "nucleation", "stripping_void", "model_mismatch")
_MAGNITUDE_KEY = {"soft_short": "r_ohm", "hard_short": "r_ohm", "dendrite": "ccd_factor"}


def load_matrix(path) -> dict:
    from hil.scenario import ScenarioError, _check_keys, load

    p = Path(path)
    for cand in (CAMPAIGNS / p, CAMPAIGNS / (str(path) + ".json")):
        if not p.exists() and cand.exists():
            p = cand
    if not p.exists():
        raise ScenarioError("%s: no such campaign matrix (shipped: %s)" % (path, ", ".join(sorted(q.name for q in CAMPAIGNS.glob("*.json")))))
    try:
        m = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ScenarioError("%s: not valid JSON: %s" % (p, e)) from None
    _check_keys(str(p), m, MATRIX_KEYS)
    for key in ("name", "base", "presets", "seeds"):
        if key not in m:
            raise ScenarioError("%s: matrix lacks %r" % (p, key))
    m["base"] = load(m["base"]) if isinstance(m["base"], str) else m["base"]
    for j, f in enumerate(m.get("faults", [])):
        if "magnitudes" not in f or "kind" not in f:
            raise ScenarioError("%s: faults[%d] needs kind and magnitudes" % (p, j))
    return m


def split_preset(preset: str):
    """"layered-oxide-mg-naf" -> ("layered-oxide", "mg-naf")."""
    from hil.scenario import ScenarioError

    for interphase in ("mg-naf", "bare-cu"):
        if preset.endswith("-" + interphase):
            return preset[: -len(interphase) - 1], interphase
    raise ScenarioError("preset %r is not <cathode>-mg-naf or <cathode>-bare-cu" % preset)


def expand(m: dict):
    """The runs of a matrix: [(job name, scenario dict, facts)], each validated as a scenario."""
    from hil.scenario import validate

    jobs = []
    faults = [(f, mag) for f in m.get("faults", []) for mag in f["magnitudes"]]
    if m.get("healthy", True):
        faults = [(None, None)] + faults
    for preset, t_c, (fault, mag), seed in itertools.product(m["presets"], m.get("t_amb_c", [25.0]), faults, m["seeds"]):
        sc = copy.deepcopy({k: v for k, v in m["base"].items() if not k.startswith("_")})
        cathode, interphase = split_preset(preset)
        sc["cell"].update({"cathode": cathode, "interphase": interphase, "t_amb_c": float(t_c), "seed": int(seed), "faults": []})
        sc.setdefault("sensors", {})["seed"] = int(seed) + 1000
        sc.setdefault("firmware", {})["preset"] = preset
        for key in ("max_t_s", "profile"):
            if key in m:
                sc[key] = copy.deepcopy(m[key])
        facts = {"preset": preset, "t_amb_c": float(t_c), "seed": int(seed), "fault": "none", "magnitude": None,
                 "fault_cell": None, "onset_s": None}
        if fault is not None:
            spec = {k: v for k, v in fault.items() if k != "magnitudes"}
            key = _MAGNITUDE_KEY.get(fault["kind"], "factor")
            spec[key] = mag
            sc["cell"]["faults"] = [spec]
            facts.update(fault=fault["kind"], magnitude=mag, fault_cell=spec.get("cell"), onset_s=float(spec.get("t_start_s", 0.0)))
        name = "%s-%gC-%s%s-s%d" % (preset, t_c, facts["fault"], "" if mag is None else "-%g" % mag, seed)
        sc["name"] = name
        validate(sc, "%s: run %s" % (m["name"], name))  # a typo fails here, in one line, not in a worker
        jobs.append((name, sc, facts))
    return jobs


def run_job(name: str, sc: dict, facts: dict) -> dict:
    """One run, in process; a dict of figures (what a worker sends back: small)."""
    from hil.loop import run_closed_loop
    from hil.runner import InProcessLink, build

    t0 = time.perf_counter()
    pack, sensors, profile = build(sc)
    link = InProcessLink()
    link.configure(pack.n_cells, sc["firmware"]["preset"], sc["firmware"].get("soc0"))
    dt_s = sc.get("dt_s", 1.0)
    rec = run_closed_loop(link, pack, sensors, profile, dt_s=dt_s, max_steps=int(sc.get("max_t_s", 2 * 86400) / dt_s))
    s = rec.summary()
    faulty = {lab["cell"] for lab in pack.labels}
    row = dict(facts, name=name, samples=s["samples"], simulated_h=s["simulated_h"], status=rec.status,
               soc_rmse_converged=s["soc_rmse_converged"], coverage_2sigma=s["coverage_2sigma"])
    healthy = [k for k in range(pack.n_cells) if k not in faulty]
    row["healthy_cell_h"] = len(healthy) * s["simulated_h"]
    row["false_alarms"] = sum(1 for e in rec.events if e.kind_name in PLATING_KINDS and e.severity >= 2 and e.cell in healthy)
    row["false_warnings"] = sum(1 for e in rec.events if e.kind_name in PLATING_KINDS and e.severity == 1 and e.cell in healthy)
    cell = facts["fault_cell"]
    for tag, kinds in (("", None), ("_detector", PLATING_KINDS)):
        hits = [e for e in rec.events if cell is not None and e.cell == cell and e.severity >= 2
                and e.t_ms / 1000.0 >= facts["onset_s"] and (kinds is None or e.kind_name in kinds)]
        row["detect_delay_s" + tag] = hits[0].t_ms / 1000.0 - facts["onset_s"] if hits else None
        row["detect_kind" + tag] = hits[0].kind_name if hits else None
    row["wall_s"] = time.perf_counter() - t0
    return row


def dask_map(fn, items, scheduler: str | None = None, workers: int | None = None, on_result=None, key="job"):
    """[fn(*item) for item in items] on Dask, in the items' order, and the wall time [s]. scheduler: an address
    (tcp://host:8786) or None for a LocalCluster of `workers` processes (default: every core). on_result(k, n,
    result) as each one ends. Campaigns and the detection and estimator benches (--dask) run through this."""
    from dask.distributed import Client, LocalCluster, as_completed

    t0 = time.perf_counter()
    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(fn, *item, key="%s-%d" % (key, j), pure=False) for j, item in enumerate(items)]
        index = {f.key: j for j, f in enumerate(futures)}
        out = [None] * len(futures)
        for k, fut in enumerate(as_completed(futures), 1):
            out[index[fut.key]] = res = fut.result()
            if on_result:
                on_result(k, len(futures), res)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return out, time.perf_counter() - t0


def run_jobs(jobs, scheduler: str | None = None, workers: int | None = None, progress=print):
    """Rows of every job on Dask (dask_map), and the wall time [s]."""
    def shown(k, n, row):
        if progress:
            progress("  [%d/%d] %s: %s in %.1f s" % (k, n, row["name"], _outcome(row), row["wall_s"]))

    return dask_map(run_job, list(jobs), scheduler, workers, on_result=shown, key="run")


def _outcome(row):
    if row["fault"] == "none":
        return "%d false alarm(s) in %.0f healthy cell-h" % (row["false_alarms"], row["healthy_cell_h"])
    if row["detect_delay_s"] is None:
        return "not detected"
    return "%s after %.0f s" % (row["detect_kind"], row["detect_delay_s"])


def aggregate(rows):
    """Grouped by fault and magnitude: runs, detected, median delay (any alarm, and the plating detectors' alone);
    and the false-alarm rate over every healthy cell-hour of the campaign."""
    groups = {}
    for r in rows:
        groups.setdefault((r["preset"], r["t_amb_c"], r["fault"], r["magnitude"]), []).append(r)
    table = []
    for (preset, t_c, fault, mag), rs in groups.items():
        if fault == "none":
            continue
        d = sorted(r["detect_delay_s"] for r in rs if r["detect_delay_s"] is not None)
        dd = sorted(r["detect_delay_s_detector"] for r in rs if r["detect_delay_s_detector"] is not None)
        kinds = sorted({r["detect_kind"] for r in rs if r["detect_kind"]})
        table.append({"preset": preset, "t_amb_c": t_c, "fault": fault, "magnitude": mag, "runs": len(rs),
                      "detected": len(d), "median_delay_s": d[len(d) // 2] if d else None,
                      "detector_detected": len(dd), "median_detector_delay_s": dd[len(dd) // 2] if dd else None,
                      "first_alarm_kinds": kinds})
    cell_h = sum(r["healthy_cell_h"] for r in rows)
    fa = sum(r["false_alarms"] for r in rows)
    fw = sum(r["false_warnings"] for r in rows)
    rate = {"healthy_cell_h": cell_h, "false_alarms": fa, "false_warnings": fw,
            "false_alarms_per_1000_cell_h": 1000.0 * fa / cell_h if cell_h else None,
            "false_warnings_per_1000_cell_h": 1000.0 * fw / cell_h if cell_h else None}
    return table, rate


def _fmt_s(x):
    return "—" if x is None else ("%.0f s" % x if x < 7200 else "%.1f h" % (x / 3600))


def table_lines(table, rate):
    lines = ["%-24s %6s %-12s %10s %6s  %-18s %-18s %s" % ("preset", "T [C]", "fault", "magnitude", "runs",
                                                              "detected (delay)", "by a detector", "first alarm")]
    for t in table:
        unit = " ohm" if t["fault"] in _MAGNITUDE_KEY and _MAGNITUDE_KEY[t["fault"]] == "r_ohm" else "x"
        lines.append("%-24s %6.0f %-12s %10s %6d  %-18s %-18s %s" % (
            t["preset"], t["t_amb_c"], t["fault"], "%g%s" % (t["magnitude"], unit), t["runs"],
            "%d (%s)" % (t["detected"], _fmt_s(t["median_delay_s"])),
            "%d (%s)" % (t["detector_detected"], _fmt_s(t["median_detector_delay_s"])), ", ".join(t["first_alarm_kinds"]) or "—"))
    if rate["healthy_cell_h"]:
        lines.append("false alarms: %d in %.0f healthy cell-hours = %.2f per 1,000 cell-h (warnings: %.2f per 1,000 cell-h)" % (
            rate["false_alarms"], rate["healthy_cell_h"], rate["false_alarms_per_1000_cell_h"], rate["false_warnings_per_1000_cell_h"]))
    return lines


def delay_figure(table):
    """Time to detect against the fault's magnitude (log-log), one line per preset/temperature/fault."""
    from hil.plots import plt

    series = {}
    for t in table:
        series.setdefault((t["preset"], t["t_amb_c"], t["fault"]), []).append(t)
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(9, 5))
    for (preset, t_c, fault), ts in sorted(series.items()):
        ts = sorted(ts, key=lambda t: t["magnitude"])
        x = [t["magnitude"] for t in ts]
        y = [t["median_delay_s"] / 3600 if t["median_delay_s"] is not None else math.nan for t in ts]
        line, = ax.plot(x, y, "o-", label="%s %g °C %s (any alarm)" % (preset, t_c, fault))
        y2 = [t["median_detector_delay_s"] / 3600 if t["median_detector_delay_s"] is not None else math.nan for t in ts]
        ax.plot(x, y2, "s--", color=line.get_color(), alpha=0.7, label="… plating detectors only")
        for t in ts:
            if t["median_delay_s"] is None:  # at the top edge, whatever the data's range
                ax.plot([t["magnitude"]], [0.97], marker="v", color=line.get_color(), transform=ax.get_xaxis_transform())
                ax.annotate("not detected", (t["magnitude"], 0.93), xycoords=("data", "axes fraction"), fontsize=7,
                            rotation=90, va="top", ha="center", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    mags = [t["magnitude"] for t in table]
    ax.set_xlim(min(mags) / 2, max(mags) * 2)  # every magnitude run, detected or not
    ax.set_xlabel("fault magnitude (short resistance [Ω] for shorts)")
    ax.set_ylabel("time to first alarm after onset [h]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def write_campaign(out_dir, m, rows, table, rate, timings):
    from hil.report import html_figure, html_page, html_table

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "campaign.json").write_text(json.dumps({"name": m["name"], "runs": rows, "table": table, "false_alarm_rate": rate,
                                                   "wall_s": timings}, indent=2, default=float) + "\n")
    keys = list(rows[0]) if rows else []
    with open(out / "campaign.csv", "w") as f:
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join("" if r[k] is None else str(r[k]) for k in keys) + "\n")
    sections = [("Summary", html_table(["", "value"], [["matrix", m["name"]], ["runs", len(rows)]] +
                                       [["wall time on %s worker(s)" % k, "%.1f s" % v] for k, v in timings.items()] +
                                       [["false alarms", table_lines([], rate)[-1] if rate["healthy_cell_h"] else "no healthy cells"]])),
                ("Detection by fault and magnitude", html_table(
                    ["preset", "T [°C]", "fault", "magnitude", "runs", "detected", "median delay", "by a detector", "median delay (detector)", "first alarm"],
                    [[t["preset"], t["t_amb_c"], t["fault"], t["magnitude"], t["runs"], t["detected"], _fmt_s(t["median_delay_s"]),
                      t["detector_detected"], _fmt_s(t["median_detector_delay_s"]), ", ".join(t["first_alarm_kinds"])] for t in table],
                    table_id="verdicts"))]
    fig = delay_figure(table)
    if fig is not None:
        sections.append(("Time to detect against magnitude", html_figure(fig)))
    sections.append(("Runs", html_table(["run", "status", "samples", "outcome", "SoC RMSE conv.", "±2σ coverage"],
                                        [[r["name"], r["status"], r["samples"], _outcome(r),
                                          "—" if r["soc_rmse_converged"] is None else "%.2f %%" % (100 * r["soc_rmse_converged"]),
                                          "—" if r["coverage_2sigma"] is None else "%.1f %%" % (100 * r["coverage_2sigma"])] for r in rows])))
    (out / "report.html").write_text(html_page("nabms campaign: %s" % m["name"], sections))
    return out
