"""The cell file: one JSON description of a cell, schema "nabms-cell/1" (docs/cells.md has the full schema).

    from bms.config import cellfile
    params = cellfile.load(doc)       # doc: a parsed JSON dict, a JSON string, or a file path ending in .json
    CellEstimator(params); Protection(params)

load() checks every field (ValueError "<field path>: <rule>", e.g. "ocv.mean_v[3]: must be above the value
before it (3.39 after 3.4)"; unknown keys are refused, so a typo cannot pass silently) and reduces the file to the
flat parameter dict of bms.config.cell (what the estimator and the protections take), filling estimator tuning
from bms.config.cell.DEFAULTS where the file is silent. The estimator's model has one form only, so tables over
temperature, charge/discharge branches and two RC pairs are reduced to it (docs/cells.md says how).
Runs on MicroPython (no CPython-only modules).
"""
from math import exp, log

SCHEMA = "nabms-cell/1"
_R_GAS = 8.314
_T_REF_C = 25.0

# section -> {file key: flat key}; None marks a key handled by hand (a table, a list of RC pairs)
_SECTIONS = {
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
_REQUIRED = {
    "": ("schema", "name", "chemistry", "capacity", "ocv", "resistance", "limits"),
    "chemistry": ("cathode",),
    "capacity": ("nominal_ah",),
    "ocv": ("soc",),
    "resistance": ("r0_ohm", "rc"),
    "limits": ("v_min", "v_max"),
}


def _err(path, rule):
    return ValueError("%s: %s" % (path, rule))


def _join(section, key):
    return key if not section else section + "." + key


def _is_num(x):
    return not isinstance(x, bool) and isinstance(x, (int, float)) and (x - x) == 0.0


def _num(x, path, lo=None, hi=None, lo_open=False):
    if not _is_num(x):
        raise _err(path, "must be a finite number, got %r" % (x,))
    x = float(x)
    if lo is not None and (x <= lo if lo_open else x < lo):
        raise _err(path, "must be %s %r, got %r" % (">" if lo_open else ">=", lo, x))
    if hi is not None and x > hi:
        raise _err(path, "must be <= %r, got %r" % (hi, x))
    return x


def _obj(doc, section):
    """The section's dict, its keys checked against the schema (unknown refused, required present)."""
    if not isinstance(doc, dict):
        raise _err(section or "cell file", "must be a JSON object")
    known = _SECTIONS[section]
    for key in doc:
        if key not in known:
            raise _err(_join(section, key), "unknown key (known: %s)" % ", ".join(sorted(known)))
    for key in _REQUIRED.get(section, ()):
        if key not in doc:
            raise _err(_join(section, key), "required")
    return doc


def _table(x, path, n=None, lo=None, hi=None, increasing=False, min_len=2):
    if not isinstance(x, (list, tuple)) or len(x) < min_len:
        raise _err(path, "must be a list of at least %d numbers" % min_len)
    if n is not None and len(x) != n:
        raise _err(path, "must have %d entries (one per ocv.soc point), got %d" % (n, len(x)))
    out = []
    for j in range(len(x)):
        v = _num(x[j], "%s[%d]" % (path, j), lo, hi)
        if increasing and j and not v > out[-1]:
            raise _err("%s[%d]" % (path, j), "must be above the value before it (%r after %r)" % (v, out[-1]))
        out.append(v)
    return out


def _arrhenius_d(t_c):
    return 1.0 / (t_c + 273.15) - 1.0 / (_T_REF_C + 273.15)


def _median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _temperature_law(x, path, ea, ea_path):
    """(value at 25 degC, activation energy J/mol) of a resistance or time constant: a number (ea required), or
    {"temperature_c": [...], "values": [...]} or {"temperature_c": [...], "soc": [...], "values": [[...], ...]}."""
    if _is_num(x):
        if ea is None:
            raise _err(ea_path, "required when %s is a single number (no temperatures to fit it from)" % path)
        return _num(x, path, 0.0, None, True), ea
    if not isinstance(x, dict):
        raise _err(path, "must be a number or an object {temperature_c, values[, soc]}")
    for key in x:
        if key not in ("temperature_c", "soc", "values"):
            raise _err(_join(path, key), "unknown key (known: soc, temperature_c, values)")
    temps = _table(x.get("temperature_c"), path + ".temperature_c", None, -40.0, 80.0, True, 1)
    vals = x.get("values")
    if not isinstance(vals, list) or len(vals) != len(temps):
        raise _err(path + ".values", "must be a list with one entry per temperature (%d)" % len(temps))
    per_t = []
    if "soc" in x:
        socs = _table(x["soc"], path + ".soc", None, 0.0, 1.0, True)
        for j in range(len(temps)):
            row = _table(vals[j], "%s.values[%d]" % (path, j), len(socs), 0.0)
            for k in range(len(row)):
                if row[k] <= 0.0:
                    raise _err("%s.values[%d][%d]" % (path, j, k), "must be > 0")
            per_t.append(_median(row))
    else:
        for j in range(len(temps)):
            per_t.append(_num(vals[j], "%s.values[%d]" % (path, j), 0.0, None, True))
    ds = [_arrhenius_d(t) for t in temps]
    ys = [log(v) for v in per_t]
    if ea is None:
        if len(temps) < 2:
            raise _err(ea_path, "required when %s is given at one temperature only" % path)
        # least-squares line ln R = ln R25 + (Ea/R_gas) * d
        n = len(ds)
        md = sum(ds) / n
        my = sum(ys) / n
        sdd = sum((d - md) ** 2 for d in ds)
        slope = sum((ds[j] - md) * (ys[j] - my) for j in range(n)) / sdd
        ea = max(slope * _R_GAS, 0.0)  # a resistance that falls when cold is a fit artefact: no temperature law
    slope = ea / _R_GAS
    ln25 = sum(ys[j] - slope * ds[j] for j in range(len(ds))) / len(ds)
    return exp(ln25), ea


def _ocv(o, p):
    o = _obj(o, "ocv")
    soc = _table(o["soc"], "ocv.soc", None, 0.0, 1.0, True)
    if soc[0] != 0.0 or soc[-1] != 1.0:
        raise _err("ocv.soc", "must run from 0.0 to 1.0 (got %r..%r)" % (soc[0], soc[-1]))
    n = len(soc)
    forms = [k for k in ("mean_v", "charge_v", "tables") if k in o]
    if len(forms) != 1 or ("charge_v" in o) != ("discharge_v" in o):
        raise _err("ocv", "give exactly one of mean_v, charge_v + discharge_v, or tables")
    hyst = _obj(o.get("hysteresis", {}), "ocv.hysteresis")
    m_hyst = _num(hyst["m_v"], "ocv.hysteresis.m_v", 0.0, 0.5) if "m_v" in hyst else None
    if "gamma" in hyst:
        p["gamma_hyst"] = _num(hyst["gamma"], "ocv.hysteresis.gamma", 0.0, None, True)
    if "docv_dt_v_per_k" in o:
        p["docv_dt_v_per_k"] = _num(o["docv_dt_v_per_k"], "ocv.docv_dt_v_per_k", -0.01, 0.01)
    t_table = _num(o.get("temperature_c", _T_REF_C), "ocv.temperature_c", -40.0, 80.0)

    def branches(obj, path):
        if "mean_v" in obj:
            return _table(obj["mean_v"], path + "mean_v", n, 0.5, 5.0, True), None
        ch = _table(obj["charge_v"], path + "charge_v", n, 0.5, 5.0)
        di = _table(obj["discharge_v"], path + "discharge_v", n, 0.5, 5.0)
        gaps = []
        for j in range(n):
            if ch[j] < di[j]:
                raise _err("%scharge_v[%d]" % (path, j), "must not be below discharge_v[%d] (%r < %r)" % (j, ch[j], di[j]))
            gaps.append(0.5 * (ch[j] - di[j]))
        mean = _table([0.5 * (ch[j] + di[j]) for j in range(n)], path + "(charge_v+discharge_v)/2", n,
                      0.5, 5.0, True)
        return mean, _median(gaps)

    if "tables" in o:
        tabs = o["tables"]
        if not isinstance(tabs, list) or not tabs:
            raise _err("ocv.tables", "must be a non-empty list of {temperature_c, mean_v | charge_v + discharge_v}")
        temps, means, gaps = [], [], []
        for j in range(len(tabs)):
            path = "ocv.tables[%d]" % j
            t = tabs[j]
            if not isinstance(t, dict):
                raise _err(path, "must be an object")
            for key in t:
                if key not in ("temperature_c", "mean_v", "charge_v", "discharge_v"):
                    raise _err(path + "." + key, "unknown key (known: charge_v, discharge_v, mean_v, temperature_c)")
            if ("mean_v" in t) == ("charge_v" in t) or ("charge_v" in t) != ("discharge_v" in t):
                raise _err(path, "give exactly one of mean_v or charge_v + discharge_v")
            tc = _num(t.get("temperature_c"), path + ".temperature_c", -40.0, 80.0)
            if temps and tc <= temps[-1]:
                raise _err(path + ".temperature_c", "tables must be in increasing temperature")
            mean, gap = branches(t, path + ".")
            temps.append(tc)
            means.append(mean)
            if gap is not None:
                gaps.append(gap)
        if "docv_dt_v_per_k" not in p:
            if len(temps) < 2:
                raise _err("ocv.docv_dt_v_per_k", "required with a table at one temperature only")
            mt = sum(temps) / len(temps)
            avg = [sum(m) / n for m in means]
            ma = sum(avg) / len(avg)
            p["docv_dt_v_per_k"] = sum((temps[j] - mt) * (avg[j] - ma) for j in range(len(temps))) / \
                sum((t - mt) ** 2 for t in temps)
        # the table at 25 degC: between the two tables around it, else the nearest shifted by dOCV/dT
        k = 0
        while k < len(temps) - 1 and temps[k + 1] < _T_REF_C:
            k += 1
        if len(temps) > 1 and temps[k] <= _T_REF_C <= temps[k + 1]:
            w = (_T_REF_C - temps[k]) / (temps[k + 1] - temps[k])
            ref = [means[k][j] + w * (means[k + 1][j] - means[k][j]) for j in range(n)]
        else:
            near = 0 if abs(temps[0] - _T_REF_C) <= abs(temps[-1] - _T_REF_C) else len(temps) - 1
            ref = [v + p["docv_dt_v_per_k"] * (_T_REF_C - temps[near]) for v in means[near]]
        gap = _median(gaps) if gaps else None
    else:
        ref, gap = branches(o, "ocv.")
        if t_table != _T_REF_C:
            if "docv_dt_v_per_k" not in p:
                raise _err("ocv.docv_dt_v_per_k", "required with a table at one temperature only")
            ref = [v + p["docv_dt_v_per_k"] * (_T_REF_C - t_table) for v in ref]
    ref = _table(ref, "ocv (at 25 degC)", n, 0.5, 5.0, True)
    if m_hyst is None:
        if gap is None:
            raise _err("ocv.hysteresis.m_v", "required with a mean_v table (no branches to take it from)")
        m_hyst = gap
    p["m_hyst_v"] = m_hyst
    p["soc_pts"] = tuple(soc)
    p["ocv_pts"] = tuple(ref)


def _resistance(r, p):
    r = _obj(r, "resistance")
    t_ref = _num(r.get("reference_temperature_c", _T_REF_C), "resistance.reference_temperature_c")
    if t_ref != _T_REF_C:
        raise _err("resistance.reference_temperature_c", "must be 25 (the estimator's reference temperature)")
    ea_r0 = _num(r["ea_r0_j_mol"], "resistance.ea_r0_j_mol", 0.0, 200000.0) if "ea_r0_j_mol" in r else None
    ea_rc = _num(r["ea_rc_j_mol"], "resistance.ea_rc_j_mol", 0.0, 200000.0) if "ea_rc_j_mol" in r else None
    p["r0_ohm"], p["ea_r0_j_mol"] = _temperature_law(r["r0_ohm"], "resistance.r0_ohm", ea_r0,
                                                     "resistance.ea_r0_j_mol")
    rc = r["rc"]
    if not isinstance(rc, list) or not 1 <= len(rc) <= 2:
        raise _err("resistance.rc", "must be a list of one or two {r_ohm, tau_s} pairs")
    pairs = []
    eas = []
    for j in range(len(rc)):
        path = "resistance.rc[%d]" % j
        pair = rc[j]
        if not isinstance(pair, dict):
            raise _err(path, "must be an object {r_ohm, tau_s}")
        for key in pair:
            if key not in ("r_ohm", "tau_s"):
                raise _err(path + "." + key, "unknown key (known: r_ohm, tau_s)")
        for key in ("r_ohm", "tau_s"):
            if key not in pair:
                raise _err(path + "." + key, "required")
        r_ohm, ea = _temperature_law(pair["r_ohm"], path + ".r_ohm", ea_rc, "resistance.ea_rc_j_mol")
        if _is_num(pair["tau_s"]):
            tau = _num(pair["tau_s"], path + ".tau_s", 0.0, 100000.0, True)
        else:  # tau scales like R (C ~ constant): its own table is reduced at R's activation energy
            tau = _temperature_law(pair["tau_s"], path + ".tau_s", ea, "resistance.ea_rc_j_mol")[0]
            if tau > 100000.0:
                raise _err(path + ".tau_s", "must be <= 100000 s, got %r" % tau)
        pairs.append((r_ohm, tau))
        eas.append(ea)
    if len(pairs) == 1:
        p["r1_ohm"], p["tau1_s"] = pairs[0]
        p["ea_r1_j_mol"] = eas[0]
        return
    r1 = pairs[0][0] + pairs[1][0]
    p["r1_ohm"] = r1
    p["tau1_s"] = (pairs[0][0] * pairs[0][1] + pairs[1][0] * pairs[1][1]) / r1
    p["ea_r1_j_mol"] = (pairs[0][0] * eas[0] + pairs[1][0] * eas[1]) / r1


def _flat_paths():
    """(flat key, cell-file field) pairs, to name the field a rule across fields tripped on."""
    out = [("soc_pts", "ocv.soc"), ("ocv_pts", "ocv.mean_v"), ("r0_ohm", "resistance.r0_ohm"),
           ("r1_ohm", "resistance.rc"), ("tau1_s", "resistance.rc")]
    for section in _SECTIONS:
        for key, flat in _SECTIONS[section].items():
            if flat:
                out.append((flat, _join(section, key)))
    return out


def load(doc):
    """The flat parameter dict of a cell file (see the module docstring); ValueError "<field path>: <rule>"."""
    from bms.config import cell

    if isinstance(doc, str):
        import json

        if doc.endswith(".json"):
            try:
                f = open(doc)
            except OSError:
                raise ValueError("%s: cannot open the cell file" % doc)
            try:
                doc = json.load(f)
            except ValueError as e:
                raise ValueError("%s: not valid JSON (%s)" % (doc, e))
            finally:
                f.close()
        else:
            try:
                doc = json.loads(doc)
            except ValueError as e:
                raise ValueError("cell file: not valid JSON (%s)" % e)
    doc = _obj(doc, "")
    if doc["schema"] != SCHEMA:
        raise _err("schema", "must be %r (this firmware reads that version), got %r" % (SCHEMA, doc["schema"]))
    p = {}
    name = doc["name"]
    if not isinstance(name, str) or not 0 < len(name) <= 40:
        raise _err("name", "must be a string of 1..40 characters")
    p["name"] = name
    if "description" in doc and not isinstance(doc["description"], str):
        raise _err("description", "must be a string")
    chem = _obj(doc["chemistry"], "chemistry")
    for key in chem:
        if not isinstance(chem[key], str):
            raise _err("chemistry." + key, "must be a string")
    p["cathode"] = chem["cathode"]
    p["interphase"] = chem.get("interphase", "")
    for section in ("capacity", "noise", "current_sensor", "limits", "knees", "detectors"):
        sec = _obj(doc.get(section, {}), section)
        names = _SECTIONS[section]
        for key in sec:
            if section == "detectors":
                if not isinstance(sec[key], str):
                    raise _err("detectors." + key, "must be a string")
                p[names[key]] = sec[key]
            else:
                p[names[key]] = _num(sec[key], section + "." + key)
    p["q_ah"] = _num(p["q_ah"], "capacity.nominal_ah", 0.0, 1000.0, True)
    _ocv(doc["ocv"], p)
    _resistance(doc["resistance"], p)
    _obj(doc.get("source", {}), "source")
    est = doc.get("estimator", {})
    if not isinstance(est, dict):
        raise _err("estimator", "must be an object")
    mapped = {}
    for sec in _SECTIONS.values():
        for flat in sec.values():
            if flat:
                mapped[flat] = 1
    for key in est:
        if key not in cell.DEFAULTS or key in mapped:
            raise _err("estimator." + key, "unknown estimator key (known: %s)"
                 % ", ".join(sorted(k for k in cell.DEFAULTS if k not in mapped)))
        d = cell.DEFAULTS[key]
        if isinstance(d, bool) or not _is_num(d):
            if type(est[key]) is not type(d):
                raise _err("estimator." + key, "must be of the default's type (%r)" % (d,))
            p[key] = est[key]
        elif isinstance(d, int):
            x = _num(est[key], "estimator." + key)
            if x != int(x):
                raise _err("estimator." + key, "must be a whole number, got %r" % x)
            p[key] = int(x)
        else:
            p[key] = _num(est[key], "estimator." + key)
    for key in cell.DEFAULTS:
        if key not in p:
            p[key] = cell.DEFAULTS[key]
    if "i_chg_max_a" not in p:
        p["i_chg_max_a"] = 0.5 * p["q_ah"]  # C/2 unless the file says otherwise
    if "i_dis_max_a" not in p:
        p["i_dis_max_a"] = 2.0 * p["q_ah"]  # 2C
    try:
        cell.validate(p)
    except ValueError as e:  # a rule across fields: named by the first parameter the message quotes
        msg = str(e)
        where, best = "cell", ""
        for flat, path in _flat_paths():
            if len(flat) > len(best) and msg.find(flat) >= 0:
                where, best = path, flat
        raise ValueError("%s: %s" % (where, msg))
    return p
