"""The report page rendered by a real headless browser (Chromium): DOM and a screenshot.

Needs a Chromium binary (Debian: ``apt-get install chromium``; ``.ci/run`` installs it). Under
``CI=true`` a missing browser is a failure, elsewhere the tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import html5lib
import pytest

import twitchcds

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOSTILE = "<script>document.title='pwned'</script>"
CASE = {"id": HOSTILE, "age": 61, "findings": [
    {"id": "fasciculations", "status": "present"}, {"id": "muscle_weakness", "status": "present"},
    {"id": "muscle_atrophy", "status": "present"}]}
NS = "{http://www.w3.org/1999/xhtml}"


def browser() -> str:
    """The path of a Chromium binary; fail under CI=true when there is none, else skip."""
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("no Chromium binary found (CI=true): .ci/run installs Debian's chromium")
    pytest.skip("no Chromium binary found (install chromium to run the browser tests)")


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a throwaway profile (no network needed: file:// only)."""
    command = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)  # noqa: S603


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(twitchcds.assess(CASE).to_html(), encoding="utf-8")
    return path


@pytest.mark.slow
def test_browser_dom_shows_the_report_and_runs_no_script(page: Path, tmp_path: Path):
    """Chromium's DOM holds the sections, the case id as text and no script element."""
    result = run(["--virtual-time-budget=2000", "--dump-dom", page.as_uri()], tmp_path)
    tree = html5lib.parse(result.stdout)
    assert not list(tree.iter(f"{NS}script"))
    (span,) = [e for e in tree.iter(f"{NS}span") if e.get("class") == "case-id"]
    assert span.text == HOSTILE
    ids = {e.get("id") for e in tree.iter() if e.get("id")}
    assert {"triage", "differential", "explanations", "tests", "advice"} <= ids
    assert next(tree.iter(f"{NS}title")).text.endswith(HOSTILE)


@pytest.mark.slow
def test_browser_screenshot_and_print_to_pdf(page: Path, tmp_path: Path):
    """The page renders to a PNG screenshot and prints to a PDF (A4 set by the page)."""
    png, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    run(["--window-size=1000,1600", f"--screenshot={png}", page.as_uri()], tmp_path)
    run([f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri()], tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a blank page compresses to far less
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-"
    # A4 is 595 x 842 points; Chromium writes the MediaBox of each page
    assert b"/MediaBox [0 0 595" in data or b"/MediaBox [0 0 594.9" in data
