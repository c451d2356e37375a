"""Reading real-shaped EHR records: lab codes by meaning, references, time, conflicts (issue 16)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import attrs
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
    """Resolved or abated Conditions are listed as history and enter the case as history
    entries (current false), never as current findings."""
    data = bundle(patient(), condition("82470000", **extra),
                  lab("2823-3", 4.0, "mmol/L", when="2025-02-01"))
    result = case_from_fhir(data, on_date=ON)
    assert [(h.id, h.target) for h in result.history] == [("c", "findings[0]")]
    assert result.case.to_dict()["findings"] == [
        {"status": "present", "code": "SNOMEDCT:82470000", "current": False}]
    assert not any(f.is_current for f in result.case.findings)


# --- issue 14: history entries in the case; tempo from record dates ------------------------------

HPO = "http://purl.obolibrary.org/obo/hp.owl"


def _history_rows(assessment: Any) -> list[str]:
    return [u.reason for u in assessment.unused_inputs if u.reason.startswith("history entry")]


@pytest.mark.parametrize("extra", [{"abatementDateTime": "2024-06-01"},
                                   {"onsetDateTime": "2012-03-01"}],
                         ids=["abated", "onset-years-ago"])
def test_past_seizure_is_a_history_entry_that_never_raises_triage(extra):
    """An epilepsy Condition abated, or with onset years ago, enters the case as a history entry
    (current false); the assessment lists it and its triage is that of the case without it."""
    fasc = {"resourceType": "Observation", "id": "f", "status": "final",
            "code": {"coding": [{"system": HPO, "code": "HP:0002380"}]},
            "subject": {"reference": "Patient/p1"}, "valueBoolean": True,
            "effectiveDateTime": "2025-02-01"}
    without = case_from_fhir(bundle(patient(), fasc), on_date=ON)
    result = case_from_fhir(bundle(patient(), fasc, condition("84757009", **extra)), on_date=ON)
    (row,) = result.history
    assert row.id == "c"
    assert row.target == "findings[1]"
    assert result.report()["history"][0]["target"] == "findings[1]"
    assert result.case.to_dict()["findings"][1] == {
        "status": "present", "code": "SNOMEDCT:84757009", "current": False}
    assessed, baseline = assess(result.case), assess(without.case)
    assert assessed.triage.level == baseline.triage.level
    assert assessed.triage.level not in {"urgent", "emergency"}
    assert [r.text for r in assessed.triage.reasons] == [r.text for r in baseline.triage.reasons]
    (listed,) = _history_rows(assessed)
    assert "seizure" in listed
    assert not any(u.target == "findings[1]" for u in result.used)


def test_old_observation_finding_is_a_history_entry():
    """A coded Observation older than 90 days enters the case with current false and its
    status; an old lab stays out of the case and in the report."""
    obs = {"resourceType": "Observation", "id": "o", "status": "final",
           "code": {"coding": [{"system": HPO, "code": "HP:0001250"}]},
           "subject": {"reference": "Patient/p1"}, "valueBoolean": True,
           "effectiveDateTime": "2023-05-01"}
    result = case_from_fhir(bundle(patient(), obs, lab("2823-3", 2.9, "mmol/L",
                                                       when="2020-01-01")), on_date=ON)
    assert result.case.to_dict()["findings"] == [
        {"status": "present", "code": "HP:0001250", "current": False}]
    assert "labs" not in result.case.to_dict()
    assert [(h.id, h.target) for h in result.history] == [("o", "findings[0]"), ("l", "")]
    assert assess(result.case).triage.level not in {"urgent", "emergency"}


def test_repeated_history_entries_are_deduplicated():
    """Two history entries of one code (Case v1 allows one): the newest enters the case, the
    other stays in the report with the reason; a current entry of the same code is kept too."""
    old = condition("84757009", rid="old", clinical="resolved", recordedDate="2015-01-01")
    new = condition("84757009", rid="new", abatementDateTime="2020-01-01")
    now = condition("84757009", rid="now", onsetDateTime="2025-01-30")
    result = case_from_fhir(bundle(patient(), old, new, now), on_date=ON)
    findings = result.case.to_dict()["findings"]
    assert findings == [{"status": "present", "code": "SNOMEDCT:84757009"},
                        {"status": "present", "code": "SNOMEDCT:84757009", "current": False}]
    rows = {h.id: h for h in result.history}
    assert rows["new"].target == "findings[1]"
    assert rows["old"].target == ""
    assert "already history at $.entry[2].resource" in rows["old"].reason
    assert assess(result.case).triage.level == "emergency"  # from the current seizure only


def _weakness(rid: str = "w", **extra: Any) -> dict[str, Any]:
    return condition("26544005", rid=rid, **extra)


def test_recent_weakness_onset_sets_tempo_and_urgency():
    """Weakness with onset 3 days before on_date: weakness_onset_days 3, triage at least urgent,
    and the report says where the number came from."""
    result = case_from_fhir(bundle(patient(), _weakness(onsetDateTime="2025-01-31")),
                            on_date=ON)
    assert result.case.history.weakness_onset_days == 3
    assert any("weakness_onset_days = 3" in n and "$.entry[1].resource" in n
               for n in result.notes)
    assessed = assess(result.case)
    assert assessed.triage.level in {"urgent", "emergency"}
    derived = {d.finding: d.status for d in assessed.derived_findings}
    assert derived.get("acute_onset_weakness") == "present"


def test_old_weakness_onset_is_not_acute():
    """Weakness with onset 2 years ago: a long tempo, no acute-onset flag."""
    result = case_from_fhir(bundle(patient(), _weakness(onsetDateTime="2023-02-03")),
                            on_date=ON)
    assert result.case.history.weakness_onset_days == 731
    assessed = assess(result.case)
    derived = {d.finding: d.status for d in assessed.derived_findings}
    assert derived.get("acute_onset_weakness") != "present"
    assert not any("acute" in r.text.lower() and "weakness" in r.text.lower()
                   for r in assessed.triage.reasons)


def test_tempo_uses_the_earliest_current_weakness_onset():
    """The earliest onset among current weakness entries counts (recordedDate when no onset;
    an Observation's effective start); a future onset is noted and ignored; history entries
    and non-weakness findings do not count."""
    prox = {"resourceType": "Observation", "id": "p", "status": "final",
            "code": {"coding": [{"system": HPO, "code": "HP:0003701"}]},
            "subject": {"reference": "Patient/p1"}, "valueBoolean": True,
            "effectivePeriod": {"start": "2025-01-20", "end": "2025-02-01"}}
    data = bundle(patient(), prox, _weakness("late", recordedDate="2025-01-27"),
                  _weakness("future", onsetDateTime="2025-03-01"),
                  _weakness("gone", clinical="resolved", onsetDateTime="2000-01-01"),
                  condition("84757009", rid="s", onsetDateTime="2024-12-20"))
    result = case_from_fhir(data, on_date=ON)
    assert result.case.history.weakness_onset_days == 14
    assert any("2025-03-01" in n and "not used" in n for n in result.notes)
    assert any("Observation at $.entry[1].resource" in n for n in result.notes)


def test_caller_history_is_not_overridden():
    """A weakness_onset_days given by the caller is kept; other history fields are copied."""
    result = case_from_fhir(bundle(patient(), _weakness(onsetDateTime="2025-01-31")),
                            on_date=ON, history={"weakness_onset_days": 400, "painful": False})
    assert result.case.history.weakness_onset_days == 400
    assert result.case.history.painful is False
    assert not any("weakness_onset_days" in n for n in result.notes)


def test_weakness_without_dates_sets_no_tempo():
    """Undated weakness says nothing about its tempo: no weakness_onset_days."""
    result = case_from_fhir(bundle(patient(), _weakness()), on_date=ON)
    assert result.case.history.weakness_onset_days is None


def test_only_history_is_nothing_to_assess():
    """A record whose only usable entries are history has nothing to assess now."""
    with pytest.raises(NothingToAssessError):
        case_from_fhir(bundle(condition("84757009", abatementDateTime="2020-01-01")),
                       on_date=ON)


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


def test_synthea_history_entries_never_raise_triage():
    """Across the corpus: history entries now enter the cases (current false), and no record is
    triaged urgent or emergency; each triage equals that of the case without its history."""
    past = 0
    for path in CORPUS:
        data = json.loads(path.read_text(encoding="utf-8"))
        dates = [e["resource"].get("effectiveDateTime", "")[:10] for e in data["entry"]]
        result = case_from_fhir(data, on_date=date.fromisoformat(max(d for d in dates if d)))
        current = [f for f in result.case.findings if f.is_current]
        past += len(result.case.findings) - len(current)
        level = assess(result.case).triage.level
        assert level not in {"urgent", "emergency"}, path.stem
        assert level == assess(attrs.evolve(result.case, findings=current)).triage.level
    assert past > 0
