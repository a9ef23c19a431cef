# Runs the test_* functions of one firmware-side test module on MicroPython; exit status 1 if any fails.
# usage: micropython tests/mpy/runner.py <module>   (with MICROPYPATH holding firmware/ and tests/mpy/)
# On a board without argv (the emulated Cortex-M3): `from runner import run; run('<module>')` (hil.qemu).
import sys


def run(name):
    """Run the module's test_* functions; True when all passed (and there was at least one)."""
    mod = __import__(name)
    failed = 0
    passed = 0
    for attr in sorted(dir(mod)):
        if not attr.startswith("test_"):
            continue
        fn = getattr(mod, attr)
        try:
            fn()
            passed += 1
            print("PASS", attr)
        except Exception as e:
            failed += 1
            print("FAIL", attr, type(e).__name__, e)
            sys.print_exception(e)
    print("%d passed, %d failed" % (passed, failed))
    return passed > 0 and not failed


if len(getattr(sys, "argv", ())) > 1:
    sys.exit(0 if run(sys.argv[1]) else 1)
