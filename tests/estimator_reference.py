"""filterpy reference of the firmware SoC filter (host only: numpy + filterpy).

RefEkf re-implements the state transition f(x, u), its Jacobian F, the measurement h(x) and its
Jacobian H, the process noise Q, the NIS gate and the bounds in numpy, and lets filterpy's
ExtendedKalmanFilter do the filter algebra (predict: P = F P F' + Q; update: Joseph form). It shares
only the cell curves with the firmware (OCV table lookup and Arrhenius parameters from
bms.est.model.CellModel). Used by tests/test_estimator_filterpy.py and bench/estimator_speed.py.
"""

import math

import numpy as np
from filterpy.kalman import ExtendedKalmanFilter

from bms.est.joseph import P_HI, P_LO, SOC_MAX
from bms.est.model import CellModel


class RefEkf(ExtendedKalmanFilter):
    def __init__(self, p, soc0):
        super().__init__(dim_x=3, dim_z=1)
        self.m = CellModel(p)
        self.p_ = p
        self.x = np.array([[soc0], [0.0], [0.0]])
        self.P = np.diag([p["soc_sigma0"] ** 2, 1e-4, 0.25])
        self.R = np.array([[p["sigma_v"] ** 2 + 1e-8]])
        self.n_rejected = 0
        self.n_run = 0

    def predict_x(self, u):
        dt, i, q_ah = u
        p = self.p_
        ds = i * dt / (3600.0 * q_ah) * (p["eta_chg"] if i > 0 else 1.0)
        a1 = math.exp(-dt / self.m.tau1)
        ah = math.exp(-abs(p["gamma_hyst"] * ds))
        soc, v1, h = self.x[:, 0]
        self.x = np.array([[soc + ds], [a1 * v1 + self.m.r1 * (1 - a1) * i], [ah * h + (1 - ah) * np.sign(i)]])
        self.F = np.diag([1.0, a1, ah])
        self.Q = np.diag([dt * p["q_soc_per_s"] + p["q_soc_per_dsoc"] * abs(ds), dt * p["q_v1_v2_per_s"], dt * p["q_h_per_s"]])

    def hx(self, x, i, t_c):
        return np.array([[self.m.ocv_slope(x[0, 0], t_c)[0] + self.p_["m_hyst_v"] * x[2, 0] + x[1, 0] + self.m.r0 * i]])

    def h_jacobian(self, x, t_c):
        k = self.m.ocv_slope(x[0, 0], t_c)[1]
        s0sq = self.p_["plateau_slope_v"] ** 2 + 1e-12
        h0 = k * (1.0 - s0sq / (k * k)) if k * k > s0sq else 0.0  # plateau dead zone
        return np.array([[h0, 1.0, self.p_["m_hyst_v"]]])

    def clamp(self):
        self.x[0, 0] = min(max(self.x[0, 0], 0.0), SOC_MAX)
        vm = self.p_["v1_max_v"]
        self.x[1, 0] = min(max(self.x[1, 0], -vm), vm)
        self.x[2, 0] = min(max(self.x[2, 0], -1.0), 1.0)
        for j in range(3):
            if self.P[j, j] < P_LO[j]:
                self.P[j, j] = P_LO[j]
            elif self.P[j, j] > P_HI[j]:
                d = np.ones(3)
                d[j] = math.sqrt(P_HI[j] / self.P[j, j])
                self.P = np.diag(d) @ self.P @ np.diag(d)
                self.P[j, j] = P_HI[j]

    def step(self, dt, i, v, t_c, q_ah):
        self.m.at(t_c)
        self.predict(u=(dt, i, q_ah))
        self.clamp()
        H = self.h_jacobian(self.x, t_c)
        y = v - self.hx(self.x, i, t_c)[0, 0]
        r = self.p_["sigma_v"] ** 2 + 1e-8 + self.p_["sigma_v_per_a"] ** 2 * i * i
        if i > 0 and self.x[0, 0] < self.p_["chg_knee_soc"]:
            r += 0.09
        self.R = np.array([[r]])
        nis = y * y / (H @ self.P @ H.T + self.R)[0, 0]
        ok = True
        if nis > self.p_["nis_gate"]:
            ok = False
            self.n_rejected += 1
            self.n_run += 1
            if self.n_run < self.p_["n_resync"]:
                return False
            self.P[0, 0] += self.p_["soc_sigma0"] ** 2
            self.clamp()
        self.n_run = 0
        self.update(np.array([[v]]), self.h_jacobian, self.hx, args=(t_c,), hx_args=(i, t_c))
        self.clamp()
        return ok
