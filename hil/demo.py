"""`make demo`: a string of 8 cells in closed loop on a virtual board (the firmware on real MicroPython over a pty).

Healthy cycling, then one cell develops a growing soft short: the firmware alarms on that cell, derates the charge
current and keeps bottom-balancing the string. A live view while it runs (plain lines when not a terminal), then
the headline figures and the run folder (log.csv, events.csv, summary.json, plot.png, report.html).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from hil.report import event_value_text


def _sigterm_as_interrupt():
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _cell_name(cell):
    return "string" if cell == 0xFF else "cell %d" % cell


class LiveView:
    """rich: per-cell SoC with sigma, voltages, balancing, limits, events as they arrive, samples/s."""

    def __init__(self, title, refresh_s=0.25):
        from rich.console import Console
        from rich.live import Live

        self.title = title
        self.console = Console()
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.events = []
        self.refresh_s = refresh_s
        self.t_next = 0.0
        self.t_start = time.monotonic()

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        self.live.__exit__(*exc)

    def __call__(self, rec, events):
        self.events.extend(events)
        now = time.monotonic()
        if now < self.t_next and not events:
            return
        self.t_next = now + self.refresh_s
        self.live.update(self.render(rec, now), refresh=True)

    def render(self, rec, now):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        from hil.loop import flag_names

        r = rec.last
        n = len(r["v_cell"])
        head = Text.assemble(
            (self.title + "\n", "bold"),
            "t = %.2f h simulated   %d samples   %.0f samples/s   I = %+.2f A   charge limit %.2f A   discharge limit %.2f A\n" % (
                r["t_s"] / 3600, len(rec), len(rec) / max(now - self.t_start, 1e-9), r["i_a"], r["i_chg_max_a"], r["i_dis_max_a"]),
            ("flags: " + ", ".join(flag_names(int(r["flags"]))), "dim"))
        tab = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("cell", "V", "SoC true", "SoC est ± 2σ", "error", "balancing", "last event"):
            tab.add_column(col, justify="right" if col not in ("cell", "last event") else "left")
        last = {}
        for e in self.events:
            last[e.cell] = e
        for k in range(n):
            err = 100 * (r["soc_est"][k] - r["soc_true"][k])
            inside = abs(err) <= 200 * r["soc_sigma"][k]
            e = last.get(k)
            ev = Text("%s %s" % (e.kind_name, e.severity_name), style="red" if e.severity >= 2 else "yellow") if e else Text("")
            tab.add_row("%d" % k, "%.3f" % r["v_cell"][k], "%5.1f %%" % (100 * r["soc_true"][k]),
                        "%5.1f ± %.1f %%" % (100 * r["soc_est"][k], 200 * r["soc_sigma"][k]),
                        Text("%+.1f" % err, style="green" if inside else "red"), "on" if r["bleed"][k] > 0.5 else "", ev)
        evs = Table(box=None, show_header=False, pad_edge=False)
        for e in self.events[-6:]:
            evs.add_row("%.2f h" % (e.t_ms / 3.6e6), _cell_name(e.cell), Text(e.kind_name, style="bold"),
                        Text(e.severity_name, style="red" if e.severity >= 2 else "yellow"), event_value_text(e.kind_name, e.value))
        return Group(head, tab, Text("events (%d)" % len(self.events), style="bold"), evs)


class PlainView:
    """Not a terminal: events as lines as they arrive, and a progress line every few seconds."""

    def __init__(self, every_s=5.0):
        self.every_s = every_s
        self.t_next = time.monotonic() + every_s
        self.t_start = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def __call__(self, rec, events):
        for e in events:
            print("  event  t = %6.2f h  %-7s %s %s  %s" % (e.t_ms / 3.6e6, _cell_name(e.cell), e.kind_name, e.severity_name,
                                                          event_value_text(e.kind_name, e.value)), flush=True)
        now = time.monotonic()
        if now >= self.t_next:
            self.t_next = now + self.every_s
            print("  ... t = %.1f h simulated, %d samples, %.0f samples/s" % (rec.last["t_s"] / 3600, len(rec), len(rec) / (now - self.t_start)), flush=True)


def headline(s, where):
    """The figures that say what the run showed, honestly (None-safe)."""
    pct = lambda x: "—" if x is None else "%.2f %%" % (100 * x)  # noqa: E731
    lines = ["nabms demo — %s" % s["scenario"]["description"],
             "  board          : %s (firmware %s, preset %s)" % (where, s["board"].get("fw_version"), s["board"].get("preset")),
             "  run            : %s; %d samples, %.1f h simulated in %.1f s (%.0f samples/s), %d cells" % (
                 s["status"] + (" (%s)" % s["abort_reason"] if s["abort_reason"] else ""), s["samples"], s["simulated_h"],
                 s["wall_s"], s["samples_per_s"], s["cells"])]
    if s["converged_at_s"] is not None:
        lines.append("  SoC error      : %s RMSE once converged (from t = %.2f h, every cell's σ < 2 %%); truth inside ±2σ %s of the time"
                     % (pct(s["soc_rmse_converged"]), s["converged_at_s"] / 3600, pct(s["coverage_2sigma"])))
        lines.append("                   whole run, from an unknown start: RMSE %s, max %s" % (pct(s["soc_rmse"]), pct(s["soc_max_err"])))
    for d in s["detections"]:
        lines.append("  fault          : %s on cell %d from t = %.2f h (%.4g %s at onset)" % (d["fault"].replace("_", " "), d["cell"], d["onset_s"] / 3600, d["magnitude"], d["unit"]))
        if d["alarm_delay_s"] is None:
            lines.append("  alarm          : none on cell %d%s" % (d["cell"], "" if d["warning_delay_s"] is None else " (a %s warning after %.2f h)" % (d["warning_kind"], d["warning_delay_s"] / 3600)))
        else:
            lines.append("  alarm          : %s alarm on cell %d, %.2f h after onset" % (d["alarm_kind"], d["cell"], d["alarm_delay_s"] / 3600))
            if d.get("charge_limit_to_end_a") is not None:
                lines.append("  charge limit   : %.2f A in the hour before the alarm -> at most %.2f A from it to the end of the run (%.1f h later; the alarm is latched until an operator clears it)"
                             % (d["charge_limit_before_a"] or 0.0, d["charge_limit_to_end_a"], d["alarm_to_end_s"] / 3600))
    lines.extend(balancing_lines(s))
    n_ok = sum(v["passed"] for v in s["verdicts"])
    lines.append("  criteria       : %d of %d passed" % (n_ok, len(s["verdicts"])))
    for v in s["verdicts"]:
        if not v["passed"]:
            lines.append("     FAILED  %s: %s" % (v["name"], v["reason"]))
    return lines


def balancing_lines(s):
    """The bottom balancer's windows: when, for how long, which cells it bled."""
    wins = s.get("bleed_windows") or []
    lines = ["  balancing      : %d windows, %.0f cell-minutes of bleed in all" % (len(wins), s["bleed_cell_s"] / 60)]
    for w in wins:
        lines.append("                   t = %5.2f h, %3.0f s: resistors on for cells %s" % (
            w["t0_s"] / 3600, w["t1_s"] - w["t0_s"], ", ".join(str(k) for k in w["cells"])))
    return lines


def main(argv=None):
    from hil.link import LinkError
    from hil.scenario import ScenarioError, run_scenario

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="demo.json")
    ap.add_argument("--port", help="a real board's serial port instead of the virtual board")
    ap.add_argument("--target", choices=("virtual", "serial", "inprocess"), help="default: virtual (serial with --port)")
    ap.add_argument("--out", default="runs")
    ap.add_argument("--plain", action="store_true", help="no live view (the default when stdout is not a terminal)")
    args = ap.parse_args(argv)
    _sigterm_as_interrupt()
    target = args.target or ("serial" if args.port else "virtual")
    where = {"virtual": "virtual board: MicroPython unix port over a pty", "serial": "port %s" % args.port,
             "inprocess": "firmware in process (CPython)"}[target]
    view = PlainView() if args.plain or not sys.stdout.isatty() else LiveView("nabms demo — %s" % where)
    try:
        with view:
            s, run_dir = run_scenario(args.scenario, port=args.port, out=args.out, target=target, on_tick=view)
    except (ScenarioError, ValueError, OSError, LinkError) as e:
        print("demo: %s" % e, file=sys.stderr)
        return 2
    print("\n".join(headline(s, where)))
    print("  run folder     : %s  (report.html, plot.png, log.csv, events.csv, summary.json)" % run_dir)
    return 0 if s["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
