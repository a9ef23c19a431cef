"""The firmware-side test modules in tests/mpy/ on CPython too (tests/test_on_micropython.py runs them on the
MicroPython unix port): the firmware must behave the same on both. Loaded under their own names, since
tests/mpy/test_protocol.py shares its basename with tests/test_protocol.py."""
import importlib.util
import sys

import pytest

from hil.unixport import MPY_TESTS

sys.path.insert(0, str(MPY_TESTS))  # their helper modules (chips.py: the emulated AFE chips), as on MicroPython


def _load(stem):
    spec = importlib.util.spec_from_file_location("mpy_" + stem, MPY_TESTS / (stem + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CASES = [(p.stem, name) for p in sorted(MPY_TESTS.glob("test_*.py"))
         for name in sorted(vars(_load(p.stem))) if name.startswith("test_")]


@pytest.mark.parametrize("stem,name", CASES)
def test_mpy_case_passes_on_cpython(stem, name):
    getattr(_load(stem), name)()
