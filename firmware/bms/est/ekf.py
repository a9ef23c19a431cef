# Extended Kalman filter for SoC on the ECM of bms.est.model (micro:bit-sized core; MicroPython 1.9 syntax).
# x = [soc, v1, h, b] (b: current-sensor offset [A]). Textbook names (filterpy): x, P, F, Q, R, K, y, S.
#   predict (every tick):        x = f(x, u);  P = F P F' + Q
#   update (a valid measurement): y = z - h(x);  S = H P H' + R;  K = P H'/S;  x += K y;
#                                 P = (I-KH) P (I-KH)' + K R K'  (Joseph)
# Voltage: H = [w*dOCV/dsoc, 1, M, 0] (the offset: see bms.est.model); nominal R = sigma_v^2 + ri*i^2 (set by CellEstimator).
# Flat plateau: w = max(0, 1 - s0^2/k^2): where the OCV slope k is below s0 the voltage does not move
#   SoC (a constant model bias would integrate into SoC for as long as the plateau lasts).
# Adaptive R (covariance matching, Mehra 1972): c = the innovations' mean NIS under the nominal S over
#   ~r_adapt_s; S = max(1, c) * S_nominal. A wrong model widens R instead of being gated; the gate
#   (on the adapted S) only drops lone outliers, and each gated sample raises c, so runs of them end.
#   nis stays y^2/S_nominal: how far the cell is from its configured model (the detectors read it).
# 32-bit floats: P symmetric by construction, variance floors/caps that keep it PSD, bounded states
#   (bms.est.joseph.clamp), divisors bounded away from zero (S >= R > 0, tau1 >= 0.1 s).
from bms.est.joseph import RN, SOC_MAX, clamp, joseph, p_ht, predict_cov
from bms.est.model import CellModel


class SocEkf:
    def __init__(self, p, soc0, soc_var=None):
        self.m = CellModel(p)
        self.r = p["sigma_v"] ** 2 + 1e-8  # nominal R at rest (CellEstimator adds a recent-load term)
        self.ri = p["sigma_v_per_a"] ** 2  # model error growing with |i| (CellEstimator scales it with R0(T))
        self.knee = p["chg_knee_soc"]
        sb = p["cap_i_offset_sigma_a"] + 1e-9
        self.qn = (p["q_soc_per_s"], p["q_soc_per_dsoc"], p["q_v1_v2_per_s"], p["q_h_per_s"], sb * sb / 86400.0)
        self.s0sq = p["plateau_slope_v"] ** 2 + 1e-12
        self.gate = p["nis_gate"]
        self.tau_r = p["r_adapt_s"]
        self.x_hi = (SOC_MAX, p["v1_max_v"], 1.0, 4.0 * sb)
        self.p_lo = (1e-8, 1e-10, 1e-8, 1e-6 * sb * sb)
        self.p_hi = (0.16, 0.04, 1.0, sb * sb)
        self.ss0 = p["soc_sigma0"] ** 2
        self.x = [0.5 if soc0 is None else soc0, 0.0, 0.0, 0.0]
        P = [0.0] * 16
        P[0] = self.ss0 if soc_var is None else soc_var
        P[5] = 1e-4
        P[10] = 0.25
        P[15] = sb * sb
        self.P = P
        self.d = [1.0, 1.0, 1.0, 1.0]  # F = diag(d) + c e3'
        self.c = [0.0, 0.0, 0.0, 0.0]
        self.Q = [0.0, 0.0, 0.0, 0.0]  # diagonal
        self.H = [0.0, 1.0, 0.0, 0.0]
        self.K = [0.0, 0.0, 0.0, 0.0]
        self.U = [0.0, 0.0, 0.0, 0.0]  # P H'
        self.v_pred = self.y = self.S = self.R = self.nis = self.k = 0.0
        self.r_scale = 1.0  # c: mean NIS under the nominal S (R is widened by it when > 1)
        self.n_rejected = 0

    def predict(self, dt, i, t_c, q_ah):
        # x = f(x, u);  P = F P F' + Q.  Returns the SoC step.
        m = self.m
        qn = self.qn
        Q = self.Q
        m.at(t_c)
        ds = m.f(self.x, self.d, self.c, dt, i, q_ah)
        Q[0] = dt * qn[0] + qn[1] * abs(ds)
        Q[1] = dt * qn[2]
        Q[2] = dt * qn[3]
        Q[3] = dt * qn[4]
        predict_cov(self.P, self.d, self.c, Q)
        clamp(self.x, self.P, self.x_hi, self.p_lo, self.p_hi)
        return ds

    def update(self, y, R, H, n=4):
        # S = H P H' + R;  K = P H'/S;  x += K y;  Joseph form (valid for any K).  Returns S.
        # n = 3: the offset is a consider state (K[3] = 0): the voltage does not move it.
        P = self.P
        K = self.K
        U = self.U
        x = self.x
        S = p_ht(P, H, U) + R
        for j in RN:
            K[j] = U[j] / S if j < n else 0.0
            x[j] += K[j] * y
        joseph(P, K, U, S, R)
        clamp(x, P, self.x_hi, self.p_lo, self.p_hi)
        return S

    def update_v(self, dt, i, v, t_c):
        # The voltage update with the adaptive R; returns False if the sample was NIS-gated.
        m = self.m
        x = self.x
        H = self.H
        ocv, k = m.ocv_slope(x[0], t_c)
        self.k = k
        kk = k * k
        H[0] = k - k * self.s0sq / kk if kk > self.s0sq else 0.0  # k*(1 - s0^2/k^2): plateau dead zone
        H[2] = m.m_hyst
        self.v_pred = ocv + H[2] * x[2] + x[1] + m.r0 * (i - x[3])
        y = v - self.v_pred
        self.y = y
        R = self.r + self.ri * i * i
        if i > 0.0 and x[0] < self.knee:
            R += 0.09  # plating onto a (nearly) bare collector: no depletion knee, voltage says little
        hph = p_ht(self.P, H, self.U)
        S = hph + R
        self.nis = y * y / S
        c = max(self.r_scale, 1.0)
        c += dt / (dt + self.tau_r) * (min(self.nis, self.gate * c) - c)
        self.r_scale = c
        if c > 1.0:
            S *= c
            R = S - hph
        self.S = S
        self.R = R
        if y * y > self.gate * S:
            self.n_rejected += 1
            return False
        self.update(y, R, H, 3)
        return True

    def step(self, dt, i, v, t_c, q_ah):
        # One predict + voltage update; returns False if the measurement was NIS-gated.
        dt = max(dt, 0.0)
        self.predict(dt, i, t_c, q_ah)
        return self.update_v(dt, i, v, t_c)
