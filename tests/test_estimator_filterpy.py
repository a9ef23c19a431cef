"""The firmware SoC filter agrees with a filterpy ExtendedKalmanFilter reference of the same model.

The reference (tests/estimator_reference.py) re-implements f, F, h, H, Q, the gate and the bounds in
numpy and lets filterpy's ExtendedKalmanFilter do the filter algebra.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("filterpy.kalman")

from bms.config import cell as cellparams  # noqa: E402
from bms.est.estimator import CellEstimator  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "mpy"))
import est_inputs  # noqa: E402
from estimator_reference import RefEkf  # noqa: E402


@pytest.mark.parametrize("name", ["nvp-mg-naf", "layered-oxide-bare-cu"])
def test_firmware_filter_matches_filterpy_reference(name):
    p = cellparams.preset(name)
    n = 10000
    seq = list(est_inputs.sequence(n, name=name, soc0=0.9))
    ref = RefEkf(p, 0.6)
    fw = CellEstimator(p, soc0=0.6, soc0_sigma=p["soc_sigma0"]).ekf
    q_ah = p["q_ah"]  # capacity held fixed: this compares the SoC filter alone
    worst_x = worst_p = 0.0
    n_gated = 0
    for dt, i, v, t_c, _ in seq:
        ok_fw = fw.step(dt, i, v, t_c, q_ah)
        ok_ref = ref.step(dt, i, v, t_c, q_ah)
        assert ok_fw == ok_ref
        n_gated += not ok_fw
        worst_x = max(worst_x, float(np.max(np.abs(np.array(fw.x) - ref.x[:, 0]))))
        worst_p = max(worst_p, float(np.max(np.abs(np.array(fw.P).reshape(4, 4) - ref.P))))
    assert fw.n_rejected == ref.n_rejected
    assert n_gated >= 10  # the outliers in the sequence exercised the gate
    print(name, "worst |dx|", worst_x, "worst |dP|", worst_p, "gated", n_gated)
    assert worst_x < 1e-9, worst_x
    assert worst_p < 1e-9, worst_p
    # the covariance stayed a covariance
    P = np.array(fw.P).reshape(4, 4)
    assert np.allclose(P, P.T, atol=0) and np.linalg.eigvalsh(P).min() > 0
