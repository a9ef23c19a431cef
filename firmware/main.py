# Board entry point: serve the host over the USB serial line (stdin/stdout) until it hangs up, or until an
# authenticated TO_REPL frame hands the line back to the REPL (for flashing).
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
from bms.hal import stdio as board

WDT_MS = 8000  # the stdio driver returns at least every second; a hung loop resets the board


def _watchdog():
    try:
        import machine  # type: ignore

        return machine.WDT(timeout=WDT_MS)
    except (ImportError, AttributeError, ValueError, OSError):
        return None  # the unix port has no watchdog


def boot_bms(lock):
    # `nabms flash --cell CELL.json` puts the user's cell file beside main.py; without one (or if the file is
    # refused) the board starts on the default preset, and HELLO names which cell it runs. A persisted
    # configuration (an authenticated CONFIG since) is restored over it in main().
    try:
        here = __file__.rsplit("/", 1)[0] + "/" if "/" in __file__ else ""
    except NameError:
        here = ""
    try:
        from bms.config import cellfile

        return app.Bms(cell=cellfile.load(here + "cell.json"), chemistry_lock=lock)
    except (OSError, ValueError, MemoryError):
        return app.Bms(chemistry_lock=lock)


def main():
    compat.disable_ctrl_c()
    port = board.StdioPort()
    try:
        auth = authmod.load()
    except (ValueError, KeyError):
        auth = None  # a damaged key file: safety frames stay refused
    bms = boot_bms(auth.chemistry if auth else None)
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
    session = service.Session(auth)
    if service.serve(bms, port.read_byte, port.write, session, _watchdog()) == service.REPL:
        compat.enable_ctrl_c()


main()
