"""The estimator core runs on the emulated micro:bit (MicroPython 1.9.2, ~9 KB heap, 32-bit floats)
and stays within 0.2 % SoC of the double-precision run over a full discharge/charge cycle."""

import sys
from pathlib import Path

import pytest

from bms.config import cell as cellparams
from bms.est.ekf import SocEkf
from hil.microbit import Microbit, available

sys.path.insert(0, str(Path(__file__).parent / "mpy"))
import est_inputs  # noqa: E402
import est_microbit  # noqa: E402

OK, WHY = available()
pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not OK, reason="emulated micro:bit unavailable: " + WHY)]

DT = 5.0


def _full_cycle(name):
    seq = []
    went_low = False
    for step in est_inputs.sequence(6000, dt=DT, name=name, soc0=0.95):
        seq.append(step)
        went_low = went_low or step[4] < 0.05
        if went_low and step[4] > 0.95:
            break
    return seq


@pytest.mark.parametrize("name", ["nvp-bare-cu"])
def test_single_precision_core_tracks_double_over_a_full_cycle(name):
    p = cellparams.preset(name)
    seq = _full_cycle(name)
    true_soc = [s[4] for s in seq]
    assert min(true_soc) < 0.05 and true_soc[-1] > 0.95  # a full cycle
    data = est_microbit.quantise(seq)
    q_ah = p["q_ah"]
    # the same quantised inputs in double precision on the host
    ref = SocEkf(p, 0.93)
    soc64 = []
    for j in range(0, len(data), 3):
        ref.step(DT, data[j] * 0.001, data[j + 1] * 0.0001, data[j + 2] * 0.01, q_ah)
        soc64.append(ref.x[0])
    with Microbit() as mb:
        cost = est_microbit.setup(mb, p, 0.93)
        assert sum(cost.values()) < 8000, cost
        soc32, n_rej = est_microbit.run_on_board(mb, data, DT, q_ah)
    assert len(soc32) == len(soc64)
    worst = max(abs(a - b) for a, b in zip(soc32, soc64))
    print("steps", len(soc64), "worst |soc32 - soc64|", worst, "heap per module", cost, "rejected", n_rej)
    assert worst <= 0.002
    assert n_rej == ref.n_rejected
    # and the double run itself tracked the plant (sanity: the comparison is over a meaningful run)
    assert abs(soc64[-1] - true_soc[-1]) < 0.05
