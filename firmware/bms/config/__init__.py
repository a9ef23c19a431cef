# Configuration: cell parameters and presets (cell), cell files (cellfile, cellschema), detector thresholds
# (detect), board files (board), safety constants (constants).
# The parsers and presets are needed only while configuring: a board unloads them afterwards (free_modules).
MODULES = ("bms.config.cellfile", "bms.config.cellschema", "bms.config.cell", "bms.config.detect", "bms.config.board")


def free_modules():
    """Unload MODULES on a board (MicroPython) after a configuration: their ~8 KB go back to the heap, which a
    16-cell string on a 140 KB MCU needs (docs/boards.md, the tick budget); the next configuration imports them
    again. CPython keeps them (callers and tests hold their objects)."""
    import sys

    if sys.implementation.name != "micropython":
        return
    import gc

    pkg = sys.modules["bms.config"]
    for name in MODULES:
        if name in sys.modules:
            del sys.modules[name]
        attr = name[len("bms.config."):]
        if hasattr(pkg, attr):
            delattr(pkg, attr)
    gc.collect()
