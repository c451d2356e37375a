"""Reading real-shaped EHR records: lab codes by meaning, references, time, conflicts (issue 16)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fhir.resources")

from fhir.resources.R4B.bundle import Bundle

from twitchcds import assess, load_knowledge_base
from twitchcds.interop._lab_codes import EXTRA_LOINC, load_extra_loinc
from twitchcds.interop.cds_hooks import handle_request
from twitchcds.interop.fhir import NothingToAssessError, case_from_fhir

SYNTHEA = Path(__file__).parent / "data" / "synthea"
ON = date(2025, 2, 3)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SCT = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "gender": "female",
            "birthDate": "1960-06-01", **extra}


def lab(code: str, value: float, unit: str, rid: str = "l", when: str | None = None,
        ) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Observation", "id": rid, "status": "final",
                           "code": {"coding": [{"system": LOINC, "code": code}]},
                           "subject": {"reference": "Patient/p1"},
                           "valueQuantity": {"value": value, "unit": unit, "system": UCUM,
                                             "code": unit}}
    if when:
        out["effectiveDateTime"] = when
    return out


def condition(code: str, rid: str = "c", clinical: str = "active", **extra: Any,
              ) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": rid,
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": clinical}]},
            "code": {"coding": [{"system": SCT, "code": code}]},
            "subject": {"reference": "Patient/p1"}, **extra}


def bundle(*resources: Any, urls: list[str] | None = None) -> dict[str, Any]:
    entries = [{"resource": r} for r in resources]
    for entry, url in zip(entries, urls or [], strict=False):
        entry["fullUrl"] = url
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


# --- defect 4: lab codes by meaning -----------------------------------------------------------

def test_extra_lab_codes_map_to_existing_rules_with_a_source():
    """Every extra LOINC maps to a code an existing lab rule lists, and names its source."""
    kb = load_knowledge_base()
    rule_codes = {code for rule in kb.lab_rules for code in rule.loinc}
    for code, entry in EXTRA_LOINC.items():
        assert entry.canonical in rule_codes, code
        assert code not in rule_codes, code
        assert entry.source.strip(), code
        assert entry.system in {"Bld", "BldC", "SerPl"}
        assert entry.property in {"SCnc", "MCnc"}


def test_lab_code_table_rejects_a_row_without_a_field():
    """A malformed lab-code table is refused with the row named."""
    with pytest.raises(ValueError, match=r"code\[0\] lacks 'source'"):
        load_extra_loinc('[[code]]\nloinc = "1"\ncanonical = "2"\ncomponent = "K"\n'
                         'property = "SCnc"\nsystem = "Bld"\nscale = "Qn"\nname = "x"\n')


@pytest.mark.parametrize(("code", "value", "unit", "canonical", "finding"), [
    ("6298-4", 2.5, "mmol/L", "2823-3", "low_potassium"),      # potassium in blood
    ("75940-7", 9.8, "mg/dL", "2823-3", "low_potassium"),      # potassium, mass, blood
    ("49765-1", 7.0, "mg/dL", "2000-8", "low_calcium"),        # calcium in blood
    ("2339-0", 250.0, "mg/dL", "2345-7", "hyperglycemia"),     # glucose in blood
    ("15074-8", 14.0, "mmol/L", "2345-7", "hyperglycemia"),    # glucose, molar, blood
])
def test_blood_and_mass_variants_are_read(code, value, unit, canonical, finding):
    """Blood, mass and molar variants of a known analyte are read as its canonical LOINC."""
    result = case_from_fhir(bundle(patient(), lab(code, value, unit)), on_date=ON)
    assert result.case.to_dict()["labs"] == [{"loinc": canonical, "value": value, "unit": unit}]
    (used,) = [u for u in result.used if u.target == "labs[0]"]
    assert f"LOINC {code}" in used.note
    derived = {d.finding: d.status for d in assess(result.case, workup=False).derived_findings}
    assert derived[finding] == "present"


def test_low_blood_potassium_is_not_self_care():
    """A potassium of 2.5 mmol/L coded 6298-4 raises triage above self-care (it was ignored)."""
    result = assess(case_from_fhir(bundle(patient(), lab("6298-4", 2.5, "mmol/L")),
                                   on_date=ON).case)
    assert result.triage.level != "self-care"


# --- defect 5: medicationReference in every form ------------------------------------------------

def _medication(rid: str = "med1") -> dict[str, Any]:
    return {"resourceType": "Medication", "id": rid, "code": {"coding": [
        {"system": RXNORM, "code": "7646", "display": "omeprazole"}]}}


def _request(ref: str, contained: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "MedicationRequest", "id": "mr", "status": "active",
                           "intent": "order", "subject": {"reference": "Patient/p1"},
                           "medicationReference": {"reference": ref}}
    if contained:
        out["contained"] = contained
    return out


@pytest.mark.parametrize(("ref", "urls", "contained"), [
    ("Medication/med1", None, None),
    ("https://ehr.example.org/fhir/Medication/med1", None, None),
    ("https://ehr.example.org/fhir/Medication/med1/_history/2", None, None),
    ("urn:uuid:2b1f0a39-7c5e-4c55-9d64-6d2f0c1f7a10",
     ["urn:uuid:0f0e", "urn:uuid:2b1f0a39-7c5e-4c55-9d64-6d2f0c1f7a10", "urn:uuid:77"], None),
    ("#m", None, [{"resourceType": "Medication", "id": "m", "code": {"coding": [
        {"system": RXNORM, "code": "7646", "display": "omeprazole"}]}}]),
], ids=["relative", "absolute", "absolute-history", "urn-uuid-fullurl", "contained"])
def test_medication_reference_in_every_form_is_followed(ref, urls, contained):
    """medicationReference is resolved whether relative, absolute, a fullUrl or contained."""
    med = _medication("other" if urls else "med1")
    data = bundle(patient(), med if not contained else _medication("x"),
                  _request(ref, contained), urls=urls)
    if urls:  # a transaction Bundle: the Medication is found by its fullUrl only
        data["entry"][1]["fullUrl"] = urls[1]
        data["entry"][0]["fullUrl"] = urls[0]
        data["entry"][2]["fullUrl"] = urls[2]
    result = case_from_fhir(data, on_date=ON)
    assert result.case.to_dict()["medications"] == [{"rxnorm": "7646", "name": "omeprazole"}]


def test_unresolvable_medication_reference_is_reported():
    """A medicationReference naming nothing in the input is skipped with the reason, not lost."""
    result = case_from_fhir(bundle(patient(), _request("Medication/absent")), on_date=ON)
    (row,) = [s for s in result.skipped if s.id == "mr"]
    assert "names no Medication" in row.reason


# --- defect 6: null prefetch --------------------------------------------------------------------

def test_all_null_prefetch_gets_no_cards():
    """A prefetch of nulls (allowed by the discovery document) gets {"cards": []}, not 400."""
    request = {"hook": "patient-view", "hookInstance": "h",
               "context": {"userId": "Practitioner/1", "patientId": "p1"},
               "prefetch": dict.fromkeys(("patient", "observations", "conditions",
                                          "medications"))}
    assert handle_request(request) == {"cards": []}


def test_nothing_usable_is_its_own_error_class():
    """case_from_fhir on a record with nothing usable raises NothingToAssessError at $."""
    with pytest.raises(NothingToAssessError) as info:
        case_from_fhir(bundle({"resourceType": "Practitioner", "id": "x"}))
    assert info.value.path == "$"


# --- defect 7: deceased patients --------------------------------------------------------------

def test_deceased_patient_age_is_age_at_death():
    """A deceased patient's age is the age at death, and the report says so."""
    result = case_from_fhir(bundle(patient(deceasedDateTime="2001-06-15T00:00:00Z")),
                            on_date=ON)
    assert result.case.age == 41
    assert result.deceased
    assert any("died on 2001-06-15" in n for n in result.notes)


# --- defects 2 and 3: time and conflicts --------------------------------------------------------

def test_old_epilepsy_is_history_not_an_emergency():
    """Epilepsy diagnosed years ago is history: no seizure finding, no emergency."""
    result = case_from_fhir(bundle(patient(), condition("84757009", onsetDateTime="2010-01-01")),
                            on_date=ON)
    assert [h.id for h in result.history] == ["c"]
    assert "acute event" in result.history[0].reason
    assert assess(result.case).triage.level not in {"urgent", "emergency"}


def test_recent_seizure_is_current():
    """A seizure recorded last week is a current finding (an emergency red flag)."""
    result = case_from_fhir(bundle(patient(), condition("84757009", onsetDateTime="2025-01-28")),
                            on_date=ON)
    assert assess(result.case).triage.level == "emergency"


@pytest.mark.parametrize("extra", [{"clinicalStatus": {"coding": [{
    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]}},
    {"abatementDateTime": "2024-01-01"}], ids=["resolved", "abated"])
def test_resolved_or_abated_conditions_are_history(extra):
    """Resolved or abated Conditions are listed as history, not read as current."""
    data = bundle(patient(), condition("82470000", **extra),
                  lab("2823-3", 4.0, "mmol/L", when="2025-02-01"))
    result = case_from_fhir(data, on_date=ON)
    assert [h.id for h in result.history] == ["c"]
    assert "findings" not in result.case.to_dict()


def test_old_lab_is_history():
    """A lab result more than a year old is left out and listed as history."""
    result = case_from_fhir(bundle(patient(), lab("2823-3", 2.9, "mmol/L",
                                                  when="2020-01-01")), on_date=ON)
    assert "labs" not in result.case.to_dict()
    assert "365 days" in result.history[0].reason


def test_lab_beats_problem_list_entry():
    """Prediabetes-like hyperglycaemia on the problem list and a normal HbA1c: the lab wins and
    the conflict is reported; the record is read (it was refused)."""
    data = bundle(patient(), condition("80394007", recordedDate="2025-01-30"),
                  lab("4548-4", 6.1, "%", rid="a1c", when="2024-12-01"))
    result = case_from_fhir(data, on_date=ON)
    (conflict,) = result.conflicts
    assert conflict.finding == "hyperglycemia"
    assert conflict.kept_status == "absent"
    assert conflict.rule.startswith("a lab result beats")
    assert result.case.to_dict()["labs"][0]["loinc"] == "4548-4"
    assert result.report()["conflicts"][0]["dropped"] == "$.entry[1].resource"


def test_more_recent_observation_wins():
    """Two observations of one finding that disagree: the more recent one is kept."""
    hpo = "http://purl.obolibrary.org/obo/hp.owl"

    def obs(rid: str, value: bool, when: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": rid, "status": "final",
                "code": {"coding": [{"system": hpo, "code": "HP:0003394"}]},
                "subject": {"reference": "Patient/p1"}, "valueBoolean": value,
                "effectiveDateTime": when}

    result = case_from_fhir(bundle(patient(), obs("old", True, "2025-01-01"),
                                   obs("new", False, "2025-02-01")), on_date=ON)
    assert result.case.to_dict()["findings"] == [{"code": "HP:0003394", "status": "absent"}]


# --- the corpus -------------------------------------------------------------------------------

CORPUS = sorted(SYNTHEA.glob("*.json"))


def test_corpus_is_there():
    """The trimmed Synthea corpus holds at least 20 patient bundles."""
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem[:8])
def test_synthea_record_is_read_without_refusal(path):
    """Every Synthea record is read (none refused for conflicts) as of its last date; no record
    is triaged urgent or emergency from history-only entries; labs of known analytes are read."""
    data = json.loads(path.read_text(encoding="utf-8"))
    Bundle.model_validate({**data, "entry": [{"resource": e["resource"]}
                                             for e in data["entry"]]})
    dates = [e["resource"].get("effectiveDateTime", "")[:10] for e in data["entry"]]
    on = date.fromisoformat(max(d for d in dates if d))
    result = case_from_fhir(data, on_date=on)
    unknown = [s for s in result.skipped if s.reason.startswith("LOINC 6298-4")
               or s.reason.startswith("LOINC 49765-1") or s.reason.startswith("LOINC 2339-0")]
    assert unknown == []
    assessment = assess(result.case)
    if assessment.triage.level in {"urgent", "emergency"}:  # only from current entries
        assert any(r.kind == "red-flag" for r in assessment.triage.reasons)
