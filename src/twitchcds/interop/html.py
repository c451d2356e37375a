"""The assessment as one self-contained HTML page, and compact notebook summaries.

:func:`render_html` writes the report page of ``twitchcds assess --format html`` and of the
service's report route: the differential with intervals, an explanation chart per leading
condition (which findings pushed it up or down, with the source behind each link), the tests
with what each outcome would do, questions, advice and safety net, and the disclaimer. Styles
and charts (SVG) are inline: the page loads nothing from the network, and prints on A4.
:func:`summary_html` is the compact version shown by ``Assessment._repr_html_`` in a notebook.

Every string from the input or the knowledge base is escaped (Jinja2 autoescape), so a case id
holding ``<script>`` stays text.

Examples
--------
>>> from twitchcds import assess
>>> page = render_html(assess({"id": "<b>c1</b>", "age": 30,
...     "findings": [{"id": "fasciculations", "status": "present"}]}))
>>> page.startswith("<!DOCTYPE html>"), "&lt;b&gt;c1&lt;/b&gt;" in page, "<b>c1</b>" in page
(True, True, False)
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import jinja2

from twitchcds.assessment import Assessment

__all__ = ["render_html", "summary_html"]

_TOP = 10
_EXPLAINED = 3
_EVIDENCE_ROWS = 8
_OUTCOMES = 4
_LEVEL_COLOURS = {"self-care": "#2e7d32", "routine": "#1565c0", "soon": "#ef6c00",
                  "urgent": "#c62828", "emergency": "#6a1b9a"}


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("twitchcds.interop", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True)


def _pct(p: float) -> str:
    return f"{p:.0%}" if p >= 0.01 or p == 0.0 else "<1%"


def _differential(result: Assessment, top: int) -> list[dict[str, Any]]:
    bounds = ({c: (lo, hi) for c, lo, hi in result.uncertainty.intervals}
              if result.uncertainty else {})
    rows = []
    for row in result.differential[:top]:
        low, high = bounds.get(row.id, (row.probability, row.probability))
        rows.append({"id": row.id, "name": row.name, "category": row.category,
                     "p": row.probability, "low": low, "high": high, "prior": row.prior,
                     "label": _pct(row.probability),
                     "range": f"{_pct(low)}-{_pct(high)}" if bounds else ""})
    return rows


def _reference_label(result: Assessment, ref: str) -> dict[str, str]:
    item = result.kb.reference_index.get(ref)
    if item is None:
        return {"id": ref, "title": ref, "kind": ""}
    kind = "expert estimate" if item.expert_estimate else str(item.year or "")
    return {"id": ref, "title": item.title, "kind": kind}


def _finding_name(result: Assessment, finding: str) -> str:
    item = result.kb.finding_index.get(finding)
    return item.name if item is not None else finding.replace("_", " ")


def _explanations(result: Assessment, count: int) -> list[dict[str, Any]]:
    out = []
    for row in result.differential[:count]:
        evidence = sorted(row.evidence, key=lambda e: -abs(e.weight))[:_EVIDENCE_ROWS]
        evidence = [e for e in evidence if abs(e.weight) >= 0.005]
        scale = max([abs(e.weight) for e in evidence] + [1.0])
        out.append({
            "name": row.name, "prior": _pct(row.prior), "p": _pct(row.probability),
            "scale": scale,
            "rows": [{"finding": _finding_name(result, e.finding), "status": e.status,
                      "weight": e.weight, "linked": e.linked,
                      "refs": [_reference_label(result, r) for r in e.references]}
                     for e in evidence]})
    return out


def _tests(result: Assessment) -> list[dict[str, Any]]:
    names = {row.id: row.name for row in result.differential}
    out = []
    for test in result.tests:
        outcomes = []
        likely = sorted(test.outcomes, key=lambda o: -o.probability)[:_OUTCOMES]
        for o in likely:
            leading = sorted(o.posterior, key=lambda cp: -cp[1])[:2]
            outcomes.append({
                "findings": ", ".join(f"{_finding_name(result, f)} {s}" for f, s in o.findings),
                "probability": _pct(o.probability),
                "then": "; ".join(f"{names.get(c, c)} {_pct(p)}" for c, p in leading)})
        out.append({"name": test.name, "rationale": test.rationale, "value": test.value,
                    "cost": test.cost, "indicated_by": list(test.indicated_by),
                    "outcomes": outcomes, "hidden": len(test.outcomes) - len(likely)})
    return out


def _context(result: Assessment, top: int) -> dict[str, Any]:
    u = result.uncertainty
    return {
        "r": result, "rows": _differential(result, top),
        "colour": _LEVEL_COLOURS.get(result.triage.level, "#333"),
        "explanations": _explanations(result, _EXPLAINED), "tests": _tests(result),
        "questions": list(result.questions[:6]),
        "safety": [a for a in result.advice if a.kind == "safety-net"],
        "advice": [a for a in result.advice if a.kind != "safety-net"],
        "conditions": {row.id: row.name for row in result.differential},
        "uncertainty": u, "stability": _pct(u.top3_stability) if u else "",
        "log": math.log, "pct": _pct,
    }


def render_html(result: Assessment, *, top: int = _TOP) -> str:
    """Render the full report page (self-contained HTML5; prints on A4).

    Parameters
    ----------
    result : Assessment
        The assessment to show.
    top : int, default 10
        Conditions shown in the differential chart.

    Returns
    -------
    str
        One HTML document with inline CSS and SVG, no scripts and no external resources.
    """
    return _environment().get_template("report.html.j2").render(**_context(result, top))


def summary_html(result: Assessment, *, top: int = 5) -> str:
    """Render the compact notebook summary: triage and why, bars with intervals, first tests.

    Examples
    --------
    >>> from twitchcds import assess
    >>> html = summary_html(assess({"findings": [{"id": "fasciculations", "status": "present"}]}))
    >>> html.startswith("<div") and "Triage" in html
    True
    """
    return _environment().get_template("summary.html.j2").render(**_context(result, top))
