# Board entry point: serve the host over the USB serial line (stdin/stdout) until it hangs up.
import sys

sys.path.append("/lib")  # boards keep the bms package in /lib; the unix port finds it through MICROPYPATH

from bms import app, board, compat


def main():
    compat.disable_ctrl_c()
    port = board.StdioPort()
    app.serve(app.Bms(), port.read_byte, port.write)


main()
