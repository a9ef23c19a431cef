"""Estimator parameters per cell preset, and their validation.

A parameter set is a plain dict (cheap on MicroPython, easy to load from JSON):

  name, cathode, interphase
  q_ah                 nominal (fresh) capacity [Ah]
  soc_pts, ocv_pts     OCV table at 25 degC: SoC breakpoints 0..1 (strictly increasing) and OCV [V]
                       (strictly increasing); interpolated linearly, slope = segment slope
  docv_dt_v_per_k      entropic coefficient dOCV/dT [V/K] (applied to the whole table)
  r0_ohm, r1_ohm, tau1_s   ohmic resistance, RC-branch resistance and time constant at 25 degC
  ea_r0_j_mol, ea_r1_j_mol Arrhenius activation energies of R0 and of R1 (tau1 scales like R1)
  m_hyst_v, gamma_hyst hysteresis magnitude [V] and rate (Plett's ESC model)
  eta_chg              charge coulombic efficiency used by the coulomb count
  sigma_v              voltage measurement + model error 1-sigma [V] (the filter's R)
  q_soc_per_s, q_soc_per_dsoc   SoC process noise: per second (current-offset drift) and per unit
                       of SoC moved (gain error)
  q_v1_v2_per_s, q_h_per_s      process noise of the RC voltage and the hysteresis state
  plateau_slope_v      OCV slope [V per unit SoC] below which voltage is de-weighted for SoC
  nis_gate, n_resync   innovation gate (NIS, chi^2 with 1 dof) and rejections in a row before re-sync
  soc_sigma0, v1_max_v initial SoC sigma (soc0=None or unknown); bound of the RC voltage [V]
  q_sigma0_frac, q_fade_sigma_per_ah    capacity filter: initial sigma (fraction of q_ah) and
                       random-walk sigma^2 per Ah of throughput (fraction^2 of q_ah)
  cap_anchor_sigma, cap_min_dsoc        SoC sigma below which a point anchors the capacity
                       regression, and the least SoC swing between anchors
  cap_i_offset_sigma_a, cap_gain_sigma  current-sensor offset [A] and gain error assumed there
  v_min, v_max, t_min_c, t_max_c, i_chg_max_a, i_dis_max_a   operating limits (protections use them)

Sources and identification (independent of sim/; see docs/estimator.md):
  * NVP OCV: the LFP-style fit quoted for Na3V2(PO4)3 in /work/shared/cell-physics.md (Afshar 2017
    form, x = 1 - SoC) sampled at our own breakpoints and rounded to 1 mV; flat plateau ~3.40 V.
    dU/dT = -0.15 mV/K (Wei et al., J. Electrochem. Soc. 169, 050503, 2022).
  * Layered oxide OCV: a smooth sloping 2.0-4.0 V curve (no public table; documented as assumed).
  * Resistances: order of magnitude from interface/electrolyte figures (engineered interphase
    tens of Ohm.cm^2; bare collectors much higher), Arrhenius ~17-20 kJ/mol (electrolyte) and
    ~45 kJ/mol (charge transfer) -- lithium-ion analogues quoted in cell-physics.md.
  * Fade: Mg/NaF ~ 99.95 % average CE (eScience 2024, 82.7 % after 350 cycles); bare Cu several
    times faster: the capacity random walk is set accordingly.
"""

# NVP-like flat cathode, SoC -> OCV [V] at 25 degC (anode-free: the low end is the sodium-depletion knee).
_NVP_SOC = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.18, 0.3, 0.5, 0.7, 0.85, 0.93, 0.97, 0.98, 0.99, 0.995, 1.0)
_NVP_OCV = (2.487, 2.613, 2.721, 2.894, 3.022, 3.188, 3.307, 3.365, 3.387, 3.393, 3.398, 3.402, 3.405, 3.406, 3.413, 3.432, 3.519, 3.644, 3.908)

# Layered oxide (O3/P2-like), sloping; assumed smooth curve.
_LO_SOC = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
_LO_OCV = (2.00, 2.40, 2.62, 2.85, 3.05, 3.18, 3.29, 3.40, 3.51, 3.62, 3.74, 3.87, 3.94, 4.00)

_COMMON = {
    "q_ah": 2.0,
    "eta_chg": 1.0,
    "ea_r0_j_mol": 20000.0,
    "ea_r1_j_mol": 45000.0,
    "m_hyst_v": 0.003,
    "gamma_hyst": 50.0,
    "sigma_v": 0.006,
    "q_soc_per_s": 2e-9,
    "q_soc_per_dsoc": 1e-4,
    "q_v1_v2_per_s": 1e-6,
    "q_h_per_s": 1e-5,
    "plateau_slope_v": 0.3,
    "nis_gate": 16.0,
    "n_resync": 30,
    "soc_sigma0": 0.3,
    "v1_max_v": 0.5,
    "q_sigma0_frac": 0.05,
    "cap_anchor_sigma": 0.012,
    "cap_min_dsoc": 0.5,
    "cap_i_offset_sigma_a": 0.01,
    "cap_gain_sigma": 0.005,
    "t_min_c": -20.0,
    "t_max_c": 60.0,
    "i_chg_max_a": 1.0,
    "i_dis_max_a": 4.0,
}

_CATHODES = {
    "nvp": {
        "soc_pts": _NVP_SOC,
        "ocv_pts": _NVP_OCV,
        "docv_dt_v_per_k": -0.00015,
        "v_min": 2.5,
        "v_max": 3.8,
    },
    "layered-oxide": {
        "soc_pts": _LO_SOC,
        "ocv_pts": _LO_OCV,
        "docv_dt_v_per_k": -0.0001,
        "v_min": 2.0,
        "v_max": 4.0,
    },
}

_INTERPHASES = {
    # Mg/NaF stratified interphase: low interface resistance, slow fade.
    "mg-naf": {"r0_ohm": 0.03, "r1_ohm": 0.015, "tau1_s": 30.0, "q_fade_sigma_per_ah": 4e-6},
    # Bare Cu collector: higher interface resistance and plating overpotential, faster fade.
    "bare-cu": {"r0_ohm": 0.035, "r1_ohm": 0.03, "tau1_s": 30.0, "q_fade_sigma_per_ah": 2e-5},
}

# Hard limits per cathode: a config outside these is rejected, whatever the caller wanted.
_HARD = {"nvp": (2.0, 4.0), "layered-oxide": (1.5, 4.3)}

# The keys the estimator core (bms.model + bms.ekf) reads: enough to build it on a tiny board.
CORE_KEYS = (
    "soc_pts", "ocv_pts", "docv_dt_v_per_k", "r0_ohm", "r1_ohm", "tau1_s", "ea_r0_j_mol", "ea_r1_j_mol",
    "m_hyst_v", "gamma_hyst", "eta_chg", "sigma_v", "q_soc_per_s", "q_soc_per_dsoc", "q_v1_v2_per_s",
    "q_h_per_s", "plateau_slope_v", "nis_gate", "n_resync", "v1_max_v", "soc_sigma0",
)

PRESETS = ("nvp-mg-naf", "nvp-bare-cu", "layered-oxide-mg-naf", "layered-oxide-bare-cu")


def preset(name):
    """A fresh parameter dict for a preset name such as "nvp-mg-naf" (see PRESETS)."""
    for cat in _CATHODES:
        if name.startswith(cat + "-") and name[len(cat) + 1 :] in _INTERPHASES:
            ip = name[len(cat) + 1 :]
            p = dict(_COMMON)
            p.update(_CATHODES[cat])
            p.update(_INTERPHASES[ip])
            p["name"] = name
            p["cathode"] = cat
            p["interphase"] = ip
            return p
    raise ValueError("unknown preset %r (known: %s)" % (name, ", ".join(PRESETS)))


_POSITIVE = (
    "q_ah", "r0_ohm", "r1_ohm", "tau1_s", "sigma_v", "plateau_slope_v", "nis_gate", "soc_sigma0",
    "v1_max_v", "q_sigma0_frac", "cap_anchor_sigma", "cap_min_dsoc", "gamma_hyst", "eta_chg",
)
_NON_NEGATIVE = (
    "ea_r0_j_mol", "ea_r1_j_mol", "m_hyst_v", "q_soc_per_s", "q_soc_per_dsoc", "q_v1_v2_per_s",
    "q_h_per_s", "q_fade_sigma_per_ah", "cap_i_offset_sigma_a", "cap_gain_sigma", "n_resync",
    "i_chg_max_a", "i_dis_max_a",
)


def _num(p, key):
    if key not in p:
        raise ValueError("missing parameter %r" % key)
    x = p[key]
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError("parameter %r must be a number, got %r" % (key, x))
    if (x - x) != 0.0:
        raise ValueError("parameter %r must be finite, got %r" % (key, x))
    return float(x)


def validate(p):
    """Raise ValueError naming the first malformed or out-of-limits parameter; return p if valid."""
    if not isinstance(p, dict):
        raise ValueError("parameters must be a dict")
    for key in _POSITIVE:
        if _num(p, key) <= 0.0:
            raise ValueError("parameter %r must be > 0, got %r" % (key, p[key]))
    for key in _NON_NEGATIVE:
        if _num(p, key) < 0.0:
            raise ValueError("parameter %r must be >= 0, got %r" % (key, p[key]))
    _num(p, "docv_dt_v_per_k")
    for key in ("v_min", "v_max", "t_min_c", "t_max_c"):
        _num(p, key)
    if p["eta_chg"] > 1.0:
        raise ValueError("eta_chg must be <= 1 (a cell cannot return more charge than it took), got %r" % p["eta_chg"])
    if p["q_ah"] > 1000.0:
        raise ValueError("q_ah %r Ah is beyond any single cell" % p["q_ah"])
    for key in ("r0_ohm", "r1_ohm"):
        if p[key] > 10.0:
            raise ValueError("%s %r Ohm is beyond a usable cell" % (key, p[key]))
    soc = p.get("soc_pts")
    ocv = p.get("ocv_pts")
    if not isinstance(soc, (list, tuple)) or not isinstance(ocv, (list, tuple)):
        raise ValueError("soc_pts and ocv_pts must be sequences")
    if len(soc) != len(ocv) or len(soc) < 2:
        raise ValueError("soc_pts and ocv_pts must have the same length >= 2 (got %d and %d)" % (len(soc), len(ocv)))
    if soc[0] != 0.0 or soc[-1] != 1.0:
        raise ValueError("soc_pts must run from 0.0 to 1.0")
    for j in range(1, len(soc)):
        if not soc[j] > soc[j - 1]:
            raise ValueError("soc_pts must be strictly increasing (index %d)" % j)
        if not ocv[j] > ocv[j - 1]:
            raise ValueError("ocv_pts must be strictly increasing (index %d: %r after %r)" % (j, ocv[j], ocv[j - 1]))
    lo, hi = _HARD.get(p.get("cathode"), (0.5, 5.0))
    if ocv[0] < lo - 1.0 or ocv[-1] > hi + 0.2:
        raise ValueError("ocv_pts span %.3f..%.3f V is outside the cathode's plausible range" % (ocv[0], ocv[-1]))
    if p["v_max"] > hi:
        raise ValueError("v_max %.3f V exceeds the %s hard limit %.2f V" % (p["v_max"], p.get("cathode"), hi))
    if p["v_min"] < lo:
        raise ValueError("v_min %.3f V is below the %s hard limit %.2f V" % (p["v_min"], p.get("cathode"), lo))
    if p["v_min"] >= p["v_max"]:
        raise ValueError("v_min must be below v_max")
    if p["t_min_c"] < -40.0 or p["t_max_c"] > 80.0 or p["t_min_c"] >= p["t_max_c"]:
        raise ValueError("temperature window %r..%r degC is outside -40..80 degC or empty" % (p["t_min_c"], p["t_max_c"]))
    if p["cap_min_dsoc"] > 1.0:
        raise ValueError("cap_min_dsoc must be <= 1")
    return p
