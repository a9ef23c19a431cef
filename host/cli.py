"""`nabms`: the host's command line.

  nabms run SCENARIO [--port P | --target T] [--out runs] [--junit FILE]   closed-loop run, writes a run folder
  nabms campaign MATRIX.json [--scheduler ADDR] [--workers N] [--scaling]   a fault/seed matrix on Dask
  nabms hello --port P          handshake: firmware version, cells, preset
  nabms stats --port P          the firmware's receive/reject counters
  nabms virtual-board [--mpy]   start a virtual board and print its serial port path (Ctrl-C stops it);
                                --mpy runs the image `flash` copies (bms/*.mpy) instead of the source tree;
                                --target qemu: the emulated Cortex-M3 (MicroPython 1.29, float32), firmware in ROMFS
  nabms fit DATA... [--capacity-ah Q] [--out CELL.json]   characterisation recordings -> a cell file
  nabms replay DATA --cell CELL.json [--soc0 X] [--out DIR]   a recording through the firmware
  nabms flash --port P [--source] [--board F] [--cell C] [--romfs] [--arch A]   copy the firmware to a board
                                (main.py, bms/ as .mpy or --source .py, board.json, cell.json), start it
                                and check that HELLO reports this firmware's version; --romfs-image OUT: the
                                ROMFS image only (host/flash.py)
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
from host.deploy import build_image
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
    if args.target == "qemu":
        from hil.qemu import serve_forever

        return serve_forever(args.board)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) if args.mpy else FIRMWARE
        if args.mpy:
            build_image(root)
        with VirtualBoard(root=root) as board:
            from hil.keys import remember

            remember(board.key, persist=True)  # other processes (nabms run --port) find its key in the key store
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
    from host.flash import FlashError, build_romfs_image, flash

    try:
        if args.romfs_image:
            out = build_romfs_image(args.romfs_image, args.board, args.arch, args.cell)
            print("wrote %s (load it into a board's ROMFS partition, or boot hil.qemu with it)" % out)
            return 0
        if not args.port:
            print("flash: --port is required (or --romfs-image OUT)", file=sys.stderr)
            return 2
        version = flash(args.port, source=args.source, board_file=args.board, cell_file=args.cell, romfs=args.romfs,
                        arch=args.arch)
    except FlashError as e:
        print("flash: %s" % e, file=sys.stderr)
        return 1
    print("flashed %s: firmware %s answers HELLO" % (args.port, version))
    return 0


def _user_errors():
    """What a user's input or setup can cause: reported in one line, never as a traceback."""
    from host.flash import FlashError
    from host.instruments import InstrumentError
    from host.link import LinkError

    return (ValueError, KeyError, OSError, LinkError, InstrumentError, FlashError, subprocess.CalledProcessError)


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
    for name, fn in (("hello", _cmd_hello), ("stats", _cmd_stats)):
        p = sub.add_parser(name)
        p.add_argument("--port", required=True)
        p.set_defaults(fn=fn)
    p = sub.add_parser("flash", help="copy the firmware to a board, start it, check HELLO")
    p.add_argument("--port")
    p.add_argument("--source", action="store_true", help="copy bms/*.py instead of precompiled .mpy")
    p.add_argument("--board", help="board description (firmware/boards/*.json), copied as :board.json")
    p.add_argument("--cell", help="a cell file (nabms fit writes one) the board boots on, as :cell.json")
    p.add_argument("--romfs", action="store_true", help="deploy as a ROMFS image (boards with a ROMFS partition)")
    p.add_argument("--romfs-image", metavar="OUT", help="only write the ROMFS image to OUT (the emulated MCU)")
    p.add_argument("--arch", help="mpy-cross -march for the hot modules (armv6m: Pico, armv7m: M3, xtensawin: "
                   "ESP32); default: bytecode only")
    p.set_defaults(fn=_cmd_flash)
    from host import fit, replay

    fit.add_parser(sub)
    replay.add_parser(sub)
    p = sub.add_parser("virtual-board")
    p.add_argument("--mpy", action="store_true", help="run the precompiled image that flash copies")
    p.add_argument("--target", choices=("unix", "qemu"), default="unix",
                   help="unix: the MicroPython unix port; qemu: the emulated Cortex-M3 (NABMS_MCU_DIR)")
    p.add_argument("--board", choices=("an385", "an500"), default="an385", help="qemu: float32 M3 or double M7")
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
