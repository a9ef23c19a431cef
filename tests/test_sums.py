"""The firmware's charge counters (bms.sums.Sums, used by bms.detect.context and bms.balance) keep one cycle's
charge to 0.1 % after 1,000 cycles when the sums are single-precision floats (array("f") stores float32: each
stored value is rounded as on a board without double precision)."""
from array import array

from bms.balance import BottomBalancer
from bms.detect.context import StringContext
from bms.config import detect as detect_config
from bms.sums import ChargeCount, Sums

DT_S = 10.0
I_A = 0.9  # 2.5 mAh per step: not a binary fraction
STEPS = 800  # per half cycle: 2 Ah
CYCLES = 1000


def _cycle_charge(add, read):
    """Run CYCLES cycles through add(k, x); return the discharged charge of the last one, as read()."""
    dah = I_A * DT_S / 3600.0
    for _ in range(CYCLES - 1):
        for _ in range(STEPS):
            add(0, dah)
        for _ in range(STEPS):
            add(1, dah)
    start = read(1)
    for _ in range(STEPS):
        add(0, dah)
    for _ in range(STEPS):
        add(1, dah)
    return read(1) - start, STEPS * dah


def test_compensated_float32_sums_keep_one_cycle_within_a_tenth_of_a_percent_after_1000_cycles():
    sums = Sums(2, "f")
    got, want = _cycle_charge(sums.add, lambda k: sums.v[k])
    assert abs(got - want) / want < 0.001, (got, want)


def test_plain_float32_sums_would_not():
    # the emulation bites: a plain float32 accumulator loses the cycle's charge to rounding long before
    plain = array("f", [0.0, 0.0])

    def add(k, x):
        plain[k] = plain[k] + x

    got, want = _cycle_charge(add, lambda k: plain[k])
    assert abs(got - want) / want > 0.01, (got, want)


def test_the_string_counters_are_compensated_sums():
    ctx = StringContext(2, detect_config.preset("nvp-mg-naf"))
    bal = BottomBalancer(2, 2.0, 2.3, 20.0)
    assert isinstance(ctx._count, ChargeCount) and isinstance(bal._count, ChargeCount)
    assert isinstance(bal._q, Sums)
