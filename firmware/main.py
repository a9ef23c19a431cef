# Board entry point: serve the host over the USB serial line (stdin/stdout) until it hangs up.
# The bms package sits beside this file on the board (nabms flash); the unix port finds it via MICROPYPATH.
# the detectors' module is the largest: when the board has source (flash --source), it is compiled first,
# while the heap is still in one piece (nabms flash copies precompiled .mpy files)
from bms.detect import plating  # noqa: F401
from bms import compat
from bms.comm import service
from bms.core import app
from bms.hal import stdio as board


def main():
    compat.disable_ctrl_c()
    port = board.StdioPort()
    service.serve(app.Bms(), port.read_byte, port.write)


main()
