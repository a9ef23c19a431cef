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

from bms.config.cellschema import (
    SECTIONS,
    T_REF_C,
    arrhenius_d,
    err,
    is_num,
    join,
    median,
    num,
    obj,
    table,
)

SCHEMA = "nabms-cell/1"
_R_GAS = 8.314


def _temperature_law(x, path, ea, ea_path):
    """(value at 25 degC, activation energy J/mol) of a resistance or time constant: a number (ea required), or
    {"temperature_c": [...], "values": [...]} or {"temperature_c": [...], "soc": [...], "values": [[...], ...]}."""
    if is_num(x):
        if ea is None:
            raise err(ea_path, "required when %s is a single number (no temperatures to fit it from)" % path)
        return num(x, path, 0.0, None, True), ea
    if not isinstance(x, dict):
        raise err(path, "must be a number or an object {temperature_c, values[, soc]}")
    for key in x:
        if key not in ("temperature_c", "soc", "values"):
            raise err(join(path, key), "unknown key (known: soc, temperature_c, values)")
    temps = table(x.get("temperature_c"), path + ".temperature_c", None, -40.0, 80.0, True, 1)
    vals = x.get("values")
    if not isinstance(vals, list) or len(vals) != len(temps):
        raise err(path + ".values", "must be a list with one entry per temperature (%d)" % len(temps))
    per_t = []
    if "soc" in x:
        socs = table(x["soc"], path + ".soc", None, 0.0, 1.0, True)
        for j in range(len(temps)):
            row = table(vals[j], "%s.values[%d]" % (path, j), len(socs), 0.0)
            for k in range(len(row)):
                if row[k] <= 0.0:
                    raise err("%s.values[%d][%d]" % (path, j, k), "must be > 0")
            per_t.append(median(row))
    else:
        for j in range(len(temps)):
            per_t.append(num(vals[j], "%s.values[%d]" % (path, j), 0.0, None, True))
    ds = [arrhenius_d(t) for t in temps]
    ys = [log(v) for v in per_t]
    if ea is None:
        if len(temps) < 2:
            raise err(ea_path, "required when %s is given at one temperature only" % path)
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


def _ocv_branches(obj, path, n):
    # (mean table, half the median charge/discharge gap or None for a mean_v table)
    if "mean_v" in obj:
        return table(obj["mean_v"], path + "mean_v", n, 0.5, 5.0, True), None
    ch = table(obj["charge_v"], path + "charge_v", n, 0.5, 5.0)
    di = table(obj["discharge_v"], path + "discharge_v", n, 0.5, 5.0)
    gaps = []
    for j in range(n):
        if ch[j] < di[j]:
            raise err("%scharge_v[%d]" % (path, j), "must not be below discharge_v[%d] (%r < %r)" % (j, ch[j], di[j]))
        gaps.append(0.5 * (ch[j] - di[j]))
    mean = table([0.5 * (ch[j] + di[j]) for j in range(n)], path + "(charge_v+discharge_v)/2", n, 0.5, 5.0, True)
    return mean, median(gaps)


def _ocv_tables(tabs, n, p):
    # tables at several temperatures -> (table at 25 degC, hysteresis gap or None); dOCV/dT fitted if not given
    if not isinstance(tabs, list) or not tabs:
        raise err("ocv.tables", "must be a non-empty list of {temperature_c, mean_v | charge_v + discharge_v}")
    temps, means, gaps = [], [], []
    for j in range(len(tabs)):
        path = "ocv.tables[%d]" % j
        t = tabs[j]
        if not isinstance(t, dict):
            raise err(path, "must be an object")
        for key in t:
            if key not in ("temperature_c", "mean_v", "charge_v", "discharge_v"):
                raise err(path + "." + key, "unknown key (known: charge_v, discharge_v, mean_v, temperature_c)")
        if ("mean_v" in t) == ("charge_v" in t) or ("charge_v" in t) != ("discharge_v" in t):
            raise err(path, "give exactly one of mean_v or charge_v + discharge_v")
        tc = num(t.get("temperature_c"), path + ".temperature_c", -40.0, 80.0)
        if temps and tc <= temps[-1]:
            raise err(path + ".temperature_c", "tables must be in increasing temperature")
        mean, gap = _ocv_branches(t, path + ".", n)
        temps.append(tc)
        means.append(mean)
        if gap is not None:
            gaps.append(gap)
    if "docv_dt_v_per_k" not in p:
        if len(temps) < 2:
            raise err("ocv.docv_dt_v_per_k", "required with a table at one temperature only")
        mt = sum(temps) / len(temps)
        avg = [sum(m) / n for m in means]
        ma = sum(avg) / len(avg)
        p["docv_dt_v_per_k"] = sum((temps[j] - mt) * (avg[j] - ma) for j in range(len(temps))) / \
            sum((t - mt) ** 2 for t in temps)
    # the table at 25 degC: between the two tables around it, else the nearest shifted by dOCV/dT
    k = 0
    while k < len(temps) - 1 and temps[k + 1] < T_REF_C:
        k += 1
    if len(temps) > 1 and temps[k] <= T_REF_C <= temps[k + 1]:
        w = (T_REF_C - temps[k]) / (temps[k + 1] - temps[k])
        ref = [means[k][j] + w * (means[k + 1][j] - means[k][j]) for j in range(n)]
    else:
        near = 0 if abs(temps[0] - T_REF_C) <= abs(temps[-1] - T_REF_C) else len(temps) - 1
        ref = [v + p["docv_dt_v_per_k"] * (T_REF_C - temps[near]) for v in means[near]]
    return ref, (median(gaps) if gaps else None)


def _ocv(o, p):
    o = obj(o, "ocv")
    soc = table(o["soc"], "ocv.soc", None, 0.0, 1.0, True)
    if soc[0] != 0.0 or soc[-1] != 1.0:
        raise err("ocv.soc", "must run from 0.0 to 1.0 (got %r..%r)" % (soc[0], soc[-1]))
    n = len(soc)
    forms = [k for k in ("mean_v", "charge_v", "tables") if k in o]
    if len(forms) != 1 or ("charge_v" in o) != ("discharge_v" in o):
        raise err("ocv", "give exactly one of mean_v, charge_v + discharge_v, or tables")
    hyst = obj(o.get("hysteresis", {}), "ocv.hysteresis")
    m_hyst = num(hyst["m_v"], "ocv.hysteresis.m_v", 0.0, 0.5) if "m_v" in hyst else None
    if "gamma" in hyst:
        p["gamma_hyst"] = num(hyst["gamma"], "ocv.hysteresis.gamma", 0.0, None, True)
    if "docv_dt_v_per_k" in o:
        p["docv_dt_v_per_k"] = num(o["docv_dt_v_per_k"], "ocv.docv_dt_v_per_k", -0.01, 0.01)
    t_table = num(o.get("temperature_c", T_REF_C), "ocv.temperature_c", -40.0, 80.0)
    if "tables" in o:
        ref, gap = _ocv_tables(o["tables"], n, p)
    else:
        ref, gap = _ocv_branches(o, "ocv.", n)
        if t_table != T_REF_C:
            if "docv_dt_v_per_k" not in p:
                raise err("ocv.docv_dt_v_per_k", "required with a table at one temperature only")
            ref = [v + p["docv_dt_v_per_k"] * (T_REF_C - t_table) for v in ref]
    ref = table(ref, "ocv (at 25 degC)", n, 0.5, 5.0, True)
    if m_hyst is None:
        if gap is None:
            raise err("ocv.hysteresis.m_v", "required with a mean_v table (no branches to take it from)")
        m_hyst = gap
    p["m_hyst_v"] = m_hyst
    p["soc_pts"] = tuple(soc)
    p["ocv_pts"] = tuple(ref)


def _resistance(r, p):
    r = obj(r, "resistance")
    t_ref = num(r.get("reference_temperature_c", T_REF_C), "resistance.reference_temperature_c")
    if t_ref != T_REF_C:
        raise err("resistance.reference_temperature_c", "must be 25 (the estimator's reference temperature)")
    ea_r0 = num(r["ea_r0_j_mol"], "resistance.ea_r0_j_mol", 0.0, 200000.0) if "ea_r0_j_mol" in r else None
    ea_rc = num(r["ea_rc_j_mol"], "resistance.ea_rc_j_mol", 0.0, 200000.0) if "ea_rc_j_mol" in r else None
    p["r0_ohm"], p["ea_r0_j_mol"] = _temperature_law(r["r0_ohm"], "resistance.r0_ohm", ea_r0,
                                                     "resistance.ea_r0_j_mol")
    rc = r["rc"]
    if not isinstance(rc, list) or not 1 <= len(rc) <= 2:
        raise err("resistance.rc", "must be a list of one or two {r_ohm, tau_s} pairs")
    pairs = []
    eas = []
    for j in range(len(rc)):
        path = "resistance.rc[%d]" % j
        pair = rc[j]
        if not isinstance(pair, dict):
            raise err(path, "must be an object {r_ohm, tau_s}")
        for key in pair:
            if key not in ("r_ohm", "tau_s"):
                raise err(path + "." + key, "unknown key (known: r_ohm, tau_s)")
        for key in ("r_ohm", "tau_s"):
            if key not in pair:
                raise err(path + "." + key, "required")
        r_ohm, ea = _temperature_law(pair["r_ohm"], path + ".r_ohm", ea_rc, "resistance.ea_rc_j_mol")
        if is_num(pair["tau_s"]):
            tau = num(pair["tau_s"], path + ".tau_s", 0.0, 100000.0, True)
        else:  # tau scales like R (C ~ constant): its own table is reduced at R's activation energy
            tau = _temperature_law(pair["tau_s"], path + ".tau_s", ea, "resistance.ea_rc_j_mol")[0]
            if tau > 100000.0:
                raise err(path + ".tau_s", "must be <= 100000 s, got %r" % tau)
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
    for section in SECTIONS:
        for key, flat in SECTIONS[section].items():
            if flat:
                out.append((flat, join(section, key)))
    return out


def _parse(doc):
    # a parsed dict as it is; a JSON string or a path ending in .json parsed, with the file named in errors
    if not isinstance(doc, str):
        return doc
    import json

    if not doc.endswith(".json"):
        try:
            return json.loads(doc)
        except ValueError as e:
            raise ValueError("cell file: not valid JSON (%s)" % e)
    try:
        f = open(doc)
    except OSError:
        raise ValueError("%s: cannot open the cell file" % doc)
    try:
        return json.load(f)
    except ValueError as e:
        raise ValueError("%s: not valid JSON (%s)" % (doc, e))
    finally:
        f.close()


def _identity(doc, p):
    name = doc["name"]
    if not isinstance(name, str) or not 0 < len(name) <= 40:
        raise err("name", "must be a string of 1..40 characters")
    p["name"] = name
    if "description" in doc and not isinstance(doc["description"], str):
        raise err("description", "must be a string")
    chem = obj(doc["chemistry"], "chemistry")
    for key in chem:
        if not isinstance(chem[key], str):
            raise err("chemistry." + key, "must be a string")
    p["cathode"] = chem["cathode"]
    p["interphase"] = chem.get("interphase", "")
    for section in ("capacity", "noise", "current_sensor", "limits", "knees", "detectors"):
        sec = obj(doc.get(section, {}), section)
        names = SECTIONS[section]
        for key in sec:
            if section == "detectors":
                if not isinstance(sec[key], str):
                    raise err("detectors." + key, "must be a string")
                p[names[key]] = sec[key]
            else:
                p[names[key]] = num(sec[key], section + "." + key)
    p["q_ah"] = num(p["q_ah"], "capacity.nominal_ah", 0.0, 1000.0, True)


def _estimator(est, p, defaults):
    # estimator tuning the file overrides: only keys of bms.config.cell.DEFAULTS no section maps, of their type
    if not isinstance(est, dict):
        raise err("estimator", "must be an object")
    mapped = {}
    for sec in SECTIONS.values():
        for flat in sec.values():
            if flat:
                mapped[flat] = 1
    for key in est:
        if key not in defaults or key in mapped:
            raise err("estimator." + key, "unknown estimator key (known: %s)"
                       % ", ".join(sorted(k for k in defaults if k not in mapped)))
        d = defaults[key]
        if isinstance(d, bool) or not is_num(d):
            if type(est[key]) is not type(d):
                raise err("estimator." + key, "must be of the default's type (%r)" % (d,))
            p[key] = est[key]
        elif isinstance(d, int):
            x = num(est[key], "estimator." + key)
            if x != int(x):
                raise err("estimator." + key, "must be a whole number, got %r" % x)
            p[key] = int(x)
        else:
            p[key] = num(est[key], "estimator." + key)
    for key in defaults:
        if key not in p:
            p[key] = defaults[key]


def load(doc):
    """The flat parameter dict of a cell file (see the module docstring); ValueError "<field path>: <rule>"."""
    from bms.config import cell

    doc = obj(_parse(doc), "")
    if doc["schema"] != SCHEMA:
        raise err("schema", "must be %r (this firmware reads that version), got %r" % (SCHEMA, doc["schema"]))
    p = {}
    _identity(doc, p)
    _ocv(doc["ocv"], p)
    _resistance(doc["resistance"], p)
    obj(doc.get("source", {}), "source")
    _estimator(doc.get("estimator", {}), p, cell.DEFAULTS)
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
