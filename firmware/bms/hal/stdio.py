# Driver layer: how bytes reach the firmware on each kind of board.
# A board's USB-serial REPL and the unix port's terminal are both sys.stdin/sys.stdout, so one stdio
# driver serves the Pico, ESP32, pyboard and the virtual board (unix port on a pseudo-terminal).
import sys

try:
    import select
except ImportError:  # very small ports
    select = None


class StdioPort:
    def __init__(self, idle_ms=1000):
        self._in = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
        self._out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else sys.stdout
        self._b1 = bytearray(1)
        self._idle_ms = idle_ms
        self._poll = None
        if select is not None:
            self._poll = select.poll()
            self._poll.register(self._in, select.POLLIN)

    def read_byte(self):
        """0..255, None when idle for idle_ms, -1 at end of stream (host closed the line)."""
        if self._poll is not None and not self._poll.poll(self._idle_ms):
            return None
        try:
            n = self._in.readinto(self._b1)  # pyright: ignore[reportAttributeAccessIssue]  (MicroPython streams have it)
        except OSError:  # EIO: the other end of the pseudo-terminal went away
            return -1
        if not n:
            return -1
        return self._b1[0]

    def write(self, data):
        self._out.write(data)
        if hasattr(self._out, "flush"):
            self._out.flush()
