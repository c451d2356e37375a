"""Mimics added to the built-in knowledge base (issue 15, item 2, part A).

Each test gives a textbook-minimal presentation of one added condition (the findings a
clinician would call typical, nothing rare or extra) and checks that the condition ranks in the
top 3 of the differential. The presentations are written from the condition's definition, not
from any evaluation case, and no number was tuned to make them pass.
"""

from __future__ import annotations

from typing import Any

from twitchcds import assess


def _present(*ids: str) -> list[dict[str, str]]:
    return [{"id": i, "status": "present"} for i in ids]


def _top3(case: dict[str, Any]) -> list[str]:
    return [d.id for d in assess(case).differential[:3]]


def test_guillain_barre_textbook_minimal_ranks_top3() -> None:
    """Weakness ascending over days with lost reflexes and tingling after an infection ranks
    Guillain-Barre syndrome in the top 3."""
    case = {"age": 40, "findings": _present("ascending_weakness", "acute_onset_weakness",
                                            "hyporeflexia", "paresthesia", "recent_infection")}
    assert "guillain_barre_syndrome" in _top3(case)


def test_hyponatremia_textbook_minimal_ranks_top3() -> None:
    """Cramps with a serum sodium of 128 mmol/L rank hyponatraemia in the top 3."""
    case = {"age": 72, "findings": _present("muscle_cramps"),
            "labs": [{"loinc": "2951-2", "value": 128.0, "unit": "mmol/L"}]}
    assert "hyponatremia" in _top3(case)
