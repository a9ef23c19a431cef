# Runs CellEstimator over tests/mpy/est_inputs.sequence and prints exact float bits of its outputs
# every `every` steps: the CPython / MicroPython agreement test compares these lines.
import struct
import sys

from bms.config import cell as cellparams
from bms.est.estimator import CellEstimator

sys.path.append("tests/mpy")
import est_inputs  # noqa: E402


def hexf(x):
    return struct.pack("<d", x).hex() if hasattr(bytes, "hex") else repr(x)


def run(n=3000, every=100, name="nvp-mg-naf"):
    seq = est_inputs.sequence(n, name=name)
    est = CellEstimator(cellparams.preset(name), soc0=None)
    lines = []
    for k, (dt, i, v, t, _) in enumerate(seq):
        est.update(dt, i, v, t)
        if k % every == every - 1:
            vals = [est.soc, est.soc_sigma, est.q_ah, est.q_sigma_ah, est.v_pred, est.innov, est.nis] + list(est.ekf.P)
            lines.append("%d %d %s" % (k, est.n_rejected, " ".join(hexf(a) for a in vals)))
    return lines


if __name__ == "__main__":
    # usage: est_run.py [n_steps [preset]]
    args = sys.argv[1:]
    for line in run(int(args[0]) if args else 3000, name=args[1] if len(args) > 1 else "nvp-mg-naf"):
        print(line)
