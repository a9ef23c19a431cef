# Board entry point. The board file (board.json beside this file, written by `nabms flash --board`) picks the
# AFE driver: none, or "injected", serves the host's samples over the USB serial line (the HIL bench, the
# virtual boards); a chip driver samples the pack on the board's own period and streams ESTIMATE frames.
# Either way the service stops on a hang-up or an authenticated TO_REPL (flashing): the board is back at its REPL.
# The bms package sits beside this file on the board (nabms flash); the unix port finds it via MICROPYPATH.
# Files in the current directory (a board's flash root; the virtual board's data folder): bms.key (provisioned at
# flash time, host/provision.py) and bms_state.0/.1 (bms.core.store).
# the detectors' module is the largest: when the board has source (flash --source), it is compiled first,
# while the heap is still in one piece (nabms flash copies precompiled .mpy files)
from bms.detect import plating  # noqa: F401
from bms import compat
from bms.comm import auth as authmod
from bms.comm import service
from bms.core import app
from bms.core.store import Store, restore, snapshot
from bms.hal import stdio

WDT_MS = 8000  # the stdio driver returns at least every second; a hung loop resets the board


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


def boot_bms(n_cells=1, preset=app.DEFAULT_PRESET, bal_r_ohm=None, lock=None):
    # `nabms flash --cell CELL.json` puts the user's cell file beside main.py; without one (or if the file is
    # refused) the board starts on the preset, and HELLO names which cell it runs. A persisted configuration
    # (an authenticated CONFIG since) is restored over it (safe_boot).
    try:
        here = __file__.rsplit("/", 1)[0] + "/" if "/" in __file__ else ""
    except NameError:
        here = ""
    try:
        from bms.config import cellfile

        return app.Bms(n_cells, cell=cellfile.load(here + "cell.json"), bal_r_ohm=bal_r_ohm, chemistry_lock=lock)
    except (OSError, ValueError, MemoryError):
        return app.Bms(n_cells, preset, bal_r_ohm=bal_r_ohm, chemistry_lock=lock)


def safe_boot(bms, auth):
    """The persisted state back (bms.core.store), and the store wired to save it again."""
    store = Store()
    try:
        snap = store.load()
        if snap is not None:
            if auth is not None:
                auth.counter = int(snap.get("counter", 0))
            restore(bms, snap)  # a configuration that no longer fits is dropped; its fault and counter are not
    except (MemoryError, ValueError, KeyError, TypeError, OSError):
        pass  # the board serves on its boot configuration

    def persist(b):
        s = snapshot(b)
        s["counter"] = auth.counter if auth else 0
        store.save(s)

    bms.on_persist = persist  # pyright: ignore[reportAttributeAccessIssue]  (any fn(bms) will do)
    return service.Session(auth)


def _watchdog():
    try:
        import machine  # type: ignore

        return machine.WDT(timeout=WDT_MS)
    except (ImportError, AttributeError, ValueError, OSError):
        return None  # the unix port has no watchdog


def main():
    compat.disable_ctrl_c()
    try:
        run(load_board())
    finally:  # a REPL frame or a hang-up: the board is back at its REPL, Ctrl-C works again (re-flashing)
        compat.disable_ctrl_c(3)


def run(board):
    try:
        auth = authmod.load()
    except (ValueError, KeyError):
        auth = None  # a damaged key file: safety frames stay refused
    lock = auth.chemistry if auth else None
    if board is None or board["afe"]["driver"] == "injected":
        port = stdio.StdioPort()
        bms = boot_bms(bal_r_ohm=board["bal_r_ohm"] if board else None, lock=lock)
        service.serve(bms, port.read_byte, port.write, safe_boot(bms, auth), _watchdog())
        return
    from bms.hal import afe, pack

    chip = pack.make_afe(board)
    bms = boot_bms(board.get("n_cells", chip.n_cells), board.get("preset", app.DEFAULT_PRESET), board["bal_r_ohm"], lock)
    session = safe_boot(bms, auth)
    chip.configure(afe.chip_limits(bms.protection.p))
    port = stdio.StdioPort(idle_ms=10)
    runner = pack.PackRunner(bms, chip, board, port.write)
    runner.session = session  # pyright: ignore[reportAttributeAccessIssue]  (read by PackRunner.run)
    runner.run(port.read_byte)


main()
