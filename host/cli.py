"""`nabms`: the host's command line.

  nabms run SCENARIO.json [--port /dev/ttyACM0 | --virtual] [--out runs]   closed-loop run, writes a run folder
  nabms hello --port P          handshake: firmware version, cells, preset
  nabms stats --port P          the firmware's receive/reject counters
  nabms virtual-board [--mpy]   start a virtual board and print its serial port path (Ctrl-C stops it);
                                --mpy runs the image `flash` copies (bms/*.mpy) instead of the source tree;
                                --target qemu: the emulated Cortex-M3 (MicroPython 1.29, float32), firmware in ROMFS
  nabms flash --port P [--source] [--board F] [--cell C] [--romfs] [--arch A]   copy the firmware to a board
                                (main.py, bms/ as .mpy or --source .py, board.json, cell.json), start it
                                and check that HELLO reports this firmware's version; --romfs-image OUT: the
                                ROMFS image only (host/flash.py)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hil.virtual_board import FIRMWARE, VirtualBoard
from host.deploy import build_image
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
    if args.target == "qemu":
        from hil.qemu import serve_forever

        return serve_forever(args.board)
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


def main(argv=None):
    ap = argparse.ArgumentParser(prog="nabms", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="closed-loop scenario run")
    p.add_argument("scenario")
    p.add_argument("--port", help="serial port of a real board (default: a virtual board)")
    p.add_argument("--virtual", action="store_true", help="use a virtual board (the default)")
    p.add_argument("--out", default="runs")
    p.set_defaults(fn=_cmd_run)
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
    p = sub.add_parser("virtual-board")
    p.add_argument("--mpy", action="store_true", help="run the precompiled image that flash copies")
    p.add_argument("--target", choices=("unix", "qemu"), default="unix",
                   help="unix: the MicroPython unix port; qemu: the emulated Cortex-M3 (NABMS_MCU_DIR)")
    p.add_argument("--board", choices=("an385", "an500"), default="an385", help="qemu: float32 M3 or double M7")
    p.set_defaults(fn=_cmd_virtual)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
