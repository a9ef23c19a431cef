"""The firmware on an emulated MCU: MicroPython 1.29 (upstream `ports/qemu`) on QEMU's Cortex-M3 board `mps2-an385`
(float32, 140 KB heap), the firmware loaded as a ROMFS image, the UART on a pseudo-terminal.

    from hil.qemu import QemuBoard, available
    ok, why = available()                      # (False, "reason") where qemu or the image is missing
    with QemuBoard() as board:                 # builds build/qemu/fw.romfs from firmware/, boots qemu
        board.exec("print(1/3)")               # raw REPL: -> "0.33333334\\n"
        board.start_main()                     # soft reset, `import main`: protocol v2 on board.port
        with BoardLink(board.port) as link: ...

The image: `NABMS_MCU_DIR` names a folder holding `firmware-MPS2_AN385.elf` (and `firmware-MPS2_AN500.elf`, the
same board with double-precision floats). `.ci/run` points it at `../shared/mcu` when that folder exists;
`make mcu-image` builds both into `build/mcu/` from MicroPython's source. Without it the tests skip.

What the board runs is what `nabms flash` deploys: `host.deploy.build_image` (the .mpy files, main.py) packed by
`mpremote romfs build --no-mpy`. The port has no writable filesystem and runs no main.py at boot, so `start_main`
does what a board's boot would: a soft reset in the raw REPL (a clean heap), then `import main`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hil.virtual_board import FIRMWARE, REPO
from hil.rawrepl import RawRepl, ReplError

ENV_MCU_DIR = "NABMS_MCU_DIR"
QEMU = "qemu-system-arm"
# board -> (qemu machine, ELF name, ROMFS load address: the port's ROMFS partition)
MACHINES = {
    "an385": ("mps2-an385", "firmware-MPS2_AN385.elf", 0x21000000),  # Cortex-M3, float32
    "an500": ("mps2-an500", "firmware-MPS2_AN500.elf", 0x60C00000),  # Cortex-M7, double
}
BUILD = REPO / "build" / "qemu"


class QemuError(RuntimeError):
    """The emulated board did not answer as expected (quotes what it said)."""


def mcu_dir() -> Path | None:
    d = os.environ.get(ENV_MCU_DIR)
    if d:
        return Path(d)
    local = REPO / "build" / "mcu"  # where `make mcu-image` puts its build
    return local if local.is_dir() else None


def elf_path(board: str = "an385") -> Path | None:
    d = mcu_dir()
    if d is None:
        return None
    p = d / MACHINES[board][1]
    return p if p.exists() else None


def available(board: str = "an385") -> tuple[bool, str]:
    """(True, "") when the emulated board can run here, else (False, a reason for a skip message)."""
    if shutil.which(QEMU) is None:
        return False, "%s not found (tools/system-deps.sh installs it)" % QEMU
    d = mcu_dir()
    if d is None:
        return False, "no MicroPython image: set %s to a folder with %s (or run `make mcu-image`)" % (
            ENV_MCU_DIR, MACHINES[board][1])
    if elf_path(board) is None:
        return False, "%s not found in %s=%s" % (MACHINES[board][1], ENV_MCU_DIR, d)
    return True, ""


def build_romfs(out: Path, extra: tuple = (), arch: str | None = None, src: Path = FIRMWARE) -> Path:
    """Pack what flash deploys (host.deploy.build_image: main.py and bms/**/*.mpy, bytecode; arch: the hot
    modules as machine code, flash --arch) into a ROMFS image at out. extra: files or folders put at the image's
    root, or (file, name) pairs (test modules, which mpremote compiles; board files; board.json and cell.json).
    src: another firmware tree (the bench compares branches). flash --romfs-image writes this image too."""
    from host.deploy import build_image

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        build_image(Path(tmp), src=Path(src), arch=arch)
        for f in extra:
            f, name = f if isinstance(f, tuple) else (f, Path(f).name)
            if Path(f).is_dir():
                shutil.copytree(f, Path(tmp) / name)
            else:
                shutil.copyfile(f, Path(tmp) / name)
        # --mpy compiles the extra .py files; main.py is compiled too, which the board imports like the source
        r = subprocess.run([sys.executable, "-m", "mpremote", "romfs", "-o", str(out), "build", tmp],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0 or not out.exists():
            raise QemuError("mpremote romfs build failed: %s" % (r.stderr or r.stdout).strip())
    return out


def key_file(dest_dir) -> tuple:
    """A new board key as bms.key, to put in a ROMFS image ((file, name) for build_romfs's extra); BoardLink in this
    process finds it (hil.keys, not persisted). main runs in /rom, where the image's bms.key is its key file."""
    from hil.keys import key_file_text, new_key, remember

    key = new_key()
    path = Path(dest_dir) / "bms.key"
    path.write_text(key_file_text(key))
    remember(key, persist=False)
    return (path, "bms.key")


class QemuBoard:
    """qemu-system-arm running MicroPython with the firmware as a ROMFS image; its UART is `self.port`."""

    def __init__(self, board: str = "an385", romfs: Path | None = None, icount: int | None = None,
                 extra: tuple = (), native: bool = False, src: Path = FIRMWARE, key: bool = True):
        ok, why = available(board)
        if not ok:
            raise QemuError(why)
        self.board = board
        self.romfs = romfs
        self.extra = extra
        self.native = native
        self.src = src
        self.key = key  # a provisioned bms.key in the image it builds (a romfs given is used as it is)
        self.icount = icount
        self.proc: subprocess.Popen | None = None
        self.port = ""
        self._ser = None
        self._log = tempfile.TemporaryFile()

    # -- life cycle --
    def start(self, timeout_s: float = 10.0) -> "QemuBoard":
        machine, elf, rom_addr = MACHINES[self.board]
        if self.romfs is None:
            extra = tuple(self.extra)
            if self.key:
                self._keydir = tempfile.TemporaryDirectory()
                extra += (key_file(self._keydir.name),)
            self.romfs = build_romfs(BUILD / ("fw-%d.romfs" % os.getpid()), extra,
                                     "armv7m" if self.native else None, self.src)
            self._own_romfs = True
        cmd = [QEMU, "-machine", machine, "-nographic", "-monitor", "null", "-semihosting", "-serial", "pty",
               "-kernel", str(elf_path(self.board)),
               "-device", "loader,file=%s,addr=%#x,force-raw=on" % (self.romfs, rom_addr)]
        if self.icount is not None:
            cmd += ["-icount", "shift=%d" % self.icount]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            m = re.search(rb"/dev/pts/\d+", self._log_bytes())
            if m:
                self.port = m.group(0).decode()
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log = self._log_bytes().decode(errors="replace")
        self.stop()
        raise QemuError("qemu did not report a pty: %s" % log.strip())

    def _log_bytes(self) -> bytes:
        self._log.seek(0)
        return self._log.read()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        self._close_serial()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if getattr(self, "_own_romfs", False) and self.romfs is not None:
            Path(self.romfs).unlink(missing_ok=True)
            self.romfs = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- raw REPL --
    def _repl(self) -> RawRepl:
        if self._ser is None:
            self._ser = RawRepl(self.port)
        return self._ser

    def _close_serial(self):
        if self._ser is not None:
            self._ser.close()
            self._ser = None

    def enter_raw_repl(self, soft_reset: bool = True):
        """Interrupt whatever runs, enter the raw REPL; soft_reset: a clean heap (globals of earlier runs freed)."""
        self._repl().enter(soft_reset)

    def exec_raw(self, code: str, timeout_s: float = 60.0) -> tuple[str, str]:
        """Run code at the raw REPL prompt; (stdout, stderr text)."""
        return self._repl().exec_raw(code, timeout_s)

    def exec(self, code: str, timeout_s: float = 60.0, soft_reset: bool = True) -> str:
        """Run code in a fresh raw REPL; stdout, or QemuError quoting the board's traceback."""
        try:
            self.enter_raw_repl(soft_reset)
            out, err = self.exec_raw(code, timeout_s)
        except ReplError as e:
            raise QemuError(str(e)) from None
        if err:
            raise QemuError("on the board: " + (out + err).strip())
        return out

    def start_main(self, timeout_s: float = 10.0):
        """Boot the firmware as a board would: soft reset, `import main` (it never returns: protocol v2 on the
        UART). The pty is released so BoardLink can open it."""
        try:
            self.enter_raw_repl(soft_reset=True)
            # the board's flash root is where main finds bms.key, board.json and its store: here the ROMFS
            self._repl().start(START_MAIN_IN_ROM, timeout_s)
        except ReplError as e:
            raise QemuError(str(e)) from None
        self._close_serial()


START_MAIN_IN_ROM = "import os\ntry:\n    os.chdir('/rom')\nexcept OSError:\n    pass\nimport main"


def serve_forever(board: str = "an385") -> int:
    """`nabms virtual-board --target qemu`: boot, start main, print the pty, run until Ctrl-C."""
    ok, why = available(board)
    if not ok:
        print("virtual-board: " + why, file=sys.stderr)
        return 2
    import signal

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # a plain kill still stops qemu (the with block)
    try:
        with QemuBoard(board=board) as b:
            b.start_main()
            print(b.port, flush=True)
            try:
                while b.alive():
                    time.sleep(0.2)
            except KeyboardInterrupt:
                return 0
            print("virtual-board: qemu exited: " + b._log_bytes().decode(errors="replace").strip(), file=sys.stderr)
            return 1
    except QemuError as e:
        print("virtual-board: %s" % e, file=sys.stderr)
        return 1


# tests/mpy/runner.py itself (the ROMFS carries tests/mpy/; the port has no sys.argv)
MPY_TEST_CODE = "from runner import run\nrun(%r)\n"


def run_mpy_test_module(board: QemuBoard, name: str, timeout_s: float = 300.0) -> tuple[bool, str]:
    """Run tests/mpy/<name>.py's test_* functions on the board with tests/mpy/runner.py (both must be in its
    ROMFS, as on the unix port); (ok, output)."""
    out, err = "", ""
    try:
        board.enter_raw_repl(soft_reset=True)
        out, err = board.exec_raw(MPY_TEST_CODE % name, timeout_s)
    except (QemuError, ReplError) as e:
        err = str(e)
    text = out + err
    ok = not err and re.search(r"^\d+ passed, 0 failed$", out, re.M) is not None and " 0 passed" not in out
    return ok, text
