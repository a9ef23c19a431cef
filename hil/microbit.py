"""A small raw-REPL client for MicroPython on the emulated micro:bit (qemu-system-arm -M microbit).

    from hil.microbit import Microbit, available
    ok, why = available()                 # (False, "reason") if qemu or the firmware hex is missing
    with Microbit() as mb:                # boots qemu (-icount shift=0: 1 emulated ns = 1 instruction)
        mb.write_file("model.py", src)    # files land on the micro:bit's flat filesystem
        out = mb.exec("import model; print(1+1)", timeout=30)   # -> "2\n"; raises MicrobitError on a traceback
        mb.exec_raw(code) -> (stdout, stderr)                    # no raise on a Python error

Why not mpremote: the micro:bit UART doubles carriage returns (\r\r\n), so mpremote's banner match
fails ("could not enter raw repl"). This client normalises \r\r\n and \r\n to \n, talks to qemu over
pipes (-serial stdio), feeds input in small paced chunks (the emulated UART has a tiny receive
buffer and no flow control) and fails with MicrobitError messages that quote what the board said.
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
    """Drop comment-only and blank lines (keeps code and strings intact otherwise)."""
    out = []
    for line in src.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


class Microbit:
    def __init__(self, hex_path=HEX, qemu=QEMU, icount=True, boot_timeout=20.0, chunk=48, pause_s=0.02):
        ok, why = available(hex_path, qemu)
        if not ok:
            raise MicrobitError(why)
        cmd = [qemu, "-M", "microbit", "-device", "loader,file=" + hex_path, "-nographic",
               "-serial", "stdio", "-monitor", "none"]
        if icount:
            cmd += ["-icount", "shift=0"]
        self.chunk = chunk
        self.pause_s = pause_s
        self._buf = b""
        self._lock = threading.Lock()
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
            time.sleep(0.005)

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
        head = self._expect(b"OK", 10.0, "the raw REPL's OK after sending code")
        if head.strip():
            raise MicrobitError("unexpected output before OK: %r" % head[-200:])
        out = self._expect(b"\x04", timeout, "the end of the program's output")
        err = self._expect(b"\x04", 10.0, "the end of the error output")
        self._expect(b">", 10.0, "the raw REPL prompt after the run")
        return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def exec(self, code, timeout=30.0):
        """Run code; returns its stdout; raises MicrobitError with the traceback on a Python error."""
        out, err = self.exec_raw(code, timeout)
        if err.strip():
            raise MicrobitError("error on the micro:bit:\n" + err.strip() + ("\nstdout: " + out if out else ""))
        return out

    def write_file(self, name, text, strip=True, piece=200):
        """Write a text file on the micro:bit's filesystem (flat: no directories)."""
        if strip:
            text = strip_source(text)
        self.exec("f=open(%r,'w')" % name)
        try:
            for k in range(0, len(text), piece):
                self.exec("f.write(%r)" % text[k:k + piece])
        finally:
            self.exec("f.close()")
        return len(text)

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
