# Deterministic input sequence for the estimator tests; runs unchanged on CPython and MicroPython.
# A plant cell (the estimator's model with deliberately different parameters: model mismatch) is
# driven by a closed-loop pulsed cycle with rests and a temperature swing; the voltage gets uniform
# noise and periodic outliers. Yields (dt_s, i_a, v_cell, t_c, true_soc).
from bms.config import cell as cellparams
from bms.est.model import CellModel


class Lcg:
    # 31-bit Park-Miller style generator: identical on every port (small ints only)
    def __init__(self, seed):
        self.s = seed % 2147483647 or 1

    def uniform(self):
        self.s = (self.s * 48271) % 2147483647
        return self.s / 2147483647.0


def plant_params(name):
    p = cellparams.preset(name)
    p["r0_ohm"] = p["r0_ohm"] * 1.15
    p["r1_ohm"] = p["r1_ohm"] * 0.8
    p["tau1_s"] = p["tau1_s"] * 1.3
    p["ocv_pts"] = [v + 0.001 for v in p["ocv_pts"]]
    return p


def sequence(n, dt=1.0, name="nvp-mg-naf", seed=1, soc0=0.9, q_ah=2.05, outlier_every=701):
    rng = Lcg(seed)
    m = CellModel(plant_params(name))
    x = [soc0, 0.0, 0.0, 0.0]
    d = [1.0] * 4
    c = [0.0] * 4
    charging = False
    for k in range(n):
        t_s = k * dt
        t_c = 25.0 + 12.0 * (abs(((t_s / 5000.0) % 2.0) - 1.0) - 0.5)  # triangle 19..31 C
        if x[0] < 0.03:
            charging = True
        elif x[0] > 0.97:
            charging = False
        phase = int(t_s / 30.0) % 4
        if int(t_s / 1500.0) % 8 == 7:
            i = 0.0  # rest
        elif charging:
            i = 1.0 if phase else 0.4
        else:
            i = -(0.6 + 0.5 * phase)
        m.at(t_c)
        m.f(x, d, c, dt, i, q_ah)
        v = m.ocv_slope(x[0], t_c)[0] + m.m_hyst * x[2] + x[1] + m.r0 * i
        v += 0.004 * (rng.uniform() - 0.5)
        if outlier_every and k % outlier_every == outlier_every - 1:
            v += 0.25
        i_meas = i + 0.01 * (rng.uniform() - 0.5)
        yield (dt, i_meas, v, t_c + 0.4 * (rng.uniform() - 0.5), x[0])
