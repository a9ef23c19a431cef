"""A small raw-REPL client for MicroPython on the emulated micro:bit (qemu-system-arm -M microbit).

    from hil.microbit import Microbit, available
    ok, why = available()                 # (False, "reason") if qemu or the firmware hex is missing
    with Microbit() as mb:                # boots qemu (-icount shift=0: 1 emulated ns = 1 instruction)
        mb.write_file("model.py", src)    # files land on the micro:bit's flat filesystem
        out = mb.exec("import model; print(1+1)", timeout=30)   # -> "2\n"; raises MicrobitError on a traceback
        mb.exec_raw(code) -> (stdout, stderr)                    # no raise on a Python error

Why not mpremote: the micro:bit UART doubles carriage returns (\r\r\n), so mpremote's banner match
fails ("could not enter raw repl"). This client normalises \r\r\n and \r\n to \n, talks to qemu over
pipes (-serial stdio), feeds input in small paced chunks (the board's UART receive buffer
overflows while MicroPython collects garbage: bytes get dropped) and fails with MicrobitError messages that quote what the board said.
Dropped bytes are caught, not trusted away: exec() re-sends code that came back as a SyntaxError
(nothing ran), write_file() checks a checksum computed on the board and rewrites on a mismatch, and
callers streaming data should check a sum on the board before acting on it (see tests/mpy/est_microbit.py).
Files are written with open(name, 'w') in small pieces (the board has ~9 KB of heap); strip=True
(default) drops comment lines and blank lines first to save flash and parse memory.
"""
import os
import shutil
import subprocess
import threading
import time

HEX = "/usr/share/firmware-microbit-micropython/firmware.hex"
QEMU = "qemu-system-arm"


class MicrobitError(RuntimeError):
    pass


def available(hex_path=HEX, qemu=QEMU):
    """(True, "") if the emulated micro:bit can run here, else (False, a reason for a skip message)."""
    if shutil.which(qemu) is None:
        return False, "%s not found (install Debian's qemu-system-arm)" % qemu
    if not os.path.exists(hex_path):
        return False, "%s not found (install Debian's firmware-microbit-micropython)" % hex_path
    return True, ""


def _norm(b):
    return b.replace(b"\r\r\n", b"\n").replace(b"\r\n", b"\n")


def strip_source(src):
    """Drop comment-only and blank lines, and trailing "  # ..." comments on lines without quotes
    (code and strings stay intact)."""
    out = []
    for line in src.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if "  # " in line and "'" not in line and '"' not in line:
            line = line[:line.index("  # ")]
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


def _nothing_ran(err):
    # Errors raised before any of the code ran: safe to send it again.
    return "<stdin>" in err and ("SyntaxError" in err or "parser could not allocate" in err)


def _checksum(text):
    c = 0
    for ch in text.encode():
        c = (c * 31 + ch) % 65521
    return c


_CHECK_CODE = """f=open(%r)
n=c=0
while 1:
 s=f.read(64)
 if not s:
  break
 n+=len(s)
 for ch in s:
  c=(c*31+ord(ch))%%65521
f.close()
print(n,c)"""


class Microbit:
    def __init__(self, hex_path=HEX, qemu=QEMU, icount=True, boot_timeout=20.0, chunk=32, pause_s=0.01, retries=3):
        ok, why = available(hex_path, qemu)
        if not ok:
            raise MicrobitError(why)
        cmd = [qemu, "-M", "microbit", "-device", "loader,file=" + hex_path, "-nographic",
               "-serial", "stdio", "-monitor", "none"]
        if icount:
            cmd += ["-icount", "shift=0"]
        self.chunk = chunk
        self.retries = retries
        self.pause_s = pause_s
        self._buf = b""
        self._lock = threading.Condition()
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, bufsize=0)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        try:
            self._expect(b">>> ", boot_timeout, "the boot banner")
            self._enter_raw()
        except Exception:
            self.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------
    def _read_loop(self):
        out = self._proc.stdout
        while True:
            try:
                b = out.read1(4096) if hasattr(out, "read1") else os.read(out.fileno(), 4096)
            except (OSError, ValueError):
                break
            if not b:
                break
            with self._lock:
                self._buf += b
                self._lock.notify_all()

    def _expect(self, pattern, timeout, what):
        # Waits until `pattern` appears in the (normalised) output; consumes up to and including it.
        t_end = time.monotonic() + timeout
        while True:
            with self._lock:
                nb = _norm(self._buf)
                j = nb.find(pattern)
                if j >= 0 and not nb.endswith(b"\r"):
                    self._buf = nb[j + len(pattern):]
                    return nb[:j]
            if self._proc.poll() is not None:
                raise MicrobitError("qemu exited (code %s) while waiting for %s; output: %r"
                                    % (self._proc.returncode, what, nb[-300:]))
            if time.monotonic() > t_end:
                raise MicrobitError("timeout after %.0f s waiting for %s; last output: %r"
                                    % (timeout, what, nb[-300:]))
            with self._lock:
                self._lock.wait(0.05)

    def _send(self, data):
        for k in range(0, len(data), self.chunk):
            self._proc.stdin.write(data[k:k + self.chunk])
            self._proc.stdin.flush()
            time.sleep(self.pause_s)

    def _enter_raw(self):
        self._send(b"\r\x03\x03")
        time.sleep(0.1)
        with self._lock:
            self._buf = b""
        self._send(b"\x01")
        self._expect(b"raw REPL; CTRL-B to exit\n>", 10.0, "the raw REPL prompt (Ctrl-A)")

    # -- public ------------------------------------------------------------------------------
    def exec_raw(self, code, timeout=30.0):
        """Run code in the raw REPL; returns (stdout, stderr) as text with \\n line ends."""
        if isinstance(code, str):
            code = code.encode()
        self._send(code)
        self._send(b"\x04")
        try:
            head = self._expect(b"OK", 3.0, "the raw REPL's OK after sending code")
        except MicrobitError:
            # The board answers OK at once on Ctrl-D: none means the Ctrl-D byte was dropped. Resend.
            self._send(b"\x04")
            head = self._expect(b"OK", 10.0, "the raw REPL's OK after sending code (Ctrl-D sent twice)")
        if head.strip():
            raise MicrobitError("unexpected output before OK: %r" % head[-200:])
        out = self._expect(b"\x04", timeout, "the end of the program's output")
        err = self._expect(b"\x04", 10.0, "the end of the error output")
        self._expect(b">", 10.0, "the raw REPL prompt after the run")
        return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def start(self, code, settle_s=0.3):
        """Start a program that talks over the UART (e.g. input()/print() lock-step): send it and
        return once the board has accepted it; then use send_line / read_after / finish.
        If it ends within settle_s without having run (see exec), it is re-sent."""
        if isinstance(code, str):
            code = code.encode()
        for _ in range(self.retries + 1):
            self._send(code)
            self._send(b"\x04")
            head = self._expect(b"OK", 10.0, "the raw REPL's OK after sending code")
            if head.strip():
                raise MicrobitError("unexpected output before OK: %r" % head[-200:])
            time.sleep(settle_s)
            with self._lock:
                ended = _norm(self._buf).startswith(b"\x04")
            if not ended:
                return
            out, err = self.finish()
            if not _nothing_ran(err):
                raise MicrobitError("program ended at once:\n" + err.strip())
        raise MicrobitError("program did not start after %d tries: %s" % (self.retries + 1, err.strip()))

    def send_line(self, text):
        """One line to a running program (unpaced: meant for lock-step, the board waiting for it)."""
        self._proc.stdin.write(text.encode() + b"\r")
        self._proc.stdin.flush()

    def read_after(self, marker, timeout=10.0):
        """Text of the next line that follows `marker` (input() echoes what was sent: tag replies)."""
        self._expect(marker.encode(), timeout, "%r from the running program" % marker)
        return self._expect(b"\n", timeout, "the end of a line from the running program").decode("utf-8", "replace")

    def finish(self, timeout=30.0):
        """Wait for the started program to end; returns (rest of stdout, stderr)."""
        out = self._expect(b"\x04", timeout, "the end of the program's output")
        err = self._expect(b"\x04", 10.0, "the end of the error output")
        self._expect(b">", 10.0, "the raw REPL prompt after the run")
        return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def exec(self, code, timeout=30.0):
        """Run code; returns its stdout; raises MicrobitError with the traceback on a Python error.
        Code that never ran -- a SyntaxError (garbled on the UART) or the parser out of memory (it
        happens once after a lock-step program, with enough heap free) -- is retried `retries` times."""
        for _ in range(self.retries + 1):
            out, err = self.exec_raw(code, timeout)
            if not _nothing_ran(err):
                break
        if err.strip():
            raise MicrobitError("error on the micro:bit:\n" + err.strip() + ("\nstdout: " + out if out else ""))
        return out

    def write_file(self, name, text, strip=True, piece=200):
        """Write a text file on the micro:bit's filesystem (flat: no directories). The UART of a loaded emulator
        drops bytes: a piece may arrive as other valid Python that fails ("f.write(..)" losing ".write" calls the
        file), or the file may end up different; either way the whole file is written again."""
        if strip:
            text = strip_source(text)
        want = (len(text), _checksum(text))
        got = why = None
        for _ in range(self.retries + 1):
            try:
                self.exec("f=open(%r,'w')" % name)
                try:
                    for k in range(0, len(text), piece):
                        self.exec("f.write(%r)" % text[k:k + piece])
                finally:
                    self.exec_raw("f.close()")
                got = tuple(int(a) for a in self.exec(_CHECK_CODE % name).split())
            except (MicrobitError, ValueError) as e:
                why = e
                continue
            if got == want:
                return len(text)
        raise MicrobitError("%s: written file does not match after %d tries (len, checksum) %r != %r; last error: %s"
                            % (name, self.retries + 1, got, want, why))

    def upload_modules(self, paths, import_them=True, write=True):
        """Write each .py file under its base name and import them in the given order (dependencies
        first: a module's imports then find it loaded, so only one parse is in memory at a time).
        Returns {name: bytes of heap the import took}."""
        cost = {}
        for path in paths if write else ():
            name = os.path.basename(path)
            with open(path) as f:
                self.write_file(name, f.read())
        if import_them:
            for path in paths:
                mod = os.path.basename(path)[:-3]
                before = self.mem_free()
                self.exec("import " + mod)
                cost[mod] = before - self.mem_free()
        return cost

    def mem_free(self):
        return int(self.exec("import gc;gc.collect();print(gc.mem_free())").strip())

    def close(self):
        p = self._proc
        if p.poll() is None:
            p.kill()
            p.wait(5)
        for s in (p.stdin, p.stdout):
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
