# Extended Kalman filter for SoC on the ECM of bms.est.model (micro:bit-sized core; MicroPython 1.9 syntax).
# x = [soc, v1, h, b] (b: current-sensor offset in units of its prior sigma, bms.est.model). Textbook names (filterpy): x, P, F, Q, R, K, y, S.
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
from bms.est.joseph import SOC_MAX, init, p_ht, predict_cov, update
from bms.est.model import CellModel


class SocEkf:
    def __init__(self, p, soc0, v=None):
        # v: the variance of soc0 (None: soc_sigma0^2)
        self.m = CellModel(p)
        self.r = p["sigma_v"] ** 2 + 1e-8  # nominal R at rest (CellEstimator adds a recent-load term)
        self.ri = p["sigma_v_per_a"] ** 2  # model error growing with |i| (CellEstimator scales it with R0(T))
        self.knee = p["chg_knee_soc"]
        self.s0sq = p["plateau_slope_v"] ** 2 + 1e-12
        self.gate = p["nis_gate"]
        self.tau_r = p["r_adapt_s"]
        self.x_hi = (SOC_MAX, p["v1_max_v"], 1.0, 4.0)  # state bounds (the offset: 4 sigma)
        # Q per second (soc, v1, h, b) and per unit SoC moved
        self.q = (p["q_soc_per_s"], p["q_v1_v2_per_s"], p["q_h_per_s"], 1.0 / 86400.0, p["q_soc_per_dsoc"])
        self.x = [0.5 if soc0 is None else soc0, 0.0, 0.0, 0.0]
        init(self, p["soc_sigma0"] ** 2 if v is None else v)
        self.v_pred = self.y = self.S = self.R = self.nis = self.k = 0.0
        self.r_scale = 1.0  # c: mean NIS under the nominal S (R is widened by it when > 1)
        self.n_rejected = 0

    def predict(self, dt, i, t_c, q_ah):
        # x = f(x, u);  P = F P F' + Q.  Returns the SoC step.
        m = self.m
        m.at(t_c)
        ds = m.f(self.x, self.d, self.c, dt, i, q_ah)
        predict_cov(self, dt, ds)
        return ds

    def update(self, y, R, H, n=4):
        # S = H P H' + R;  K = P H'/S;  x += K y;  Joseph form (bms.est.joseph.update).  Returns S.
        # n = 3: the offset is a consider state (K[3] = 0): the voltage does not move it.
        return update(self, y, R, H, n)

    def step(self, dt, i, v, t_c, q_ah):
        # One predict + voltage update with the adaptive R; returns False if the voltage was NIS-gated.
        dt = max(dt, 0.0)
        self.predict(dt, i, t_c, q_ah)
        m = self.m
        x = self.x
        H = self.H
        ocv, k = m.ocv_slope(x[0], t_c)
        self.k = k
        kk = k * k
        H[0] = k - k * self.s0sq / kk if kk > self.s0sq else 0.0  # k*(1 - s0^2/k^2): plateau dead zone
        H[2] = m.m_hyst
        self.v_pred = ocv + H[2] * x[2] + x[1] + m.r0 * (i - x[3] * m.sb)
        y = v - self.v_pred
        self.y = y
        R = self.r + self.ri * i * i
        if i > 0.0 and x[0] < self.knee:
            R += 0.09  # plating onto a (nearly) bare collector: no depletion knee, voltage says little
        # covariance matching: c = mean NIS under the nominal S; S = max(1, c) * S_nominal
        kk = p_ht(self.P, H, self.U)  # H P H'
        S = kk + R
        self.nis = y * y / S
        c = max(self.r_scale, 1.0)
        c += dt / (dt + self.tau_r) * (min(self.nis, self.gate * c) - c)
        self.r_scale = c
        if c > 1.0:
            S *= c
        self.S = S
        self.R = S - kk
        if y * y > self.gate * S:
            self.n_rejected += 1
            return False
        self.update(y, self.R, H, 3)
        return True
