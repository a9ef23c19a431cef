"""Campaigns on Dask: a matrix expands into runs, the runs go through a LocalCluster (the same path as a remote
scheduler), and the results aggregate into detection delays and a false-alarm rate."""

import json

import pytest

from hil.campaign import aggregate, expand, load_matrix, run_jobs, table_lines, write_campaign
from hil.scenario import ScenarioError

pytest.importorskip("dask.distributed")


def _matrix(tmp_path, **over):
    m = {"name": "tiny", "base": "campaign_base.json", "presets": ["layered-oxide-mg-naf"], "t_amb_c": [25.0],
         "faults": [{"kind": "soft_short", "cell": 1, "t_start_s": 600.0, "micro": False, "magnitudes": [20, 100000]}],
         "healthy": True, "seeds": [1], "max_t_s": 12000}
    m.update(over)
    f = tmp_path / "m.json"
    f.write_text(json.dumps(m))
    return f


def test_a_matrix_expands_and_refuses_typos(tmp_path):
    m = load_matrix(_matrix(tmp_path, seeds=[1, 2], t_amb_c=[0.0, 25.0]))
    jobs = expand(m)
    assert len(jobs) == 2 * 2 * 3  # seeds x temperatures x (healthy + 2 magnitudes)
    name, sc, facts = jobs[-1]
    assert sc["cell"]["faults"][0]["r_ohm"] == 100000 and sc["cell"]["t_amb_c"] == 25.0 and sc["sensors"]["seed"] == 1002
    assert facts["fault"] == "soft_short" and facts["onset_s"] == 600.0
    with pytest.raises(ScenarioError, match="unknown key 'seed'"):
        load_matrix(_matrix(tmp_path, seed=[1]))
    bad = load_matrix(_matrix(tmp_path, faults=[{"kind": "soft_short", "cell": 1, "r_ohms": 5, "magnitudes": [10]}]))
    with pytest.raises(ScenarioError, match="run layered-oxide-mg-naf-25C-soft_short-10-s1: .*unknown keys .*r_ohms"):
        expand(bad)


def test_a_campaign_runs_on_a_local_dask_cluster_and_aggregates(tmp_path):
    m = load_matrix(_matrix(tmp_path))
    lines = []
    rows, wall = run_jobs(expand(m), workers=1, progress=lines.append)
    assert len(rows) == len(lines) == 3 and wall > 0
    by = {r["magnitude"]: r for r in rows}
    assert by[None]["fault"] == "none" and by[None]["healthy_cell_h"] == pytest.approx(4 * by[None]["simulated_h"])
    assert by[20]["detect_delay_s"] is not None  # a 20-ohm short (C/11) is found, after its onset
    table, rate = aggregate(rows)
    assert [t["magnitude"] for t in table] == [20, 100000]
    assert rate["healthy_cell_h"] == pytest.approx(sum(r["healthy_cell_h"] for r in rows))
    assert rate["false_alarms_per_1000_cell_h"] == pytest.approx(1000 * rate["false_alarms"] / rate["healthy_cell_h"])
    assert "false alarms:" in table_lines(table, rate)[-1]
    out = write_campaign(tmp_path / "out", m, rows, table, rate, {"1": wall})
    assert (out / "report.html").stat().st_size > 5000 and (out / "campaign.csv").read_text().count("\n") == 4


def _square(x):
    return x * x


def test_the_benches_map_keeps_the_items_order_on_a_local_cluster():
    from hil.campaign import dask_map

    seen = []
    out, wall = dask_map(_square, [(k,) for k in range(6)], workers=2, on_result=lambda k, n, r: seen.append((k, n)))
    assert out == [0, 1, 4, 9, 16, 25] and wall > 0.0
    assert [k for k, _ in seen] == [1, 2, 3, 4, 5, 6] and {n for _, n in seen} == {6}
