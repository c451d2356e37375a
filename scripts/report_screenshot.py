"""Regenerate docs/_static/report.png: the report page of an example case in headless Chromium.

Usage: python scripts/report_screenshot.py [CASE.json]  (needs a chromium binary on PATH)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import twitchcds

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "examples" / "cases" / "hypokalemia_cramps.json"
OUT = ROOT / "docs" / "_static" / "report.png"


def main() -> None:
    case = Path(sys.argv[1]) if len(sys.argv) > 1 else CASE
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                    "google-chrome"))), None)
    if chromium is None:
        sys.exit("no chromium binary on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(twitchcds.assess(twitchcds.Case.from_json(case)).to_html(),
                        encoding="utf-8")
        OUT.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={tmp}/profile",
                        "--window-size=900,2400", f"--screenshot={OUT}", page.as_uri()],
                       check=True, capture_output=True)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
