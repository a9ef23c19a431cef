"""`nabms flash`: put the firmware on a MicroPython board and prove it runs.

  1. A board already running the firmware is asked back to its REPL (protocol REPL frame); one at its REPL
     is used as it is.
  2. The board's .mpy version is checked against mpy-cross's; the image (host.deploy.build_image, hot modules
     native when --arch is given) is copied with mpremote: into the board's filesystem, or as a ROMFS image
     (--romfs, boards with a ROMFS partition: `mpremote romfs deploy`). --board FILE adds the board
     description as :board.json, --cell FILE the cell file as :cell.json (both validated here first).
  3. main is started and HELLO must answer with this firmware's version.

Every step has a timeout; a failure is one line naming the step (FlashError), never a traceback.
`build_romfs_image` writes the ROMFS image only (the emulated MCU loads it at boot: hil.qemu).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host.deploy import build_image, check_board_abi, mpy_cross_abi

STEP_TIMEOUT_S = 30.0


class FlashError(RuntimeError):
    pass


def _mpremote(port, args, what, timeout_s=STEP_TIMEOUT_S, check=True):
    cmd = [sys.executable, "-m", "mpremote", "connect", port, "resume"] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise FlashError("%s: %s did not answer within %.0f s (is it a MicroPython board at its REPL?)" % (
            what, port, timeout_s)) from None
    if check and r.returncode != 0:
        last = (r.stderr or r.stdout).strip().splitlines()
        raise FlashError("%s on %s failed: %s" % (what, port, last[-1] if last else "exit %d" % r.returncode))
    return r


def return_to_repl(port, timeout_s=1.0) -> bool:
    """Ask a board running the firmware to stop serving (REPL frame). False when nothing answered in protocol
    (the board is at its REPL already, or runs something else)."""
    from hil.link import BoardLink, LinkError

    try:
        with BoardLink(port, timeout_s=timeout_s, retries=1) as link:
            link.repl()
        return True
    except (LinkError, OSError):
        return False


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

# the board's filesystem must have directories for the bms package (the micro:bit's flat one has not)
_PROBE = "import os, sys; print(getattr(sys.implementation, '_mpy', 0), hasattr(os, 'mkdir'))"


def _extras(board_file, cell_file):
    """[(local file, name on the board)] for the board and cell files, each validated before anything is copied."""
    from bms.config import board as boardcfg
    from bms.config import cellfile

    out = []
    for f, name, load in ((board_file, "board.json", boardcfg.load), (cell_file, "cell.json", cellfile.load)):
        if f is None:
            continue
        try:
            load(str(f))
        except (OSError, ValueError) as e:
            raise FlashError("%s %s: %s" % (name.split(".")[0], f, e)) from None
        out.append((Path(f), name))
    return out


def flash(port, source=False, board_file=None, cell_file=None, romfs=False, arch=None, log=print):
    """Copy, start, verify; returns the firmware version the board reports."""
    from bms import VERSION

    extras = _extras(board_file, cell_file)
    if return_to_repl(port):
        log("the firmware on %s returned to its REPL" % port)
    r = _mpremote(port, ["exec", _PROBE], "reading the board's MicroPython version")
    words = r.stdout.split()
    if len(words) < 2:
        raise FlashError("reading the board's MicroPython version: unexpected answer %r" % r.stdout.strip())
    impl_mpy, has_dirs = int(words[-2]), words[-1] == "True"
    with tempfile.TemporaryDirectory() as tmp:
        if source:
            from hil.virtual_board import FIRMWARE

            root = FIRMWARE
            files = (sorted((FIRMWARE / "bms").rglob("*.py")) + sorted((FIRMWARE / "cells").glob("*.json"))
                     + [FIRMWARE / "main.py"])
        else:
            try:
                check_board_abi(impl_mpy)
                if arch and not (impl_mpy >> 10) & 0x3F:
                    raise RuntimeError("the board's MicroPython loads no native code: flash without --arch")
                if arch and (impl_mpy >> 8) & 3 != mpy_cross_abi()[1]:
                    raise RuntimeError("native code needs .mpy sub-version %d, the board reads %d: flash without "
                                       "--arch" % (mpy_cross_abi()[1], (impl_mpy >> 8) & 3))
                files = build_image(Path(tmp), arch=arch)
            except RuntimeError as e:
                raise FlashError(str(e)) from None
            root = Path(tmp)
        if romfs:
            if source:
                raise FlashError("--romfs deploys the compiled image: drop --source")
            for f, name in extras:
                (root / name).write_bytes(f.read_bytes())
            _mpremote(port, ["romfs", "--no-mpy", "deploy", str(root)], "writing the ROMFS partition", 120)
        else:
            if not has_dirs:
                raise FlashError("%s has no directories in its filesystem (a micro:bit?): the bms package cannot "
                                 "be copied; use a board with a ROMFS partition (--romfs) or freeze it into the "
                                 "image (docs/boards.md)" % port)
            _mpremote(port, ["exec", _REMOVE_OTHER % (".mpy" if source else ".py")], "removing stale modules")
            rest = [f for f in files if f.name != "main.py"]
            for d in sorted({f.parent.relative_to(root) for f in rest}):
                _mpremote(port, ["exec", "import os\ntry:\n os.mkdir(%r)\nexcept OSError:\n pass" % d.as_posix()],
                          "making :%s" % d.as_posix())
                _mpremote(port, ["fs", "cp"] + [str(f) for f in rest if f.parent.relative_to(root) == d]
                          + [":" + d.as_posix() + "/"], "copying %s" % d.as_posix(), 120)
            _mpremote(port, ["fs", "cp", str(root / "main.py"), ":main.py"], "copying main.py")
            for f, name in extras:
                _mpremote(port, ["fs", "cp", str(f), ":" + name], "copying " + name)
        log("copied main.py, %d files%s%s" % (len(files) - 1, "".join(", " + n for f, n in extras),
                                              " as ROMFS" if romfs else ""))
    version = start_and_verify(port, romfs)
    if version != VERSION:
        raise FlashError("the board answers HELLO with firmware %r, this tree is %r: the copy did not take" % (
            version, VERSION))
    return version


def start_and_verify(port, soft_reset=False, timeout_s=STEP_TIMEOUT_S) -> str:
    """Start main over the raw REPL and return the firmware version HELLO reports."""
    from hil.link import BoardLink, LinkError
    from hil.rawrepl import START_MAIN, RawRepl, ReplError

    try:
        with RawRepl(port) as rr:
            rr.enter(soft_reset=soft_reset)  # a ROMFS changes under a running VM: remount it with a soft reset
            rr.start(START_MAIN)
        time.sleep(0.2)
        with BoardLink(port, timeout_s=min(5.0, timeout_s)) as link:
            return link.hello()["fw_version"]
    except ReplError as e:
        raise FlashError("starting main: %s" % e) from None
    except (LinkError, OSError) as e:
        raise FlashError("verifying: main did not answer HELLO on %s (%s)" % (port, e)) from None


def build_romfs_image(out, board_file=None, arch=None, cell_file=None) -> Path:
    """The ROMFS image flash --romfs deploys, written to out (what hil.qemu boots)."""
    from hil.qemu import QemuError, build_romfs

    extras = tuple((f, name) for f, name in _extras(board_file, cell_file))
    try:
        return build_romfs(Path(out), extras, arch)
    except (QemuError, RuntimeError) as e:
        raise FlashError(str(e)) from None
