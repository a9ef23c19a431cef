# Equivalent-circuit cell model for the estimator (micro:bit-sized core; MicroPython 1.9 syntax).
# State x = [soc, v1, h, b]; b = current-sensor offset (Plett's bias state) in units of its prior sigma sb
# (cap_i_offset_sigma_a): the cell's current is i = i_meas - sb*b; i > 0 = charge.
#   f: soc += eta*i*dt/(3600*Q);  v1 = a1*v1 + R1*(1-a1)*i, a1 = exp(-dt/tau1);
#      h = ah*h + (1-ah)*sgn(i), ah = exp(-|gamma*dsoc|)   (Plett's ESC hysteresis);  b = b
#      F = diag(1, a1, ah, 1) + c e3', c = (-sb*eta*dt/(3600*Q), 0, 0, 0): the offset reaches the voltage only
#      through SoC (its IR share, ~1 mV, is below the model's error and would let a load-dependent model error
#      pass for an offset); it is calibrated at zero current (bms.est.estimator).
#   h: v = OCV(soc, T) + M*h + v1 + R0(T)*i;  H = [w*dOCV/dsoc, 1, M, 0]
# OCV: piecewise-linear table at 25 C plus a linear entropic term; R0, R1, tau1: Arrhenius in T.
from math import exp


class CellModel:
    def __init__(self, p):
        self.soc_pts = p["soc_pts"]
        self.ocv_pts = p["ocv_pts"]
        self.docv_dt = p["docv_dt_v_per_k"]
        self.r25 = (p["r0_ohm"], p["r1_ohm"], p["tau1_s"])
        self.ea = (p["ea_r0_j_mol"] / 8.314, p["ea_r1_j_mol"] / 8.314)
        self.m_hyst = p["m_hyst_v"]
        self.gamma = p["gamma_hyst"]
        self.eta = p["eta_chg"]
        self.sb = p["cap_i_offset_sigma_a"] + 1e-9
        self.s0sq = p["plateau_slope_v"] ** 2 + 1e-12
        self.k = 0
        self._t_c = None  # the temperature at() last set (its exp() are kept until it changes)
        self.at(25.0)

    def at(self, t_c):
        # Sets r0, r1, tau1 for temperature t_c (clipped to -40..80 C for the Arrhenius law).
        if t_c == self._t_c:
            return
        self._t_c = t_c
        d = 1 / (min(max(t_c, -40.0), 80.0) + 273.15) - 1 / 298.15
        self.r0 = self.r25[0] * exp(self.ea[0] * d)
        f1 = exp(self.ea[1] * d)
        self.r1 = self.r25[1] * f1
        self.tau1 = max(self.r25[2] * f1, 0.1)  # C1 ~ constant: tau1 = R1*C1 scales like R1

    def f(self, x, d, c, dt, i, q_ah):
        # State transition in place for the measured current i; F = diag(d) + c e3'. Call at(t_c) first.
        i -= x[3] * self.sb
        e = dt / (3600.0 * q_ah)
        if i > 0:
            e *= self.eta
        ds = i * e
        x[0] += ds
        a1 = exp(-dt / self.tau1)
        x[1] = a1 * x[1] + self.r1 * (1 - a1) * i
        ah = exp(-abs(self.gamma * ds))
        x[2] = ah * x[2] + (1 - ah) * (1 if i > 0 else (-1 if i < 0 else 0))
        d[1] = a1
        d[2] = ah
        c[0] = -e * self.sb  # d soc / d b; v1 and v are left blind to b: its IR share (mV) is below the model's error
        return ds

    def h(self, x, H, i, t_c):
        # The terminal voltage h(x) for the measured current i; H <- its Jacobian, with the SoC term
        # weighted w = max(0, 1 - s0^2/k^2) (k = dOCV/dsoc, kept in self.k): where the OCV is flatter than
        # s0 the voltage does not move SoC. Call at(t_c) first.
        ocv, k = self.ocv_slope(x[0], t_c)
        self.k = k
        kk = k * k
        H[0] = k - k * self.s0sq / kk if kk > self.s0sq else 0
        H[2] = self.m_hyst
        return ocv + H[2] * x[2] + x[1] + self.r0 * (i - x[3] * self.sb)

    def ocv_slope(self, soc, t_c):
        # (OCV [V], dOCV/dsoc [V per unit SoC]); linear extrapolation outside 0..1.
        s = self.soc_pts
        lo = 0
        hi = len(s) - 1
        while hi - lo > 1:  # bisection
            mid = (lo + hi) >> 1
            if soc < s[mid]:
                hi = mid
            else:
                lo = mid
        v = self.ocv_pts
        k = (v[hi] - v[lo]) / (s[hi] - s[lo])
        return v[lo] + k * (soc - s[lo]) + self.docv_dt * (t_c - 25.0), k
