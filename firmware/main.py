# Board entry point. The board file (board.json beside this file, written by `nabms flash --board`) picks the
# AFE driver: none, or "injected", serves the host's samples over the USB serial line (the HIL bench, the
# virtual boards); a chip driver samples the pack on the board's own period and streams ESTIMATE frames.
# The bms package sits beside this file on the board (nabms flash); the unix port finds it via MICROPYPATH.
# the detectors' module is the largest: when the board has source (flash --source), it is compiled first,
# while the heap is still in one piece (nabms flash copies precompiled .mpy files)
from bms.detect import plating  # noqa: F401
from bms import compat
from bms.comm import service
from bms.core import app
from bms.hal import stdio


def load_board():
    try:
        open("board.json").close()
    except OSError:  # no board file: the bench (and the validator's module is never loaded: heap for 8 cells)
        return None
    from bms.config import board as boardcfg

    try:
        return boardcfg.load("board.json")
    except ValueError:  # a bad board file: touch no chip; the host still gets HELLO and can flash a good one
        return None


def boot_bms(n_cells=1, preset=app.DEFAULT_PRESET, bal_r_ohm=None):
    # `nabms flash --cell CELL.json` puts the user's cell file beside main.py; without one (or if the file is
    # refused) the board starts on the preset, and HELLO names which cell it runs
    try:
        here = __file__.rsplit("/", 1)[0] + "/" if "/" in __file__ else ""
    except NameError:
        here = ""
    try:
        from bms.config import cellfile

        return app.Bms(n_cells, cell=cellfile.load(here + "cell.json"), bal_r_ohm=bal_r_ohm)
    except (OSError, ValueError, MemoryError):
        return app.Bms(n_cells, preset, bal_r_ohm=bal_r_ohm)


def main():
    compat.disable_ctrl_c()
    try:
        run(load_board())
    finally:  # a REPL frame or a hang-up: the board is back at its REPL, Ctrl-C works again (re-flashing)
        compat.disable_ctrl_c(3)


def run(board):
    if board is None or board["afe"]["driver"] == "injected":
        port = stdio.StdioPort()
        service.serve(boot_bms(bal_r_ohm=board["bal_r_ohm"] if board else None), port.read_byte, port.write)
        return
    from bms.hal import afe, pack

    chip = pack.make_afe(board)
    bms = boot_bms(board.get("n_cells", chip.n_cells), board.get("preset", app.DEFAULT_PRESET), board["bal_r_ohm"])
    chip.configure(afe.chip_limits(bms.protection.p))
    port = stdio.StdioPort(idle_ms=10)
    pack.PackRunner(bms, chip, board, port.write).run(port.read_byte)


main()
