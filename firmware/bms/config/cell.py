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
  chg_knee_soc         below this SoC the OCV table's depletion knee does not hold while charging
                       (sodium plates onto a bare collector): voltage gets sigma 0.3 V there
  sigma_v_per_a        model error growing with current [V/A] at 25 degC, scaled like R0(T):
                       R = sigma_v^2 + (sigma_v_per_a*i*R0(T)/R0(25))^2
  dis_knee_soc, dis_knee_sigma_gain   below this SoC while discharging (now or in the last minutes)
                       the current term's sigma is multiplied by the gain: stripping the last sodium
                       off the collector adds a non-linear overpotential the linear R0 lacks
  q_soc_per_s, q_soc_per_dsoc   SoC process noise: per second (current-offset drift) and per unit
                       of SoC moved (gain error)
  q_v1_v2_per_s, q_h_per_s      process noise of the RC voltage and the hysteresis state
  plateau_slope_v      OCV slope [V per unit SoC] below which voltage is de-weighted for SoC
  nis_gate             innovation gate on the adapted S (NIS, chi^2 with 1 dof): drops lone outliers
  sigma_ocv_v          systematic error of the OCV table [V] (fit, hysteresis, ageing): it does not average
                       out, so it bounds how sure the voltage can make SoC (a floor of the SoC variance)
  r_adapt_s            time constant [s] of the covariance matching that widens R when the model misfits
  soc_sigma0, v1_max_v SoC sigma when SoC is read from the first voltage (soc0=None); bound of the RC voltage [V]
  soc0_sigma_default   SoC sigma of a given start SoC when the caller gives none
  i_noise_sigma_a      current-sensor noise 1-sigma [A] (offset calibration at zero current)
  q_sigma0_frac, q_fade_sigma_per_ah    capacity filter: initial sigma (fraction of q_ah) and
                       random-walk sigma^2 per Ah of throughput (fraction^2 of q_ah)
  cap_anchor_sigma, cap_min_dsoc        SoC sigma below which a point anchors the capacity
                       regression, and the least SoC swing between anchors
  cap_i_offset_sigma_a, cap_gain_sigma  current-sensor offset [A] and gain error: the offset is also the
                       prior sigma and bound (x4) of the SoC filter's offset state
  v_min, v_max, t_min_c, t_max_c, i_chg_max_a, i_dis_max_a   operating limits (protections use them)

Sources and identification (independent of sim/'s code and parameter files; docs/estimator.md):
  * OCV tables, R0/R1/tau1 and their activation energies, hysteresis magnitude: identified by
    bench/estimator_identify.py from simulated lab tests seen only through a sensor model (C/20
    pseudo-OCV; C/2 pulses at 0/25/45 degC), then rounded. A real cell would be identified the same way.
  * dU/dT: NVP -0.15 mV/K (Wei et al., J. Electrochem. Soc. 169, 050503, 2022); layered oxide assumed.
  * Fade: Mg/NaF ~ 99.95 % average CE (eScience 2024, 82.7 % after 350 cycles); bare Cu several
    times faster: the capacity random walk is set accordingly.
"""

# The four presets are cell files (firmware/cells/<name>.json, schema in bms.config.cellfile and docs/cells.md),
# identified with bench/estimator_identify.py (simulated lab tests seen through a sensor model: C/20 pseudo-OCV =
# mean of charge and discharge branches; 0.1 s-sampled C/2 pulses at 0/25/45 C, one-RC fit, Arrhenius line fit),
# rounded: OCV to 1 mV, resistances to ~2 significant figures, activation energies to 1 kJ/mol. Hysteresis: half
# the C/20 branch gap minus its IR part.
PRESETS = ("nvp-mg-naf", "nvp-bare-cu", "layered-oxide-mg-naf", "layered-oxide-bare-cu")

# Estimator tuning and generic cell terms: what a cell file may leave out (its "estimator" section, or the
# section the key belongs to, overrides them). Operating currents default to C/2 charge and 2C discharge.
DEFAULTS = {
    "eta_chg": 1.0,
    "gamma_hyst": 50.0,
    "sigma_v": 0.006,
    "sigma_v_per_a": 0.01,
    "q_soc_per_s": 2e-9,
    "q_soc_per_dsoc": 1e-4,
    "q_v1_v2_per_s": 1e-6,
    "q_h_per_s": 1e-5,
    "plateau_slope_v": 0.3,
    "chg_knee_soc": 0.0,
    "dis_knee_soc": 0.15,
    "dis_knee_sigma_gain": 7.0,
    "nis_gate": 16.0,
    "r_adapt_s": 60.0,
    "sigma_ocv_v": 0.01,
    "soc_sigma0": 0.3,
    "soc0_sigma_default": 0.03,
    "i_noise_sigma_a": 0.005,
    "v1_max_v": 0.5,
    "q_sigma0_frac": 0.05,
    "q_fade_sigma_per_ah": 7e-4,
    "cap_anchor_sigma": 0.012,
    "cap_min_dsoc": 0.5,
    "cap_i_offset_sigma_a": 0.01,
    "cap_gain_sigma": 0.005,
    "t_min_c": -20.0,
    "t_max_c": 60.0,
}

# Hard limits per cathode: a config outside these is rejected, whatever the caller wanted.
_HARD = {"nvp": (2.0, 4.0), "layered-oxide": (1.5, 4.3)}

# The keys the estimator core (bms.est.model, bms.est.kalman, bms.est.ekf) reads: enough to build it on a tiny board.
CORE_KEYS = (
    "soc_pts", "ocv_pts", "docv_dt_v_per_k", "r0_ohm", "r1_ohm", "tau1_s", "ea_r0_j_mol", "ea_r1_j_mol",
    "m_hyst_v", "gamma_hyst", "eta_chg", "sigma_v", "sigma_v_per_a", "chg_knee_soc", "q_soc_per_s", "q_soc_per_dsoc", "q_v1_v2_per_s",
    "q_h_per_s", "plateau_slope_v", "nis_gate", "r_adapt_s", "v1_max_v", "soc_sigma0", "cap_i_offset_sigma_a",
)


def _cell_dirs():
    """Where shipped cell files may sit: firmware/cells beside the bms package (CPython, the unix port), then the
    board's own filesystems (flash copies cells/ to the root; a ROMFS image mounts at /rom)."""
    dirs = []
    try:
        here = __file__.replace("\\", "/")
        cut = here.rfind("/bms/config/")
        if cut >= 0:
            dirs.append(here[:cut] + "/cells")
    except NameError:  # a frozen module has no file
        pass
    import sys

    for d in sys.path:
        if isinstance(d, str) and d not in ("", ".frozen"):
            dirs.append(d + "/cells")
    dirs.extend(("cells", "/rom/cells", "/flash/cells", "/cells"))
    return dirs


def cell_file(name):
    """Path of the shipped cell file for a preset name; ValueError for an unknown name or a missing file."""
    if name not in PRESETS:
        raise ValueError("unknown preset %r (known: %s)" % (name, ", ".join(PRESETS)))
    for d in _cell_dirs():
        path = d + "/" + name + ".json"
        try:
            open(path).close()
            return path
        except OSError:
            pass
    raise ValueError("preset %r: no cells/%s.json on this board (flash copies cells/)" % (name, name))


def preset(name):
    """A fresh parameter dict for a preset name such as "nvp-mg-naf" (see PRESETS), read from its cell file."""
    import sys

    from bms.config import cellfile

    p = cellfile.load(cell_file(name))
    # a precompiled loader is cheap to import again, so a small board gets its heap back; a source one stays (it
    # would be compiled again in a heap the running string has fragmented)
    if getattr(cellfile, "__file__", "").endswith(".mpy"):
        sys.modules.pop("bms.config.cellfile", None)
        import bms.config

        if hasattr(bms.config, "cellfile"):
            delattr(bms.config, "cellfile")
    return p


_POSITIVE = (
    "q_ah", "r0_ohm", "r1_ohm", "tau1_s", "sigma_v", "plateau_slope_v", "nis_gate", "soc_sigma0", "r_adapt_s",
    "soc0_sigma_default", "i_noise_sigma_a", "sigma_ocv_v",
    "v1_max_v", "q_sigma0_frac", "cap_anchor_sigma", "cap_min_dsoc", "gamma_hyst", "eta_chg",
    "dis_knee_sigma_gain",
)
_NON_NEGATIVE = (
    "ea_r0_j_mol", "ea_r1_j_mol", "m_hyst_v", "q_soc_per_s", "q_soc_per_dsoc", "q_v1_v2_per_s",
    "q_h_per_s", "q_fade_sigma_per_ah", "sigma_v_per_a", "chg_knee_soc", "dis_knee_soc", "cap_i_offset_sigma_a", "cap_gain_sigma",
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
        if p[key] * p["q_ah"] > 5.0:  # the voltage it drops at 1C
            raise ValueError("%s %r Ohm drops %.3g V at 1C: beyond a usable cell" % (key, p[key], p[key] * p["q_ah"]))
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
    lo, hi = _HARD.get(str(p.get("cathode")), (0.5, 5.0))
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
    for key in ("chg_knee_soc", "dis_knee_soc"):
        if p[key] > 1.0:
            raise ValueError("%s must be <= 1, got %r" % (key, p[key]))
    if p["dis_knee_sigma_gain"] < 1.0:
        raise ValueError("dis_knee_sigma_gain must be >= 1 (it de-weights, never sharpens), got %r" % p["dis_knee_sigma_gain"])
    if p["soc0_sigma_default"] > 1.0:
        raise ValueError("soc0_sigma_default must be <= 1, got %r" % p["soc0_sigma_default"])
    if p["cap_min_dsoc"] > 1.0:
        raise ValueError("cap_min_dsoc must be <= 1")
    return p
