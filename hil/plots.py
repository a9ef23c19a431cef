"""Plots of a closed-loop recording (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_recording(rec, path, title="nabms closed loop"):
    """Voltage, current (with the firmware's limits), true vs estimated SoC, and the SoC error."""
    t_h = rec.t_s / 3600.0
    fig, ax = plt.subplots(4, 1, figsize=(10, 10), sharex=True, gridspec_kw={"height_ratios": [2, 1.4, 2, 1.2]})
    for k in range(rec.n_cells):
        ax[0].plot(t_h, rec.v_cell[:, k], lw=1, label="cell %d true" % k if rec.n_cells > 1 else "true")
    ax[0].plot(t_h, rec.v_meas[:, 0], lw=0.5, alpha=0.6, label="measured (cell 0)")
    ax[0].set_ylabel("cell voltage [V]")
    ax[0].legend(loc="lower right", fontsize=8)
    ax[1].plot(t_h, rec.i_a, lw=1, label="current (+ charge)")
    ax[1].plot(t_h, rec.i_chg_max_a, lw=0.8, ls="--", label="BMS charge limit")
    ax[1].plot(t_h, -rec.i_dis_max_a, lw=0.8, ls="--", label="BMS discharge limit")
    ax[1].set_ylabel("current [A]")
    ax[1].legend(loc="lower right", fontsize=8)
    for k in range(rec.n_cells):
        ax[2].plot(t_h, 100 * rec.soc_true[:, k], lw=1.2, label="true" if k == 0 else None)
        ax[2].plot(t_h, 100 * rec.soc_est[:, k], lw=1, ls="--", label="firmware EKF" if k == 0 else None)
    s = rec.soc_sigma[:, 0]
    lo = np.clip(rec.soc_est[:, 0] - 2 * s, 0.0, 1.0)  # SoC cannot leave 0..100 %, whatever the sigma
    hi = np.clip(rec.soc_est[:, 0] + 2 * s, 0.0, 1.0)
    ax[2].fill_between(t_h, 100 * lo, 100 * hi, alpha=0.2, label="±2σ (clipped to 0..100 %)")
    ax[2].set_ylim(-5, 105)
    ax[2].set_ylabel("SoC [%]")
    ax[2].legend(loc="lower right", fontsize=8)
    err = 100 * (rec.soc_est - rec.soc_true)
    ax[3].plot(t_h, err, lw=0.8)
    ax[3].axhline(0, color="k", lw=0.5)
    ax[3].set_ylabel("SoC error [%-pt]")
    ax[3].set_xlabel("time [h]")
    for e in rec.events:
        for a in ax:
            a.axvline(e.t_ms / 3.6e6, color="r", lw=0.6, alpha=0.5)
    rmse = 100 * float(np.sqrt(np.mean((rec.soc_est - rec.soc_true) ** 2)))
    fig.suptitle("%s — SoC RMSE %.2f %%" % (title, rmse))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
