# On-line capacity estimation for anode-free cells (capacity fades every cycle: dead sodium, SEI).
# Between two "anchors" -- moments when the SoC filter is sure of SoC (sigma < anchor_sigma, i.e. on
# the steep ends of the OCV curve) -- the coulomb count dAh and the SoC change dsoc satisfy
#   dAh = Q * dsoc + e,  var(e) = var_count + Q^2 (var_soc_a + var_soc_b)
# (errors on both sides: a total-least-squares weighting). A scalar Kalman filter on Q uses it:
#   S = dsoc^2 P + var(e);  K = P dsoc / S;  Q += K (dAh - Q dsoc);  P = (1-K dsoc)^2 P + K^2 var(e)
# Between updates P grows with charge throughput (random walk: fade is driven by cycling).
from math import sqrt


class CapacityEstimator:
    def __init__(self, p, q_ah=None):
        q0 = p["q_ah"] if q_ah is None else q_ah
        self.q_ah = q0
        self.p = (p["q_sigma0_frac"] * q0) ** 2
        self.q_min = 0.2 * p["q_ah"]  # bounded: below 20 % of nominal the cell is scrap anyway
        self.q_max = 1.2 * p["q_ah"]
        self.rw = (p["q_fade_sigma_per_ah"]) ** 2  # Ah^2 per Ah of throughput... scaled below by Q
        self.anchor_var = p["cap_anchor_sigma"] ** 2
        self.min_dsoc = p["cap_min_dsoc"]
        self.i_off = p["cap_i_offset_sigma_a"]
        self.gain = p["cap_gain_sigma"]
        self.eta = p["eta_chg"]
        self.soc_a = None  # anchor SoC and its variance
        self.var_a = 0.0
        self.ah = 0.0  # coulomb count since the anchor [Ah]
        self.thru = 0.0  # |Ah| since the anchor
        self.t_s = 0.0  # time since the anchor
        self.n_updates = 0
        self.last_dsoc = 0.0

    @property
    def q_sigma_ah(self):
        return sqrt(self.p)

    def step(self, dt, i, soc, soc_var):
        # Call after each SoC-filter step; returns True when Q was updated.
        if dt > 0.0:
            d = i * dt / 3600.0
            if i > 0.0:
                d *= self.eta
            self.ah += d
            self.thru += abs(d)
            self.t_s += dt
            self.p += self.rw * abs(d) * self.q_ah  # random walk per Ah cycled
        if soc_var >= self.anchor_var:
            return False
        if self.soc_a is None:
            self._anchor(soc, soc_var)
            return False
        dsoc = soc - self.soc_a
        if abs(dsoc) < self.min_dsoc:
            # Still near the previous anchor: the newest sure point is the best start.
            self._anchor(soc, soc_var)
            return False
        q = self.q_ah
        var_count = (self.i_off * self.t_s / 3600.0) ** 2 + (self.gain * self.thru) ** 2
        r = var_count + q * q * (self.var_a + soc_var) + 1e-12
        s = dsoc * dsoc * self.p + r
        k = self.p * dsoc / s
        q += k * (self.ah - q * dsoc)
        self.p = (1.0 - k * dsoc) ** 2 * self.p + k * k * r  # Joseph form
        if q < self.q_min:
            q = self.q_min
        elif q > self.q_max:
            q = self.q_max
        self.q_ah = q
        self.n_updates += 1
        self.last_dsoc = dsoc
        self._anchor(soc, soc_var)
        return True

    def _anchor(self, soc, soc_var):
        self.soc_a = soc
        self.var_a = soc_var
        self.ah = 0.0
        self.thru = 0.0
        self.t_s = 0.0
