# Runs the test_* functions of one firmware-side test module on MicroPython; exit status 1 if any fails.
# usage: micropython tests/mpy/runner.py <module>   (with MICROPYPATH holding firmware/ and tests/mpy/)
import sys

name = sys.argv[1]
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
sys.exit(1 if failed or not passed else 0)
