"""`nabms`: the host's command line.

  nabms run SCENARIO.json [--port /dev/ttyACM0 | --virtual] [--out runs]   closed-loop run, writes a run folder
  nabms hello --port P          handshake: firmware version, cells, preset
  nabms stats --port P          the firmware's receive/reject counters
  nabms virtual-board           start a virtual board and print its serial port path (Ctrl-C stops it)
  nabms flash --port P          copy firmware/ to a MicroPython board with mpremote
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from hil.virtual_board import FIRMWARE, VirtualBoard
from host.link import BoardLink


def _cmd_run(args):
    from hil.scenario import run_scenario

    summary, run_dir = run_scenario(args.scenario, port=args.port, out=args.out)
    print(json.dumps({k: summary[k] for k in ("samples", "soc_rmse", "samples_per_s", "passed")}, indent=None))
    print("run folder:", run_dir)
    return 0 if summary["passed"] else 1


def _cmd_hello(args):
    with BoardLink(args.port) as link:
        print(json.dumps(link.hello()))
    return 0


def _cmd_stats(args):
    with BoardLink(args.port) as link:
        print(json.dumps(link.stats(), indent=2))
    return 0


def _cmd_virtual(args):
    with VirtualBoard() as board:
        print(board.port, flush=True)
        try:
            while board.alive():
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        if not board.alive():
            print(board.stderr_text(), file=sys.stderr)
    return 0


def _cmd_flash(args):
    # main.py at the root, the package beside it: the board imports `bms` from its root filesystem
    mp = [sys.executable, "-m", "mpremote", "connect", args.port]
    subprocess.run(mp + ["fs", "mkdir", ":bms"], check=False)
    files = sorted((FIRMWARE / "bms").glob("*.py"))
    subprocess.run(mp + ["fs", "cp"] + [str(f) for f in files] + [":bms/"], check=True)
    subprocess.run(mp + ["fs", "cp", str(FIRMWARE / "main.py"), ":main.py"], check=True)
    print("flashed %d modules to %s" % (len(files) + 1, args.port))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="nabms", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="closed-loop scenario run")
    p.add_argument("scenario")
    p.add_argument("--port", help="serial port of a real board (default: a virtual board)")
    p.add_argument("--virtual", action="store_true", help="use a virtual board (the default)")
    p.add_argument("--out", default="runs")
    p.set_defaults(fn=_cmd_run)
    for name, fn in (("hello", _cmd_hello), ("stats", _cmd_stats), ("flash", _cmd_flash)):
        p = sub.add_parser(name)
        p.add_argument("--port", required=True)
        p.set_defaults(fn=fn)
    sub.add_parser("virtual-board").set_defaults(fn=_cmd_virtual)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
