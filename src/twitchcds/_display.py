"""Compact HTML summaries of a case and a knowledge base, for notebooks (``_repr_html_``).

Standard library only (every string through :func:`html.escape`), so the low-level classes can
show themselves without importing the report machinery.

Examples
--------
>>> from twitchcds import Case
>>> html = case_html(Case.from_dict({"id": "<script>x</script>", "age": 40}))
>>> "&lt;script&gt;" in html and "<script>" not in html
True
"""

from __future__ import annotations

from html import escape
from typing import Any

import attrs

__all__ = ["case_html", "knowledge_base_html"]

_STYLE = "font-family:system-ui,sans-serif;font-size:13px;line-height:1.35"
_CELL = "padding:1px 8px;text-align:left;vertical-align:top"


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f'<tr><th style="{_CELL}">{escape(k)}</th><td style="{_CELL}">{escape(v)}'
                   "</td></tr>" for k, v in rows)
    return f'<table style="border-collapse:collapse">{body}</table>'


def case_html(case: Any) -> str:
    """Return a table of a :class:`~twitchcds.case.Case`'s inputs (what was given, nothing else)."""
    rows = [(name, str(getattr(case, name))) for name in ("id", "age", "sex", "setting")
            if getattr(case, name) is not None]
    for status in ("present", "absent"):
        names = [f.id or f.code or "" for f in case.findings if f.status == status]
        if names:
            rows.append((f"findings {status}", ", ".join(names)))
    history = {k: v for k, v in attrs.asdict(case.history).items() if v is not None}
    if history:
        rows.append(("history", ", ".join(f"{k}={v}" for k, v in history.items())))
    if case.medications:
        rows.append(("medications", ", ".join(m.name or m.rxnorm or m.atc or ""
                                              for m in case.medications)))
    if case.labs:
        rows.append(("labs", ", ".join(f"LOINC {lab.loinc}: {lab.value:g} {lab.unit}"
                                       for lab in case.labs)))
    return (f'<div style="{_STYLE}"><strong>twitchcds Case</strong>'
            f"{_table(rows or [('(empty)', '')])}</div>")


def knowledge_base_html(kb: Any) -> str:
    """Return a summary of a knowledge base: version, hash, sizes, conditions by category."""
    by_category: dict[str, list[str]] = {}
    for condition in kb.conditions:
        by_category.setdefault(condition.category, []).append(condition.name)
    expert = sum(1 for r in kb.references if r.expert_estimate)
    rows = [("version", kb.version), ("sha256", kb.sha256[:16] + "..."),
            ("size", f"{len(kb.conditions)} conditions, {len(kb.findings)} findings, "
                     f"{len(kb.links)} links, {len(kb.tests)} tests, {len(kb.red_flags)} red "
                     f"flags"),
            ("references", f"{len(kb.references) - expert} published, {expert} expert "
                           "estimates"),
            ("explicit ranges", f"{len(kb.ranges.links)} links, {len(kb.ranges.priors)} "
                                f"priors, {len(kb.ranges.leaks)} leaks (others by rule)")]
    rows += [(category, ", ".join(names)) for category, names in sorted(by_category.items())]
    return f'<div style="{_STYLE}"><strong>twitchcds KnowledgeBase</strong>{_table(rows)}</div>'
