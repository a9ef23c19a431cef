"""Plots of a closed-loop recording (matplotlib, no display needed): one colour per cell everywhere, labelled
events, shaded fault periods, balancing, and the detectors' evidence against their thresholds."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# severities: a soft-short alarm and an under-voltage trip must not look alike (kind is written beside the mark)
SEVERITY_STYLE = {"info": ("#7f7f7f", "o"), "warning": ("#e6a100", "^"), "alarm": ("#d62728", "D"), "critical": ("#6a0dad", "X")}
FAULT_SHADE = "#f4a582"
BINS = 1200  # points per trace on screen: a 1-s drive trace over hours becomes a mean line and a min-max envelope


def cell_colour(k: int):
    return plt.get_cmap("tab10")(k % 10)


def _binned(t, y):
    """(t, mean, lo, hi) over at most BINS bins; lo/hi None when the trace is short enough to draw as is."""
    if len(t) <= 2 * BINS:
        return t, y, None, None
    edges = np.linspace(0, len(t), BINS + 1).astype(int)
    idx = edges[:-1]
    mean = np.add.reduceat(y, idx) / np.diff(edges)
    return t[idx], mean, np.minimum.reduceat(y, idx), np.maximum.reduceat(y, idx)


def _trace(ax, t, y, **kw):
    tb, mean, lo, hi = _binned(np.asarray(t), np.asarray(y, dtype=float))
    line, = ax.plot(tb, mean, **kw)
    if lo is not None:
        ax.fill_between(tb, lo, hi, color=line.get_color(), alpha=0.2, lw=0, step="post")
    return line


def _shade_faults(axes, labels, t_end_h, top_ax=None):
    """Injected faults (and the physics they caused, e.g. soft -> hard short) as shaded periods."""
    for lab in labels or ():
        t0 = lab["t_start_s"] / 3600.0
        t1 = (lab["t_end_s"] / 3600.0) if lab.get("t_end_s") is not None else t_end_h
        if t0 >= t_end_h or lab["kind"] == "micro_short":
            continue
        for a in axes:
            a.axvspan(t0, min(t1, t_end_h), color=FAULT_SHADE, alpha=0.18 if lab["source"] == "injected" else 0.1, lw=0)
        if top_ax is not None:
            top_ax.annotate("%s, cell %d (%s)" % (lab["kind"].replace("_", " "), lab["cell"], lab["source"]),
                            xy=(t0, 1.0), xycoords=("data", "axes fraction"), xytext=(2, 2), textcoords="offset points",
                            fontsize=7, color="#a0522d", va="bottom")


def timeline_figure(rec, title="", labels=()):
    """Voltage, current with the firmware's limits, SoC true vs estimated (+-2 sigma, same colour per cell), SoC
    error, balancing resistors, and an event lane (kind written beside each first mark)."""
    t_h = rec.t_s / 3600.0
    t_end = float(t_h[-1]) if len(t_h) else 1.0
    n = rec.n_cells
    fig, ax = plt.subplots(6, 1, figsize=(12, 14), sharex=True,
                           gridspec_kw={"height_ratios": [2, 1.4, 2.2, 1.2, 0.3 + 0.12 * n, 0.6 + 0.15 * n]})
    for k in range(n):
        _trace(ax[0], t_h, rec.v_cell[:, k], lw=0.9, color=cell_colour(k), label="cell %d" % k)
    ax[0].set_ylabel("cell voltage [V]")
    _trace(ax[1], t_h, rec.i_a, lw=0.8, color="k", label="current (+ charge)")
    ax[1].step(t_h, rec.i_chg_max_a, where="post", lw=1.0, ls="--", color="#2ca02c", label="BMS charge limit")
    ax[1].step(t_h, -rec.i_dis_max_a, where="post", lw=1.0, ls="--", color="#1f77b4", label="BMS discharge limit")
    ax[1].set_ylabel("current [A]")
    for k in range(n):
        c = cell_colour(k)
        lo = np.clip(rec.soc_est[:, k] - 2 * rec.soc_sigma[:, k], 0.0, 1.0)  # SoC cannot leave 0..100 %
        hi = np.clip(rec.soc_est[:, k] + 2 * rec.soc_sigma[:, k], 0.0, 1.0)
        tb, lo_b, _, _ = _binned(t_h, lo)
        _, hi_b, _, _ = _binned(t_h, hi)
        ax[2].fill_between(tb, 100 * lo_b, 100 * hi_b, color=c, alpha=0.12, lw=0)
        _trace(ax[2], t_h, 100 * rec.soc_true[:, k], lw=1.2, color=c, label="cell %d" % k)
        _trace(ax[2], t_h, 100 * rec.soc_est[:, k], lw=1.0, ls="--", color=c)
        _trace(ax[3], t_h, 100 * (rec.soc_est[:, k] - rec.soc_true[:, k]), lw=0.8, color=c)
    ax[2].plot([], [], color="0.3", lw=1.2, label="true (simulator)")
    ax[2].plot([], [], color="0.3", lw=1.0, ls="--", label="firmware estimate")
    ax[2].fill_between([], [], [], color="0.3", alpha=0.15, label="estimate ±2σ")
    ax[2].set_ylim(-5, 105)
    ax[2].set_ylabel("SoC [%]")
    ax[3].axhline(0, color="k", lw=0.5)
    ax[3].set_ylabel("SoC error\n[%-pt]")
    # balancing: one row per cell, a bar while its resistor is on
    for k in range(n):
        on = rec.bleed[:, k] > 0.5 if len(rec.bleed) else np.zeros(0, bool)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(int), [0]])))
        spans = [(t_h[a], t_h[min(b, len(t_h) - 1)] - t_h[a]) for a, b in zip(edges[::2], edges[1::2])]
        ax[4].broken_barh(spans, (k - 0.4, 0.8), color=cell_colour(k))
    ax[4].set_ylim(-0.6, n - 0.4)
    ax[4].set_yticks(range(n))
    ax[4].set_ylabel("balancing\n(cell)")
    ax[4].invert_yaxis()
    _event_lane(ax[5], rec.events, n)
    _shade_faults(ax, labels, t_end, top_ax=ax[0])
    ax[-1].set_xlabel("time [h]")
    ax[-1].set_xlim(0, t_end)
    for a in ax[:3]:
        a.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _event_lane(ax, events, n):
    """Events by cell (the string in its own row): marker by severity, the kind written at its first mark."""
    seen = set()
    for e in events:
        row = n if e.cell == 0xFF else e.cell
        colour, marker = SEVERITY_STYLE.get(e.severity_name, ("k", "o"))
        ax.plot(e.t_ms / 3.6e6, row, marker=marker, color=colour, ms=6, ls="none")
        key = (row, e.kind_name, e.severity_name)
        if key not in seen:
            seen.add(key)
            ax.annotate("%s %s" % (e.kind_name.replace("_", " "), e.severity_name), (e.t_ms / 3.6e6, row),
                        xytext=(4, 3 + 7 * (len(seen) % 2)), textcoords="offset points", fontsize=7, color=colour)
    for sev, (colour, marker) in SEVERITY_STYLE.items():
        ax.plot([], [], marker=marker, color=colour, ls="none", label=sev)
    ax.set_ylim(-0.6, n + 0.6)
    ax.set_yticks(list(range(n)) + [n])
    ax.set_yticklabels([str(k) for k in range(n)] + ["string"], fontsize=7)
    ax.invert_yaxis()
    ax.set_ylabel("events\n(cell)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)


def evidence_figure(events, thresholds, t_end_h=None):
    """Each plating detector's reported evidence against its warning and alarm levels; None when no detector
    reported (no empty plots). thresholds: kind -> (unit, warn, alarm)."""
    kinds = [k for k in thresholds if any(e.kind_name == k for e in events)]
    if not kinds:
        return None
    fig, axes = plt.subplots(len(kinds), 1, figsize=(12, 2.4 * len(kinds)), squeeze=False)
    for a, kind in zip(axes[:, 0], kinds):
        unit, warn, alarm = thresholds[kind]
        for e in (e for e in events if e.kind_name == kind):
            colour, marker = SEVERITY_STYLE.get(e.severity_name, ("k", "o"))
            a.plot(e.t_ms / 3.6e6, e.value, marker=marker, color=cell_colour(e.cell) if e.cell != 0xFF else "k",
                   mec=colour, mew=1.5, ms=8, ls="none")
            a.annotate("cell %s" % ("string" if e.cell == 0xFF else e.cell), (e.t_ms / 3.6e6, e.value),
                       xytext=(5, 0), textcoords="offset points", fontsize=7)
        a.axhline(warn, color=SEVERITY_STYLE["warning"][0], ls=":", lw=1, label="warning level %.4g %s" % (warn, unit))
        a.axhline(alarm, color=SEVERITY_STYLE["alarm"][0], ls="--", lw=1, label="alarm level %.4g %s" % (alarm, unit))
        a.set_ylabel("%s\n[%s]" % (kind.replace("_", " "), unit), fontsize=8)
        a.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("time [h] (evidence as reported in each event)")
    if t_end_h:
        for a in axes[:, 0]:
            a.set_xlim(0, t_end_h)  # the run's time axis, as the timelines above
    fig.tight_layout()
    return fig


def save(fig, path=None, fmt="png"):
    """Write a figure to path, or return it as text (svg) / bytes (png) when path is None."""
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return path
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue().decode() if fmt == "svg" else buf.getvalue()


def plot_recording(rec, path, title="nabms closed loop", labels=()):
    """The run's timeline as a PNG."""
    return save(timeline_figure(rec, title, labels), path)
