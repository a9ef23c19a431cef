# The one place that papers over CPython / MicroPython differences, so the rest of bms/ need not.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const  # type: ignore
except ImportError:  # CPython

    def const(x):
        return x


try:
    import time

    ticks_ms = time.ticks_ms  # type: ignore[attr-defined]
    ticks_diff = time.ticks_diff  # type: ignore[attr-defined]
except AttributeError:  # CPython
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


def disable_ctrl_c(char=-1):
    # Binary frames may contain 0x03; on a board's USB REPL that byte would raise KeyboardInterrupt.
    # char=3 gives Ctrl-C back (the firmware has returned to the REPL).
    try:
        import micropython  # type: ignore

        micropython.kbd_intr(char)
    except (ImportError, AttributeError):
        pass


def isfinite(x):
    # math.isfinite is missing on some small ports; x - x is 0.0 only for finite x.
    return (x - x) == 0.0
