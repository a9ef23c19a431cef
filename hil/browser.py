"""Open a report in a real headless browser (Debian's chromium + chromedriver, through selenium): does it load,
did the page log an error, is the verdict table there; optionally a full-page PNG screenshot.

  python -m hil.browser runs/<run>/report.html --screenshot docs/report.png
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def find_browser():
    """(chromium binary, chromedriver) or None when either is missing (tools/system-deps.sh installs them)."""
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    return (chrome, driver) if chrome and driver else None


def open_report(path, screenshot=None, width=1300):
    """{"title", "errors": [console messages of level SEVERE], "verdict_rows": n} of a loaded report."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    found = find_browser()
    if found is None:
        raise RuntimeError("no chromium/chromedriver (run tools/system-deps.sh as root)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=%d,900" % width):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(found[1]), options=opts)
    try:
        drv.get(Path(path).resolve().as_uri())
        state = drv.execute_script("return document.readyState")
        rows = drv.find_elements(By.CSS_SELECTOR, "#verdicts tr")
        logs = drv.get_log("browser")
        if screenshot:
            h = drv.execute_script("return document.documentElement.scrollHeight")
            drv.set_window_size(width, min(int(h) + 40, 12000))
            drv.save_screenshot(str(screenshot))
        return {"title": drv.title, "ready": state, "errors": [m["message"] for m in logs if m["level"] == "SEVERE"],
                "verdict_rows": max(len(rows) - 1, 0)}
    finally:
        drv.quit()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report")
    ap.add_argument("--screenshot", help="write a full-page PNG here")
    args = ap.parse_args(argv)
    try:
        r = open_report(args.report, args.screenshot)
    except (RuntimeError, OSError) as e:
        print("browser: %s" % e, file=sys.stderr)
        return 2
    print("%s: %s, %d verdict rows, %d console errors%s" % (args.report, r["ready"], r["verdict_rows"], len(r["errors"]),
                                                            "; screenshot " + args.screenshot if args.screenshot else ""))
    for e in r["errors"]:
        print("  " + e)
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
