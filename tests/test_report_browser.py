"""The run report in a real headless browser (Debian's chromium + chromedriver through selenium): it loads, logs
no console error, and the verdict table is there."""

import re

import pytest

from hil.browser import find_browser, open_report
from hil.scenario import run_scenario

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    summary, run_dir = run_scenario("soft_short.json", out=tmp_path_factory.mktemp("runs"), target="inprocess")
    return summary, run_dir / "report.html"


def test_the_report_is_one_self_contained_file(report):
    summary, path = report
    text = path.read_text()
    assert "<script" not in text
    assert not re.findall(r'(?:src|href)="(?!data:|#)', text)  # nothing fetched: every image inline
    assert text.count("<svg") >= 2  # the timelines and the detector evidence, inline
    for v in summary["verdicts"]:
        assert v["reason"].split(" ")[0] in text
    assert "soft short alarm" in text  # events are labelled in the plot, not bare lines
    assert "alarm level" in text  # the detector's evidence against its level


def test_the_report_opens_in_headless_chromium(report, tmp_path):
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    if find_browser() is None:
        pytest.skip("no chromium + chromedriver on this machine (tools/system-deps.sh installs them as root)")
    summary, path = report
    shot = tmp_path / "shot.png"
    r = open_report(path, screenshot=shot)
    assert r["ready"] == "complete"
    assert r["errors"] == []
    assert r["verdict_rows"] == len(summary["verdicts"]) >= 3
    assert r["title"].startswith("nabms run: soft_short")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
