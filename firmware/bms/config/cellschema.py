"""The cell file's sections and field checks (bms.config.cellfile reads a file with them): which keys a section
knows and requires, and number/table checks whose ValueError names the field path and the rule."""

T_REF_C = 25.0  # the estimator's reference temperature [degC]

# section -> {file key: flat key}; None marks a key handled by hand (a table, a list of RC pairs)
SECTIONS = {
    "": {"schema": None, "name": "name", "description": None, "chemistry": None, "capacity": None, "ocv": None,
         "resistance": None, "noise": None, "current_sensor": None, "limits": None, "knees": None,
         "detectors": None, "estimator": None, "source": None},
    "chemistry": {"cathode": "cathode", "interphase": "interphase", "anode": None, "electrolyte": None,
                  "format": None},
    "capacity": {"nominal_ah": "q_ah", "coulombic_efficiency": "eta_chg", "sigma0_frac": "q_sigma0_frac",
                 "fade_sigma_per_ah": "q_fade_sigma_per_ah"},
    "ocv": {"soc": None, "mean_v": None, "charge_v": None, "discharge_v": None, "temperature_c": None,
            "tables": None, "docv_dt_v_per_k": "docv_dt_v_per_k", "hysteresis": None},
    "ocv.hysteresis": {"m_v": "m_hyst_v", "gamma": "gamma_hyst"},
    "resistance": {"reference_temperature_c": None, "r0_ohm": None, "rc": None, "ea_r0_j_mol": None,
                   "ea_rc_j_mol": None},
    "noise": {"sigma_v": "sigma_v", "sigma_v_per_a": "sigma_v_per_a", "q_soc_per_s": "q_soc_per_s",
              "q_soc_per_dsoc": "q_soc_per_dsoc", "q_v1_v2_per_s": "q_v1_v2_per_s", "q_h_per_s": "q_h_per_s"},
    "current_sensor": {"offset_sigma_a": "cap_i_offset_sigma_a", "gain_sigma": "cap_gain_sigma"},
    "limits": {"v_min": "v_min", "v_max": "v_max", "t_min_c": "t_min_c", "t_max_c": "t_max_c",
               "i_chg_max_a": "i_chg_max_a", "i_dis_max_a": "i_dis_max_a"},
    "knees": {"charge_below_soc": "chg_knee_soc", "discharge_below_soc": "dis_knee_soc",
              "discharge_sigma_gain": "dis_knee_sigma_gain"},
    "detectors": {"preset": "detect_preset"},
    "source": {"made_by": None, "data": None, "notes": None, "fit_rms_v": None},
}
REQUIRED = {
    "": ("schema", "name", "chemistry", "capacity", "ocv", "resistance", "limits"),
    "chemistry": ("cathode",),
    "capacity": ("nominal_ah",),
    "ocv": ("soc",),
    "resistance": ("r0_ohm", "rc"),
    "limits": ("v_min", "v_max"),
}


def err(path, rule):
    return ValueError("%s: %s" % (path, rule))


def join(section, key):
    return key if not section else section + "." + key


def is_num(x):
    return not isinstance(x, bool) and isinstance(x, (int, float)) and (x - x) == 0.0


def num(x, path, lo=None, hi=None, lo_open=False):
    if not is_num(x):
        raise err(path, "must be a finite number, got %r" % (x,))
    x = float(x)
    if lo is not None and (x <= lo if lo_open else x < lo):
        raise err(path, "must be %s %r, got %r" % (">" if lo_open else ">=", lo, x))
    if hi is not None and x > hi:
        raise err(path, "must be <= %r, got %r" % (hi, x))
    return x


def obj(doc, section):
    """The section's dict, its keys checked against the schema (unknown refused, required present)."""
    if not isinstance(doc, dict):
        raise err(section or "cell file", "must be a JSON object")
    known = SECTIONS[section]
    for key in doc:
        if key not in known:
            raise err(join(section, key), "unknown key (known: %s)" % ", ".join(sorted(known)))
    for key in REQUIRED.get(section, ()):
        if key not in doc:
            raise err(join(section, key), "required")
    return doc


def table(x, path, n=None, lo=None, hi=None, increasing=False, min_len=2):
    if not isinstance(x, (list, tuple)) or len(x) < min_len:
        raise err(path, "must be a list of at least %d numbers" % min_len)
    if n is not None and len(x) != n:
        raise err(path, "must have %d entries (one per ocv.soc point), got %d" % (n, len(x)))
    out = []
    for j in range(len(x)):
        v = num(x[j], "%s[%d]" % (path, j), lo, hi)
        if increasing and j and not v > out[-1]:
            raise err("%s[%d]" % (path, j), "must be above the value before it (%r after %r)" % (v, out[-1]))
        out.append(v)
    return out


def arrhenius_d(t_c):
    return 1.0 / (t_c + 273.15) - 1.0 / (T_REF_C + 273.15)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
