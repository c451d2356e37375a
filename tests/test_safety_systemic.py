"""Systemic emergencies, vital signs, severity named by a term, and scope of test results.

The rules tested here come from systematic sources (NEWS2, NICE NG51 and NG136, the Hunter
serotonin toxicity criteria, CDC tetanus guidance, the sympathomimetic syndrome), not from
case sets: every vital-sign band reaches its flag in every accepted unit whatever else the case
holds, and a guideline catalogue (``tests/data/safety_catalogue_systemic.json``) written from the
cited sentences is never under-triaged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import DATA
from twitchcds import assess, load_knowledge_base
from twitchcds.typing import TRIAGE_LEVELS
from twitchcds.units import convert_lab_value

KB = load_knowledge_base()
RANK = {level: i for i, level in enumerate(TRIAGE_LEVELS)}
RULES = {rule.id: rule for rule in KB.lab_rules}

# NEWS2 single-parameter score 3 (RCP 2017, chart 1; SpO2 scale 1), in canonical units, with
# the flag each must fire: (lab rule, value just past the limit, finding, flag).
NEWS2_RED = [
    ("systolic_bp", 90.0, "news2_low_systolic_bp", "news2_low_blood_pressure"),
    ("systolic_bp", 220.0, "news2_high_systolic_bp", "news2_very_high_blood_pressure"),
    ("heart_rate", 40.0, "news2_low_heart_rate", "news2_heart_rate"),
    ("heart_rate", 131.0, "news2_high_heart_rate", "news2_heart_rate"),
    ("respiratory_rate", 8.0, "news2_low_respiratory_rate", "news2_respiratory_rate"),
    ("respiratory_rate", 25.0, "news2_high_respiratory_rate", "news2_respiratory_rate"),
    ("body_temperature", 35.0, "news2_low_temperature", "news2_red_temperature"),
    ("oxygen_saturation", 91.0, "news2_low_oxygen_saturation", "news2_red_oxygen_saturation"),
]
UNITS = {"systolic_bp": ("mm[Hg]", "mmHg"), "heart_rate": ("/min", "{beats}/min"),
         "respiratory_rate": ("/min", "{breaths}/min"), "body_temperature": ("Cel", "[degF]"),
         "oxygen_saturation": ("%",)}
NORMAL = {"systolic_bp": 120.0, "heart_rate": 75.0, "respiratory_rate": 14.0,
          "body_temperature": 36.8, "oxygen_saturation": 97.0}
# Findings no lab derives (no contradiction with a lab result).
OTHER_FINDINGS = sorted(f.id for f in KB.findings if f.kind in {"symptom", "sign"})


def _vital(rule_id: str, value: float, unit: str) -> dict[str, Any]:
    rule = RULES[rule_id]
    return {"loinc": rule.loinc[0], "value": convert_lab_value(value, rule.unit, unit),
            "unit": unit}


def test_every_news2_red_band_is_a_lab_band_with_its_flag() -> None:
    """Each NEWS2 red parameter is read from its LOINC code and named by an urgent flag."""
    flags = {flag.id: flag for flag in KB.red_flags}
    for rule_id, value, finding, flag_id in NEWS2_RED:
        bands = {band.finding: band for band in RULES[rule_id].bands}
        assert finding in bands, (rule_id, finding)
        assert finding in flags[flag_id].any_of
        assert flags[flag_id].level == "urgent"
        band = bands[finding]
        hit = value < band.below if band.below is not None else value > (band.above or 0.0)
        assert hit, (rule_id, value, band)


@pytest.mark.parametrize(("rule_id", "value", "finding", "flag_id"), NEWS2_RED,
                         ids=[row[2] for row in NEWS2_RED])
@given(data=st.data())
def test_news2_red_value_sets_its_floor_in_every_unit(rule_id: str, value: float, finding: str,
                                                      flag_id: str, data: st.DataObject) -> None:
    """A vital sign in the NEWS2 red band triages at least urgent, in every accepted unit,
    whatever other findings and normal vital signs the case holds."""
    rule = RULES[rule_id]
    band = next(b for b in rule.bands if b.finding == finding)
    step = data.draw(st.floats(min_value=0.0, max_value=0.3))
    past = value * (1 - step) if band.below is not None else value * (1 + step)
    past = min(max(past, rule.plausible_min), rule.plausible_max)
    unit = data.draw(st.sampled_from(UNITS[rule_id]))
    others = data.draw(st.lists(st.sampled_from(OTHER_FINDINGS), max_size=4, unique=True))
    statuses = data.draw(st.lists(st.sampled_from(("present", "absent")),
                                  min_size=len(others), max_size=len(others)))
    normal = data.draw(st.lists(st.sampled_from(sorted(set(NORMAL) - {rule_id})), max_size=3,
                                unique=True))
    case = {"labs": [_vital(rule_id, past, unit),
                     *(_vital(r, NORMAL[r], UNITS[r][0]) for r in normal)],
            "findings": [{"id": f, "status": s} for f, s in zip(others, statuses, strict=True)]}
    result = assess(case, workup=False, explain=False)
    assert RANK[result.triage.level] >= RANK["urgent"]
    assert flag_id in {r.id for r in result.triage.reasons}


@given(rule_id=st.sampled_from(sorted(NORMAL)), data=st.data())
def test_normal_vital_signs_raise_no_flag(rule_id: str, data: st.DataObject) -> None:
    """Normal vital signs, in any accepted unit, fire no vital-sign flag on their own."""
    unit = data.draw(st.sampled_from(UNITS[rule_id]))
    result = assess({"labs": [_vital(rule_id, NORMAL[rule_id], unit)]}, workup=False)
    assert result.triage.level == "self-care"


SEPSIS_SIGNS = [("systolic_bp", 85.0), ("heart_rate", 140.0), ("respiratory_rate", 28.0),
                ("oxygen_saturation", 89.0)]


@pytest.mark.parametrize(("rule_id", "value"), SEPSIS_SIGNS, ids=[r for r, _ in SEPSIS_SIGNS])
@pytest.mark.parametrize("infection", [{"findings": [{"id": "fever", "status": "present"}]},
                                       {"labs": [_vital("body_temperature", 38.6, "Cel")]},
                                       {"findings": [{"id": "recent_infection",
                                                      "status": "present"}]}],
                         ids=["fever", "temperature", "recent-infection"])
def test_ng51_high_risk_criterion_with_infection_is_an_emergency(
        rule_id: str, value: float, infection: dict[str, Any]) -> None:
    """NICE NG51: suspected infection with any high-risk vital sign is an emergency."""
    case = {"age": 60, "findings": infection.get("findings", []),
            "labs": [*infection.get("labs", []), _vital(rule_id, value, UNITS[rule_id][0])]}
    assert assess(case, workup=False).triage.level == "emergency"


def test_temperature_units_agree() -> None:
    """98.6 F is 37 C, and Fahrenheit readings reach the same bands as Celsius ones."""
    assert convert_lab_value(98.6, "[degF]", "Cel") == pytest.approx(37.0)
    cold = assess({"labs": [{"loinc": "8310-5", "value": 94.0, "unit": "[degF]"}]})
    assert cold.triage.level == "urgent"


# --- severity named by a term; objective weakness ------------------------------------------------

@pytest.mark.parametrize("code", ["HP:0003201", "HP:0002913", "HP:0008305"],
                         ids=["rhabdomyolysis", "myoglobinuria", "exercise-myoglobinuria"])
def test_rhabdomyolysis_named_by_a_term_reaches_the_ck_level(code: str) -> None:
    """A rhabdomyolysis or myoglobinuria term triages like a CK over 5,000 U/L."""
    by_number = assess({"labs": [{"loinc": "2157-6", "value": 12000, "unit": "U/L"}]})
    by_term = assess({"findings": [{"code": code, "status": "present"}]})
    assert RANK[by_term.triage.level] >= RANK[by_number.triage.level] == RANK["urgent"]


WEAKNESS = ["muscle_weakness", "proximal_weakness", "distal_weakness", "finger_flexor_weakness",
            "neck_weakness", "fatigable_weakness"]


@given(weakness=st.sampled_from(WEAKNESS), age=st.integers(min_value=16, max_value=100),
       sex=st.sampled_from(("female", "male")),
       others=st.lists(st.sampled_from(OTHER_FINDINGS), max_size=3, unique=True))
def test_objective_weakness_is_never_self_care(weakness: str, age: int, sex: str,
                                               others: list[str]) -> None:
    """Objective weakness alone or with other findings present is at least routine."""
    findings = [{"id": f, "status": "present"} for f in {weakness, *others}]
    result = assess({"age": age, "sex": sex, "findings": findings}, workup=False,
                    explain=False)
    assert RANK[result.triage.level] >= RANK["routine"]


def test_assisted_ventilation_counts_as_respiratory_failure() -> None:
    """"Respiratory failure requiring assisted ventilation" is placed and is an emergency."""
    result = assess({"findings": [{"code": "HP:0004887", "status": "present"}]})
    assert "respiratory_failure" in {d.finding for d in result.derived_findings}
    assert result.triage.level == "emergency"


def test_clonus_keeps_counting_as_brisk_reflexes() -> None:
    """A Clonus term places both clonus and hyperreflexia (its HPO parent)."""
    result = assess({"findings": [{"code": "HP:0002169", "status": "present"}]})
    assert {"clonus", "hyperreflexia"} <= {d.finding for d in result.derived_findings}


# --- scope: disease-specific test results ---------------------------------------------------------

TEST_RESULTS = sorted({f for test in KB.tests for f in test.reveals
                       if KB.finding_index[f].kind == "test"})


@given(result_id=st.sampled_from(TEST_RESULTS), age=st.integers(min_value=18, max_value=90))
def test_a_positive_disease_specific_test_is_in_scope(result_id: str, age: int) -> None:
    """A present abnormal result of a disease-specific test (EMG, nerve conduction, MRI,
    genetic test, antibodies) is an index finding: the scope is not ``no-complaint``."""
    result = assess({"age": age, "findings": [{"id": result_id, "status": "present"}]},
                    workup=False, explain=False)
    assert result.scope.status != "no-complaint"
    assert result_id in result.scope.findings


def test_achr_antibodies_without_a_complaint_are_in_scope() -> None:
    """AChR antibodies reported present with no complaint are assessed, not set aside."""
    result = assess({"findings": [{"code": "HP:0030208", "status": "present"}]})
    # in-scope, or unexplained when the test's false-positive rate (its leak) outweighs the
    # causes the knowledge base knows; never set aside as no-complaint
    assert result.scope.status in {"in-scope", "unexplained"}
    assert RANK[result.triage.level] >= RANK["routine"]


# --- the systemic guideline catalogue -------------------------------------------------------------

CATALOGUE: list[dict[str, Any]] = json.loads(
    (DATA / "safety_catalogue_systemic.json").read_text(encoding="utf-8"))


def test_catalogue_is_cited() -> None:
    """Every case quotes its guideline, names a cited reference and a minimum level."""
    assert len(CATALOGUE) >= 40
    assert len({c["id"] for c in CATALOGUE}) == len(CATALOGUE)
    for entry in CATALOGUE:
        assert entry["quote"].strip(), entry["id"]
        assert entry["source"] in KB.reference_index, entry["id"]
        assert entry["min_level"] in RANK, entry["id"]
