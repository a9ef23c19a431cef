"""Per-cell state estimator: SoC EKF (bms.est.ekf on the ECM of bms.est.model) + on-line capacity (bms.est.capacity).

    from bms.config import cell as cellparams
    from bms.est.estimator import CellEstimator
    est = CellEstimator(cellparams.preset("nvp-mg-naf"), soc0=None)
    ok = est.update(dt_s, i_a, v_cell, t_c)   # False if the voltage update was NIS-gated (it still predicted)

Attributes after each update:
    soc, soc_sigma     SoC as a fraction of q_ah, and its 1-sigma
    q_ah, q_sigma_ah   capacity estimate [Ah] and its 1-sigma
    v_pred, innov, nis model terminal voltage before the update [V], v_cell - v_pred [V], innov^2/S
    n_rejected         NIS-gated measurements so far
Methods: r0_ohm(t_c), ocv(soc, t_c).
Extras (for detectors and diagnostics):
    v1                 RC polarisation voltage state [V];  hyst  hysteresis state (-1..1)
    ocv_slope          dOCV/dSoC at the current SoC [V per unit SoC] (small on the plateau)
    n_updates          update() calls;  n_cap_updates  capacity-filter updates
    n_reseeds          times SoC was re-seeded from the OCV after n_resync gated measurements in a row
    ekf, cap, model    the underlying SocEkf, CapacityEstimator, CellModel
Inputs are assumed finite (the caller rejects NaN/inf); absurd finite values are clipped to sensor
ranges (|i| <= I_ABS_MAX, 0 <= v <= V_ABS_MAX, 0 <= dt <= DT_MAX) so that update never raises.
"""
from math import sqrt

from bms.est.capacity import CapacityEstimator
from bms.config.cell import validate
from bms.est.ekf import SocEkf

I_ABS_MAX = 10000.0
V_ABS_MAX = 100.0
DT_MAX = 1.0e6
REST_ANCHOR_S = 120.0
LOAD_MEMORY_S = 120.0
GAP_SOC_PER_H = 0.01  # SoC sigma per hour of a gap: an unmeasured current of C/100 (bms.core.app bridges gaps)
GAP_VAR_MAX = 0.25  # time constant of the recent mean current that keeps R raised after a load


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
    def __init__(self, p, soc0=None):
        validate(p)
        if soc0 is not None:
            soc0 = _clip(float(soc0), 0.0, 1.0)
        self.p = p
        self.ekf = SocEkf(p, soc0)
        self.model = self.ekf.m
        self.cap = CapacityEstimator(p)
        self._need_init = soc0 is None
        self.n_updates = 0
        self.n_reseeds = 0
        self.rest_s = 0.0  # time at rest (|i| <= C/100) so far
        self.i_recent = 0.0  # recent mean current [A] (LOAD_MEMORY_S low-pass)
        self.r_base = self.ekf.r  # sigma_v^2: the filter's R at rest
        self.soc = self.ekf.x[0]
        self.soc_sigma = sqrt(self.ekf.P[0])
        self.q_ah = self.cap.q_ah
        self.q_sigma_ah = self.cap.q_sigma_ah
        self.v_pred = 0.0
        self.innov = 0.0
        self.nis = 0.0
        self.n_rejected = 0

    def update(self, dt_s, i_a, v_cell, t_c):
        dt_s = _clip(dt_s, 0.0, DT_MAX)
        i_a = _clip(i_a, -I_ABS_MAX, I_ABS_MAX)
        v_cell = _clip(v_cell, 0.0, V_ABS_MAX)
        t_c = _clip(t_c, -100.0, 200.0)
        e = self.ekf
        if self._need_init:
            # SoC from the OCV seen at the first sample (IR drop removed); wide sigma on the plateau.
            self._need_init = False
            e.m.at(t_c)
            e.x[0] = soc_from_ocv(e.m, v_cell - e.m.r0 * i_a, t_c)
        if abs(i_a) > 0.05 * self.cap.q_ah and e.n_run >= e.n_resync - 1:
            # Re-sync only near rest: under load a persistent innovation is more likely the model's
            # missing overpotentials (cold, knees) than a lost SoC; hold the gate until the load eases.
            e.n_run = e.n_resync - 2
        # Model error under load, R = sigma_v^2 + ri*(i^2 + i_recent^2):
        # * it grows as R0 does (cold): the current term is scaled by R0(T)/R0(25) (last step's T);
        # * it outlasts the load: the slow diffusion relaxation the one-RC model lacks keeps the
        #   voltage off for minutes, so the recent mean current (LOAD_MEMORY_S) counts too;
        # * it is largest discharging near empty: the last sodium is stripped off the collector
        #   through a shrinking area, a non-linear overpotential a linear R0 cannot follow, and a bias
        #   (not noise) that would integrate into SoC: sigma x dis_knee_sigma_gain below dis_knee_soc.
        p = self.p
        self.i_recent += dt_s / (dt_s + LOAD_MEMORY_S) * (i_a - self.i_recent)
        ri = (p["sigma_v_per_a"] * e.m.r0 / p["r0_ohm"]) ** 2
        if (i_a < 0.0 or self.i_recent < 0.0) and e.x[0] < p["dis_knee_soc"]:
            ri *= p["dis_knee_sigma_gain"] ** 2
        e.ri = ri
        e.r = self.r_base + ri * self.i_recent * self.i_recent
        ok = e.step(dt_s, i_a, v_cell, t_c, self.cap.q_ah)
        if not ok and e.n_run == 0:
            self._reseed(i_a, v_cell, t_c)
        # Capacity anchors only where the OCV is steep (on the plateau a small sigma is coulomb
        # counting's own confidence, not a reading of SoC) and the cell rests (under load the
        # knees carry plating/stripping overpotentials the model does not have): after
        # REST_ANCHOR_S at |i| <= C/100, when the RC branches have relaxed.
        self.rest_s = self.rest_s + dt_s if abs(i_a) <= 0.01 * self.cap.q_ah else 0.0
        sure = abs(e.k) >= self.p["plateau_slope_v"] and self.rest_s >= REST_ANCHOR_S
        self.cap.step(dt_s, i_a, e.x[0], e.P[0] if sure else 1.0)
        self.n_updates += 1
        self.soc = min(e.x[0], 1.0)  # the state may sit slightly above 1 (bms.est.joseph.SOC_MAX)
        self.soc_sigma = sqrt(e.P[0])
        self.q_ah = self.cap.q_ah
        self.q_sigma_ah = self.cap.q_sigma_ah
        self.v_pred = e.v_pred
        self.innov = e.innov
        self.nis = e.nis
        self.n_rejected = e.n_rejected
        return ok

    def bridge_gap(self, dt_s):
        # A stretch without trusted samples (board asleep, link lost, time jump): nothing is integrated over
        # it; the SoC variance grows by the drift process noise plus GAP_SOC_PER_H of unknown current per hour.
        e = self.ekf
        dt_s = _clip(dt_s, 0.0, DT_MAX)
        e.P[0] = min(e.P[0] + e.q[0] * dt_s + (GAP_SOC_PER_H * dt_s / 3600.0) ** 2, GAP_VAR_MAX)
        self.soc_sigma = sqrt(e.P[0])

    def restore(self, soc, soc_sigma, q_ah):
        # State saved before a reset (bms.core.store): SoC with its sigma, the learned capacity.
        e = self.ekf
        self._need_init = False
        e.x[0] = self.soc = _clip(soc, 0.0, 1.0)
        e.P[0] = _clip(soc_sigma, 1e-3, 0.5) ** 2
        self.soc_sigma = sqrt(e.P[0])
        self.cap.q_ah = self.q_ah = _clip(q_ah, self.cap.q_min, self.cap.q_max)

    def _reseed(self, i_a, v_cell, t_c):
        # The filter re-synced after n_resync gated measurements in a row: it is lost. An EKF
        # linearised on the flat plateau cannot walk back by itself (dOCV/dSoC ~ 0 there), so SoC
        # is re-seeded from the OCV the voltage implies, with the initial sigma and no cross terms
        # (block-diagonal P stays PSD); the capacity regression drops its anchor. Only where the
        # OCV is steep enough to place SoC (plateau_slope_v).
        e = self.ekf
        m = e.m
        x = e.x
        soc = soc_from_ocv(m, v_cell - m.r0 * i_a - x[1] - m.m_hyst * x[2], t_c)
        if abs(m.ocv_slope(soc, t_c)[1]) < self.p["plateau_slope_v"]:
            return  # the voltage points into the flat plateau: it cannot place SoC, keep coulomb counting
        x[0] = soc
        P = e.P
        P[0] = e.ss0
        P[1] = P[2] = P[3] = P[6] = 0.0
        self.cap.soc_a = None
        self.n_reseeds += 1

    @property
    def v1(self):
        return self.ekf.x[1]

    @property
    def hyst(self):
        return self.ekf.x[2]

    @property
    def ocv_slope(self):
        return self.ekf.k

    @property
    def n_cap_updates(self):
        return self.cap.n_updates

    def r0_ohm(self, t_c):
        m = self.model
        m.at(t_c)
        return m.r0

    def ocv(self, soc, t_c):
        return self.model.ocv_slope(soc, t_c)[0]
