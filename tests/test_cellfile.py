"""The cell file (bms.config.cellfile): the shipped presets hold the values they had as code, every field is checked
with a message naming the field and the rule, unknown keys are refused, and the firmware finds and runs it."""

import json
from pathlib import Path

import pytest

from bms.config import cell as cellparams
from bms.config import cellfile, cellschema
from bms.core.app import Bms
from hil.unixport import run_micropython

DATA = Path(__file__).parent / "data"
CELLS = Path(__file__).parents[1] / "firmware" / "cells"


def _doc(name="nvp-mg-naf"):
    return json.loads((CELLS / (name + ".json")).read_text())


@pytest.mark.parametrize("name", cellparams.PRESETS)
def test_shipped_cell_file_holds_the_presets_values_as_they_were_in_code(name):
    # tests/data/presets_before_cellfile.json: the four preset dicts dumped from the code before it became data.
    # Estimator tuning (cell.DEFAULTS, not in the files) is taken as it is now, so a retuning does not fail this.
    before = json.loads((DATA / "presets_before_cellfile.json").read_text())[name]
    # n_resync: estimator tuning retired since (covariance matching replaced the runs of gated samples)
    before = {k: tuple(v) if isinstance(v, list) else v for k, v in before.items() if k != "n_resync"}
    files_keys = {k for k in before if k not in cellparams.DEFAULTS or k in _mapped()}
    want = dict(before)
    want.update({k: v for k, v in cellparams.DEFAULTS.items() if k not in files_keys})
    got = cellfile.load(str(CELLS / (name + ".json")))
    assert got == cellparams.preset(name)
    assert {k: got[k] for k in files_keys} == {k: want[k] for k in files_keys}
    assert set(got) == set(want)


def _mapped():
    return {flat for sec in cellschema.SECTIONS.values() for flat in sec.values() if flat}


def test_tables_over_temperature_branches_and_two_rc_pairs_reduce_to_the_estimators_form():
    doc = _doc()
    soc = doc["ocv"]["soc"]
    mean = doc["ocv"]["mean_v"]
    k = -0.0002  # dOCV/dT of the tables below
    doc["ocv"] = {
        "soc": soc,
        "tables": [
            {"temperature_c": t, "charge_v": [v + k * (t - 25) + 0.01 for v in mean],
             "discharge_v": [v + k * (t - 25) - 0.01 for v in mean]}
            for t in (0.0, 20.0, 40.0)
        ],
        "hysteresis": {"gamma": 40.0},
    }
    ea = 30000.0
    temps = [0.0, 25.0, 45.0]
    law = [0.05 * 2.718281828 ** (ea / 8.314 * (1 / (t + 273.15) - 1 / 298.15)) for t in temps]
    doc["resistance"] = {
        "r0_ohm": {"temperature_c": temps, "soc": [0.2, 0.5, 0.8], "values": [[r * 1.1, r, r * 0.9] for r in law]},
        "rc": [{"r_ohm": 0.01, "tau_s": 10.0}, {"r_ohm": 0.03, "tau_s": 200.0}],
        "ea_rc_j_mol": 20000.0,
    }
    p = cellfile.load(doc)
    assert p["docv_dt_v_per_k"] == pytest.approx(k, rel=1e-6)
    assert p["ocv_pts"] == pytest.approx(mean, abs=1e-9)  # the mean of the branches, interpolated to 25 degC
    assert p["m_hyst_v"] == pytest.approx(0.01) and p["gamma_hyst"] == 40.0
    assert p["r0_ohm"] == pytest.approx(0.05, rel=1e-6) and p["ea_r0_j_mol"] == pytest.approx(ea, rel=1e-6)
    assert p["r1_ohm"] == pytest.approx(0.04) and p["tau1_s"] == pytest.approx((0.1 + 6.0) / 0.04)
    assert p["ea_r1_j_mol"] == 20000.0
    Bms(2, cell=p).on_sample(0, -1.0, [3.39, 3.39], [25.0])  # the firmware runs on it


def _broken(edit):
    doc = _doc()
    edit(doc)
    with pytest.raises(ValueError) as e:
        cellfile.load(doc)
    return str(e.value)


@pytest.mark.parametrize(
    "edit, field, rule",
    [
        (lambda d: d.update(colour="red"), "colour", "unknown key"),
        (lambda d: d["ocv"].update(mean_V=[]), "ocv.mean_V", "unknown key"),
        (lambda d: d["resistance"]["rc"][0].update(c_f=1.0), "resistance.rc[0].c_f", "unknown key"),
        (lambda d: d["limits"].update(v_maxx=3.7), "limits.v_maxx", "unknown key"),
        (lambda d: d.update(schema="nabms-cell/2"), "schema", "must be 'nabms-cell/1'"),
        (lambda d: d.pop("capacity"), "capacity", "required"),
        (lambda d: d["capacity"].update(nominal_ah=-2), "capacity.nominal_ah", "must be >"),
        (lambda d: d["capacity"].update(nominal_ah="2"), "capacity.nominal_ah", "finite number"),
        (lambda d: d["ocv"]["mean_v"].__setitem__(9, 3.0), "ocv.mean_v[9]", "above the value before it"),
        (lambda d: d["ocv"]["mean_v"].pop(), "ocv.mean_v", "must have 18 entries"),
        (lambda d: d["ocv"]["soc"].__setitem__(-1, 0.995), "ocv.soc", "from 0.0 to 1.0"),
        (lambda d: d["ocv"].update(charge_v=d["ocv"]["mean_v"]), "ocv", "exactly one of"),
        (lambda d: d["resistance"].pop("ea_r0_j_mol"), "resistance.ea_r0_j_mol", "required when"),
        (lambda d: d["resistance"].update(rc=[]), "resistance.rc", "one or two"),
        (lambda d: d["resistance"]["rc"][0].update(tau_s=0), "resistance.rc[0].tau_s", "must be >"),
        (lambda d: d.update(estimator={"nis_gates": 9}), "estimator.nis_gates", "unknown"),
        (lambda d: d.update(estimator={"sigma_v": 0.01}), "estimator.sigma_v", "unknown"),  # belongs in noise
        (lambda d: d["limits"].update(v_max=9.0), "limits.v_max", "hard limit"),
        (lambda d: d["capacity"].update(coulombic_efficiency=1.2), "capacity.coulombic_efficiency", "<= 1"),
    ],
)
def test_a_bad_field_is_refused_naming_field_and_rule(edit, field, rule):
    msg = _broken(edit)
    assert field in msg and rule in msg, msg


def test_estimator_section_overrides_tuning_with_its_type():
    doc = _doc()
    doc["estimator"] = {"r_adapt_s": 120, "soc_sigma0": 0.1}
    p = cellfile.load(doc)
    assert p["r_adapt_s"] == 120.0 and isinstance(p["r_adapt_s"], float) and p["soc_sigma0"] == 0.1
    doc["estimator"] = {"r_adapt_s": "fast"}
    with pytest.raises(ValueError, match="estimator.r_adapt_s"):
        cellfile.load(doc)


def test_json_text_and_path_errors_are_one_line():
    with pytest.raises(ValueError, match="not valid JSON"):
        cellfile.load("{not json")
    with pytest.raises(ValueError, match="cannot open"):
        cellfile.load("/nonexistent/cell.json")


def test_bms_configured_with_a_cell_file_keeps_the_old_cell_when_the_new_one_is_refused():
    bms = Bms(1)
    doc = _doc("layered-oxide-mg-naf")
    doc["name"] = "my-cell"
    bms.configure(1, "ignored", None, cellfile.load(doc))
    assert bms.preset == "my-cell" and bms.estimators[0].p["cathode"] == "layered-oxide"
    bad = cellfile.load(doc)
    bad["r0_ohm"] = -1.0
    with pytest.raises(ValueError):
        bms.configure(1, "ignored", None, bad)
    assert bms.preset == "my-cell"


@pytest.mark.mpy
def test_presets_load_from_their_files_on_micropython():
    code = ("from bms.config import cell, cellfile\n"
            "for n in cell.PRESETS:\n"
            " p = cell.preset(n)\n"
            " print(n, p['r0_ohm'], p['ocv_pts'][3], len(p))\n"
            "try:\n cellfile.load('{\"schema\": \"nabms-cell/1\", \"colour\": 1}')\n"
            "except ValueError as e:\n print('refused', e)\n")
    out = run_micropython(["-c", code]).stdout.decode()
    for n in cellparams.PRESETS:
        p = cellparams.preset(n)
        assert "%s %r %r %d" % (n, p["r0_ohm"], p["ocv_pts"][3], len(p)) in out, out
    assert "refused colour: unknown key" in out


def test_board_image_carries_the_cell_files(tmp_path):
    from host.deploy import build_image

    files = build_image(tmp_path)
    assert {f.name for f in files if f.parent.name == "cells"} == {n + ".json" for n in cellparams.PRESETS}
    assert files[-1].name == "main.py"
