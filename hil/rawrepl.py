"""A small raw-REPL client over a serial line (a board's USB port, the emulated MCU's pty, the unix port's pty).

mpremote does the same for file copies; the project needs two things it lacks: starting `main` without waiting
for it to return (it serves the protocol from then on), and timeouts that end in one clear line.
"""

from __future__ import annotations

import time


class ReplError(RuntimeError):
    """The board did not answer as the raw REPL does (quotes what it said)."""


class RawRepl:
    def __init__(self, port: str, baudrate: int = 115200):
        import serial

        self.port = port
        self.ser = serial.Serial(port, baudrate, timeout=0.05)

    def close(self):
        self.ser.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def expect(self, ending: bytes, timeout_s: float, what: str, buf: bytes = b"") -> bytes:
        end = time.monotonic() + timeout_s
        while ending not in buf:
            if time.monotonic() > end:
                raise ReplError("%s on %s: no %r within %.0f s; the board said %r" % (
                    what, self.port, ending, timeout_s, buf[-200:]))
            buf += self.ser.read(max(1, self.ser.in_waiting))
        return buf

    def enter(self, soft_reset: bool = True, timeout_s: float = 5.0):
        """Interrupt whatever runs and enter the raw REPL; soft_reset: a clean heap (not on the unix port, where
        a soft reset ends the process)."""
        s = self.ser
        s.write(b"\r\x03\x03")
        time.sleep(0.1)
        s.reset_input_buffer()
        s.write(b"\x01")
        self.expect(b"raw REPL; CTRL-B to exit\r\n>", timeout_s, "entering the raw REPL")
        if soft_reset:
            s.write(b"\x04")
            buf = self.expect(b"soft reboot", timeout_s, "soft reset")
            self.expect(b">", timeout_s, "soft reset", buf.split(b"soft reboot", 1)[1])

    def exec_raw(self, code: str, timeout_s: float = 60.0) -> tuple[str, str]:
        """Run code at the raw REPL prompt; (stdout, stderr) text."""
        self.ser.write(code.encode() + b"\x04")
        buf = self.expect(b"OK", 5, "sending code")
        buf = self.expect(b"\x04", timeout_s, "running code", buf.split(b"OK", 1)[1])
        out, rest = buf.split(b"\x04", 1)
        rest = self.expect(b"\x04>", timeout_s, "reading stderr", rest)
        err = rest.split(b"\x04>", 1)[0]
        return (out.decode(errors="replace").replace("\r\n", "\n"),
                err.decode(errors="replace").replace("\r\n", "\n"))

    def start(self, code: str, timeout_s: float = 10.0):
        """Start code that never returns (main): wait for the raw REPL's OK only."""
        self.ser.write(code.encode() + b"\x04")
        self.expect(b"OK", timeout_s, "starting main")


# forgets modules a running image imported, so `import main` loads what was just copied (the unix port cannot
# soft-reset without ending its process)
START_MAIN = """import sys
for _k in list(sys.modules):
    if _k == 'main' or _k == 'bms' or _k.startswith('bms.'):
        del sys.modules[_k]
import main"""
