"""Every firmware-side test module in tests/mpy/ (test_*.py) runs on the real MicroPython unix port."""

from pathlib import Path

import pytest

from hil.unixport import MPY_TESTS, run_mpy_test_module

MODULES = sorted(p.stem for p in Path(MPY_TESTS).glob("test_*.py"))


@pytest.mark.mpy
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_on_micropython(module):
    ok, out = run_mpy_test_module(module)
    assert ok, "on MicroPython:\n" + out
