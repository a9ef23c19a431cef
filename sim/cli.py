"""`nabms-sim` / `python -m sim.cli`: run a profile on a simulated pack; write signals, labels
and a plot.

    nabms-sim --profile cycles --n-cycles 2 --n-cells 4 --spread \\
        --fault soft_short:cell=1,t_start_s=3600,r_ohm=50 \\
        --sensor-fault open_wire:cell=2,t_start_s=9000 --out runs/sim

Writes <out>/signals.csv (t_s, i_a[, i_meas], then per cell v_cell_k, t_c_k, soc_k,
ocv_k, i_leak_a_k[, v_meas_k, t_meas_k]), <out>/labels.csv (cell, kind, t_start_s,
t_end_s, magnitude, unit, source) and <out>/plot.png.  Fault specs are
``kind:key=value,...`` (see sim.faults and sim.sensors for the keys; ``t`` is short
for ``t_start_s``).
"""

import argparse
import csv
import math
import os
import sys

from sim import profiles as P
from sim.pack import Pack
from sim.sensors import SensorModel

PROFILES = ("cycles", "cc", "cccv", "rest", "hppc", "gitt", "drive")


def parse_spec(text):
    """'soft_short:cell=1,t=3600,r_ohm=50' -> {'kind': 'soft_short', 'cell': 1, ...}."""
    kind, _, rest = text.partition(":")
    if not kind:
        raise ValueError("fault spec %r: expected kind:key=value,..." % text)
    spec = {"kind": kind.strip()}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, val = item.partition("=")
        if not eq:
            raise ValueError("fault spec %r: %r is not key=value" % (text, item))
        key = {"t": "t_start_s", "t_end": "t_end_s"}.get(key.strip(), key.strip())
        spec[key] = _value(val.strip())
    return spec


def _value(text):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def build_profile(args, q_ah):
    c = args.c_rate * q_ah
    if args.profile == "cycles":
        return P.cycles(args.n_cycles, q_ah, c_chg=args.c_rate, c_dis=args.c_rate)
    if args.profile == "cc":
        return P.cc(c, args.duration)
    if args.profile == "cccv":
        return P.cccv(abs(c), duration_s=args.duration)
    if args.profile == "rest":
        return P.rest(args.duration or 3600.0)
    if args.profile == "hppc":
        return P.hppc(q_ah)
    if args.profile == "gitt":
        return P.gitt(c)
    return P.drive(args.drive_name, q_ah, duration_s=args.duration or 3600.0)


def write_signals(path, rec, n_cells):
    has_meas = "v_meas" in rec
    per_cell = ["v_cell", "t_c", "soc", "ocv", "i_leak_a"] + (["v_meas", "t_meas"] if has_meas else [])
    header = ["t_s", "i_a"] + (["i_meas"] if has_meas else [])
    header += ["%s_%d" % (name, k) for name in per_cell for k in range(n_cells)]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in range(len(rec["t_s"])):
            row = [rec["t_s"][r], rec["i_a"][r]] + ([rec["i_meas"][r]] if has_meas else [])
            for name in per_cell:
                row.extend(rec[name][r])
            w.writerow(["%.6g" % x for x in row])


def write_labels(path, labels):
    keys = ["cell", "kind", "t_start_s", "t_end_s", "magnitude", "unit", "source"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(keys)
        for lab in sorted(labels, key=lambda d: (d["t_start_s"], d["cell"])):
            w.writerow(["" if lab.get(k) is None else lab.get(k) for k in keys])


def plot(path, rec, labels, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_h = rec["t_s"] / 3600.0
    fig, ax = plt.subplots(4, 1, sharex=True, figsize=(10, 9))
    ax[0].plot(t_h, rec["i_a"], lw=0.8)
    ax[0].set_ylabel("current [A]\n(> 0 charge)")
    ax[1].plot(t_h, rec["v_cell"], lw=0.7)
    ax[1].set_ylabel("cell voltage [V]")
    ax[2].plot(t_h, rec["soc"], lw=0.7)
    ax[2].set_ylabel("true SoC")
    ax[3].plot(t_h, rec["t_c"], lw=0.7)
    ax[3].set_ylabel("temperature [degC]")
    ax[3].set_xlabel("time [h]")
    t_end = t_h[-1] if len(t_h) else 0.0
    colours = {}
    for lab in labels:
        if lab["kind"] == "micro_short":
            ax[1].axvline(lab["t_start_s"] / 3600.0, color="red", lw=0.5, alpha=0.5)
            continue
        col = colours.setdefault(lab["kind"], "C%d" % (len(colours) + 3))
        end = t_end if lab["t_end_s"] is None else lab["t_end_s"] / 3600.0
        ax[1].axvspan(lab["t_start_s"] / 3600.0, max(end, lab["t_start_s"] / 3600.0 + 1e-3),
                      color=col, alpha=0.15, label=lab["kind"])
    handles, names = ax[1].get_legend_handles_labels()
    if handles:
        uniq = dict(zip(names, handles))
        ax[1].legend(uniq.values(), uniq.keys(), fontsize=7, loc="lower left")
    ax[0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="nabms-sim", description=__doc__.splitlines()[0])
    ap.add_argument("--cathode", default="nvp", choices=("nvp", "layered-oxide"))
    ap.add_argument("--interphase", default="mg-naf", choices=("mg-naf", "bare-cu"))
    ap.add_argument("--n-cells", type=int, default=1)
    ap.add_argument("--q-ah", type=float, default=2.0)
    ap.add_argument("--t-amb", type=float, default=25.0, help="ambient temperature [degC]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spread", action="store_true", help="cell-to-cell spread")
    ap.add_argument("--soc0", type=float, default=0.5)
    ap.add_argument("--profile", default="cycles", choices=PROFILES)
    ap.add_argument("--n-cycles", type=int, default=1)
    ap.add_argument("--c-rate", type=float, default=0.5,
                    help="C-rate of cycles/cc/cccv/gitt (signed for cc and gitt: > 0 charges)")
    ap.add_argument("--drive-name", default="urban", choices=P.drive_names())
    ap.add_argument("--duration", type=float, default=None, help="[s] for cc/cccv/rest/drive")
    ap.add_argument("--t-max", type=float, default=None, help="stop after this many seconds")
    ap.add_argument("--dt", type=float, default=1.0, help="step [s]")
    ap.add_argument("--record-every", type=int, default=1)
    ap.add_argument("--i-chg-max", type=float, default=math.inf, help="BMS charge limit [A]")
    ap.add_argument("--i-dis-max", type=float, default=math.inf, help="BMS discharge limit [A]")
    ap.add_argument("--fault", action="append", default=[], help="kind:key=value,... (sim.faults)")
    ap.add_argument("--sensors", action="store_true", help="record sensor readings too")
    ap.add_argument("--sensor-fault", action="append", default=[], help="kind:key=value,... (sim.sensors)")
    ap.add_argument("--adc-bits", type=int, default=None)
    ap.add_argument("--out", default="runs/sim")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    try:
        faults = [parse_spec(f) for f in args.fault]
        sensor_faults = [parse_spec(f) for f in args.sensor_fault]
        pack = Pack(cathode=args.cathode, interphase=args.interphase, n_cells=args.n_cells,
                    q_ah=args.q_ah, t_amb_c=args.t_amb, seed=args.seed, spread=args.spread,
                    faults=faults, soc0=args.soc0)
        sensors = None
        if args.sensors or sensor_faults or args.adc_bits:
            sensors = SensorModel(seed=args.seed, adc_bits=args.adc_bits, faults=sensor_faults)
        profile = build_profile(args, args.q_ah)
    except ValueError as exc:
        print("nabms-sim: %s" % exc, file=sys.stderr)
        return 2
    rec = pack.run(profile, dt_s=args.dt, t_max_s=args.t_max, sensors=sensors,
                   i_chg_max_a=args.i_chg_max, i_dis_max_a=args.i_dis_max,
                   record_every=args.record_every)
    os.makedirs(args.out, exist_ok=True)
    write_signals(os.path.join(args.out, "signals.csv"), rec, pack.n_cells)
    write_labels(os.path.join(args.out, "labels.csv"), pack.labels)
    title = "%s / %s, %d cell(s), %s" % (args.cathode, args.interphase, pack.n_cells, args.profile)
    if not args.no_plot:
        plot(os.path.join(args.out, "plot.png"), rec, pack.labels, title)
    st = pack.state
    print("%s: %.0f s simulated, %d samples, %d labels -> %s" % (title, st.t_s, len(rec["t_s"]),
                                                              len(pack.labels), args.out))
    print("final: v %s V, soc %s, q %s Ah" % (
        " ".join("%.3f" % x for x in st.v_cell[:8]), " ".join("%.3f" % x for x in st.soc[:8]),
        " ".join("%.3f" % x for x in st.q_ah[:8])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
