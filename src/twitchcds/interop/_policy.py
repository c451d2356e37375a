"""When the CDS Hooks service shows a card: the firing policy (private; see ``cds_hooks``).

``patient-view`` fires on every chart opened, so a card must earn its place (alert fatigue).
The service answers with **at most one card per assessment**, and only when:

1. the patient is not recorded as deceased; and
2. the record holds a **current neuromuscular complaint** (a present finding among the knowledge
   base's index complaints: twitching, cramps, spasm, myokymia, stiffness, weakness, tetany,
   paraesthesia, ...; DESIGN section 6a scope), or a **red flag fired** (then the card is about
   the red flag, whatever the complaint).

Otherwise it answers ``{"cards": []}``: no card for a chart without a complaint, for a record the
knowledge base can read nothing from (including an all-``null`` prefetch), or for history-only
entries (they are not current findings). The card's detail is short (triage, red flags, top three
causes, proposed tests) and links to the documentation of the method; its suggestions propose the
tests, and its ``overrideReasons`` let the clinician say why it was dismissed (reported back
through the ``feedback`` endpoint).

The assessment's ``scope`` (Assessment v1.1) decides (2): a card unless ``no-complaint``.

Examples
--------
>>> from twitchcds import assess
>>> fires(assess({"age": 40, "findings": [{"id": "fasciculations", "status": "present"}]}))
(True, 'current neuromuscular complaint')
>>> fires(assess({"age": 40, "findings": [{"id": "weight_gain", "status": "present"}]}))
(False, 'no current neuromuscular complaint and no red flag')
"""

from __future__ import annotations

from typing import Final

from twitchcds.assessment import Assessment

__all__ = ["OVERRIDE_REASONS", "OVERRIDE_SYSTEM", "fires", "red_flags"]

OVERRIDE_SYSTEM: Final = "https://twitchcds.readthedocs.io/override-reasons"
"""Code system of the override reasons offered on every card."""

OVERRIDE_REASONS: Final = (
    ("not-relevant", "Not relevant: no current twitching or neuromuscular complaint"),
    ("already-addressed", "Already assessed or being addressed"),
    ("disagree", "Disagree with the assessment"),
    ("patient-declined", "Patient declined the proposed tests"),
)
"""``(code, display)`` of the override reasons (CDS Hooks 2.0 ``overrideReasons``)."""


def red_flags(result: Assessment) -> list[str]:
    """Return the ids of the red flags that fired (not the probability-based reasons)."""
    return [r.id for r in result.triage.reasons if r.kind == "red-flag"]


def fires(result: Assessment, *, deceased: bool = False) -> tuple[bool, str]:
    """Return whether the service shows a card for ``result``, and why (see the module doc)."""
    if deceased:
        return False, "the patient is recorded as deceased"
    if red_flags(result):
        return True, "red flag"
    if result.scope.status != "no-complaint":
        return True, "current neuromuscular complaint"
    return False, "no current neuromuscular complaint and no red flag"
