# Per-update time and heap allocation of the estimator on MicroPython (run by bench/estimator_speed.py).
# prints: filter_us update_us bytes_per_filter_step bytes_per_update
import gc
import sys
import time

from bms.config import cell as cellparams
from bms.est.estimator import CellEstimator

sys.path.append("tests/mpy")
import est_inputs  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
seq = list(est_inputs.sequence(N, name="nvp-mg-naf"))
p = cellparams.preset("nvp-mg-naf")


def timed(fn):
    gc.collect()
    t0 = time.ticks_us()
    for dt, i, v, t, _ in seq:
        fn(dt, i, v, t)
    return time.ticks_diff(time.ticks_us(), t0) / N


def allocated(fn):
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for dt, i, v, t, _ in seq[:200]:
        fn(dt, i, v, t)
    a1 = gc.mem_alloc()
    gc.enable()
    return (a1 - a0) / 200


est = CellEstimator(p, soc0=0.6)
ekf = est.ekf
q = p["q_ah"]


def filter_step(dt, i, v, t):
    ekf.step(dt, i, v, t, q)


filter_us = timed(filter_step)
update_us = timed(est.update)
print(filter_us, update_us, allocated(filter_step), allocated(est.update))
