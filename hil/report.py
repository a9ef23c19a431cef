"""A run folder: runs/<timestamp>-<name>/ with log.csv and events.csv (streamed as the run goes), summary.json,
plot.png and report.html (one self-contained page: timelines, evidence, events, verdicts)."""

from __future__ import annotations

import base64
import csv
import html
import json
import time
from pathlib import Path

from hil.loop import flags_text

# what an event's value is, by kind: (unit, what it measures)
EVENT_UNITS = {
    "soft_short": ("C", "leak current as a C-rate"),
    "dendrite": ("V", "voltage drop during charge"),
    "dead_sodium": ("of Q", "sodium lost, fraction of capacity"),
    "nucleation": ("V", "nucleation overpotential growth"),
    "stripping_void": ("", "growth of R_end/R_mid"),
    "model_mismatch": ("", "innovation ratio"),
    "over_voltage": ("V", "cell voltage"),
    "under_voltage": ("V", "cell voltage"),
    "over_current_charge": ("A", "current"),
    "over_current_discharge": ("A", "current"),
    "over_temperature": ("°C", "temperature"),
    "under_temperature_charge": ("°C", "temperature"),
    "sensor_invalid": ("", "implausible reading"),
    "open_wire": ("V", "cell voltage read"),
}
# plating detectors' levels in bms.config.detect: kind -> (warning key, alarm key)
DETECTOR_LEVELS = {
    "soft_short": ("ss_warn_c", "ss_alarm_c"),
    "dendrite": ("dd_warn_v", "dd_alarm_v"),
    "dead_sodium": ("dn_warn", "dn_alarm"),
    "nucleation": ("nu_warn_v", "nu_alarm_v"),
    "stripping_void": ("sv_warn", "sv_alarm"),
    "model_mismatch": ("mm_warn", "mm_alarm"),
}


def event_value_text(kind: str, value: float) -> str:
    unit = EVENT_UNITS.get(kind, ("", ""))[0]
    if kind == "soft_short" and value > 0:
        return "%.3g C (C/%.0f)" % (value, 1.0 / value)
    if unit == "of Q":
        return "%.3g %% of Q" % (100 * value)
    return ("%.4g %s" % (value, unit)).strip()


def new_run_dir(root="runs", tag=""):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / (stamp + ("-" + tag if tag else ""))
    k = 1
    while path.exists():
        k += 1
        path = Path(root) / ("%s-%s%d" % (stamp, tag + "-" if tag else "", k))
    path.mkdir(parents=True)
    return path


PER_CELL = ("v_cell", "v_meas", "t_c", "soc_true", "q_true_ah", "soc_est", "soc_sigma", "q_est_ah", "bleed")


class RunWriter:
    """Streams log.csv and events.csv as the run goes (an interrupted run keeps what it recorded). Use as the
    loop's on_tick; close() flushes."""

    FLUSH_ROWS = 500

    def __init__(self, run_dir, n_cells: int):
        self.run_dir = Path(run_dir)
        header = ["t_s", "i_a", "i_meas_a"]
        for c in PER_CELL:
            header += ["%s_%d" % (c, k) for k in range(n_cells)]
        header += ["flags", "i_chg_max_a", "i_dis_max_a"]
        self._log_f = open(self.run_dir / "log.csv", "w", newline="")
        self._ev_f = open(self.run_dir / "events.csv", "w", newline="")
        self._log = csv.writer(self._log_f)
        self._ev = csv.writer(self._ev_f)
        self._log.writerow(header)
        self._ev.writerow(["t_s", "cell", "kind", "severity", "value", "unit"])
        self._rows = 0

    def __call__(self, rec, events):
        r = rec.last
        row = ["%.3f" % r["t_s"], "%.6g" % r["i_a"], "%.6g" % r["i_meas_a"]]
        for c in PER_CELL:
            row += ["%.6g" % x for x in r[c]]
        row += [flags_text(r["flags"]), "%.6g" % r["i_chg_max_a"], "%.6g" % r["i_dis_max_a"]]
        self._log.writerow(row)
        for e in events:
            self._ev.writerow(["%.3f" % (e.t_ms / 1000), "string" if e.cell == 0xFF else e.cell, e.kind_name,
                               e.severity_name, "%.6g" % e.value, EVENT_UNITS.get(e.kind_name, ("",))[0]])
        if events:
            self._ev_f.flush()
        self._rows += 1
        if self._rows % self.FLUSH_ROWS == 0:
            self._log_f.flush()

    def close(self):
        for f in (self._log_f, self._ev_f):
            if not f.closed:
                f.close()


def detector_thresholds(preset: str):
    """kind -> (unit, warning level, alarm level) for the firmware's preset (bms.config.detect)."""
    from bms.config import detect as detectparams

    try:
        cfg = detectparams.preset(preset)
    except (KeyError, ValueError):
        return {}
    return {kind: (EVENT_UNITS[kind][0] or "ratio", cfg[w], cfg[a]) for kind, (w, a) in DETECTOR_LEVELS.items()
            if w in cfg and a in cfg}


# ---------------------------------------------------------------------------------------------------- HTML
_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1250px;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f2f2f2}.pass{background:#dff0d8}.fail{background:#f2dede}.aborted{background:#fcf8e3}
.figs svg,.figs img{max-width:100%;height:auto}.muted{color:#777;font-size:.85em}"""


def html_table(headers, rows, row_classes=None, table_id=None):
    out = ['<table%s><tr>%s</tr>' % (' id="%s"' % table_id if table_id else "", "".join("<th>%s</th>" % html.escape(str(h)) for h in headers))]
    for j, row in enumerate(rows):
        cls = ' class="%s"' % row_classes[j] if row_classes and row_classes[j] else ""
        out.append("<tr%s>%s</tr>" % (cls, "".join("<td>%s</td>" % html.escape(str(c)) for c in row)))
    out.append("</table>")
    return "\n".join(out)


def html_figure(fig_or_png):
    """An inline figure: a matplotlib figure as SVG, or PNG bytes as a data URI (the page stays one file)."""
    from hil.plots import save

    if isinstance(fig_or_png, bytes):
        return '<img alt="plot" src="data:image/png;base64,%s">' % base64.b64encode(fig_or_png).decode()
    svg = save(fig_or_png, fmt="svg")
    return svg[svg.find("<svg"):]


def html_page(title, sections):
    """sections: [(heading, html)]. No script, no external resource: opens anywhere, offline."""
    body = "\n".join('<h2>%s</h2>\n<div class="figs">%s</div>' % (html.escape(h), s) for h, s in sections)
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>%s</title>'
            '<link rel="icon" href="data:,"><style>%s</style></head>\n<body><h1>%s</h1>\n%s\n</body></html>\n'
            % (html.escape(title), _CSS, html.escape(title), body))


def verdict_rows(verdicts):
    return [[v["name"], "pass" if v["passed"] else "FAIL", v["reason"]] for v in verdicts]


def write_html_report(path, rec, summary, verdicts, labels, title):
    from hil.plots import evidence_figure, timeline_figure

    status = summary.get("status", "completed")
    fmt = lambda x, scale=100, unit=" %": "—" if x is None else "%.2f%s" % (scale * x, unit)  # noqa: E731
    head = [
        ["status", status + (" — " + summary["abort_reason"] if summary.get("abort_reason") else "")],
        ["verdict", "passed" if summary.get("passed") else "FAILED"],
        ["samples", "%d (%.2f h simulated, %d cells)" % (summary["samples"], summary["simulated_h"], summary["cells"])],
        ["SoC RMSE once converged", "%s from t = %s h (the firmware's own σ < 2 %% on every cell)" % (
            fmt(summary.get("soc_rmse_converged")),
            "—" if summary.get("converged_at_s") is None else "%.2f" % (summary["converged_at_s"] / 3600))],
        ["truth inside ±2σ (converged)", fmt(summary.get("coverage_2sigma"))],
        ["SoC RMSE / max, whole run", "%s / %s" % (fmt(summary.get("soc_rmse")), fmt(summary.get("soc_max_err")))],
        ["throughput", "%.0f samples/s (%.1f s wall)" % (summary["samples_per_s"], summary["wall_s"])],
    ]
    for d in summary.get("detections", []):
        what = "%s on cell %d from t = %.2f h (%.4g %s)" % (d["fault"].replace("_", " "), d["cell"], d["onset_s"] / 3600, d["magnitude"], d["unit"])
        if d["alarm_delay_s"] is None:
            head.append([what, "no alarm on that cell" + ("" if d["warning_delay_s"] is None else
                                                          "; %s warning after %.2f h" % (d["warning_kind"], d["warning_delay_s"] / 3600))])
        else:
            lim = ""
            if d.get("charge_limit_to_end_a") is not None and d.get("charge_limit_before_a") is not None:
                lim = "; charge limit %.2f A (hour before) -> at most %.2f A (hour after), %.2f A to the end of the run" % (
                    d["charge_limit_before_a"], d["charge_limit_after_a"], d["charge_limit_to_end_a"])
            head.append([what, "%s alarm after %.2f h%s" % (d["alarm_kind"], d["alarm_delay_s"] / 3600, lim)])
    known = (summary.get("scenario") or {}).get("known_failure")
    if known:  # what the firmware is known to miss here, and why (its pytest case is an expected failure)
        head.insert(2, ["known failure", known])
    sections = [("Summary", html_table(["figure", "value"], head))]
    sections.append(("Verdict per criterion", html_table(["criterion", "result", "reason"], verdict_rows(verdicts),
                                                         ["pass" if v["passed"] else "fail" for v in verdicts], "verdicts")))
    if len(rec.t_s):
        sections.append(("Timelines (shaded: fault periods; one colour per cell)", html_figure(timeline_figure(rec, "", labels))))
        fig = evidence_figure(rec.events, detector_thresholds(summary.get("board", {}).get("preset", "")), float(rec.t_s[-1]) / 3600)
        if fig is not None:
            sections.append(("Detector evidence against its levels", html_figure(fig)))
    ev_rows = [["%.0f" % (e.t_ms / 1000), "%.2f" % (e.t_ms / 3.6e6), "string" if e.cell == 0xFF else e.cell,
                e.kind_name, e.severity_name, event_value_text(e.kind_name, e.value)] for e in rec.events]
    sections.append(("Events (%d)" % len(ev_rows), html_table(["t [s]", "t [h]", "cell", "kind", "severity", "value"], ev_rows)
                     if ev_rows else '<p class="muted">none</p>'))
    lab_rows = [[lab["cell"], lab["kind"], lab["source"], "%.0f" % lab["t_start_s"],
                 "—" if lab.get("t_end_s") is None else "%.0f" % lab["t_end_s"], "%.4g %s" % (lab["magnitude"], lab["unit"])]
                for lab in labels or ()]
    if lab_rows:
        sections.append(("Faults (simulator's ground truth)", html_table(["cell", "kind", "source", "start [s]", "end [s]", "magnitude"], lab_rows)))
    Path(path).write_text(html_page(title, sections))
    return path


def write_summary(run_dir, summary):
    (Path(run_dir) / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
