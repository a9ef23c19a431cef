"""filterpy reference of the firmware SoC filter (host only: numpy + filterpy).

RefEkf re-implements the state transition f(x, u), its Jacobian F, the measurement h(x) and its
Jacobian H, the process noise Q, the NIS gate and the bounds in numpy, and lets filterpy's
ExtendedKalmanFilter do the predict (P = F P F' + Q); the update is the textbook Joseph form in numpy (the
offset is a consider state, which filterpy's update cannot mask), with the adaptive R re-derived. It shares
only the cell curves with the firmware (OCV table lookup and Arrhenius parameters from
bms.est.model.CellModel). Used by tests/test_estimator_filterpy.py and bench/estimator_speed.py.
"""

import math

import numpy as np
from filterpy.kalman import ExtendedKalmanFilter

from bms.est.joseph import SOC_MAX
from bms.est.model import CellModel


class RefEkf(ExtendedKalmanFilter):
    def __init__(self, p, soc0):
        super().__init__(dim_x=4, dim_z=1)
        self.m = CellModel(p)
        self.p_ = p
        sb = p["cap_i_offset_sigma_a"] + 1e-9
        self.sb = sb
        self.x = np.array([[soc0], [0.0], [0.0], [0.0]])
        self.P = np.diag([p["soc_sigma0"] ** 2, 1e-4, 0.25, 1.0])  # the offset in units of its prior sigma
        self.R = np.array([[p["sigma_v"] ** 2 + 1e-8]])
        self.x_hi = np.array([SOC_MAX, p["v1_max_v"], 1.0, 4.0])
        self.p_lo = np.array([1e-8, 1e-10, 1e-8, 1e-6])
        self.p_hi = np.array([0.16, 0.04, 1.0, 1.0])
        self.c = 1.0  # covariance matching: mean NIS under the nominal S
        self.n_rejected = 0

    def predict_x(self, u):
        dt, i_m, q_ah = u
        p = self.p_
        soc, v1, h, b = self.x[:, 0]
        i = i_m - b * self.sb
        e = dt / (3600.0 * q_ah) * (p["eta_chg"] if i > 0 else 1.0)
        ds = i * e
        a1 = math.exp(-dt / self.m.tau1)
        ah = math.exp(-abs(p["gamma_hyst"] * ds))
        self.x = np.array([[soc + ds], [a1 * v1 + self.m.r1 * (1 - a1) * i], [ah * h + (1 - ah) * np.sign(i)], [b]])
        self.F = np.diag([1.0, a1, ah, 1.0])
        self.F[0, 3] = -e * self.sb
        self.Q = np.diag([dt * p["q_soc_per_s"] + p["q_soc_per_dsoc"] * abs(ds), dt * p["q_v1_v2_per_s"],
                          dt * p["q_h_per_s"], dt / 86400.0])

    def hx(self, x, i, t_c):
        return np.array([[self.m.ocv_slope(x[0, 0], t_c)[0] + self.p_["m_hyst_v"] * x[2, 0] + x[1, 0] + self.m.r0 * (i - x[3, 0] * self.sb)]])

    def h_jacobian(self, x, t_c):
        k = self.m.ocv_slope(x[0, 0], t_c)[1]
        s0sq = self.p_["plateau_slope_v"] ** 2 + 1e-12
        h0 = k * (1.0 - s0sq / (k * k)) if k * k > s0sq else 0.0  # plateau dead zone
        return np.array([[h0, 1.0, self.p_["m_hyst_v"], 0.0]])

    def clamp(self):
        lo = np.array([0.0, -self.x_hi[1], -1.0, -self.x_hi[3]])
        self.x[:, 0] = np.minimum(np.maximum(self.x[:, 0], lo), self.x_hi)
        for j in range(4):
            if self.P[j, j] < self.p_lo[j]:
                self.P[j, j] = self.p_lo[j]
            elif self.P[j, j] > self.p_hi[j]:
                d = np.ones(4)
                d[j] = math.sqrt(self.p_hi[j] / self.P[j, j])
                self.P = np.diag(d) @ self.P @ np.diag(d)
                self.P[j, j] = self.p_hi[j]

    def step(self, dt, i, v, t_c, q_ah):
        p = self.p_
        self.m.at(t_c)
        self.predict(u=(dt, i, q_ah))
        self.clamp()
        H = self.h_jacobian(self.x, t_c)
        y = v - self.hx(self.x, i, t_c)[0, 0]
        r = p["sigma_v"] ** 2 + 1e-8 + p["sigma_v_per_a"] ** 2 * i * i
        hph = (H @ self.P @ H.T)[0, 0]
        nis = y * y / (hph + r)
        c = max(self.c, 1.0)
        c += dt / (dt + p["r_adapt_s"]) * (min(nis, p["nis_gate"] * c) - c)
        self.c = c
        s = max(c, 1.0) * (hph + r)
        if y * y > p["nis_gate"] * s:
            self.n_rejected += 1
            return False
        # filterpy's update with the adapted R; the offset is a consider state (its gain row zeroed),
        # so the Joseph form is applied here with the masked gain (filterpy's own update has no mask)
        R = s - hph
        K = self.P @ H.T / s
        K[3, 0] = 0.0
        self.x = self.x + K * y
        I_KH = np.eye(4) - K @ H
        self.P = I_KH @ self.P @ I_KH.T + K * R @ K.T
        self.clamp()
        return True
