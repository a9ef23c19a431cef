# Extended Kalman filter for SoC on the ECM of bms.est.model (micro:bit-sized core; MicroPython 1.9 syntax).
# x = [soc, v1, h]. Predict: x = f(x, u); P = F P F' + Q.  Update (scalar z = v_cell):
#   H = [w*dOCV/dsoc, 1, M];  S = H P H' + R, R = sigma_v^2 + ri*i^2;  K = P H'/S;  x += K*y;  P = (I-KH)P(I-KH)' + KRK' (Joseph)
# Flat plateau: H[0] = w*k, w = max(0, 1 - s0^2/k^2): where the OCV slope k is below s0 the filter
#   coulomb-counts instead of reading SoC out of millivolts of model error (any w > 0 there lets a
#   constant model bias integrate into SoC for as long as the plateau lasts), and phases in above.
# NIS gate: y^2/S > gate skips the update (counted); after n_resync rejections in a row the SoC
#   variance is widened and the measurement accepted, so a lost filter recovers.
# 32-bit floats: P symmetric by construction, variance floors/caps that keep it PSD, bounded states
#   (bms.est.joseph.clamp), divisors bounded away from zero (S >= R > 0, tau1 >= 0.1 s).
from bms.est.joseph import R3, clamp, joseph, p_ht, predict_cov
from bms.est.model import CellModel


class SocEkf:
    def __init__(self, p, soc0):
        self.m = CellModel(p)
        self.r = p["sigma_v"] ** 2 + 1e-8
        self.knee = p["chg_knee_soc"]
        self.ri = p["sigma_v_per_a"] ** 2  # model error growing with |i| (CellEstimator scales it with R0(T))
        self.q = (p["q_soc_per_s"], p["q_soc_per_dsoc"], p["q_v1_v2_per_s"], p["q_h_per_s"])
        self.s0sq = p["plateau_slope_v"] ** 2 + 1e-12
        self.gate = p["nis_gate"]
        self.n_resync = p["n_resync"]
        self.v1_max = p["v1_max_v"]
        self.ss0 = p["soc_sigma0"] ** 2
        self.x = [0.5 if soc0 is None else soc0, 0.0, 0.0]
        self.P = [self.ss0, 0.0, 0.0, 0.0, 1e-4, 0.0, 0.0, 0.0, 0.25]
        self.F = [1.0, 1.0, 1.0]  # diagonal of F in predict, then P H' in update (one scratch list)
        self.H = [0.0, 1.0, 0.0]
        self.K = [0.0, 0.0, 0.0]
        self.v_pred = self.innov = self.nis = self.k = 0.0
        self.n_rejected = self.n_run = 0  # gated in all, and in a row

    def step(self, dt, i, v, t_c, q_ah):
        # One predict + update; returns False if the measurement was NIS-gated.
        m = self.m
        x = self.x
        P = self.P
        F = self.F
        H = self.H
        K = self.K
        q = self.q
        dt = max(dt, 0.0)
        m.at(t_c)
        ds = m.f(x, F, dt, i, q_ah)
        predict_cov(P, F, dt * q[0] + q[1] * abs(ds), dt * q[2], dt * q[3])
        clamp(x, P, self.v1_max)
        ocv, k = m.ocv_slope(x[0], t_c)
        self.k = k
        kk = k * k
        H[0] = k - k * self.s0sq / kk if kk > self.s0sq else 0.0  # k*(1 - s0^2/k^2): plateau dead zone
        H[2] = m.m_hyst
        vp = ocv + H[2] * x[2] + x[1] + m.r0 * i
        self.v_pred = vp
        y = v - vp
        self.innov = y
        r = self.r + self.ri * i * i
        if i > 0.0 and x[0] < self.knee:
            r += 0.09  # plating onto a (nearly) bare collector: no depletion knee, voltage says little
        ok = True
        for n in (0, 1):
            s = p_ht(P, H, K) + r  # K = P H' (divided by S below)
            self.nis = y * y / s
            if self.nis <= self.gate or n:
                break
            self.n_rejected += 1
            self.n_run += 1
            ok = False
            if self.n_run < self.n_resync:
                return False
            P[0] += self.ss0  # lost: widen SoC variance (keeps P PSD), then accept
            clamp(x, P, self.v1_max)
        self.n_run = 0
        U = self.F
        for r in R3:
            U[r] = K[r]
            K[r] /= s
            x[r] += K[r] * y
        joseph(P, K, U, s, r)
        clamp(x, P, self.v1_max)
        return ok
