"""Run a scenario in closed loop on a target and write its run folder as it goes.

Targets: "virtual" (the firmware on the MicroPython unix port behind a pty; the default), "serial" (a real board
at a port), "inprocess" (the firmware's own modules on CPython through the protocol, no pty: campaigns),
"instruments" (the profile's current through a SCPI supply/load and the cell voltages on a cell emulator, with the
firmware in process: the caller passes `wrap_pack`, e.g. host.instruments.bench.InstrumentedPack; hil does not
import host).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from hil.scenario import failed_reasons, judge, load
from sim.pack import Pack
from sim.sensors import SensorModel

TARGETS = ("virtual", "serial", "inprocess", "instruments")


class InProcessLink:
    """BoardLink's interface on the firmware's own modules: HELLO, SAMPLE and STATS are handled by
    bms.comm.service.handle_frame and their replies decoded, as a board would (no pty, no MicroPython); the
    configuration goes to the application directly."""

    def __init__(self):
        from bms.core.app import Bms

        self.bms = Bms()
        self.port = "in-process"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def close(self):
        pass

    def _request(self, msg_type, payload, reply_type):
        from bms.comm import protocol as pr
        from bms.comm.service import handle_frame
        from hil.link import LinkError

        out = []
        handle_frame(self.bms, msg_type, 1, payload, lambda t, s, p: out.append((t, p)))
        for t, p in out:
            if t == pr.NACK:
                refused, code, detail = pr.unpack_nack(p)
                raise LinkError("firmware refused %#x: %s %s" % (refused, pr.NACK_NAMES[code], detail))
        reply = [p for t, p in out if t == reply_type]
        return reply[0], [(t, p) for t, p in out if t != reply_type]

    def hello(self):
        from bms.comm import protocol as pr

        p, _ = self._request(pr.HELLO, b"", pr.HELLO_REPLY)
        h = pr.unpack_hello(p)
        h["key_id"] = h["key_id"].hex()
        return h

    def configure(self, n_cells, preset, soc0=None):
        # straight to the application: a CONFIG is signed in chunks on a board (tested with the link, hil/link.py);
        # a campaign's runs are this process's own
        from hil.link import LinkError

        try:
            self.bms.configure(n_cells, preset, soc0)
        except (ValueError, KeyError) as e:
            raise LinkError("firmware refused the configuration: %s" % e) from None

    def sample(self, t_ms, i_a, v_cell, t_c):
        from bms.comm import protocol as pr
        from hil.link import Event

        p, extra = self._request(pr.SAMPLE, pr.pack_sample(t_ms, i_a, v_cell, t_c), pr.ESTIMATE)
        return pr.unpack_estimate(p), [Event(*pr.unpack_event(q)) for t, q in extra if t == pr.EVENT]

    def stats(self):
        from bms.comm import protocol as pr

        return pr.unpack_stats(pr.pack_stats(self.bms.stats))


def build(sc: dict):
    """(pack, sensors, profile) of a validated scenario."""
    from hil.scenario import build_profile

    pack = Pack(**sc["cell"])
    sensors = SensorModel(**sc.get("sensors", {}))
    profile = build_profile(sc["profile"], pack.q_ah_nominal, where=sc["name"], base_dir=sc.get("_dir"))
    return pack, sensors, profile


def detections(rec, labels, events):
    """Per injected fault: the first warning/alarm on its cell after onset (delay), and the charge limit's action
    (the highest limit in the hour before the alarm, in the hour after it, and from it to the end of the run)."""
    out = []
    for lab in labels or ():
        if lab["source"] != "injected":
            continue
        d = {"cell": lab["cell"], "fault": lab["kind"], "onset_s": lab["t_start_s"], "magnitude": lab["magnitude"], "unit": lab["unit"]}
        for sev in ("warning", "alarm"):
            hits = [e for e in events if e.cell == lab["cell"] and e.kind < 16 and e.severity_name in
                    (("warning", "alarm", "critical") if sev == "warning" else ("alarm", "critical"))
                    and e.t_ms / 1000.0 >= lab["t_start_s"]]
            d[sev + "_kind"] = hits[0].kind_name if hits else None
            d[sev + "_delay_s"] = hits[0].t_ms / 1000.0 - lab["t_start_s"] if hits else None
        if d["alarm_delay_s"] is not None and len(rec.t_s):
            t_al = lab["t_start_s"] + d["alarm_delay_s"]
            before = (rec.t_s < t_al) & (rec.t_s >= t_al - 3600.0)
            after = (rec.t_s > t_al) & (rec.t_s <= t_al + 3600.0)
            d["charge_limit_before_a"] = float(np.max(rec.i_chg_max_a[before])) if np.any(before) else None
            d["charge_limit_after_a"] = float(np.max(rec.i_chg_max_a[after])) if np.any(after) else None
            rest_of_run = rec.t_s > t_al
            d["charge_limit_to_end_a"] = float(np.max(rec.i_chg_max_a[rest_of_run])) if np.any(rest_of_run) else None
            d["alarm_to_end_s"] = float(rec.t_s[-1] - t_al)
        out.append(d)
    return out


class Progress:
    """A line on stderr every few seconds (long runs are never silent); quiet when a live view is shown."""

    def __init__(self, name, every_s=3.0, stream=sys.stderr):
        self.name, self.every_s, self.stream = name, every_s, stream
        self.t_start = time.monotonic()
        self.t_next = self.t_start + every_s

    def __call__(self, rec, events):
        now = time.monotonic()
        if now < self.t_next:
            return
        self.t_next = now + self.every_s
        r = rec.last
        print("%s: t = %.2f h simulated, %d samples (%.0f/s), %d events" % (
            self.name, r["t_s"] / 3600, len(rec), len(rec) / (now - self.t_start), len(rec.events)), file=self.stream, flush=True)


def _open_target(target, port):
    """(link, virtual board or None) for a target name."""
    from hil.link import BoardLink

    if target == "serial":
        if not port:
            raise ValueError("target serial needs --port")
        return BoardLink(port), None
    if target in ("inprocess", "instruments"):
        return InProcessLink(), None
    from hil.virtual_board import VirtualBoard

    board = VirtualBoard().start()
    return BoardLink(board.port), board


def run_scenario(path, port: str | None = None, out="runs", max_steps: int = 10**7, target: str | None = None,
                 on_tick=None, progress: bool = False, wrap_pack=None, html: bool = True):
    """Run a scenario; returns (summary, run_dir). log.csv and events.csv are written as the run goes; an
    interrupted run (Ctrl-C, SIGTERM, the board lost) still gets summary.json with "status": "aborted"."""
    from hil.loop import Recording, run_closed_loop
    from hil.report import RunWriter, new_run_dir, write_html_report, write_summary
    from hil.plots import plot_recording

    target = target or ("serial" if port else "virtual")
    if target not in TARGETS:
        raise ValueError("unknown target %r (known: %s)" % (target, ", ".join(TARGETS)))
    sc = load(path)
    pack, sensors, profile = build(sc)
    if target == "instruments":
        if wrap_pack is None:
            raise ValueError("target instruments needs the instruments (nabms run --target instruments --visa ...)")
        pack = wrap_pack(pack)
    run_dir = new_run_dir(out, sc["name"])
    writer = RunWriter(run_dir, pack.n_cells)
    hooks = [writer] + ([on_tick] if on_tick else []) + ([Progress(sc["name"])] if progress else [])

    def tick(rec, events):
        for h in hooks:
            h(rec, events)

    from hil.link import LinkError

    rec = Recording()
    fw = sc.get("firmware", {})
    board = None
    try:
        link, board = _open_target(target, port)
        with link:
            link.configure(pack.n_cells, fw.get("preset", "%s-%s" % (pack.cathode, pack.interphase)), fw.get("soc0"))
            dt_s = sc.get("dt_s", 1.0)
            max_steps = min(max_steps, int(sc.get("max_t_s", 2 * 86400) / dt_s))
            rec = run_closed_loop(link, pack, sensors, profile, dt_s=dt_s, max_steps=max_steps, on_tick=tick, rec=rec)
    except KeyboardInterrupt:  # before the first sample (the loop handles its own)
        rec.status, rec.abort_reason = "aborted", "interrupted (Ctrl-C or SIGTERM) before the first sample"
    except (LinkError, OSError) as e:
        rec.status, rec.abort_reason = "aborted", "no board to run on: %s" % e
    finally:
        writer.close()
        if board is not None:
            if not board.alive() and rec.status == "completed":
                rec.status, rec.abort_reason = "aborted", "virtual board died: " + board.stderr_text().strip()[-300:]
            board.stop()
        if hasattr(pack, "close"):
            pack.close()
    if not hasattr(rec, "t_s"):
        rec.finish()
    labels = pack.labels
    summary = rec.summary()
    summary.update({"status": rec.status, "abort_reason": rec.abort_reason, "target": target,
                    "scenario": {k: v for k, v in sc.items() if not k.startswith("_")}, "board": rec.board, "labels": labels})
    from hil.loop import flag_names

    summary["final_flags"] = flag_names(int(rec.flags[-1])) if len(rec.flags) else []
    summary["detections"] = detections(rec, labels, rec.events)
    verdicts = judge(summary, rec.events, sc["criteria"], rec, labels, sc.get("sensors", {}).get("faults", ()))
    if rec.status != "completed":
        verdicts.insert(0, {"name": "run completed", "passed": False, "reason": rec.abort_reason})
    summary["verdicts"] = verdicts
    summary["passed"] = all(v["passed"] for v in verdicts)
    summary["failed_criteria"] = failed_reasons(verdicts)
    write_summary(run_dir, summary)
    if len(rec.t_s):
        title = "%s (%s)" % (sc["name"], {"serial": "port %s" % port, "virtual": "virtual board, MicroPython"}.get(target, target))
        plot_recording(rec, run_dir / "plot.png", title=title, labels=labels)
        if html:
            write_html_report(run_dir / "report.html", rec, summary, verdicts, labels, "nabms run: " + title)
    return summary, run_dir
