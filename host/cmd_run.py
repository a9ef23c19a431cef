"""`nabms run SCENARIO`: a scenario in closed loop on a target; the run folder is written as the run goes."""

from __future__ import annotations

import sys


def add_parser(sub):
    p = sub.add_parser("run", help="closed-loop scenario run (a file, or a name from hil/scenarios)")
    p.add_argument("scenario")
    p.add_argument("--port", help="serial port of a real board (target serial)")
    p.add_argument("--virtual", action="store_true", help="use a virtual board (the default without --port)")
    p.add_argument("--target", choices=("virtual", "serial", "inprocess", "instruments"),
                   help="virtual: MicroPython unix port on a pty; serial: --port; inprocess: the firmware on CPython; "
                        "instruments: the profile through SCPI instruments (--visa)")
    p.add_argument("--visa", help="instruments: VISA resources as supply=RES,emulator=RES[,backend=@sim|@py|PATH.yaml@sim]")
    p.add_argument("--out", default="runs", help="parent folder of the run folder (default: runs)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML: one test case per criterion")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(fn=run)
    return p


def parse_visa(text):
    out = {}
    for part in (text or "").split(","):
        if part.strip():
            key, sep, val = part.partition("=")
            if not sep or key.strip() not in ("supply", "emulator", "backend"):
                raise ValueError("--visa: %r is not supply=..., emulator=... or backend=..." % part)
            out[key.strip()] = val.strip()
    return out


def run(args):
    from hil.junit import write_junit
    from hil.scenario import run_scenario

    target = args.target or ("serial" if args.port else "virtual")
    wrap = None
    if target == "instruments":
        from host.instruments.bench import InstrumentedPack

        visa = parse_visa(args.visa)
        wrap = lambda pack: InstrumentedPack(pack, visa)  # noqa: E731
    summary, run_dir = run_scenario(args.scenario, port=args.port, out=args.out, target=target,
                                    progress=not args.quiet, wrap_pack=wrap)
    if args.junit:
        write_junit(args.junit, summary["scenario"]["name"], summary["verdicts"], summary["wall_s"],
                    {"run_folder": run_dir, "status": summary["status"]})
    pct = lambda x: "—" if x is None else "%.2f %%" % (100 * x)  # noqa: E731
    print("%s: %s, %d samples (%.1f h simulated, %.0f samples/s); SoC RMSE once converged %s, ±2σ coverage %s" % (
        summary["scenario"]["name"], summary["status"], summary["samples"], summary["simulated_h"],
        summary["samples_per_s"], pct(summary["soc_rmse_converged"]), pct(summary["coverage_2sigma"])))
    for v in summary["verdicts"]:
        print("  %s  %s: %s" % ("pass" if v["passed"] else "FAIL", v["name"], v["reason"]))
    print("%s; run folder: %s" % ("passed" if summary["passed"] else "FAILED", run_dir))
    if summary["scenario"].get("known_failure"):
        print("known failure (expected; why): %s" % summary["scenario"]["known_failure"])
    sys.stdout.flush()
    return 0 if summary["passed"] else 1
