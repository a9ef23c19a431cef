"""The firmware stays readable: no function over 60 lines, no module over 400 (docs/architecture.md)."""
import ast
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
MODULES = sorted(FIRMWARE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_module_and_its_functions_are_short(path):
    src = path.read_text()
    n = len(src.splitlines())
    assert n <= MAX_MODULE_LINES, "%s has %d lines (at most %d)" % (path.name, n, MAX_MODULE_LINES)
    long = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                long.append("%s (line %d): %d lines" % (node.name, node.lineno, lines))
    assert not long, "functions over %d lines in %s: %s" % (MAX_FUNCTION_LINES, path.name, ", ".join(long))


def test_the_check_sees_the_firmware():
    paths = sorted(FIRMWARE.rglob("*.py"))
    assert len(paths) > 20 and any(p.name == "plating.py" for p in paths)
