"""`nabms fit` and `nabms replay` on the committed PyBaMM sample recordings (tests/data/pybamm-*, made by
bench/pybamm_recordings.py --samples: the sodium-ion DFN of Chayambuka2022 at 25 degC, with sensor errors)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from bms.config import cellfile
from host import replay as rp
from host.cli import main
from host.fit import fit
from host.readers import read

DATA = Path(__file__).parent / "data"
CHAR = DATA / "pybamm-na-char-25C.csv"
DYN = DATA / "pybamm-na-dyn-25C.csv"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "na.json"
    assert main(["fit", str(CHAR), "--out", str(out), "--cathode", "nvpf"]) == 0
    return out


def _truth(path):
    meta = json.loads(path.with_suffix(".json").read_text())
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r["soc_true"]) for r in rows]), meta


def test_fit_writes_a_valid_cell_file_with_the_datas_capacity_offset_and_rest_voltages(fitted):
    doc = json.loads(fitted.read_text())
    p = cellfile.load(doc)
    assert fitted.with_suffix(".png").exists()
    soc, meta = _truth(CHAR)
    q_true = (soc.max() - soc.min()) * meta["q_ref_ah"]  # the true charge from full to the test's empty point
    assert p["q_ah"] == pytest.approx(q_true, rel=0.03)
    # the sensor's offset is found at rest and bounds the current sensor's error
    assert doc["current_sensor"]["offset_sigma_a"] == pytest.approx(meta["sensor"]["offset_c"] * meta["q_nom_ah"], rel=0.2)
    # the OCV table goes through the rests' end voltages (where the rest has settled: the tail is extrapolated)
    _, fits = fit([read(CHAR)], None, "x", "nvpf", log=lambda s: None)
    for s, v_ocv, *_ in fits[0].rest_pts:
        assert abs(np.interp(s, p["soc_pts"], p["ocv_pts"]) - v_ocv) < 0.03
    assert p["r0_ohm"] > 0 and p["r1_ohm"] > 0 and p["sigma_v"] > 0


def test_fit_without_full_to_empty_needs_the_capacity(tmp_path, capsys):
    part = tmp_path / "part.csv"
    lines = CHAR.read_text().splitlines()
    part.write_text("\n".join(lines[: len(lines) // 3]) + "\n")
    assert main(["fit", str(part), "--out", str(tmp_path / "c.json")]) == 2
    assert "--capacity-ah" in capsys.readouterr().err
    assert main(["fit", str(part), "--out", str(tmp_path / "c.json"), "--capacity-ah", "0.0029", "--cathode", "nvpf"]) == 0
    assert cellfile.load(str(tmp_path / "c.json"))["q_ah"] == 0.0029


def test_replay_streams_estimates_events_summary_and_plot(fitted, tmp_path):
    out = tmp_path / "rp"
    soc, _ = _truth(DYN)
    assert main(["replay", str(DYN), "--cell", str(fitted), "--soc0", "%.4f" % soc[0], "--out", str(out)]) == 0
    est = rp.load_estimates(out / "estimates.csv")
    n = len(read(DYN).t_s)
    assert list(est)[:5] == ["time_s", "soc", "soc_sigma", "capacity_ah", "v_pred"] and len(est["soc"]) == n
    assert np.all((est["soc"] >= 0) & (est["soc"] <= 1)) and np.all(est["soc_sigma"] > 0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["samples"] == n and summary["cell"] == "na"
    with open(out / "events.csv") as f:
        assert next(csv.reader(f)) == ["time_s", "cell", "kind", "severity", "value"]
    assert (out / "replay.png").exists()


def test_an_interrupted_replay_keeps_what_it_did_and_says_aborted(fitted, tmp_path, monkeypatch):
    real = rp._InProcess.step
    calls = []

    def step(self, *a):
        calls.append(1)
        if len(calls) > 500:
            raise KeyboardInterrupt
        return real(self, *a)

    monkeypatch.setattr(rp._InProcess, "step", step)
    summary = rp.replay(read(DYN), cellfile.load(str(fitted)), tmp_path, progress=False)
    assert summary["status"] == "aborted" and summary["samples"] == 500
    assert len(rp.load_estimates(tmp_path / "estimates.csv")["soc"]) == 500
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "aborted"


def test_a_string_replays_with_columns_per_cell(fitted, tmp_path):
    lines = DYN.read_text().splitlines()[:400]
    head = lines[0].split(",")
    k = head.index("voltage_V")
    rows = [lines[0].replace("voltage_V", "voltage_0_V,voltage_1_V")]
    for line in lines[1:]:
        f = line.split(",")
        rows.append(",".join(f[: k + 1] + ["%.4f" % (float(f[k]) + 0.002)] + f[k + 1:]))
    path = tmp_path / "two.csv"
    path.write_text("\n".join(rows) + "\n")
    summary = rp.replay(read(path), cellfile.load(str(fitted)), tmp_path / "out", progress=False)
    est = rp.load_estimates(tmp_path / "out" / "estimates.csv")
    assert summary["cells"] == 2 and "soc_1" in est and "soc_sigma_0" in est and len(est["soc_0"]) == 399


@pytest.mark.mpy
def test_replay_on_the_virtual_board_matches_in_process(fitted, tmp_path):
    lines = DYN.read_text().splitlines()[:150]
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines) + "\n")
    params = cellfile.load(str(fitted))
    rec = read(short)
    rp.replay(rec, params, tmp_path / "a", soc0=0.9, progress=False)
    summary = rp.replay(rec, params, tmp_path / "b", soc0=0.9, target="virtual", cell_path=str(fitted), progress=False)
    assert summary["status"] == "completed" and summary["target"] == "virtual"
    a = rp.load_estimates(tmp_path / "a" / "estimates.csv")
    b = rp.load_estimates(tmp_path / "b" / "estimates.csv")
    assert np.allclose(a["soc"], b["soc"], atol=1e-5)  # float32 on the wire


def test_fit_over_two_temperatures_writes_tables_the_loader_reduces(tmp_path):
    # the same recording presented as if taken at 10 degC too: one OCV table per temperature and resistance tables
    # the loader reduces (no temperature dependence in this data: dOCV/dT and the activation energies come out ~0)
    cold = tmp_path / "cold.csv"
    lines = CHAR.read_text().splitlines()
    k = lines[0].split(",").index("temperature_C")
    rows = [lines[0]]
    for line in lines[1:]:
        f = line.split(",")
        f[k] = "%.2f" % (float(f[k]) - 15.0)
        rows.append(",".join(f))
    cold.write_text("\n".join(rows) + "\n")
    doc, _ = fit([read(CHAR), read(cold)], None, "two", "nvpf", log=lambda s: None)
    assert [t["temperature_c"] for t in doc["ocv"]["tables"]] == [10.0, 25.0]
    assert doc["resistance"]["r0_ohm"]["temperature_c"] == [10.0, 25.0]
    p = cellfile.load(doc)
    assert abs(p["docv_dt_v_per_k"]) < 1e-5 and p["ea_r0_j_mol"] < 1000.0


def test_replay_refuses_a_bad_cell_file_in_one_line(tmp_path, capsys):
    doc = json.loads((Path(__file__).parents[1] / "firmware" / "cells" / "nvp-mg-naf.json").read_text())
    doc["noise"]["sigma_vv"] = 0.01
    cell = tmp_path / "typo.json"
    cell.write_text(json.dumps(doc))
    assert main(["replay", str(DYN), "--cell", str(cell), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == "nabms replay: noise.sigma_vv: unknown key (known: q_h_per_s, " \
        "q_soc_per_dsoc, q_soc_per_s, q_v1_v2_per_s, sigma_v, sigma_v_per_a)"
    assert not (tmp_path / "out").exists()


def test_flash_refuses_a_bad_cell_file_before_touching_the_board(tmp_path, capsys):
    cell = tmp_path / "bad.json"
    cell.write_text('{"schema": "nabms-cell/1", "name": "x"}')
    assert main(["flash", "--port", str(tmp_path / "no-such-port"), "--cell", str(cell)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "chemistry: required" in err[0]
