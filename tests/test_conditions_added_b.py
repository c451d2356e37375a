"""Conditions added in issue 15, item 2, part B: a textbook-minimal presentation ranks each one
in the top three of the built-in knowledge base, with its codes and links in place.

The presentations are the textbook picture of each condition, written before any number was
set; they are not the frozen evaluation cases and the numbers were not tuned to them.
"""

from __future__ import annotations

from typing import Any

import pytest

from twitchcds import Case, assess, load_knowledge_base
from twitchcds.evidence import derive_evidence


def _present(*ids: str) -> list[dict[str, str]]:
    return [{"id": i, "status": "present"} for i in ids]


def _top(case: dict[str, Any], n: int = 3) -> list[str]:
    return [row["id"] for row in assess(case).to_dict()["differential"][:n]]


TEXTBOOK = [
    # Older adult with numb, clumsy, wasted hands, brisk reflexes, neck pain and unsteady gait.
    pytest.param("cervical_spondylotic_myelopathy", {
        "age": 64, "findings": _present("distal_weakness", "muscle_atrophy", "hyperreflexia",
                                        "hypoesthesia", "neck_pain", "gait_disturbance")},
                 id="cervical-myelopathy"),
    # Aching, weak thighs and shoulders a few months after starting a statin.
    pytest.param("drug_induced_myopathy", {
        "age": 62, "medications": [{"name": "atorvastatin"}],
        "findings": _present("myalgia", "proximal_weakness")}, id="statin-myopathy"),
    # Older man with weak grip and thighs, swallowing difficulty, slowly progressive.
    pytest.param("inclusion_body_myositis", {
        "age": 68, "sex": "male",
        "findings": _present("finger_flexor_weakness", "proximal_weakness", "dysphagia",
                             "progressive_symptoms")}, id="inclusion-body-myositis"),
]


@pytest.mark.parametrize(("condition", "case"), TEXTBOOK)
def test_textbook_presentation_ranks_in_top_three(condition: str, case: dict[str, Any]) -> None:
    """A textbook-minimal presentation puts the condition among the three most probable."""
    assert condition in _top(case)


def test_cervical_myelopathy_mri_result_is_revealed_by_spine_mri() -> None:
    """Cord compression on MRI is what confirms cervical myelopathy, and mri_spine reveals it."""
    kb = load_knowledge_base()
    condition = kb.condition_index["cervical_spondylotic_myelopathy"]
    assert "mri_spine" in condition.confirmed_by
    assert "mri_spine_compression" in kb.test_index["mri_spine"].reveals


def test_sensory_loss_argues_against_als_not_against_myelopathy() -> None:
    """Numbness lowers ALS relative to cervical myelopathy for the same motor picture."""
    motor = _present("distal_weakness", "muscle_atrophy", "fasciculations", "hyperreflexia")
    base = {"age": 64, "setting": "neuromuscular-clinic", "findings": motor}
    numb = {**base, "findings": [*motor, *_present("hypoesthesia")]}

    def ratio(case: dict[str, Any]) -> float:
        p = {row["id"]: row["probability"] for row in assess(case).to_dict()["differential"]}
        return float(p["amyotrophic_lateral_sclerosis"] / p["cervical_spondylotic_myelopathy"])

    assert ratio(numb) < ratio(base)


@pytest.mark.parametrize("medication", ["atorvastatin", "prednisone"])
def test_statin_or_steroid_raises_drug_myopathy(medication: str) -> None:
    """Taking a statin or a systemic corticosteroid raises the prior of drug-induced myopathy."""
    findings = _present("myalgia")

    def prior(case: dict[str, Any]) -> float:
        rows = assess(case).to_dict()["differential"]
        return float(next(r["prior"] for r in rows if r["id"] == "drug_induced_myopathy"))

    with_drug = prior({"findings": findings, "medications": [{"name": medication}]})
    assert with_drug > prior({"findings": findings})


def test_hypoparathyroidism_code_reaches_the_risk_factor() -> None:
    """HPO 'Hypoparathyroidism' and its descendants place the comorbidity risk factor."""
    kb = load_knowledge_base()
    for code in ("HP:0000829", "HP:0011771"):  # the term and 'Autoimmune hypoparathyroidism'
        case = Case.from_dict({"findings": [{"code": code, "status": "present"}]})
        assert "hypoparathyroidism" in derive_evidence(case, kb).risk_factors
    effects = kb.risk_factor_index["hypoparathyroidism"].effects
    assert "hypocalcemia" in {e.condition for e in effects}


def test_record_naming_only_hypoparathyroidism_is_not_self_care() -> None:
    """A record that names the cause (hypoparathyroidism) but no symptom still earns a review."""
    result = assess({"findings": [{"code": "HP:0000829", "status": "present"}]})
    assert result.triage.level != "self-care"


@pytest.mark.parametrize("symptom", ["paresthesia", "muscle_cramps", "tetany"])
def test_hypoparathyroidism_with_hypocalcaemia_symptoms_is_same_day(symptom: str) -> None:
    """Known hypoparathyroidism with tingling, cramps or tetany is urgent (same-day calcium)."""
    case = {"findings": [{"code": "HP:0000829", "status": "present"},
                         {"id": symptom, "status": "present"}]}
    assert assess(case).triage.level in {"urgent", "emergency"}
