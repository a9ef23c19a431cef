# Equivalent-circuit cell model for the estimator (micro:bit-sized core; MicroPython 1.9 syntax).
# v = OCV(soc, T) + M*h + v1 + R0(T)*i   (i > 0 = charge)
# OCV: piecewise-linear table at 25 C plus a linear entropic term; R0, R1, tau1: Arrhenius in T.
# T is quantised to T_STEP so the Arrhenius factors are recomputed only when it moves.
from math import exp

T_STEP = 0.25  # degC
T_REF_K = 298.15
R_GAS = 8.314


class CellModel:
    def __init__(self, p):
        self.soc_pts = list(p["soc_pts"])
        self.ocv_pts = list(p["ocv_pts"])
        self.n = len(self.soc_pts)
        self.docv_dt = p["docv_dt_v_per_k"]
        self.r0_25 = p["r0_ohm"]
        self.r1_25 = p["r1_ohm"]
        self.tau1_25 = p["tau1_s"]
        self.ea_r0 = p["ea_r0_j_mol"] / R_GAS
        self.ea_r1 = p["ea_r1_j_mol"] / R_GAS
        self.m_hyst = p["m_hyst_v"]
        self.gamma = p["gamma_hyst"]
        self.t_q = None
        self.r0 = self.r1 = self.tau1 = 0.0
        self.at(25.0)

    def at(self, t_c):
        # Sets r0, r1, tau1 for temperature t_c (quantised); returns the quantised temperature.
        tq = int(t_c / T_STEP + (0.5 if t_c >= 0 else -0.5)) * T_STEP
        if tq != self.t_q:
            self.t_q = tq
            if tq < -40.0:  # bounded: Arrhenius far outside the fitted range is meaningless
                tq = -40.0
            elif tq > 80.0:
                tq = 80.0
            d = 1.0 / (tq + 273.15) - 1.0 / T_REF_K
            self.r0 = self.r0_25 * exp(self.ea_r0 * d)
            f1 = exp(self.ea_r1 * d)
            self.r1 = self.r1_25 * f1
            self.tau1 = self.tau1_25 * f1  # C1 ~ constant, so tau1 = R1*C1 scales like R1
        return self.t_q

    def ocv_slope(self, soc, t_c):
        # (OCV [V], dOCV/dsoc [V per unit SoC]); linear extrapolation outside 0..1.
        s = self.soc_pts
        n = self.n
        lo = 0
        hi = n - 1
        while hi - lo > 1:  # bisection: tables are short, but keep it O(log n)
            mid = (lo + hi) >> 1
            if soc < s[mid]:
                hi = mid
            else:
                lo = mid
        v = self.ocv_pts
        k = (v[hi] - v[lo]) / (s[hi] - s[lo])
        return v[lo] + k * (soc - s[lo]) + self.docv_dt * (t_c - 25.0), k

    def ocv(self, soc, t_c):
        return self.ocv_slope(soc, t_c)[0]

    def soc_from_ocv(self, v, t_c):
        # Inverse of the (monotonic) table, clamped to 0..1.
        v = v - self.docv_dt * (t_c - 25.0)
        s = self.soc_pts
        o = self.ocv_pts
        if v <= o[0]:
            return s[0]
        for j in range(1, self.n):
            if v <= o[j]:
                return s[j - 1] + (s[j] - s[j - 1]) * (v - o[j - 1]) / (o[j] - o[j - 1])
        return s[-1]
