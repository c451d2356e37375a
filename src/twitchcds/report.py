"""Plain-text rendering of an :class:`~twitchcds.assessment.Assessment` for the terminal.

Examples
--------
>>> from twitchcds import assess
>>> text = render_text(assess({"age": 30, "findings": [{"id": "fasciculations",
...                                                     "status": "present"}]}))
>>> "Triage:" in text and "Disclaimer" in text and "Scope: in-scope" in text
True
"""

from __future__ import annotations

from twitchcds.assessment import Assessment

__all__ = ["render_text"]

_TOP = 8
_BAR = 30


def _bar(p: float) -> str:
    filled = round(p * _BAR)
    return "#" * filled + "." * (_BAR - filled)


def _heading(result: Assessment) -> str:
    u = result.uncertainty
    if u is None:
        return "Differential (probability, prior):"
    order = "stable" if u.top3_stable else "not stable"
    return (f"Differential (probability, {u.level:.0%} interval under the knowledge base's "
            f"ranges, prior; top-3 order {order}: kept in {u.top3_stability:.0%} of "
            f"{u.draws} draws):")


def render_text(result: Assessment, *, top: int = _TOP) -> str:
    """Render the differential, triage, tests, questions and advice as readable text."""
    lines = [f"twitchcds assessment{f' of case {result.case_id}' if result.case_id else ''}",
             f"knowledge base {result.kb_version} ({result.kb_sha256[:12]}), setting "
             f"{result.setting}, {result.method} inference on {result.positive_findings} "
             f"positive findings", "", f"Scope: {result.scope.status}: {result.scope.text}",
             "", _heading(result)]
    bounds = ({c: (lo, hi) for c, lo, hi in result.uncertainty.intervals}
              if result.uncertainty else {})
    for row in result.differential[:top]:
        interval = (f" ({bounds[row.id][0]:.0%}-{bounds[row.id][1]:.0%})" if bounds else "")
        lines.append(f"  {row.probability:6.1%} {_bar(row.probability)} {row.name} "
                     f"[{row.category}]{interval} (prior {row.prior:.1%})")
        strongest = [e for e in row.evidence if abs(e.weight) >= 0.1][:3]
        if strongest:
            why = ", ".join(f"{e.finding} {e.status} {e.weight:+.2f}" for e in strongest)
            lines.append(f"         why: {why}")
    rest = len(result.differential) - top
    if rest > 0:
        below = result.differential[top].probability
        lines.append(f"  ... and {rest} more conditions at or below {below:.1%}")
    lines += ["", f"Triage: {result.triage.level.upper()}"]
    lines += [f"  - [{r.level}] {r.text}" for r in result.triage.reasons] or [
        "  - no red flags present"]
    lines += ["", "Recommended tests (indicated by red flags, then by value per relative cost):"]
    lines += [f"  {i}. {t.name} (value {t.value:.3f}, cost {t.cost:g}): {t.rationale}"
              for i, t in enumerate(result.tests, 1)] or ["  none: no test is worth its cost now"]
    if result.questions:
        lines += ["", "Worth asking or examining next:"]
        lines += [f"  - {q.text} ({q.finding})" for q in result.questions[:5]]
    lines += ["", "Advice:"]
    lines += [f"  - {a.text}" for a in result.advice]
    if result.derived_findings:
        lines += ["", "Derived from the inputs:"]
        lines += [f"  - {d.finding} {d.status} <- {d.source}" for d in result.derived_findings]
    lines += ["", f"Disclaimer: {result.disclaimer}"]
    return "\n".join(lines) + "\n"
