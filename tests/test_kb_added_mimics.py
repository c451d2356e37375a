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


def test_periodic_paralysis_textbook_minimal_ranks_top3() -> None:
    """Attacks of weakness with normal strength between and a low potassium rank periodic
    paralysis in the top 3."""
    case = {
        "age": 28,
        "findings": _present("episodic_weakness", "muscle_weakness", "proximal_weakness"),
        "labs": [{"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"}],
    }
    assert "periodic_paralysis" in _top3(case)


def test_thyrotoxic_periodic_paralysis_textbook_minimal_ranks_top3() -> None:
    """Attacks of weakness with a low potassium and a suppressed TSH rank both periodic paralysis
    and hyperthyroidism in the top 3 (the thyrotoxic form: neither explains the other away)."""
    case = {
        "age": 28,
        "findings": _present("episodic_weakness", "muscle_weakness", "proximal_weakness"),
        "labs": [
            {"loinc": "2823-3", "value": 2.4, "unit": "mmol/L"},
            {"loinc": "3016-3", "value": 0.01, "unit": "m[IU]/L"},
        ],
    }
    top3 = _top3(case)
    assert "periodic_paralysis" in top3
    assert "hyperthyroidism" in top3


def test_known_hyperthyroidism_raises_periodic_paralysis_prior() -> None:
    """A recorded diagnosis of hyperthyroidism (HPO code) raises the prior of periodic
    paralysis through a risk factor, leaving the noisy-OR network bipartite."""
    base = {"age": 28, "findings": _present("episodic_weakness")}
    known = {"age": 28, "findings": [*_present("episodic_weakness"),
                                     {"code": "HP:0000836", "status": "present"}]}

    def prior(case: dict[str, Any]) -> float:
        return next(d.prior for d in assess(case).differential if d.id == "periodic_paralysis")

    assert prior(known) > 10 * prior(base)


def test_myasthenia_gravis_textbook_minimal_ranks_top3() -> None:
    """Fatigable weakness with drooping eyelids and double vision ranks myasthenia gravis in the
    top 3."""
    case = {"age": 30, "findings": _present("fatigable_weakness", "ptosis", "diplopia")}
    assert "myasthenia_gravis" in _top3(case)


def test_sensory_loss_argues_against_myasthenia_gravis() -> None:
    """Objective distal sensory loss lowers the probability of myasthenia gravis (inhibitor)."""
    findings = _present("fatigable_weakness", "ptosis", "diplopia")
    with_loss = [*findings, *_present("distal_sensory_impairment")]

    def p(f: list[dict[str, str]]) -> float:
        result = assess({"age": 30, "findings": f})
        return next(d.probability for d in result.differential if d.id == "myasthenia_gravis")

    assert p(with_loss) < p(findings)


def test_ckd_related_cramps_textbook_minimal_ranks_top3() -> None:
    """Cramps in a person with known chronic kidney disease and a raised creatinine rank
    CKD-related cramps in the top 3."""
    case = {
        "age": 68,
        "findings": _present("muscle_cramps", "chronic_kidney_disease"),
        "labs": [{"loinc": "2160-0", "value": 2.8, "unit": "mg/dL"}],
    }
    assert "ckd_related_cramps" in _top3(case)
