"""Evidence derivation: ids, codes, history, labs with units, medications, risk factors."""

from __future__ import annotations

import pytest

from twitchcds import (
    Case,
    ContradictionError,
    InvalidCaseError,
    KnowledgeBase,
    UnitConversionError,
    UnknownCodeError,
)
from twitchcds.evidence import derive_evidence


def _ev(kb: KnowledgeBase, data: dict[str, object]):  # type: ignore[no-untyped-def]
    return derive_evidence(Case.from_dict(data), kb)


def test_findings_by_id_and_code(mini_kb: KnowledgeBase) -> None:
    """A finding named by KB id or by its own HPO code counts as that finding."""
    ev = _ev(mini_kb, {"findings": [{"id": "cramps", "status": "present"},
                                    {"code": "HP:0002380", "status": "absent"}]})
    assert ev.present == {"cramps"}
    assert ev.absent == {"twitching"}
    assert [d.finding for d in ev.derived] == ["twitching"]


def test_hpo_descendant_present_maps_to_ancestor(mini_kb: KnowledgeBase) -> None:
    """A present HPO descendant counts as its nearest KB ancestor and the mapping is reported."""
    ev = _ev(mini_kb, {"findings": [{"code": "HP:0003484", "status": "present"}]})
    assert ev.present == {"weakness"}
    assert "HP:0003484" in ev.derived[0].source


def test_absent_descendant_is_unused_not_an_error(mini_kb: KnowledgeBase) -> None:
    """An absent HPO descendant says nothing about its ancestor and is reported as unused."""
    ev = _ev(mini_kb, {"age": 40, "findings": [{"code": "HP:0003484", "status": "absent"}]})
    assert ev.absent == frozenset()
    assert ev.unused[0].path == "$.findings[0].code"


def test_absent_ancestor_rules_out_descendants(mini_kb: KnowledgeBase) -> None:
    """An absent HPO term rules out every KB finding at or below it."""
    ev = _ev(mini_kb, {"findings": [{"code": "HP:0003690", "status": "absent"}]})
    assert ev.absent == {"weakness"}


def test_unplaceable_code_is_an_error(mini_kb: KnowledgeBase) -> None:
    """A code the mapping cannot place raises UnknownCodeError at its path."""
    with pytest.raises(UnknownCodeError) as info:
        _ev(mini_kb, {"findings": [{"code": "HP:0000001", "status": "present"}]})
    assert info.value.path == "$.findings[0].code"


def test_unknown_id_is_an_error(mini_kb: KnowledgeBase) -> None:
    """An unknown finding id raises UnknownCodeError naming the path and the id."""
    with pytest.raises(UnknownCodeError) as info:
        _ev(mini_kb, {"findings": [{"id": "twitchin", "status": "present"}]})
    assert info.value.path == "$.findings[0].id"
    assert info.value.value == "twitchin"


@pytest.mark.parametrize(("value", "unit", "status"), [
    (2.6, "mmol/L", "present"), (3.4, "meq/L", "present"), (3.6, "mmol/L", "absent"),
    (12.0, "mg/dL", "absent"),  # 12 mg/dL = 3.07 mmol/L ... is low: see next row
])
def test_lab_bands_with_unit_conversion(mini_kb: KnowledgeBase, value: float, unit: str,
                                        status: str) -> None:
    """A lab value is converted to the rule's unit and compared with its band."""
    if unit == "mg/dL":
        status = "present" if value / 39.098 * 10 < 3.5 else "absent"
    ev = _ev(mini_kb, {"labs": [{"loinc": "2823-3", "value": value, "unit": unit}]})
    assert ev.status("low_potassium") == status
    assert ev.derived[0].finding == "low_potassium"


def test_unconvertible_unit_names_path(mini_kb: KnowledgeBase) -> None:
    """A unit that cannot convert raises UnitConversionError at the lab's unit."""
    with pytest.raises(UnitConversionError) as info:
        _ev(mini_kb, {"labs": [{"loinc": "2823-3", "value": 3.0, "unit": "kg"}]})
    assert info.value.path == "$.labs[0].unit"


def test_implausible_lab_value(mini_kb: KnowledgeBase) -> None:
    """A physiologically impossible value is an input error, not a finding."""
    with pytest.raises(InvalidCaseError) as info:
        _ev(mini_kb, {"labs": [{"loinc": "2823-3", "value": 50.0, "unit": "mmol/L"}]})
    assert info.value.path == "$.labs[0].value"


def test_unknown_loinc(mini_kb: KnowledgeBase) -> None:
    """A LOINC code the knowledge base does not use is an error."""
    with pytest.raises(UnknownCodeError) as info:
        _ev(mini_kb, {"labs": [{"loinc": "1234-5", "value": 3.0, "unit": "mmol/L"}]})
    assert info.value.path == "$.labs[0].loinc"


def test_contradiction_through_labs(mini_kb: KnowledgeBase) -> None:
    """A finding declared absent but derived present from a lab is a contradiction."""
    with pytest.raises(ContradictionError) as info:
        _ev(mini_kb, {"findings": [{"id": "low_potassium", "status": "absent"}],
                      "labs": [{"loinc": "2823-3", "value": 2.5, "unit": "mmol/L"}]})
    assert info.value.path == "$.labs[0]"


def test_history_thresholds(mini_kb: KnowledgeBase) -> None:
    """History values become findings by the knowledge base's thresholds."""
    assert _ev(mini_kb, {"history": {"caffeine_mg_per_day": 400}}).present == {"high_caffeine"}
    assert _ev(mini_kb, {"history": {"caffeine_mg_per_day": 399}}).absent == {"high_caffeine"}


def test_risk_factors(mini_kb: KnowledgeBase) -> None:
    """Age, medication class (by name or ATC) and family history activate risk factors."""
    ev = _ev(mini_kb, {"age": 65, "medications": [{"atc": "C03CA01"}],
                       "history": {"family_history_motor_neuron_disease": True}})
    assert ev.risk_factors == ("age_over_60", "diuretic_use", "family_history_mnd")
    ev = _ev(mini_kb, {"age": 59, "medications": [{"name": "Furosemide"}, {"name": "aspirin"}]})
    assert ev.risk_factors == ("diuretic_use",)
    assert ev.unused[0].path == "$.medications[1]"


def test_all_problems_collected(mini_kb: KnowledgeBase) -> None:
    """Several problems of different kinds are reported together."""
    with pytest.raises(InvalidCaseError) as info:
        _ev(mini_kb, {"findings": [{"id": "nope", "status": "present"}],
                      "labs": [{"loinc": "2823-3", "value": 3.0, "unit": "kg"}]})
    assert {p.path for p in info.value.problems} == {"$.findings[0].id", "$.labs[0].unit"}


def test_lab_logic_contradiction(kb: KnowledgeBase) -> None:
    """Findings no single lab value could produce together are a contradiction, not a guess."""
    with pytest.raises(ContradictionError) as info:
        _ev(kb, {"findings": [{"id": "severe_low_potassium", "status": "present"},
                              {"id": "low_potassium", "status": "absent"}]})
    assert info.value.path == "$.findings[1].id"
    with pytest.raises(ContradictionError):
        _ev(kb, {"findings": [{"id": "low_potassium", "status": "present"},
                              {"id": "high_potassium", "status": "present"}]})
    ok = _ev(kb, {"findings": [{"id": "severe_low_potassium", "status": "present"},
                               {"id": "low_potassium", "status": "present"}]})
    assert ok.present == {"severe_low_potassium", "low_potassium"}


@pytest.mark.parametrize("history", [
    {"duration_days": 200}, {"distribution": "focal"}, {"distribution": "generalized"},
    {"painful": True}, {"after_injury": True}])
def test_twitch_history_without_twitching(kb: KnowledgeBase, history: dict[str, object]) -> None:
    """History about twitching cannot make a twitch finding present when twitching is reported
    absent (a cramps-only presentation): the finding is derived absent, and says why."""
    twitch = {"persistent_twitching", "focal_twitching", "widespread_twitching",
              "painful_twitching", "twitching_after_injury"}
    without = _ev(kb, {"findings": [{"id": "fasciculations", "status": "absent"},
                                    {"id": "muscle_cramps", "status": "present"}],
                       "history": history})
    assert not without.present & twitch
    derived = [d for d in without.derived if d.finding in twitch]
    assert derived
    assert all(d.status == "absent" and "fasciculations is reported absent" in d.source
               for d in derived)
    with_twitch = _ev(kb, {"findings": [{"id": "fasciculations", "status": "present"}],
                           "history": history})
    assert with_twitch.present & twitch
