"""Records that name a condition or its cause count as evidence for that condition."""

from __future__ import annotations

from typing import Any

import pytest

import twitchcds

BASE: dict[str, Any] = {"age": 45, "findings": [{"id": "muscle_cramps", "status": "present"},
                                                 {"id": "fatigue", "status": "present"}]}


def _probability(case: dict[str, Any], condition: str) -> float:
    result = twitchcds.assess(case).to_dict()
    return next(d["probability"] for d in result["differential"] if d["id"] == condition)


def _with(code: str) -> dict[str, Any]:
    return {**BASE, "findings": [*BASE["findings"], {"code": code, "status": "present"}]}


@pytest.mark.parametrize(("code", "condition"), [
    ("HP:0000821", "hypothyroidism"),             # Hypothyroidism
    ("HP:0000872", "hypothyroidism"),             # Hashimoto thyroiditis
    ("HP:0009830", "peripheral_neuropathy"),      # Peripheral neuropathy
    ("HP:0001271", "peripheral_neuropathy"),      # Polyneuropathy (descendant)
    ("HP:0007131", "guillain_barre_syndrome"),    # Acute demyelinating polyneuropathy
    ("HP:0007354", "amyotrophic_lateral_sclerosis"),
    ("HP:0200118", "vitamin_b12_deficiency"),     # Malabsorption of vitamin B12
    ("HP:0031817", "hypocalcemia"),               # Decreased PTH -> hypoparathyroidism
    ("HP:0000083", "ckd_related_cramps"),         # Renal insufficiency
    ("HP:0000128", "hypokalemia"),                # Renal potassium wasting
    ("HP:0033078", "hypothyroidism"),             # Decreased circulating free T4
])
def test_naming_term_raises_the_named_condition(code: str, condition: str) -> None:
    """A present term naming a condition or its cause raises that condition's probability."""
    assert _probability(_with(code), condition) > 2 * _probability(BASE, condition)


def test_entrapment_neuropathy_is_not_read_as_polyneuropathy() -> None:
    """Carpal tunnel syndrome raises generalized neuropathy only slightly, not like a diagnosis."""
    named = _probability(_with("HP:0009830"), "peripheral_neuropathy")
    focal = _probability(_with("HP:0012185"), "peripheral_neuropathy")
    assert focal < named / 2


def test_low_free_t4_is_derived_from_the_lab() -> None:
    """A free T4 below 0.8 ng/dL derives low_free_t4 and raises hypothyroidism."""
    case = {**BASE, "labs": [{"loinc": "3024-7", "value": 0.5, "unit": "ng/dL"}]}
    result = twitchcds.assess(case).to_dict()
    derived = {(d["finding"], d["status"]) for d in result["derived_findings"]}
    assert ("low_free_t4", "present") in derived
    assert _probability(case, "hypothyroidism") > 2 * _probability(BASE, "hypothyroidism")
