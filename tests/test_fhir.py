"""FHIR R4 import (Bundle -> Case) and export (Assessment -> Bundle), validated with R4B models."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fhir.resources")

from fhir.resources.R4B.bundle import Bundle

from twitchcds import assess
from twitchcds.errors import (
    InvalidCaseError,
    InvalidInputError,
    UnitConversionError,
)
from twitchcds.interop import MissingExtraError
from twitchcds.interop.fhir import assessment_to_fhir, case_from_fhir, subject_reference
from twitchcds.schemas import validate_assessment_dict, validate_case_dict

DATA = Path(__file__).parent / "data" / "fhir"
EXAMPLES = Path(__file__).parent.parent / "examples" / "fhir"
ON = date(2025, 2, 3)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
HPO = "http://purl.obolibrary.org/obo/hp.owl"
SCT = "http://snomed.info/sct"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "gender": "female",
            "birthDate": "1980-06-01", **extra}


def potassium(value: Any = 2.9, **qty: Any) -> dict[str, Any]:
    quantity = {"value": value, "unit": "mmol/L", "system": UCUM, "code": "mmol/L", **qty}
    return {"resourceType": "Observation", "id": "k", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "2823-3"}]},
            "subject": {"reference": "Patient/p1"}, "valueQuantity": quantity}


def finding(code: str = "HP:0002380", system: str = HPO, rid: str = "f", **value: Any,
            ) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": "Patient/p1"}, **(value or {"valueBoolean": True})}


def condition(code: str = "82470000", clinical: str | None = "active",
              verification: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Condition", "id": "c",
                           "code": {"coding": [{"system": SCT, "code": code}]},
                           "subject": {"reference": "Patient/p1"}}
    if clinical:
        out["clinicalStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": clinical}]}
    if verification:
        out["verificationStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": verification}]}
    return out


def bundle(*resources: Any, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources], **extra}


def test_ehr_export_reads_the_modelled_items():
    """An EHR-shaped export yields demographics, newest labs, coded findings and medications."""
    result = case_from_fhir(load(DATA / "ehr_export.json"), on_date=ON)
    case = result.case.to_dict()
    assert case["age"] == 63
    assert case["sex"] == "male"
    assert case["labs"][0] == {"loinc": "2823-3", "value": 2.9, "unit": "mmol/L"}
    assert {"loinc": "17861-6", "value": 9.4, "unit": "mg/dL"} in case["labs"]
    assert {"status": "absent", "code": "SNOMEDCT:26544005"} in case["findings"]
    assert {"status": "present", "code": "SNOMEDCT:55300003"} in case["findings"]
    assert [m.get("name") for m in case["medications"]] == ["omeprazole", "hydrochlorothiazide"]
    validate_case_dict(case)


def test_ehr_export_reports_every_skipped_resource():
    """Resources the knowledge base cannot use are listed with type, id and reason."""
    result = case_from_fhir(load(DATA / "ehr_export.json"), on_date=ON)
    reasons = {s.id: s.reason for s in result.skipped}
    assert reasons["prac-1"] == "Practitioner is not read"
    assert "resolved" in {h.id: h.reason for h in result.history}["c-back"]
    assert "superseded" in reasons["k-2024"]
    assert "no medication class" in reasons["mr-lis"]
    assert "stopped" in reasons["mr-old"]
    assert result.skipped_count == len(result.report()["skipped"]) == 12
    used = {u.id for u in result.used}
    assert {"k-2025", "na-2025", "fx-1", "c-cramps", "ms-omep", "mr-hctz"} <= used
    # vital signs: the systolic component of a blood pressure panel and a heart rate are read;
    # the diastolic component is not used
    assert {"bp-1", "hr-1"} <= used
    assert "8462-4" in reasons["bp-1"]


def test_imported_case_assesses_and_validates():
    """A case read from FHIR assesses, and its assessment matches the Assessment v1 schema."""
    result = case_from_fhir(load(DATA / "ehr_export.json"), on_date=ON)
    assessment = assess(result.case)
    assert assessment.differential[0].id == "hypokalemia"
    validate_assessment_dict(assessment.to_dict())


@pytest.mark.parametrize("path", [DATA / "ehr_export.json",
                                  *sorted(EXAMPLES.glob("*.json"))], ids=lambda p: p.name)
def test_r4_examples_round_trip_through_r4b_models(path):
    """Example bundles validate with the R4B models and serialise back to the same JSON."""
    data = load(path)
    again = json.loads(Bundle.model_validate(data).model_dump_json(exclude_none=True,
                                                                   by_alias=True))
    millis = re.compile(r"(\.[0-9]{3})000(?=[+-Z])")
    assert millis.sub(r"\1", json.dumps(again, sort_keys=True)) == json.dumps(data,
                                                                              sort_keys=True)


def test_assessment_to_fhir_is_a_valid_bundle():
    """The output Bundle holds one RiskAssessment with a prediction per condition and a
    ServiceRequest proposal per recommended test, and validates with the R4B models."""
    imported = case_from_fhir(load(EXAMPLES / "progressive_weakness_bundle.json"), on_date=ON)
    result = assess(imported.case)
    out = assessment_to_fhir(result, imported=imported)
    Bundle.model_validate(out)
    assert out["type"] == "collection"
    risk = out["entry"][0]["resource"]
    assert risk["resourceType"] == "RiskAssessment"
    assert risk["status"] == "final"
    assert risk["subject"] == {"reference": "Patient/pat-7f3c"}
    assert len(risk["prediction"]) == len(result.kb.conditions)
    als = next(p for p in risk["prediction"] if p["outcome"]["text"].startswith("Amyotrophic"))
    assert als["outcome"]["coding"] == [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                         "code": "G12.21"}]
    assert {"reference": "Observation/obs-fasc"} in risk["basis"]
    assert risk["note"][-1]["text"] == result.disclaimer
    requests = [e["resource"] for e in out["entry"][1:]]
    assert [r["code"]["text"] for r in requests if "requisition" not in r] == [
        t.name for t in result.tests if t.id != "electrolyte_panel"]
    assert all(r["intent"] == "proposal" and r["status"] == "draft" for r in requests)
    assert out == assessment_to_fhir(result, imported=imported)  # deterministic ids
    json.dumps(out, allow_nan=False)


def test_service_request_carries_loinc_code():
    """A recommended test with a LOINC code is proposed with that coding."""
    result = assess({"age": 30, "findings": [{"id": "palpitations", "status": "present"},
                                             {"id": "heat_intolerance", "status": "present"},
                                             {"id": "fasciculations", "status": "present"}]})
    out = assessment_to_fhir(result)
    codes = {c["code"] for e in out["entry"][1:] for c in e["resource"]["code"].get("coding", [])}
    assert "3016-3" in codes
    assert out["entry"][0]["resource"]["subject"] == {"display": "unidentified patient"}


VALID = [
    ("partial-birth-year", [patient(birthDate="1961")], {"age": 63, "sex": "female"}),
    ("unit-without-ucum-system", [potassium(system="http://example.org", code="x")],
     {"labs": [{"loinc": "2823-3", "value": 2.9, "unit": "mmol/L"}]}),
    ("hpo-jax-unprefixed", [finding("0002380", "https://hpo.jax.org/")],
     {"findings": [{"status": "present", "code": "HP:0002380"}]}),
    ("interpretation-neg", [finding(interpretation=[{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "code": "NEG"}]}])], {"findings": [{"status": "absent", "code": "HP:0002380"}]}),
    ("snomed-no-value", [finding("82470000", SCT, valueCodeableConcept={"coding": [
        {"system": SCT, "code": "373067005"}]})],
     {"findings": [{"status": "absent", "code": "SNOMEDCT:82470000"}]}),
    ("refuted-condition", [condition(clinical=None, verification="refuted")],
     {"findings": [{"status": "absent", "code": "SNOMEDCT:82470000"}]}),
    ("single-resource", potassium(),
     {"labs": [{"loinc": "2823-3", "value": 2.9, "unit": "mmol/L"}]}),
    ("atc-medication", [{"resourceType": "MedicationStatement", "id": "m", "status": "active",
                         "subject": {"reference": "Patient/p1"},
                         "medicationCodeableConcept": {"coding": [
                             {"system": "http://www.whocc.no/atc", "code": "A02BC01"}]}}],
     {"medications": [{"atc": "A02BC01"}]}),
]


@pytest.mark.parametrize(("payload", "expected"), [v[1:] for v in VALID],
                         ids=[v[0] for v in VALID])
def test_valid_variants_are_read(payload, expected):
    """Accepted spellings (partial dates, HPO systems, interpretations, single resources) read."""
    assert case_from_fhir(payload, on_date=ON).case.to_dict() == expected


def _with(resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


K = "$.entry[1].resource"
MALFORMED = [
    ("not-fhir", "a string", InvalidInputError, "$"),
    ("entry-not-array", {"resourceType": "Bundle", "type": "collection", "entry": {}},
     InvalidInputError, "$.entry"),
    ("bundle-without-type", {"resourceType": "Bundle", "entry": [{"resource": patient()}]},
     InvalidInputError, "$.type"),
    ("no-resource-type", bundle({"id": "x"}), InvalidInputError,
     "$.entry[0].resource.resourceType"),
    ("unknown-resource-type", bundle({"resourceType": "Patientt"}), InvalidInputError,
     "$.entry[0].resource.resourceType"),
    ("value-not-decimal", bundle(patient(), potassium("abc")), InvalidInputError,
     f"{K}.valueQuantity.value"),
    ("value-as-string", bundle(patient(), potassium("2.9")), InvalidInputError,
     f"{K}.valueQuantity.value"),
    ("no-unit", bundle(patient(), potassium(unit=None, code=None, system=None)),
     InvalidInputError, f"{K}.valueQuantity"),
    ("unconvertible-unit", bundle(patient(), potassium(code="kg")), UnitConversionError,
     f"{K}.valueQuantity.code"),
    ("implausible-value", bundle(patient(), potassium(45)), InvalidInputError,
     f"{K}.valueQuantity.value"),
    ("bad-gender", bundle(patient(gender="boy")), InvalidInputError,
     "$.entry[0].resource.gender"),
    ("bad-birth-date", bundle(patient(birthDate="1980-13-01")), InvalidInputError,
     "$.entry[0].resource.birthDate"),
    ("future-birth-date", bundle(patient(birthDate="2030-01-01")), InvalidInputError,
     "$.entry[0].resource.birthDate"),
    ("too-old", bundle(patient(birthDate="1850-01-01")), InvalidCaseError,
     "$.entry[0].resource.birthDate"),
    ("other-patient", bundle(patient(), _with(potassium(), subject={
        "reference": "Patient/p2"})), InvalidInputError, f"{K}.subject.reference"),
    ("second-patient", bundle(patient(), patient(id="p2")), InvalidInputError, K),
    ("observation-without-status", bundle(patient(), _with(potassium(), status=None)),
     InvalidInputError, f"{K}.status"),
    ("observation-without-code", bundle(patient(), _with(potassium(), code=None)),
     InvalidInputError, f"{K}.code"),
    ("value-boolean-string", bundle(patient(), finding(valueBoolean="yes")),
     InvalidInputError, f"{K}.valueBoolean"),
    ("bad-rxnorm", bundle(patient(), {
        "resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"coding": [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "abc"}]}}),
     InvalidInputError, f"{K}.medicationCodeableConcept.coding[0].code"),
    ("list-with-non-object", [patient(), 3], InvalidInputError, "$[1]"),
    ("nothing-usable", bundle({"resourceType": "Practitioner", "id": "x"}), InvalidInputError,
     "$"),
]


@pytest.mark.parametrize(("payload", "error", "path"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_fhir_is_an_error_at_its_path(payload, error, path):
    """A malformed resource raises the documented error class at its JSON path."""
    with pytest.raises(error) as info:
        case_from_fhir(payload, on_date=ON)
    assert info.value.path == path, str(info.value)


def test_missing_extra_names_the_install_command(monkeypatch):
    """Without fhir.resources the import fails with a MissingExtraError naming the extra."""
    monkeypatch.setitem(sys.modules, "fhir.resources.R4B", None)
    with pytest.raises(MissingExtraError, match=r'pip install "twitchcds\[fhir\]"'):
        case_from_fhir(potassium())


def test_import_twitchcds_loads_no_optional_dependency():
    """Importing twitchcds and twitchcds.interop imports no FHIR, web or protobuf package."""
    code = ("import sys, twitchcds, twitchcds.interop, twitchcds.schemas; "
            "print(sorted(m for m in ('fhir', 'starlette', 'uvicorn', 'google.protobuf', "
            "'phenopackets', 'jsonschema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code],  # noqa: S603  (fixed arguments)
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_assessment_to_fhir_method_matches_the_function():
    """``Assessment.to_fhir`` is the documented shortcut for ``assessment_to_fhir``; its Bundle
    validates against the R4B models."""
    case = Path(__file__).parent.parent / "examples" / "cases" / "als_progressive.json"
    result = assess(json.loads(case.read_text(encoding="utf-8")))
    bundle = result.to_fhir(subject="Patient/p1")
    assert bundle == assessment_to_fhir(result, subject="Patient/p1")
    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "RiskAssessment"
    panel = sum(t.id == "electrolyte_panel" for t in result.tests)
    assert kinds.count("ServiceRequest") == len(result.tests) + 2 * panel  # K, Mg, Ca


def _requests_by_code(bundle: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["system"], c["code"]): e["resource"] for e in bundle["entry"][1:]
            for c in e["resource"]["code"].get("coding", [])}


def test_service_requests_are_coded_with_system_uris():
    """MRI orders carry SNOMED CT, lab orders LOINC, each with its system URI; the electrolyte
    panel becomes one LOINC-coded ServiceRequest per analyte sharing one requisition; the
    Bundle validates against the R4B models."""
    # twitching with weakness is a red flag naming EMG, so EMG is listed whatever its cost
    result = assess({"age": 40, "findings": [{"id": f, "status": "present"} for f in (
        "optic_neuritis", "hyperreflexia", "fasciculations", "muscle_weakness")]})
    assert {"mri_brain", "mri_spine", "electrolyte_panel", "emg"} <= {t.id for t in result.tests}
    out = assessment_to_fhir(result, subject="Patient/p1")
    Bundle.model_validate(out)
    coded = _requests_by_code(out)
    assert {(SCT, "816077007"), (SCT, "241645008")} <= coded.keys()
    assert {(LOINC, "3016-3"), (LOINC, "2157-6"), (LOINC, "2132-9")} <= coded.keys()
    panel = [coded[(LOINC, code)] for code in ("2823-3", "2601-3", "2000-8")]
    assert len({json.dumps(r["requisition"]) for r in panel}) == 1
    assert all(len(r["code"]["coding"]) == 1 for r in panel)
    assert panel[0]["code"]["text"].startswith("Potassium")
    emg = next(e["resource"] for e in out["entry"][1:]
               if e["resource"]["code"]["text"].startswith("Needle electromyography"))
    assert "coding" not in emg["code"]  # no verified code: text only, never a guess
    ids = [e["resource"]["id"] for e in out["entry"]]
    assert len(set(ids)) == len(ids)
    requests = [e["resource"] for e in out["entry"][1:]]
    assert all(r["subject"] == {"reference": "Patient/p1"} for r in requests)
    assert out["entry"][0]["resource"]["subject"] == {"reference": "Patient/p1"}
    assert out == assessment_to_fhir(result, subject="Patient/p1")


@pytest.mark.parametrize("bad", ["p1", "Patient/", "Patient/a b", "Observation/p1",
                                 "Patient/" + "x" * 65, "http://ehr/Patient/1", "Patient/1/2"])
def test_bad_subject_is_an_error(bad):
    """A subject that is not Patient/<id> or Group/<id> with a valid FHIR id is refused."""
    result = assess({"age": 30, "findings": [{"id": "fasciculations", "status": "present"}]})
    with pytest.raises(InvalidInputError) as info:
        assessment_to_fhir(result, subject=bad)
    assert info.value.path == "subject"
    assert subject_reference("Group/g-1.2") == "Group/g-1.2"
