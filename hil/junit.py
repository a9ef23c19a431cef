"""JUnit XML for CI: one test case per criterion of a run (a failed criterion is a <failure> with its reason)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def write_junit(path, suite: str, verdicts, time_s: float = 0.0, properties=None):
    """verdicts: [{"name", "passed", "reason"}] (hil.scenario.judge)."""
    fails = sum(not v["passed"] for v in verdicts)
    ts = ET.Element("testsuites", name="nabms", tests=str(len(verdicts)), failures=str(fails), time="%.3f" % time_s)
    s = ET.SubElement(ts, "testsuite", name=suite, tests=str(len(verdicts)), failures=str(fails), errors="0",
                      skipped="0", time="%.3f" % time_s)
    if properties:
        props = ET.SubElement(s, "properties")
        for k, v in properties.items():
            ET.SubElement(props, "property", name=str(k), value=str(v))
    for v in verdicts:
        case = ET.SubElement(s, "testcase", classname="nabms.%s" % suite, name=v["name"], time="0")
        if v["passed"]:
            ET.SubElement(case, "system-out").text = v["reason"]
        else:
            ET.SubElement(case, "failure", message=v["reason"], type="criterion").text = v["reason"]
    ET.indent(ts)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(ts).write(path, encoding="utf-8", xml_declaration=True)
    return path
