"""Per-cell state estimator: SoC EKF (bms.est.ekf on the ECM of bms.est.model) + on-line capacity (bms.est.capacity).

    from bms.config import cell as cellparams
    from bms.est.estimator import CellEstimator
    est = CellEstimator(cellparams.preset("nvp-mg-naf"), soc0=0.8, soc0_sigma=0.05)  # soc0=None: from the OCV
    ok = est.update(dt_s, i_a, v_cell, t_c)   # False if the voltage update was NIS-gated (it still predicted)
    est.bridge_gap(dt_s)                      # a gap without samples: sigma grows, nothing is integrated

A given soc0 is kept with soc0_sigma (default soc0_sigma_default); soc0=None reads SoC from the first
voltage with soc_sigma0.
Attributes after each update:
    soc, soc_sigma     SoC as a fraction of q_ah, and its 1-sigma (the filter's P plus the OCV table's
                       systematic part: the truth is inside +-2 sigma >= 95 % of the time on the benches)
    q_ah, q_sigma_ah   capacity estimate [Ah] and its 1-sigma
    v_pred, innov, nis model terminal voltage before the update [V], v_cell - v_pred [V], innov^2/S_nominal
                       (the misfit against the configured noise: ~1 when the model fits; the filter itself
                       uses the adapted S)
    y, S, r_scale      innovation [V] (= innov), its adapted variance [V^2], and the covariance-matching
                       factor S/S_nominal (>= 1; large while the model misfits)
    i_offset_a, i_offset_sigma_a   estimated current-sensor offset [A] (measured - true) and its 1-sigma
    n_rejected         NIS-gated measurements so far
Methods: r0_ohm(t_c), ocv(soc, t_c), bridge_gap(dt_s, i_sigma_a=None).
Extras (for detectors and diagnostics):
    v1                 RC polarisation voltage state [V];  hyst  hysteresis state (-1..1)
    ocv_slope          dOCV/dSoC at the current SoC [V per unit SoC] (small on the plateau)
    n_updates          update() calls;  n_cap_updates  capacity-filter updates;  n_gaps  bridge_gap() calls
    n_reseeds          SoC re-seeded from the OCV at a settled (or extrapolated) rest
    n_reads            SoC read from the OCV while unsure of it and on the plateau (near rest)
    ekf, cap, model    the underlying SocEkf, CapacityEstimator, CellModel
Inputs are assumed finite (the caller rejects NaN/inf); absurd finite values are clipped to sensor
ranges (|i| <= I_ABS_MAX, 0 <= v <= V_ABS_MAX, 0 <= dt <= DT_MAX) so that update never raises.
"""
from math import sqrt

from bms.config.constants import I_NEAR_REST_C, I_REST_C
from bms.est.capacity import CapacityEstimator
from bms.config.cell import validate
from bms.est.ekf import SocEkf
from bms.est.joseph import clamp

I_ABS_MAX = 10000.0
V_ABS_MAX = 100.0
DT_MAX = 1.0e6
REST_ANCHOR_S = 120.0
LOAD_MEMORY_S = 120.0  # time constant of the recent mean current that keeps R raised after a load
ZERO_MIN_S = 10.0  # a current within the offset bound this long is zero current (offset calibration)
REST_CHECK_S = 225.0  # rest checkpoints for the OCV re-seed: 225 s x 2^n (450, 900, 1800 s, ...)
REST_SMOOTH_S = 10.0  # smoothing of the rest voltage (sensor noise)
E_OFFSET = (0.0, 0.0, 0.0, 1.0)  # H of the offset pseudo-measurement (in units of its prior sigma)
E_SOC = (1.0, 0.0, 0.0, 0.0)  # H of an SoC read from the OCV
READ_MAX_SIGMA = 0.05  # an OCV reading wider than this cannot place SoC
READ_MIN_VAR = 0.01  # SoC variance (sigma 0.1) above which an SoC read from the OCV helps the EKF off the plateau


def soc_from_ocv(m, v, t_c):
    """Inverse of the model's (strictly increasing) OCV table, clamped to 0..1."""
    v = v - m.docv_dt * (t_c - 25.0)
    s = m.soc_pts
    o = m.ocv_pts
    if v <= o[0]:
        return s[0]
    for j in range(1, len(s)):
        if v <= o[j]:
            return s[j - 1] + (s[j] - s[j - 1]) * (v - o[j - 1]) / (o[j] - o[j - 1])
    return s[-1]


def _clip(x, lo, hi):
    return lo if x < lo else (hi if x > hi else x)


class CellEstimator:
    def __init__(self, p, soc0=None, soc0_sigma=None):
        validate(p)
        var = None
        if soc0 is not None:
            soc0 = _clip(float(soc0), 0.0, 1.0)
            sd = p["soc0_sigma_default"] if soc0_sigma is None else float(soc0_sigma)
            if not 0.0 < sd <= 1.0:
                raise ValueError("soc0_sigma must be in (0, 1], got %r" % (soc0_sigma,))
            var = sd * sd
        self.p = p
        self.ekf = SocEkf(p, soc0, var)
        self.model = self.ekf.m
        self.cap = CapacityEstimator(p)
        self._need_init = soc0 is None
        self.i_zero_max = 3.0 * (p["cap_i_offset_sigma_a"] + p["i_noise_sigma_a"])
        self.r_zero = p["i_noise_sigma_a"] ** 2 + 1e-12
        self.var_ocv = p["sigma_ocv_v"] ** 2
        self.var_sys = 0.0  # systematic SoC variance from the OCV table's error (see _sys_toward)
        self.y_mean = 0.0  # running mean of the residual [V]
        self.n_updates = 0
        self.n_reseeds = 0
        self.n_reads = 0
        self.n_gaps = 0
        self.rest_s = 0.0  # time at rest (|i| <= C/100) so far
        self.zero_s = 0.0  # time the measured current has looked like zero (within the offset bound)
        self.i_recent = 0.0  # recent mean current [A] (LOAD_MEMORY_S low-pass)
        self.r_base = self.ekf.r  # sigma_v^2: the filter's R at rest
        self._t_c = None
        self._rest_reset()
        self._publish()

    def update(self, dt_s, i_a, v_cell, t_c):
        """One sample: predict, then the voltage update (and the offset calibration at zero current, the
        re-seed at a settled rest). Returns False if the voltage update was NIS-gated (it still predicted)."""
        dt_s = _clip(dt_s, 0.0, DT_MAX)
        i_a = _clip(i_a, -I_ABS_MAX, I_ABS_MAX)
        v_cell = _clip(v_cell, 0.0, V_ABS_MAX)
        t_c = _clip(t_c, -100.0, 200.0)
        e = self.ekf
        x = e.x
        self._t_c = t_c
        if self._need_init:
            # SoC from the OCV seen at the first sample (IR drop removed); wide sigma (soc_sigma0).
            self._need_init = False
            e.m.at(t_c)
            x[0] = soc_from_ocv(e.m, v_cell - e.m.r0 * i_a, t_c)
        p = self.p
        sb = e.m.sb
        b = x[3] * sb  # the estimated sensor offset [A]
        i_c = i_a - b  # the cell's current: the measured one less the offset
        self._noise(dt_s, i_c)
        ok = e.step(dt_s, i_a, v_cell, t_c, self.cap.q_ah)
        q = self.cap.q_ah
        self._after_step(ok, dt_s, i_c, v_cell, t_c)
        # Offset calibration: a measured current within the sensor's offset bound for ZERO_MIN_S is
        # taken as zero current, so what the sensor reads is its offset (a pseudo-measurement of x[3];
        # through P's cross terms it also takes back the SoC the offset had counted).
        self.zero_s = self.zero_s + dt_s if abs(i_a) <= self.i_zero_max else 0.0
        if self.zero_s >= ZERO_MIN_S:
            e.update((i_a - b) / sb, self.r_zero / (sb * sb), E_OFFSET)
            b = x[3] * sb
        if abs(i_a - b) <= I_REST_C * q:
            self.rest_s += dt_s
            self._rest_tick(dt_s, v_cell, t_c)
        else:
            self._rest_reset()
        # Capacity anchors only where the OCV is steep (on the plateau a small sigma is coulomb
        # counting's own confidence, not a reading of SoC) and the cell rests (under load the
        # knees carry plating/stripping overpotentials the model does not have): after
        # REST_ANCHOR_S at |i| <= C/100, when the RC branches have relaxed.
        sure = abs(e.m.k) >= p["plateau_slope_v"] and self.rest_s >= REST_ANCHOR_S
        self.cap.step(dt_s, i_a - b, x[0], e.P[0] if sure else 1.0)
        self.n_updates += 1
        self._publish()
        return ok

    def _noise(self, dt_s, i_c):
        # Model error under load, R = sigma_v^2 + ri*(i^2 + i_recent^2):
        # * it grows as R0 does (cold): the current term is scaled by R0(T)/R0(25) (last step's T);
        # * it outlasts the load: the slow diffusion relaxation the one-RC model lacks keeps the
        #   voltage off for minutes, so the recent mean current (LOAD_MEMORY_S) counts too;
        # * it is largest discharging near empty: the last sodium is stripped off the collector
        #   through a shrinking area, a non-linear overpotential a linear R0 cannot follow, and a bias
        #   (not noise) that would integrate into SoC: sigma x dis_knee_sigma_gain below dis_knee_soc.
        # What these terms miss, the filter's covariance matching adds (bms.est.ekf).
        p = self.p
        e = self.ekf
        x = e.x
        self.i_recent += dt_s / (dt_s + LOAD_MEMORY_S) * (i_c - self.i_recent)
        ri = (p["sigma_v_per_a"] * e.m.r0 / p["r0_ohm"]) ** 2
        if (i_c < 0.0 or self.i_recent < 0.0) and x[0] < p["dis_knee_soc"]:
            ri *= p["dis_knee_sigma_gain"] ** 2
        e.ri = ri
        e.r = self.r_base + ri * self.i_recent * self.i_recent
        if i_c > 0.0 and x[0] < p["chg_knee_soc"]:
            e.r += 0.09  # plating onto a (nearly) bare collector: no depletion knee, voltage says little

    def _after_step(self, ok, dt_s, i_c, v_cell, t_c):
        e = self.ekf
        # the running mean of the residual after the update (y R/S: the innovation less what SoC's own
        # uncertainty explains): the part of the model's error that does not average out
        self.y_mean += dt_s / (dt_s + self.p["r_adapt_s"]) * (e.y * e.R / e.S - self.y_mean)
        h0 = e.H[0]
        if ok and h0 != 0.0:
            sd = self._ocv_spread(self.model.ocv_slope(e.x[0], t_c)[0], self.y_mean * self.y_mean, t_c)
            self._sys_toward(e.K[0] * h0, sd * sd)
        elif h0 == 0.0 and e.P[0] > READ_MIN_VAR and abs(i_c) <= I_NEAR_REST_C * self.cap.q_ah:
            self._read_soc(i_c, v_cell, t_c)

    def bridge_gap(self, dt_s, i_sigma_a=None):
        """A gap of dt_s without samples (a board asleep, a lost link): nothing is integrated, the RC
        voltage relaxes, and SoC's variance grows as an unseen current of i_sigma_a (default: the
        sensor's offset bound plus C/100) would move it. The next update starts a new rest."""
        dt_s = _clip(dt_s, 0.0, DT_MAX)
        e = self.ekf
        x = e.x
        q = self.cap.q_ah
        if i_sigma_a is None:
            i_sigma_a = self.p["cap_i_offset_sigma_a"] + 0.01 * q
        # the cell's current over the gap taken as zero: the measured one equals the offset estimate
        e.predict(dt_s, x[3] * e.m.sb, 25.0 if self._t_c is None else self._t_c, q)
        e.P[0] += (i_sigma_a * dt_s / (3600.0 * q)) ** 2
        clamp(x, e.P, e.x_hi)
        self.i_recent = 0.0
        self.zero_s = 0.0
        self._rest_reset()
        self.n_gaps += 1
        self._publish()

    def restore(self, soc, soc_sigma, q_ah):
        """State saved before a reset (bms.core.store): SoC with its sigma, the learned capacity."""
        e = self.ekf
        P = e.P
        self._need_init = False
        e.x[0] = _clip(soc, 0.0, 1.0)
        for j in (1, 2, 3):
            P[j] = P[4 * j] = 0.0  # no cross terms with the restored SoC (P stays PSD)
        P[0] = _clip(soc_sigma, 1e-3, 0.5) ** 2
        self.var_sys = 0.0
        self.cap.q_ah = _clip(q_ah, self.cap.q_min, self.cap.q_max)
        self._publish()

    def _sys_toward(self, g, var):
        # A model's bias does not average out over samples (the OCV table's own error sigma_ocv_v, and the
        # residual's running mean: what the model misses right now), so the filter's P (noise only)
        # cannot carry it: a systematic SoC variance, published in soc_sigma, moves toward the bias's
        # reading spread by the share g of SoC's variance a reading removed, and is carried unchanged by
        # the coulomb count.
        self.var_sys += min(max(g, 0.0), 1.0) * (var - self.var_sys)

    def _ocv_spread(self, v_ocv, var_v, t_c):
        # SoC sigma of a reading of v_ocv: the inverse image of v_ocv +- 2 sigma (sigma^2 = var_v + the table's
        # own error), not sigma/slope: next to a very steep stretch a volt of error there is a fraction of a
        # percent, one step into the flatter one it is several; a voltage near a flat stretch reads wide.
        m = self.model
        sv = 2.0 * sqrt(var_v + self.var_ocv)
        return 0.25 * (soc_from_ocv(m, v_ocv + sv, t_c) - soc_from_ocv(m, v_ocv - sv, t_c))

    def _ocv_read(self, v_ocv, var_v, t_c):
        # SoC from an OCV and its variance; None if it cannot place SoC (wider than READ_MAX_SIGMA).
        sd = self._ocv_spread(v_ocv, var_v, t_c)
        if sd > READ_MAX_SIGMA:
            return None
        return soc_from_ocv(self.model, v_ocv, t_c), sd * sd + 1e-8

    def _read_soc(self, i_c, v_cell, t_c):
        # The filter is unsure of SoC and its SoC sits on the flat plateau, where the EKF's local slope
        # cannot use the voltage: read SoC from the OCV the voltage implies (linearised there, not at the
        # prior) if consistent with the prior; near rest only (|i| <= C/20), with the nominal R (with the
        # recent-load term): the adapted one would call the very SoC error it should read a model error.
        e = self.ekf
        m = e.m
        x = e.x
        r = self._ocv_read(v_cell - m.r0 * i_c - x[1] - m.m_hyst * x[2], e.r + e.ri * i_c * i_c, t_c)
        if r is None:
            return
        y = r[0] - x[0]
        if y * y <= e.gate * (e.P[0] + r[1]):
            g = e.P[0] / (e.P[0] + r[1])
            e.update(y, r[1], E_SOC)
            self._sys_toward(g, r[1])
            self.n_reads += 1

    def _rest_reset(self):
        self.rest_s = 0.0
        self._v_rest = None  # smoothed voltage during the rest
        self._v_half = None  # the smoothed voltage at the previous checkpoint
        self._rest_next = REST_CHECK_S
        self._reseeded = False

    def _rest_tick(self, dt_s, v_cell, t_c):
        # Re-seed SoC from the OCV only at a rest whose relaxation has settled or been extrapolated:
        # at checkpoints REST_CHECK_S x 2^n the smoothed voltage now (T) and at T/2 give the tail's end
        # for a diffusion-like v = v_inf + a/sqrt(t): v_inf = v(T) + (v(T) - v(T/2))/(sqrt(2) - 1);
        # the extrapolation's size is its own uncertainty. Never under load or just after it.
        vr = self._v_rest
        self._v_rest = v_cell if vr is None else vr + dt_s / (dt_s + REST_SMOOTH_S) * (v_cell - vr)
        if self.rest_s < self._rest_next:
            return
        self._rest_next *= 2.0
        v_now = self._v_rest
        v_half = self._v_half
        self._v_half = v_now
        if v_half is None or self._reseeded:
            return
        tail = (v_now - v_half) * 2.414
        e = self.ekf
        m = e.m
        x = e.x
        P = e.P
        r = self._ocv_read(v_now + tail - m.m_hyst * x[2], self.r_base + tail * tail + m.m_hyst * m.m_hyst * P[10], t_c)
        if r is None:
            return  # the voltage points into the flat plateau: it cannot place SoC
        soc, var = r
        d = soc - x[0]
        if d * d <= e.gate * (P[0] + var):
            return  # consistent: the ordinary voltage updates of the rest do the rest
        # the filter is lost (a wrong start given with too small a sigma, a model far off): re-seed SoC
        # with the rest's own sigma and no cross terms (P stays PSD); the capacity regression drops its anchor
        x[0] = soc
        for j in (1, 2, 3):
            P[j] = P[4 * j] = 0.0
        P[0] = var
        self.var_sys = 0.0
        clamp(x, P, e.x_hi)
        self.cap.soc_a = None
        self.n_reseeds += 1
        self._reseeded = True

    def _publish(self):
        e = self.ekf
        self.soc = min(e.x[0], 1.0)  # the state may sit slightly above 1 (bms.est.joseph.SOC_MAX)
        self.soc_sigma = sqrt(e.P[0] + self.var_sys)
        self.i_offset_a = e.x[3] * e.m.sb
        self.i_offset_sigma_a = sqrt(e.P[15]) * e.m.sb
        self.q_ah = self.cap.q_ah
        self.q_sigma_ah = self.cap.q_sigma_ah
        self.v_pred = e.v_pred
        self.innov = self.y = e.y
        self.S = e.S
        self.r_scale = e.r_scale
        self.nis = e.nis
        self.n_rejected = e.n_rejected

    @property
    def v1(self):
        return self.ekf.x[1]

    @property
    def hyst(self):
        return self.ekf.x[2]

    @property
    def ocv_slope(self):
        return self.model.k

    @property
    def n_cap_updates(self):
        return self.cap.n_updates

    def r0_ohm(self, t_c):
        m = self.model
        m.at(t_c)
        return m.r0

    def ocv(self, soc, t_c):
        return self.model.ocv_slope(soc, t_c)[0]
