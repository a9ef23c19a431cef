"""Closed loop: simulated cells -> sensors -> firmware (over the serial link) -> current limits and balancing
resistors -> profile and pack.

Each tick: the profile picks a current within the limits the firmware published last tick; the pack
steps with the balancing resistors the firmware switched on last tick; the sensor model measures; the
measurement goes to the firmware as a SAMPLE frame; its ESTIMATE and EVENT frames come back and are logged
next to the simulator's ground truth.
"""

from __future__ import annotations

import time

import numpy as np

from bms.comm import protocol as pr


class Recording:
    """Truth and firmware estimate per tick, as numpy arrays after `finish()`."""

    COLUMNS = (
        "t_s",
        "i_a",
        "i_meas_a",
        "v_cell",
        "v_meas",
        "t_c",
        "soc_true",
        "q_true_ah",
        "soc_est",
        "soc_sigma",
        "q_est_ah",
        "flags",
        "i_chg_max_a",
        "i_dis_max_a",
        "bleed",
    )

    def __init__(self):
        self._rows = {c: [] for c in self.COLUMNS}
        self.status = "completed"  # "aborted" when Ctrl-C, SIGTERM or a lost board ended the run early
        self.abort_reason = ""
        self.events = []  # hil.link.Event
        self.wall_s = 0.0
        self.board = {}
        self.stats = {}
        self.last = None  # the latest row (a dict of COLUMNS)

    def add(self, **row):
        self.last = row
        for c in self.COLUMNS:
            self._rows[c].append(row[c])

    def finish(self):
        n_rows = min(len(v) for v in self._rows.values())  # an interruption inside add() leaves a ragged row
        for c in self.COLUMNS:
            del self._rows[c][n_rows:]
        for c in self.COLUMNS:
            setattr(self, c, np.asarray(self._rows[c], dtype=float))
        self.n_cells = self.v_cell.shape[1] if self.v_cell.ndim == 2 else 1
        return self

    def __len__(self):
        return len(self._rows["t_s"])

    def summary(self):
        if not len(self.t_s):
            return {"samples": 0, "cells": 0, "simulated_h": 0.0, "soc_rmse": None, "soc_max_err": None,
                    "soc_rmse_converged": None, "converged_at_s": None, "coverage_2sigma": None,
                    "samples_per_s": 0.0, "wall_s": float(self.wall_s), "events": len(self.events),
                    "bleed_cell_s": 0.0, "bleed_windows": [], "firmware_stats": self.stats}
        err = self.soc_est - self.soc_true
        # "converged": from the first sample where the firmware itself claims sigma < 2 % on every cell
        sure = np.nonzero(np.all(self.soc_sigma < 0.02, axis=1))[0]
        conv = err[sure[0]:] if len(sure) else err[:0]
        return {
            "samples": int(len(self.t_s)),
            "cells": int(self.n_cells),
            "simulated_h": float(self.t_s[-1] / 3600) if len(self.t_s) else 0.0,
            "soc_rmse": float(np.sqrt(np.mean(err**2))),
            "soc_max_err": float(np.max(np.abs(err))),
            # share of converged cell-samples whose truth lies inside the firmware's own +-2 sigma band
            "coverage_2sigma": float(np.mean(np.abs(conv) <= 2 * self.soc_sigma[sure[0]:])) if len(conv) else None,
            "soc_rmse_converged": float(np.sqrt(np.mean(conv**2))) if len(conv) else None,
            "converged_at_s": float(self.t_s[sure[0]]) if len(sure) else None,
            "samples_per_s": float(len(self.t_s) / self.wall_s) if self.wall_s else 0.0,
            "wall_s": float(self.wall_s),
            "events": len(self.events),
            # cell-seconds with a balancing resistor on (bms.balance drains every cell to empty after full discharges)
            "bleed_cell_s": float(np.sum(self.bleed[:-1] * np.diff(self.t_s)[:, None])) if len(self.t_s) > 1 else 0.0,
            "bleed_windows": bleed_windows(self.t_s, self.bleed),
            "firmware_stats": self.stats,
        }


def bleed_windows(t_s, bleed, gap_s=60.0):
    """The balancing windows of a run: [{"t0_s", "t1_s", "cells"}], one per stretch with some resistor on (a pause
    of over gap_s starts a new one); cells: those bled in it."""
    bleed = np.asarray(bleed)
    if bleed.ndim != 2 or not len(t_s):
        return []
    on = np.nonzero(np.any(bleed > 0.5, axis=1))[0]
    out = []
    for k in on:
        cells = set(np.nonzero(bleed[k] > 0.5)[0].tolist())
        if out and t_s[k] - out[-1]["t1_s"] <= gap_s:
            out[-1]["t1_s"] = float(t_s[k])
            out[-1]["cells"] = sorted(set(out[-1]["cells"]) | cells)
        else:
            out.append({"t0_s": float(t_s[k]), "t1_s": float(t_s[k]), "cells": sorted(cells)})
    return out


def run_closed_loop(link, pack, sensors, profile, dt_s: float = 1.0, max_steps: int = 10**7, on_tick=None,
                    rec: Recording | None = None) -> Recording:
    """Run until the profile ends (or max_steps). `on_tick(rec, events)` is called after every tick with the
    events that tick raised (a live view, a streaming log). Ctrl-C, SIGTERM (as KeyboardInterrupt) or a lost
    board end the run early: what was recorded is kept and `rec.status` says "aborted"."""
    from hil.link import LinkError

    rec = rec if rec is not None else Recording()
    wall0 = time.perf_counter()
    try:
        rec.board = link.hello()
        _ticks(link, pack, sensors, profile, dt_s, max_steps, on_tick, rec)
    except KeyboardInterrupt:
        rec.status, rec.abort_reason = "aborted", "interrupted (Ctrl-C or SIGTERM)"
    except (LinkError, OSError) as e:
        rec.status, rec.abort_reason = "aborted", "board lost: %s" % e
    rec.wall_s = time.perf_counter() - wall0
    if rec.status == "completed":
        rec.stats = link.stats()
    return rec.finish()


def _ticks(link, pack, sensors, profile, dt_s, max_steps, on_tick, rec):
    n = pack.n_cells
    i_chg_max, i_dis_max = 0.0, 0.0  # nothing allowed until the firmware has seen a sample
    st = pack.state
    t_s = 0.0
    for _ in range(max_steps):
        if profile.done(t_s, st):
            break
        i_a = float(profile(t_s, st, i_chg_max, i_dis_max))
        st = pack.step(i_a, dt_s)
        t_s = float(st.t_s)
        v_meas, i_meas, t_meas = sensors.measure(t_s, i_a, st)
        est, events = link.sample(int(round(t_s * 1000)), float(i_meas), [float(v) for v in v_meas], [float(t) for t in t_meas])
        rec.events.extend(events)
        i_chg_max, i_dis_max = est["i_chg_max_a"], est["i_dis_max_a"]
        bleed = est["bleed"][:n]
        pack.set_bleed(bleed)
        rec.add(
            t_s=t_s,
            i_a=i_a,
            i_meas_a=float(i_meas),
            v_cell=np.array(st.v_cell, dtype=float),
            v_meas=np.array(v_meas, dtype=float),
            t_c=np.array(st.t_c, dtype=float),
            soc_true=np.array(st.soc, dtype=float),
            q_true_ah=np.array(st.q_ah, dtype=float),
            soc_est=np.array(est["soc"][:n]),
            soc_sigma=np.array(est["soc_sigma"][:n]),
            q_est_ah=np.array(est["q_ah"][:n]),
            flags=est["flags"],
            i_chg_max_a=i_chg_max,
            i_dis_max_a=i_dis_max,
            bleed=np.array(bleed, dtype=float),
        )
        if on_tick is not None:
            on_tick(rec, events)


def flag_names(flags: int):
    names = []
    for name in dir(pr):
        if name.startswith("FLAG_") and flags & getattr(pr, name):
            names.append(name[5:].lower())
    return names


def flags_text(flags: int) -> str:
    """ESTIMATE flags as names joined by '|' (log.csv: readable, and still one cell of the table)."""
    return "|".join(flag_names(int(flags)))
