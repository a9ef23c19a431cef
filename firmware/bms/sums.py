# Running sums that stay exact in single precision: a charge counter grows by ~2 Ah a cycle, and a float32 sum of
# 2 s increments loses them once the total is large (at 2,000 Ah one float32 step is 0.12 mAh). Kahan's
# compensation keeps the lost low bits, so any difference of two totals stays within ~2 ulp of the total.
from array import array

try:
    array("d", [0.0])
    _TYPECODE = "d"
except ValueError:  # a port with single-precision floats only
    _TYPECODE = "f"


class Sums:
    """n running sums: v[k] is sum k; add(k, x) adds x to it. typecode "f" stores them as float32 (tests)."""

    def __init__(self, n, typecode=None):
        tc = typecode or _TYPECODE
        self.v = array(tc, [0.0] * n)
        self._c = array(tc, [0.0] * n)

    def add(self, k, x):
        y = x - self._c[k]
        s = self.v[k]
        self.v[k] = s + y
        self._c[k] = (self.v[k] - s) - y


class ChargeCount:
    """A string's counted charge [Ah]: net (charge > 0) and discharged, as compensated sums."""

    def __init__(self):
        self._s = Sums(2)
        self.net = 0.0
        self.dis = 0.0

    def add(self, dah):
        s = self._s
        s.add(0, dah)
        self.net = s.v[0]
        if dah < 0.0:
            s.add(1, -dah)
            self.dis = s.v[1]


def floats(n, x=0.0):
    """n floats stored unboxed (a list of n floats holds n float objects besides its n pointers)."""
    return array(_TYPECODE, [x] * n)
