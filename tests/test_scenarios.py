"""The scenario library as tests (marker `scenario`): each shipped scenario in closed loop with the firmware in
process, judged by its own criteria. Short ones run in `make test`; long ones are marked slow. A scenario with
`known_failure` documents what the firmware gets wrong today: it is an expected failure, and an unexpected pass
fails (so the note is removed when it is fixed)."""

import json

import pytest

from hil.scenario import SCENARIOS, run_scenario

FAST_CELL_SAMPLES = 45000  # cells x samples: a few seconds in process


def _cases():
    for p in sorted(SCENARIOS.glob("*.json")):
        sc = json.loads(p.read_text())
        cost = sc["cell"].get("n_cells", 1) * sc.get("max_t_s", 2 * 86400) / sc.get("dt_s", 1.0)
        marks = [pytest.mark.scenario]
        if sc.get("slow") or cost > FAST_CELL_SAMPLES:
            marks.append(pytest.mark.slow)
        if sc.get("known_failure"):
            marks.append(pytest.mark.xfail(reason=sc["known_failure"], strict=True))
        yield pytest.param(p.name, id=p.stem, marks=marks)


@pytest.mark.parametrize("name", list(_cases()))
def test_scenario_passes_its_criteria(name, tmp_path):
    summary, run_dir = run_scenario(name, out=tmp_path, target="inprocess", html=False)
    assert summary["status"] == "completed"
    assert summary["passed"], "\n".join(summary["failed_criteria"])
