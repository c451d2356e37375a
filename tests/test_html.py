"""The HTML report page, the notebook summaries and the service's report route."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import html5lib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import twitchcds
from twitchcds import Case, load_knowledge_base
from twitchcds.cli import main
from twitchcds.interop.html import render_html, summary_html

from .strategies import kb_cases

KB = load_knowledge_base()
NS = "{http://www.w3.org/1999/xhtml}"
HOSTILE = "<script>alert('x')</script>&<b>\"'"
CASE = {"id": HOSTILE, "age": 61, "findings": [
    {"id": "fasciculations", "status": "present"}, {"id": "muscle_weakness", "status": "present"},
    {"id": "muscle_atrophy", "status": "present"}]}


def parse(page: str) -> Any:
    """Parse strictly (any HTML5 parse error raises) and return the element tree."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(page)


def parse_fragment(fragment: str) -> Any:
    return html5lib.HTMLParser(strict=True).parseFragment(fragment)


def assert_self_contained(tree: Any) -> None:
    """No script, no external stylesheet, image, frame or link to http(s)."""
    for element in tree.iter():
        tag = str(element.tag).removeprefix(NS)
        assert tag not in {"script", "iframe", "object", "embed", "link", "img", "base"}, tag
        for name in ("src", "href", "xlink:href", "action", "srcset"):
            value = element.get(name)
            assert value is None or not value.strip().lower().startswith(
                ("http:", "https:", "//", "javascript:")), (tag, name, value)
        assert "url(" not in (element.get("style") or "")
    for style in tree.iter(f"{NS}style"):
        assert "@import" not in (style.text or "")
        assert "url(" not in (style.text or "")


def text_of(tree: Any) -> str:
    return "".join(tree.itertext())


def test_report_is_valid_self_contained_and_escapes_the_case_id():
    """A case id holding <script> stays text: no script element, the text shown as written."""
    result = twitchcds.assess(CASE)
    tree = parse(result.to_html())
    assert_self_contained(tree)
    assert HOSTILE in text_of(tree)
    (span,) = [e for e in tree.iter(f"{NS}span") if e.get("class") == "case-id"]
    assert span.text == HOSTILE
    assert len(span) == 0
    title = next(tree.iter(f"{NS}title"))
    assert HOSTILE in title.text


def test_report_shows_every_section():
    """The page has the triage, differential with intervals, explanations, tests and advice."""
    result = twitchcds.assess(CASE)
    tree = parse(render_html(result))
    ids = {e.get("id") for e in tree.iter() if e.get("id")}
    assert {"triage", "differential", "explanations", "tests", "advice"} <= ids
    text = text_of(tree)
    assert result.disclaimer in text
    assert result.uncertainty is not None
    top = result.differential[0]
    low, high = result.uncertainty.interval(top.id)
    assert f"{low:.0%}-{high:.0%}" in text
    for test in result.tests:
        assert test.name in text
    assert len(list(tree.iter("{http://www.w3.org/2000/svg}svg"))) >= 4


def test_report_prints_on_a4():
    """The page's own stylesheet sets A4 pages for print."""
    tree = parse(twitchcds.assess(CASE).to_html())
    style = next(tree.iter(f"{NS}style")).text
    assert "@page" in style
    assert "A4" in style
    assert "@media print" in style


ID_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1,
                  max_size=30).filter(str.strip)


@settings(max_examples=10)
@given(case=kb_cases(KB, max_findings=5), case_id=ID_TEXT | st.sampled_from([HOSTILE]))
def test_any_case_renders_valid_escaped_html(case: dict[str, Any], case_id: str):
    """For any valid case and any id text, the page parses strictly and shows the id as text."""
    case = {**case, "id": case_id}
    result = twitchcds.assess(case, KB, explain=True)
    page = result.to_html()
    tree = parse(page)
    assert_self_contained(tree)
    (span,) = [e for e in tree.iter(f"{NS}span") if e.get("class") == "case-id"]
    assert span.text == case_id
    fragment = parse_fragment(summary_html(result))
    assert result.differential[0].name in "".join(fragment.itertext())


def test_notebook_reprs_escape_and_parse():
    """Assessment, Case and KnowledgeBase show as HTML fragments with every string escaped."""
    result = twitchcds.assess(CASE)
    for obj in (result, Case.from_dict(CASE), KB):
        fragment = obj._repr_html_()
        tree = parse_fragment(fragment)
        assert not [e for e in tree.iter() if str(e.tag).endswith("script")]
    assert HOSTILE in "".join(parse_fragment(result._repr_html_()).itertext())
    assert HOSTILE in "".join(parse_fragment(Case.from_dict(CASE)._repr_html_()).itertext())
    assert KB.version in KB._repr_html_()


def test_cli_format_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """``twitchcds assess --format html`` writes the page to stdout."""
    path = tmp_path / "case.json"
    path.write_text(json.dumps(CASE), encoding="utf-8")
    assert main(["assess", "--format", "html", str(path)]) == 0
    page = capsys.readouterr().out
    assert_self_contained(parse(page))
    assert page == twitchcds.assess(CASE).to_html()


# --- the service's report route -----------------------------------------------------------------

def get(app: Any, method: str, url: str, body: Any = None) -> Any:
    """One in-process request to the ASGI app (no network)."""
    import anyio
    import httpx

    async def go() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.request(method, url, json=body)

    return anyio.run(go)


def test_card_links_to_its_report_page():
    """With report pages on, the card links to a page served once, then gone when evicted."""
    pytest.importorskip("starlette")
    from twitchcds.interop.cds_hooks import create_app

    request = json.loads((Path(__file__).parent / "data" / "cds_hooks" /
                          "patient_view_request.json").read_text("utf-8"))
    app = create_app(KB, clock=lambda: date(2025, 2, 3), report_pages=1)
    (card,) = get(app, "POST", "/cds-services/twitchcds", request).json()["cards"]
    link = card["links"][0]
    assert link["type"] == "absolute"
    assert "/cds-services/twitchcds/report/" in link["url"]
    page = get(app, "GET", link["url"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert_self_contained(parse(page.text))
    assert "Triage" in page.text
    get(app, "POST", "/cds-services/twitchcds", request)  # capacity 1: evicts the first
    assert get(app, "GET", link["url"]).status_code == 404
    assert get(app, "GET", "/cds-services/twitchcds/report/nope").status_code == 404


def test_no_report_pages_by_default():
    """Without report pages configured the card has no report link and nothing is kept."""
    pytest.importorskip("starlette")
    from twitchcds.interop.cds_hooks import create_app

    request = json.loads((Path(__file__).parent / "data" / "cds_hooks" /
                          "patient_view_request.json").read_text("utf-8"))
    app = create_app(KB, clock=lambda: date(2025, 2, 3))
    (card,) = get(app, "POST", "/cds-services/twitchcds", request).json()["cards"]
    assert all("/report/" not in link["url"] for link in card["links"])
    assert app.state.reports is None


def test_report_store_bounds_and_expiry():
    """The store keeps at most its capacity and forgets pages after their time to live."""
    from twitchcds.errors import ConfigurationError
    from twitchcds.interop._report_store import ReportStore

    now = [0.0]
    store = ReportStore(3, 10.0, clock=lambda: now[0])
    tokens = [store.put(f"page {i}") for i in range(5)]
    assert len(store) == 3
    assert store.get(tokens[0]) is None
    assert store.get(tokens[4]) == "page 4"
    assert len(set(tokens)) == 5
    now[0] = 10.0
    assert len(store) == 0
    with pytest.raises(ConfigurationError):
        ReportStore(0, 10.0)
    with pytest.raises(ConfigurationError):
        ReportStore(1, 0.0)
