# Board entry point: serve the host over the USB serial line (stdin/stdout) until it hangs up.
# The bms package sits beside this file on the board (nabms flash); the unix port finds it via MICROPYPATH.
# the detectors' module is the largest: when the board has source (flash --source), it is compiled first,
# while the heap is still in one piece (nabms flash copies precompiled .mpy files)
from bms.detect import plating  # noqa: F401
from bms import compat
from bms.comm import service
from bms.core import app
from bms.hal import stdio as board


def boot_bms():
    # `nabms flash --cell CELL.json` puts the user's cell file beside main.py; without one (or if the file is
    # refused) the board starts on the default preset, and HELLO names which cell it runs
    try:
        here = __file__.rsplit("/", 1)[0] + "/" if "/" in __file__ else ""
    except NameError:
        here = ""
    try:
        from bms.config import cellfile

        return app.Bms(cell=cellfile.load(here + "cell.json"))
    except (OSError, ValueError, MemoryError):
        return app.Bms()


def main():
    compat.disable_ctrl_c()
    port = board.StdioPort()
    service.serve(boot_bms(), port.read_byte, port.write)


main()
