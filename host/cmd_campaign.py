"""`nabms campaign MATRIX`: a matrix of closed-loop runs on Dask, aggregated into one table, plots and a report."""

from __future__ import annotations

import os
import sys


def add_parser(sub):
    p = sub.add_parser("campaign", help="a matrix of runs (presets x temperatures x faults x magnitudes x seeds) on Dask")
    p.add_argument("matrix", help="a JSON matrix (a file, or a name from hil/campaigns)")
    p.add_argument("--scheduler", help="a Dask scheduler's address (tcp://host:8786); default: a local cluster")
    p.add_argument("--workers", type=int, help="local cluster size (default: every core, %d here)" % (os.cpu_count() or 1))
    p.add_argument("--scaling", action="store_true", help="run the suite on 1 worker, then on all local workers, and print both wall times")
    p.add_argument("--out", default="runs", help="parent folder of the campaign folder (default: runs)")
    p.add_argument("--quiet", action="store_true", help="no line per finished run")
    p.set_defaults(fn=run)
    return p


def run(args):
    from hil.campaign import aggregate, expand, load_matrix, run_jobs, table_lines, write_campaign
    from hil.report import new_run_dir

    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be >= 1")
    if args.scaling and args.scheduler:
        raise ValueError("--scaling compares local clusters; it does not take --scheduler")
    m = load_matrix(args.matrix)
    jobs = expand(m)
    progress = None if args.quiet else (lambda line: print(line, flush=True))
    n_all = args.workers or os.cpu_count() or 1
    timings = {}
    sizes = [1, n_all] if args.scaling else [None if args.scheduler else n_all]
    for n in sizes:
        where = "scheduler %s" % args.scheduler if args.scheduler else "%d local worker(s)" % n
        print("campaign %s: %d runs on %s" % (m["name"], len(jobs), where), flush=True)
        rows, wall = run_jobs(jobs, scheduler=args.scheduler, workers=n, progress=progress)
        timings[args.scheduler or str(n)] = wall
        print("  wall time on %s: %.1f s" % (where, wall), flush=True)
    table, rate = aggregate(rows)
    print("\n".join(table_lines(table, rate)))
    out = write_campaign(new_run_dir(args.out, "campaign-" + m["name"]), m, rows, table, rate, timings)
    if args.scaling:
        print("wall time: %.1f s on 1 worker, %.1f s on %d workers (x%.2f)" % (timings["1"], timings[str(n_all)], n_all,
                                                                          timings["1"] / timings[str(n_all)]))
    print("campaign folder: %s (report.html, campaign.csv, campaign.json)" % out)
    sys.stdout.flush()
    return 0
