# Extended Kalman filter for SoC on the ECM in bms.model (micro:bit-sized core; MicroPython 1.9 syntax).
# State x = [soc, v1, h]: SoC fraction, RC polarisation voltage [V], hysteresis state (-1..1).
#   predict (x = f(x, u); P = F P F' + Q, F = diag(1, a1, ah)):
#     soc += eta*i*dt/(3600*Q);  v1 = a1*v1 + R1*(1-a1)*i, a1 = exp(-dt/tau1);
#     h = ah*h + (1-ah)*sgn(i), ah = exp(-|gamma*i*dt/(3600*Q)|)   (Plett's ESC hysteresis, charge > 0)
#   update (scalar z = v): v_pred = OCV(soc,T) + M*h + v1 + R0*i,  H = [w*dOCV/dsoc, 1, M]
#     S = H P H' + R;  K = P H'/S;  x += K*y;  P = (I-KH) P (I-KH)' + K R K'   (Joseph form)
# Flat plateau: w = k^2/(k^2 + s0^2) de-weights the SoC row of H where the slope k is small, so the
#   filter coulomb-counts there instead of reading SoC out of millivolts of model error.
# NIS gate: y^2/S > gate skips the update (counted); after n_resync rejections in a row the SoC
#   variance is widened and the measurement is accepted, so a lost filter recovers.
# Numerics for 32-bit floats: P kept as its 6 upper-triangle entries (symmetric by construction),
#   diagonal caps by congruence scaling (keeps P PSD), floors by adding to the diagonal, bounded states,
#   every divisor bounded away from zero.
from math import exp, sqrt

try:
    from bms.model import CellModel
except ImportError:  # flat filesystem (micro:bit)
    from model import CellModel


class SocEkf:
    def __init__(self, p, soc0):
        self.m = CellModel(p)
        self.eta = p["eta_chg"]
        self.rv = p["sigma_v"] * p["sigma_v"] + 1e-8
        self.qs_t = p["q_soc_per_s"]
        self.qs_d = p["q_soc_per_dsoc"]
        self.qv = p["q_v1_v2_per_s"]
        self.qh = p["q_h_per_s"]
        self.s0sq = p["plateau_slope_v"] * p["plateau_slope_v"]
        self.gate = p["nis_gate"]
        self.n_resync = p["n_resync"]
        self.v1_max = p["v1_max_v"]
        self.ss0 = p["soc_sigma0"] * p["soc_sigma0"]
        self.soc = 0.5 if soc0 is None else soc0
        self.v1 = 0.0
        self.h = 0.0
        self.p00 = self.ss0
        self.p11 = 1e-4
        self.p22 = 0.25
        self.p01 = self.p02 = self.p12 = 0.0
        self.v_pred = self.innov = self.nis = 0.0
        self.n_rejected = 0
        self.n_run = 0  # consecutive rejections
        self.k = 0.0  # OCV slope at the last update [V/unit SoC]

    def predict(self, dt, i, t_c, q_ah):
        m = self.m
        m.at(t_c)
        if dt < 0.0:
            dt = 0.0
        ds = i * dt / (3600.0 * q_ah)
        if i > 0.0:
            ds = ds * self.eta
        self.soc += ds
        tau = m.tau1 if m.tau1 > 0.1 else 0.1
        a1 = exp(-dt / tau)
        self.v1 = a1 * self.v1 + m.r1 * (1.0 - a1) * i
        ah = exp(-abs(m.gamma * ds))
        if i > 0.0:
            self.h = ah * self.h + (1.0 - ah)
        elif i < 0.0:
            self.h = ah * self.h - (1.0 - ah)
        # P = F P F' + Q with F = diag(1, a1, ah)
        self.p00 += dt * self.qs_t + self.qs_d * abs(ds)
        self.p01 *= a1
        self.p02 *= ah
        self.p11 = a1 * a1 * self.p11 + dt * self.qv
        self.p12 *= a1 * ah
        self.p22 = ah * ah * self.p22 + dt * self.qh
        self.bound()

    def update(self, i, v, t_c):
        # Returns False if the measurement was NIS-gated.
        m = self.m
        ocv, k = m.ocv_slope(self.soc, t_c)
        self.k = k
        hm = m.m_hyst
        vp = ocv + hm * self.h + self.v1 + m.r0 * i
        self.v_pred = vp
        y = v - vp
        self.innov = y
        h0 = k * k * k / (k * k + self.s0sq + 1e-12)
        # u = P H'
        u0 = self.p00 * h0 + self.p01 + self.p02 * hm
        u1 = self.p01 * h0 + self.p11 + self.p12 * hm
        u2 = self.p02 * h0 + self.p12 + self.p22 * hm
        r = self.rv
        s = h0 * u0 + u1 + hm * u2 + r
        self.nis = y * y / s
        if self.nis > self.gate:
            self.n_rejected += 1
            self.n_run += 1
            if self.n_run < self.n_resync:
                return False
            # Lost: widen the SoC variance (adding to the diagonal keeps P PSD) and accept.
            self.n_run = 0
            self.p00 += self.ss0
            self.bound()
            u0 = self.p00 * h0 + self.p01 + self.p02 * hm
            s = h0 * u0 + u1 + hm * u2 + r
            ok = False
        else:
            self.n_run = 0
            ok = True
        k0 = u0 / s
        k1 = u1 / s
        k2 = u2 / s
        self.soc += k0 * y
        self.v1 += k1 * y
        self.h += k2 * y
        # Joseph form: A = I - K H, P = A P A' + K R K'
        a00 = 1.0 - k0 * h0
        a01 = -k0
        a02 = -k0 * hm
        a10 = -k1 * h0
        a11 = 1.0 - k1
        a12 = -k1 * hm
        a20 = -k2 * h0
        a21 = -k2
        a22 = 1.0 - k2 * hm
        p00 = self.p00
        p01 = self.p01
        p02 = self.p02
        p11 = self.p11
        p12 = self.p12
        p22 = self.p22
        # B = A P
        b00 = a00 * p00 + a01 * p01 + a02 * p02
        b01 = a00 * p01 + a01 * p11 + a02 * p12
        b02 = a00 * p02 + a01 * p12 + a02 * p22
        b10 = a10 * p00 + a11 * p01 + a12 * p02
        b11 = a10 * p01 + a11 * p11 + a12 * p12
        b12 = a10 * p02 + a11 * p12 + a12 * p22
        b20 = a20 * p00 + a21 * p01 + a22 * p02
        b21 = a20 * p01 + a21 * p11 + a22 * p12
        b22 = a20 * p02 + a21 * p12 + a22 * p22
        # P = B A' + r K K'
        self.p00 = b00 * a00 + b01 * a01 + b02 * a02 + r * k0 * k0
        self.p01 = b00 * a10 + b01 * a11 + b02 * a12 + r * k0 * k1
        self.p02 = b00 * a20 + b01 * a21 + b02 * a22 + r * k0 * k2
        self.p11 = b10 * a10 + b11 * a11 + b12 * a12 + r * k1 * k1
        self.p12 = b10 * a20 + b11 * a21 + b12 * a22 + r * k1 * k2
        self.p22 = b20 * a20 + b21 * a21 + b22 * a22 + r * k2 * k2
        self.bound()
        return ok

    def bound(self):
        # States to their physical ranges.
        if self.soc < 0.0:
            self.soc = 0.0
        elif self.soc > 1.0:
            self.soc = 1.0
        vm = self.v1_max
        if self.v1 > vm:
            self.v1 = vm
        elif self.v1 < -vm:
            self.v1 = -vm
        if self.h > 1.0:
            self.h = 1.0
        elif self.h < -1.0:
            self.h = -1.0
        # Variance floors (keeps 32-bit P from collapsing) and caps: P <- D P D, D diagonal > 0.
        self.p00 = self._cap(0, self.p00, 1e-8, 0.16)
        self.p11 = self._cap(1, self.p11, 1e-10, 0.04)
        self.p22 = self._cap(2, self.p22, 1e-8, 1.0)

    def _cap(self, j, pjj, lo, hi):
        if pjj < lo:
            return lo
        if pjj > hi:
            d = sqrt(hi / pjj)
            if j == 0:
                self.p01 *= d
                self.p02 *= d
            elif j == 1:
                self.p01 *= d
                self.p12 *= d
            else:
                self.p02 *= d
                self.p12 *= d
            return hi
        return pjj

    def step(self, dt, i, v, t_c, q_ah):
        self.predict(dt, i, t_c, q_ah)
        return self.update(i, v, t_c)
