"""Hostile-input catalogue: every bad input raises a TwitchCDSError naming the path and the value.

Each row of ``INVALID`` is ``(id, payload, error class, path, shown)``: the payload goes end to end
(``twitchcds.assess`` for Case v1 dictionaries and JSON text, ``load_knowledge_base`` for an edited
copy of ``tests/data/mini_kb``, ``KnowledgeBase.from_node_link`` for node-link data, the interop
readers for FHIR, phenopackets and CDS Hooks), and must raise ``error class`` (a
:class:`~twitchcds.errors.TwitchCDSError` subclass) with a problem at ``path`` and ``shown`` (the
offending value, or the reason) in the message -- never another exception, never a result.
``VALID`` holds near neighbours that must pass. Syntactic Case-level rows live in
``tests/test_case.py``; the rows here go through the whole pipeline and across formats.

Documented input limits (``twitchcds._validate``; rows that probe each are named in brackets):

=====================================  ============================================================
Input                                  Limit
=====================================  ============================================================
Case JSON text                         at most 5,000,000 characters [json-too-long]; standard JSON
                                       (no NaN/Infinity [json-infinity], no repeated keys, nesting
                                       within the parser's recursion limit [json-deep])
Integers in JSON text                  at most 4300 digits (CPython's limit) [json-4301-digit-int]
Strings (ids, names, codes, units)     1-200 characters, no C0/C1 control characters, no lone
                                       surrogates [med-name-201-chars, id-lone-surrogate]
``findings``/``medications``/``labs``  at most 500 entries each [medications-501, labs-501]
``age``                                0-130 years
``history.duration_days``              0-36,500
``history.caffeine_mg_per_day``        0-5,000
``history.sleep_hours_per_night``      0-24
``history.alcohol_units_per_week``     0-500
Lab value                              finite; after unit conversion, within the analyte's
                                       plausible range in the knowledge base [potassium-50]
Lab unit                               UCUM spelling the registry knows, at most 40 characters,
                                       convertible to the analyte's unit [potassium-kg]
Knowledge-base numbers                 finite (TOML ``nan``/``inf`` refused) [kb-leak-nan];
                                       probabilities in the open interval (0, 1)
=====================================  ============================================================
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import twitchcds
from tests.conftest import copy_mini_kb, edit_text
from twitchcds import Case, KnowledgeBase, load_knowledge_base
from twitchcds.errors import (
    ContradictionError,
    InvalidCaseError,
    KnowledgeBaseError,
    TwitchCDSError,
    UnitConversionError,
    UnknownCodeError,
)

HOSTILE_DIR = Path(__file__).parent / "data" / "hostile"


# --- payload kinds ---------------------------------------------------------------------------


@attrs.frozen
class Json:
    """Case v1 JSON text: ``Case.from_json`` then ``assess``."""

    text: str


@attrs.frozen
class KbEdit:
    """A copy of the mini knowledge base with one text replacement (or new bytes) in one file."""

    file: str
    old: str = ""
    new: str = ""
    raw: bytes | None = None


@attrs.frozen
class NodeLink:
    """Node-link data for ``KnowledgeBase.from_node_link``."""

    data: Any


@attrs.frozen
class Fhir:
    """A FHIR R4 Bundle (or list of resources) for ``interop.fhir.case_from_fhir``."""

    bundle: Any


@attrs.frozen
class Phenopacket:
    """A GA4GH Phenopacket v2 object for ``interop.phenopackets.case_from_phenopacket``."""

    obj: Any


def _copy_kb(tmp_path: Path, edit: KbEdit) -> Path:
    target = copy_mini_kb(tmp_path)
    path = target / edit.file
    if edit.raw is not None:
        path.write_bytes(edit.raw)
    else:
        edit_text(path, edit.old, edit.new)
    return target


def _interop(module: str, name: str) -> Any:
    mod = pytest.importorskip(f"twitchcds.interop.{module}")
    if not hasattr(mod, name):
        pytest.skip(f"twitchcds.interop.{module}.{name} does not exist yet")
    return getattr(mod, name)


def _as_case(result: Any) -> Any:
    """Interop readers return an import result holding ``.case`` (and a report); keep the case."""
    return getattr(result, "case", result)


def _run(payload: Any, tmp_path: Path) -> Any:
    """Push one payload through the public entry point for its format."""
    if isinstance(payload, Json):
        return twitchcds.assess(Case.from_json(payload.text))
    if isinstance(payload, KbEdit):
        return load_knowledge_base(_copy_kb(tmp_path, payload))
    if isinstance(payload, NodeLink):
        return KnowledgeBase.from_node_link(payload.data)
    if isinstance(payload, Fhir):
        return twitchcds.assess(_as_case(_interop("fhir", "case_from_fhir")(payload.bundle)))
    if isinstance(payload, Phenopacket):
        reader = _interop("phenopackets", "case_from_phenopacket")
        return twitchcds.assess(_as_case(reader(payload.obj)))
    return twitchcds.assess(payload)


# --- builders --------------------------------------------------------------------------------

_P, _A = "present", "absent"
_FASC = {"id": "fasciculations", "status": _P}


def _lab(loinc: str = "2823-3", value: Any = 3.0, unit: Any = "mmol/L") -> dict[str, Any]:
    return {"loinc": loinc, "value": value, "unit": unit}


def _labs(*labs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"labs": list(labs), **extra}


def _meds(*meds: dict[str, Any]) -> dict[str, Any]:
    return {"medications": list(meds)}


def _findings(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"findings": list(items), **extra}


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


_DEEP = _deep_list(100_000)

_REF = {"id": "r", "kind": "reference", "title": "Example", "doi": "10.1/x"}
_FLU = {"id": "flu", "kind": "condition", "prior": {"primary-care": 0.1}, "references": ["r"]}
_FEVER = {"id": "fever", "kind": "finding", "leak": 0.01, "references": ["r"]}
_CAUSES = {"source": "flu", "target": "fever", "kind": "causes", "probability": 0.8,
           "references": ["r"]}


def _network(*, nodes: tuple[dict[str, Any], ...] = (), links: tuple[dict[str, Any], ...] = (),
             replace: dict[str, dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A minimal valid network, with nodes/links added and node or link fields replaced."""
    base = {"r": dict(_REF), "flu": dict(_FLU), "fever": dict(_FEVER)}
    link = dict(_CAUSES)
    for key, fields in (replace or {}).items():
        if key == "link":
            link.update(fields)
        else:
            base[key].update(fields)
    return {"nodes": [*base.values(), *nodes], "links": [link, *links], **extra}


_RED_FLAG = {"id": "flag", "kind": "red_flag", "text": "Fever", "level": "soon",
             "references": ["r"], "all_of": ["fever"]}

_PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-03-02"}
_K_OBS = {"resourceType": "Observation", "id": "k", "status": "final",
          "subject": {"reference": "Patient/p1"},
          "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
          "valueQuantity": {"value": 2.9, "unit": "mmol/L",
                            "system": "http://unitsofmeasure.org", "code": "mmol/L"}}
_F_OBS = {"resourceType": "Observation", "id": "f", "status": "final",
          "subject": {"reference": "Patient/p1"},
          "code": {"coding": [{"system": "http://purl.obolibrary.org/obo/hp.owl",
                               "code": "HP:0002380"}]}, "valueBoolean": True}


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def _with(resource: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**resource, **fields}


def _quantity(**fields: Any) -> dict[str, Any]:
    return {**_K_OBS, "valueQuantity": {**_K_OBS["valueQuantity"], **fields}}


_PHENOPACKET: dict[str, Any] = {
    "id": "pp1", "subject": {"id": "s1", "sex": "FEMALE",
                             "timeAtLastEncounter": {"age": {"iso8601duration": "P52Y"}}},
    "phenotypicFeatures": [{"type": {"id": "HP:0002380", "label": "Fasciculations"}},
                           {"type": {"id": "HP:0001324"}, "excluded": True}],
    "metaData": {"created": "2024-01-01T00:00:00Z", "createdBy": "test",
                 "phenopacketSchemaVersion": "2.0"}}


def _pp(**fields: Any) -> dict[str, Any]:
    return {**_PHENOPACKET, **fields}


def _pp_age(duration: str) -> dict[str, Any]:
    return _pp(subject={**_PHENOPACKET["subject"],
                        "timeAtLastEncounter": {"age": {"iso8601duration": duration}}})


_E1 = "$.entry[1].resource"
_LONG_JSON = '{"age": 30, "id": "' + "x" * 5_000_000 + '"}'


# --- the catalogue ---------------------------------------------------------------------------

INVALID: list[tuple[str, Any, type[TwitchCDSError], str, str]] = [
    # columns: id, payload, error class, path, shown in the message
    # -- Case v1 through assess: knowledge-base ids and codes ------------------------------------
    ("unknown-finding-id", _findings({"id": "no_such_finding", "status": _P}), UnknownCodeError,
     "$.findings[0].id", "'no_such_finding'"),
    ("age-risk-factor-as-finding", _findings({"id": "age_under_40", "status": _P}),
     UnknownCodeError, "$.findings[0].id", "'age_under_40'"),
    ("medication-risk-factor-as-finding", _findings({"id": "ppi_use", "status": _P}),
     UnknownCodeError, "$.findings[0].id", "'ppi_use'"),
    ("unknown-hpo-code", _findings({"code": "HP:9999999", "status": _P}), UnknownCodeError,
     "$.findings[0].code", "'HP:9999999'"),
    ("unknown-snomed-code", _findings({"code": "SNOMEDCT:999999999", "status": _A}),
     UnknownCodeError, "$.findings[0].code", "'SNOMEDCT:999999999'"),
    ("malformed-hpo-code", _findings({"code": "HP:12", "status": _P}), InvalidCaseError,
     "$.findings[0].code", "'HP:12'"),
    ("hpo-code-with-space", _findings({"code": "HP: 0002380", "status": _P}), InvalidCaseError,
     "$.findings[0].code", "'HP: 0002380'"),
    ("unknown-loinc", _labs(_lab(loinc="1234-5")), UnknownCodeError, "$.labs[0].loinc",
     "'1234-5'"),
    ("loinc-fullwidth-digits", _labs(_lab(loinc="\uff12\uff18\uff12\uff13-3")),
     InvalidCaseError, "$.labs[0].loinc", "LOINC"),
    ("every-unknown-listed", _findings({"id": "nope_a", "status": _P},
                                       {"id": "nope_b", "status": _A}),
     UnknownCodeError, "$.findings[1].id", "'nope_b'"),
    # -- labs: impossible and unconvertible units -------------------------------------------------
    ("potassium-kg", _labs(_lab(unit="kg")), UnitConversionError, "$.labs[0].unit", "'kg'"),
    ("potassium-amount-without-volume", _labs(_lab(unit="mmol")), UnitConversionError,
     "$.labs[0].unit", "'mmol'"),
    ("potassium-international-units", _labs(_lab(unit="[IU]/L")), UnitConversionError,
     "$.labs[0].unit", "'[IU]/L'"),
    ("potassium-percent", _labs(_lab(unit="%")), UnitConversionError, "$.labs[0].unit", "'%'"),
    ("potassium-enzyme-units", _labs(_lab(unit="U/L")), UnitConversionError, "$.labs[0].unit",
     "'U/L'"),
    ("tsh-in-mmol", _labs(_lab("3016-3", 2.0, "mmol/L")), UnitConversionError,
     "$.labs[0].unit", "'mmol/L'"),
    ("hba1c-ifcc-units", _labs(_lab("4548-4", 48, "mmol/mol")), UnitConversionError,
     "$.labs[0].unit", "'mmol/mol'"),
    ("unit-uppercase-variant", _labs(_lab(unit="MMOL/L")), InvalidCaseError, "$.labs[0].unit",
     "'MMOL/L'"),
    ("unit-words", _labs(_lab(unit="millimoles per litre")), InvalidCaseError,
     "$.labs[0].unit", "'millimoles per litre'"),
    ("unit-leading-space", _labs(_lab(unit=" mmol/L")), InvalidCaseError, "$.labs[0].unit",
     "' mmol/L'"),
    ("unit-ideographic-space", _labs(_lab(unit="mmol/L\u3000")), InvalidCaseError,
     "$.labs[0].unit", "mmol/L"),
    ("unit-katal-unknown", _labs(_lab("2157-6", 1.0, "ukat/L")), InvalidCaseError,
     "$.labs[0].unit", "'ukat/L'"),
    ("unit-41-chars", _labs(_lab(unit="m" * 38 + "/L")), InvalidCaseError, "$.labs[0].unit",
     "mmm"),
    # -- labs: implausible numbers ----------------------------------------------------------------
    ("potassium-50", _labs(_lab(value=50)), InvalidCaseError, "$.labs[0].value", "50"),
    ("potassium-negative", _labs(_lab(value=-1.0)), InvalidCaseError, "$.labs[0].value",
     "-1"),
    ("potassium-zero", _labs(_lab(value=0)), InvalidCaseError, "$.labs[0].value", "got 0"),
    ("potassium-1e308", _labs(_lab(value=1e308)), InvalidCaseError, "$.labs[0].value",
     "1e+308"),
    ("potassium-1e308-mg-per-dl", _labs(_lab(value=1e308, unit="mg/dL")), InvalidCaseError,
     "$.labs[0].value", "1e+308"),
    ("potassium-subnormal-kg-per-l", _labs(_lab(value=5e-324, unit="kg/L")), InvalidCaseError,
     "$.labs[0].value", "5e-324"),
    ("potassium-per-microlitre", _labs(_lab(unit="mmol/uL")), InvalidCaseError,
     "$.labs[0].value", "3e+06"),
    ("lab-value-huge-int", _labs(_lab(value=10**400)), InvalidCaseError, "$.labs[0].value",
     "finite"),
    ("lab-value-infinity", _labs(_lab(value=math.inf)), InvalidCaseError, "$.labs[0].value",
     "inf"),
    ("lab-value-minus-infinity", _labs(_lab(value=-math.inf)), InvalidCaseError,
     "$.labs[0].value", "-inf"),
    ("lab-value-numpy-nan", _labs(_lab(value=np.float64("nan"))), InvalidCaseError,
     "$.labs[0].value", "nan"),
    ("lab-value-decimal", _labs(_lab(value=Decimal("3.0"))), InvalidCaseError,
     "$.labs[0].value", "Decimal"),
    ("ck-negative", _labs(_lab("2157-6", -5, "U/L")), InvalidCaseError, "$.labs[0].value",
     "-5"),
    ("magnesium-50-mg-per-dl", _labs(_lab("19123-9", 50, "mg/dL")), InvalidCaseError,
     "$.labs[0].value", "50"),
    # -- contradictions through findings, codes, history and labs ---------------------------------
    ("absent-finding-but-low-lab",
     _labs(_lab(value=2.9), findings=[{"id": "low_potassium", "status": _A}]),
     ContradictionError, "$.labs[0]", "low_potassium"),
    ("present-finding-but-normal-lab",
     _labs(_lab(value=4.2), findings=[{"id": "low_potassium", "status": _P}]),
     ContradictionError, "$.labs[0]", "low_potassium"),
    ("two-potassium-results-disagree", _labs(_lab(value=2.9), _lab(value=4.2)),
     ContradictionError, "$.labs[1]", "low_potassium"),
    ("two-calcium-loincs-disagree", _labs(_lab("2000-8", 1.8), _lab("17861-6", 9.5, "mg/dL")),
     ContradictionError, "$.labs[1]", "low_calcium"),
    ("caffeine-history-vs-absent-finding",
     _findings({"id": "high_caffeine_intake", "status": _A}, history={"caffeine_mg_per_day": 600}),
     ContradictionError, "$.history.caffeine_mg_per_day", "high_caffeine_intake"),
    ("progressive-false-vs-present-finding",
     _findings({"id": "progressive_symptoms", "status": _P}, history={"progressive": False}),
     ContradictionError, "$.history.progressive", "progressive_symptoms"),
    ("sleep-history-vs-absent-finding",
     _findings({"id": "short_sleep", "status": _A}, history={"sleep_hours_per_night": 4}),
     ContradictionError, "$.history.sleep_hours_per_night", "short_sleep"),
    ("focal-distribution-vs-absent-finding",
     _findings({"id": "focal_twitching", "status": _A}, history={"distribution": "focal"}),
     ContradictionError, "$.history.distribution", "focal_twitching"),
    ("id-present-code-absent", _findings(_FASC, {"code": "HP:0002380", "status": _A}),
     ContradictionError, "$.findings[1].code", "fasciculations"),
    ("snomed-present-hpo-absent", _findings({"code": "SNOMEDCT:82470000", "status": _P},
                                            {"code": "HP:0002380", "status": _A}),
     ContradictionError, "$.findings[1].code", "fasciculations"),
    ("absent-ancestor-present-descendant",
     _findings({"code": "HP:0001324", "status": _A}, {"id": "proximal_weakness", "status": _P}),
     ContradictionError, "$.findings[1].id", "proximal_weakness"),
    ("absent-root-term-present-finding", _findings({"code": "HP:0000001", "status": _A}, _FASC),
     ContradictionError, "$.findings[1].id", "fasciculations"),
    ("comorbidity-present-and-absent", _findings({"id": "diabetes", "status": _P},
                                                 {"id": "diabetes", "status": _A}),
     ContradictionError, "$.findings[1].status", "'diabetes'"),
    ("mixed-problems-raise-invalid-case",
     _labs(_lab(unit="kg"), findings=[{"id": "no_such_finding", "status": _P}]),
     InvalidCaseError, "$.labs[0].unit", "'kg'"),
    # -- Case v1 through assess: types, sizes, characters ----------------------------------------
    ("case-is-json-text-string", '{"age": 30}', InvalidCaseError, "$", "'{\"age\": 30}'"),
    ("case-is-bytes", b'{"age": 30}', InvalidCaseError, "$", "b'"),
    ("case-is-list-of-pairs", [("age", 30)], InvalidCaseError, "$", "[('age', 30)]"),
    ("case-is-none", None, InvalidCaseError, "$", "None"),
    ("case-empty-lists", {"findings": [], "medications": [], "labs": []}, InvalidCaseError, "$",
     "must say something"),
    ("age-numpy-int", {"age": np.int64(44)}, InvalidCaseError, "$.age", "44"),
    ("age-decimal", {"age": Decimal("44")}, InvalidCaseError, "$.age", "Decimal('44')"),
    ("age-complex", {"age": 44j}, InvalidCaseError, "$.age", "44j"),
    ("age-deeply-nested", {"age": _DEEP}, InvalidCaseError, "$.age", "nested too deeply"),
    ("finding-deeply-nested", {"findings": [_DEEP]}, InvalidCaseError, "$.findings[0]",
     "nested too deeply"),
    ("sex-bool", {"sex": True}, InvalidCaseError, "$.sex", "True"),
    ("setting-title-case", {"age": 30, "setting": "Primary-Care"}, InvalidCaseError,
     "$.setting", "'Primary-Care'"),
    ("status-null", _findings({"id": "fasciculations", "status": None}), InvalidCaseError,
     "$.findings[0].status", "None"),
    ("duplicate-by-code", _findings({"code": "HP:0002380", "status": _P},
                                    {"code": "HP:0002380", "status": _P}),
     InvalidCaseError, "$.findings[1]", "'HP:0002380'"),
    ("id-lone-surrogate", {"age": 30, "id": "case\ud800"}, InvalidCaseError, "$.id",
     "\\ud800"),
    ("key-with-newline", {"age": 30, "a\nb": 1}, InvalidCaseError, '$["a\\nb"]', "'a\\nb'"),
    ("med-name-c1-control", _meds({"name": "omeprazole\x85"}), InvalidCaseError,
     "$.medications[0].name", "\\x85"),
    ("med-name-nul", _meds({"name": "\x00"}), InvalidCaseError, "$.medications[0].name",
     "\\x00"),
    ("med-name-201-chars", _meds({"name": "x" * 201}), InvalidCaseError,
     "$.medications[0].name", "xxx"),
    ("med-name-null", _meds({"name": None}), InvalidCaseError, "$.medications[0].name", "None"),
    ("med-rxnorm-13-digits", _meds({"rxnorm": "1" * 13}), InvalidCaseError,
     "$.medications[0].rxnorm", "'1111111111111'"),
    ("med-atc-too-long", _meds({"atc": "A02BC01X"}), InvalidCaseError, "$.medications[0].atc",
     "'A02BC01X'"),
    ("med-name-list", _meds({"name": ["omeprazole"]}), InvalidCaseError,
     "$.medications[0].name", "['omeprazole']"),
    ("medications-501", {"medications": [{"name": "omeprazole"}] * 501}, InvalidCaseError,
     "$.medications", "501"),
    ("labs-501", {"labs": [_lab()] * 501}, InvalidCaseError, "$.labs", "501"),
    ("history-nested-object", {"history": {"progressive": {"value": True}}}, InvalidCaseError,
     "$.history.progressive", "{'value': True}"),
    ("history-caffeine-nan", {"history": {"caffeine_mg_per_day": math.nan}}, InvalidCaseError,
     "$.history.caffeine_mg_per_day", "nan"),
    ("history-duration-infinity", {"history": {"duration_days": math.inf}}, InvalidCaseError,
     "$.history.duration_days", "inf"),
    ("history-duration-huge-int", {"history": {"duration_days": 10**400}}, InvalidCaseError,
     "$.history.duration_days", "finite"),
    ("history-sleep-bool", {"history": {"sleep_hours_per_night": False}}, InvalidCaseError,
     "$.history.sleep_hours_per_night", "False"),
    ("history-alcohol-501", {"history": {"alcohol_units_per_week": 501}}, InvalidCaseError,
     "$.history.alcohol_units_per_week", "501"),
    # -- Case v1 JSON text through from_json and assess ------------------------------------------
    ("json-infinity", Json('{"age": Infinity}'), InvalidCaseError, "$.age", "Infinity"),
    ("json-1e400-overflows", Json('{"labs": [{"loinc": "2823-3", "value": 1e400, '
                                  '"unit": "mmol/L"}]}'), InvalidCaseError, "$.labs[0].value",
     "inf"),
    ("json-deep", Json("[" * 100_000 + "]" * 100_000), InvalidCaseError, "$",
     "nested too deeply"),
    ("json-4301-digit-int", Json('{"age": 1' + "0" * 4300 + "}"), InvalidCaseError, "$",
     "4300"),
    ("json-too-long", Json(_LONG_JSON), InvalidCaseError, "$", "5000000"),
    ("json-repeated-lab-key", Json('{"labs": [{"loinc": "2823-3", "loinc": "2601-3", '
                                   '"value": 3, "unit": "mmol/L"}]}'),
     InvalidCaseError, "$.labs[0].loinc", "'2601-3'"),
    ("json-lone-surrogate-escape", Json('{"age": 30, "id": "\\ud800"}'), InvalidCaseError,
     "$.id", "\\ud800"),
    ("json-empty-file-says-empty", Json(" \n"), InvalidCaseError, "$", "empty JSON text"),
    ("json-trailing-garbage", Json('{"age": 30} x'), InvalidCaseError, "$", "line 1 column 13"),
    ("json-single-quotes", Json("{'age': 30}"), InvalidCaseError, "$", "line 1 column 2"),
    ("json-unknown-loinc", Json('{"labs": [{"loinc": "99999-9", "value": 1, "unit": "g/L"}]}'),
     UnknownCodeError, "$.labs[0].loinc", "'99999-9'"),
    # -- FHIR R4 (interop.fhir.case_from_fhir, then assess) -------------------------------------
    ("fhir-none", Fhir(None), twitchcds.InvalidInputError, "$", "NoneType"),
    ("fhir-entry-string", Fhir({"resourceType": "Bundle", "type": "collection", "entry": "x"}),
     twitchcds.InvalidInputError, "$.entry", "'x'"),
    ("fhir-resource-without-type", Fhir(_bundle({"id": "x"})), twitchcds.InvalidInputError,
     "$.entry[0].resource.resourceType", "None"),
    ("fhir-gender-uppercase", Fhir(_bundle(_with(_PATIENT, gender="FEMALE"))),
     twitchcds.InvalidInputError, "$.entry[0].resource.gender", "'FEMALE'"),
    ("fhir-birthdate-impossible", Fhir(_bundle(_with(_PATIENT, birthDate="1970-13-45"))),
     twitchcds.InvalidInputError, "$.entry[0].resource.birthDate", "'1970-13-45'"),
    ("fhir-value-string", Fhir(_bundle(_PATIENT, _quantity(value="2.9"))),
     twitchcds.InvalidInputError, f"{_E1}.valueQuantity.value", "'2.9'"),
    ("fhir-value-nan", Fhir(_bundle(_PATIENT, _quantity(value=math.nan))),
     twitchcds.InvalidInputError, f"{_E1}.valueQuantity.value", "nan"),
    ("fhir-value-bool", Fhir(_bundle(_PATIENT, _quantity(value=True))),
     twitchcds.InvalidInputError, f"{_E1}.valueQuantity.value", "True"),
    ("fhir-potassium-implausible", Fhir(_bundle(_PATIENT, _quantity(value=1e308))),
     twitchcds.InvalidInputError, f"{_E1}.valueQuantity.value", "1e+308"),
    ("fhir-potassium-kg", Fhir(_bundle(_PATIENT, _quantity(unit="kg", code="kg"))),
     UnitConversionError, f"{_E1}.valueQuantity.code", "'kg'"),
    ("fhir-value-boolean-string", Fhir(_bundle(_PATIENT, _with(_F_OBS, valueBoolean="true"))),
     twitchcds.InvalidInputError, f"{_E1}.valueBoolean", "'true'"),
    # (two FHIR sources that disagree are a reported conflict, not an error: DESIGN 6a,
    # tests/test_records.py)
    ("fhir-other-patient", Fhir(_bundle(_PATIENT, _with(_F_OBS, subject={
        "reference": "Patient/other"}))), twitchcds.InvalidInputError,
     f"{_E1}.subject.reference", "'Patient/other'"),
    # -- phenopackets v2 (interop.phenopackets.case_from_phenopacket, then assess) --------------
    ("phenopacket-list", Phenopacket([_PHENOPACKET]), twitchcds.InvalidInputError, "$", "list"),
    ("phenopacket-sex-lowercase", Phenopacket(_pp(subject={**_PHENOPACKET["subject"],
                                                           "sex": "female"})),
     twitchcds.InvalidInputError, "$.subject.sex", "'female'"),
    ("phenopacket-age-words", Phenopacket(_pp_age("52 years")), twitchcds.InvalidInputError,
     "$.subject.timeAtLastEncounter.age.iso8601duration", "'52 years'"),
    ("phenopacket-age-500-years", Phenopacket(_pp_age("P500Y")), InvalidCaseError,
     "$.subject.timeAtLastEncounter.age.iso8601duration", "500"),
    ("phenopacket-excluded-string",
     Phenopacket(_pp(phenotypicFeatures=[{"type": {"id": "HP:0002380"}, "excluded": "true"}])),
     twitchcds.InvalidInputError, "$.phenotypicFeatures[0].excluded", "'true'"),
    ("phenopacket-unknown-field", Phenopacket(_pp(foo=1)), twitchcds.InvalidInputError, "$.foo",
     "unknown field"),
    # -- knowledge-base files (a copy of tests/data/mini_kb with one edit) ----------------------
    ("kb-leak-bool", KbEdit("findings.toml", "leak = 0.05", "leak = true"), KnowledgeBaseError,
     "findings.toml:findings.twitching", "True"),
    ("kb-leak-nan", KbEdit("findings.toml", "leak = 0.05", "leak = nan"), KnowledgeBaseError,
     "findings.toml:findings.twitching", "nan"),
    ("kb-leak-inf", KbEdit("findings.toml", "leak = 0.05", "leak = inf"), KnowledgeBaseError,
     "findings.toml:findings.twitching", "inf"),
    ("kb-prior-string", KbEdit("conditions.toml", "primary-care = 0.5", 'primary-care = "0.5"'),
     KnowledgeBaseError, "conditions.toml:conditions.benign_twitch", "'0.5'"),
    ("kb-link-negative", KbEdit("links.toml", "probability = 0.9", "probability = -0.1"),
     KnowledgeBaseError, "links.toml:links.benign_twitch.twitching", "-0.1"),
    ("kb-odds-ratio-zero", KbEdit("risk_factors.toml", "odds_ratio = 3.0", "odds_ratio = 0"),
     KnowledgeBaseError, "risk_factors.toml:risk_factors.age_over_60", "0"),
    ("kb-cost-list", KbEdit("tests.toml", "cost = 10", "cost = [10]"), KnowledgeBaseError,
     "tests.toml:tests.emg", "[10]"),
    ("kb-year-float", KbEdit("references.toml", "year = 2020", "year = 2020.5"),
     KnowledgeBaseError, "references.toml:references.test_source", "2020.5"),
    ("kb-references-bare-string",
     KbEdit("links.toml", 'probability = 0.9, references = ["test_expert"]',
            'probability = 0.9, references = "test_expert"'),
     KnowledgeBaseError, "links.toml:links.benign_twitch.twitching", "'test_expert'"),
    ("kb-id-not-snake-case", KbEdit("tests.toml", "[tests.emg]", "[tests.EMG]"),
     KnowledgeBaseError, "tests.toml:tests.EMG", "'EMG'"),
    ("kb-unknown-key-in-red-flag", KbEdit("red_flags.toml", 'level = "soon"',
                                          'level = "soon"\ncolour = "red"'),
     KnowledgeBaseError, "red_flags.toml:red_flags.weakness_with_twitching", "colour"),
    ("kb-band-threshold-nan", KbEdit("derivations.toml", "below = 3.5", "below = nan"),
     KnowledgeBaseError, "derivations.toml:labs.potassium.bands[0]", "nan"),
    ("kb-history-rule-table", KbEdit("derivations.toml", "[[history]]", "[history]"),
     KnowledgeBaseError, "derivations.toml:history", "[[history]]"),
    ("kb-malformed-finding-code", KbEdit("findings.toml", 'codes = ["HP:0002380"]',
                                         'codes = ["HP:12"]'),
     KnowledgeBaseError, "findings.toml:findings.twitching.codes", "'HP:12'"),
    ("kb-malformed-hpo-map-term", KbEdit("hpo_map.tsv", raw=b"# release: t\nHP:12\tpresent\t"
                                         b"weakness\n"),
     KnowledgeBaseError, "hpo_map.tsv:HP:12", "'HP:12'"),
    ("kb-hpo-map-not-utf8", KbEdit("hpo_map.tsv", raw=b"HP:0003484\tpresent\tweak\xffness\n"),
     KnowledgeBaseError, "hpo_map.tsv", "0xff"),
    ("kb-toml-not-utf8", KbEdit("findings.toml", raw=b'[findings.twitching]\nname = "\xff"\n'),
     KnowledgeBaseError, "findings.toml", "0xff"),
    ("kb-toml-nested-too-deeply", KbEdit("meta.toml", 'version = "test-1"',
                                         'version = "test-1"\nx = ' + "[" * 5000 + "]" * 5000),
     KnowledgeBaseError, "meta.toml", "nested too deeply"),
    ("kb-decision-missing", KbEdit("meta.toml", "[decision]", "[decisions]"),
     KnowledgeBaseError, "meta.toml:decision", "required"),
    # -- node-link networks -------------------------------------------------------------------
    ("nodelink-not-object", NodeLink([1, 2]), KnowledgeBaseError, "$.nodes", "'nodes'"),
    ("nodelink-node-int", NodeLink(_network(nodes=({"x": 1}, ))), KnowledgeBaseError,
     "$.nodes[3]", "None"),
    ("nodelink-prior-nan", NodeLink(_network(replace={"flu": {"prior": {"primary-care":
                                                                         math.nan}}})),
     KnowledgeBaseError, "$.nodes[1]", "nan"),
    ("nodelink-link-probability-one", NodeLink(_network(replace={"link": {"probability": 1.0}})),
     KnowledgeBaseError, "$.links[0]", "1.0"),
    ("nodelink-link-probability-string",
     NodeLink(_network(replace={"link": {"probability": "0.8"}})),
     KnowledgeBaseError, "$.links[0]", "'0.8'"),
    ("nodelink-hpo-map-list", NodeLink(_network(graph={"hpo_present": ["HP:0000001"]})),
     KnowledgeBaseError, "$.graph", "HPO map"),
    ("nodelink-condition-id-reused-as-finding",
     NodeLink(_network(nodes=({"id": "flu", "kind": "finding", "leak": 0.1,
                               "references": ["r"]},))),
     KnowledgeBaseError, "findings.toml:flu", "unique"),
    ("nodelink-link-from-finding",
     NodeLink(_network(links=({"source": "fever", "target": "flu", "probability": 0.5,
                                "references": ["r"]},))),
     KnowledgeBaseError, "links.toml:links.fever.flu", "'fever'"),
    ("nodelink-unknown-reference", NodeLink(_network(replace={"link": {"references": ["nope"]}})),
     KnowledgeBaseError, "links.toml:links.flu.fever", "'nope'"),
    ("nodelink-red-flag-unknown-test",
     NodeLink(_network(nodes=({**_RED_FLAG, "tests": ["pet_scan"]},))),
     KnowledgeBaseError, "red_flags.toml:red_flags.flag.tests", "'pet_scan'"),
]


@pytest.mark.parametrize(("payload", "error", "path", "shown"),
                         [row[1:] for row in INVALID], ids=[row[0] for row in INVALID])
def test_hostile_input_raises_named_error(tmp_path: Path, payload: Any,
                                          error: type[TwitchCDSError], path: str,
                                          shown: str) -> None:
    """A hostile input raises the expected TwitchCDSError naming the field path and the value."""
    with pytest.raises(TwitchCDSError) as info:
        _run(payload, tmp_path)
    err = info.value
    assert type(err) is error, f"{type(err).__name__}: {err}"
    paths = [p.path for p in err.problems]
    prefix = isinstance(payload, KbEdit | NodeLink)
    hits = [p for p in err.problems if p.path == path or (prefix and p.path.startswith(path))]
    assert hits, f"no problem at {path!r}; got {paths}"
    message = str(err)
    assert hits[0].path in message
    assert shown in message, message[:300]


def test_catalogue_is_large_and_ids_are_unique() -> None:
    """The catalogue keeps at least 60 rows, each with a unique readable id."""
    ids = [row[0] for row in INVALID]
    assert len(ids) >= 60
    assert len(set(ids)) == len(ids)


# --- the twin table of near neighbours that must pass ----------------------------------------

VALID: list[tuple[str, Any]] = [
    # columns: id, payload
    ("known-finding-id", _findings(_FASC)),
    ("comorbidity-id-as-finding", _findings({"id": "diabetes", "status": _P})),
    ("comorbidity-absent-is-accepted", _findings({"id": "diabetes", "status": _A})),
    ("known-hpo-code", _findings({"code": "HP:0002380", "status": _P})),
    ("known-snomed-code", _findings({"code": "SNOMEDCT:82470000", "status": _P})),
    ("hpo-descendant-present", _findings({"code": "HP:0002455", "status": _P})),
    ("absent-descendant-is-unused", _findings({"code": "HP:0002455", "status": _A}, _FASC)),
    ("same-finding-by-id-and-code-same-status",
     _findings(_FASC, {"code": "HP:0002380", "status": _P})),
    ("snomed-and-hpo-agree", _findings({"code": "SNOMEDCT:82470000", "status": _P},
                                       {"code": "HP:0002380", "status": _P})),
    ("potassium-mmol-per-l", _labs(_lab())),
    ("potassium-lowercase-litre", _labs(_lab(unit="mmol/l"))),
    ("potassium-meq", _labs(_lab(unit="mEq/L"))),
    ("potassium-meq-lowercase", _labs(_lab(unit="meq/L"))),
    ("potassium-ucum-exponent", _labs(_lab(unit="mmol.L-1"))),
    ("potassium-mg-per-dl", _labs(_lab(value=14.0, unit="mg/dL"))),
    ("potassium-micro-sign", _labs(_lab(value=3000, unit="\u00b5mol/L"))),
    ("potassium-at-plausible-minimum", _labs(_lab(value=1.0))),
    ("potassium-at-plausible-maximum", _labs(_lab(value=12.0))),
    ("tsh-milli-iu", _labs(_lab("3016-3", 2.0, "mIU/L"))),
    ("b12-pmol", _labs(_lab("2132-9", 300, "pmol/L"))),
    ("hba1c-percent", _labs(_lab("4548-4", 5.4, "%"))),
    ("two-potassium-results-agree", _labs(_lab(value=2.9), _lab(value=3.1))),
    ("two-calcium-loincs-agree", _labs(_lab("2000-8", 2.3), _lab("17861-6", 9.2, "mg/dL"))),
    ("absent-finding-and-normal-lab",
     _labs(_lab(value=4.2), findings=[{"id": "low_potassium", "status": _A}])),
    ("present-finding-and-low-lab",
     _labs(_lab(value=2.9), findings=[{"id": "low_potassium", "status": _P}])),
    ("caffeine-history-and-present-finding",
     _findings({"id": "high_caffeine_intake", "status": _P}, history={"caffeine_mg_per_day": 600})),
    ("history-at-upper-bounds", {"history": {"duration_days": 36_500, "caffeine_mg_per_day": 5000,
                                             "sleep_hours_per_night": 24,
                                             "alcohol_units_per_week": 500}}),
    ("every-finding-absent", {"findings": [{"id": f.id, "status": _A}
                                           for f in load_knowledge_base().findings]}),
    ("unknown-medication-is-unused", _meds({"name": "zz-unknown-drug"})),
    ("medication-500", {"medications": [{"name": "omeprazole"}] * 500}),
    ("medication-name-200-chars", _meds({"name": "x" * 200})),
    ("medication-name-unicode", _meds({"name": "\u00e9som\u00e9prazole \u6c34"})),
    ("age-numpy-float", {"age": np.float64(44.0)}),
    ("case-id-emoji", {"age": 30, "id": "case-\U0001f600"}),
    ("json-escaped-pair", Json('{"age": 30, "id": "\\ud83d\\ude00"}')),
    ("json-1e308", Json('{"labs": [{"loinc": "2823-3", "value": 3e0, "unit": "mmol/L"}]}')),
    ("kb-probability-near-one", KbEdit("links.toml", "probability = 0.9",
                                       "probability = 0.999999")),
    ("kb-leak-tiny", KbEdit("findings.toml", "leak = 0.05", "leak = 1e-9")),
    ("kb-comment-added", KbEdit("findings.toml", "[findings.twitching]",
                                "# a comment\n[findings.twitching]")),
    ("fhir-bundle", Fhir(_bundle(_PATIENT, _K_OBS, _F_OBS))),
    ("fhir-unplaceable-code-is-skipped", Fhir(_bundle(_PATIENT, _with(_F_OBS, code={
        "coding": [{"system": "http://snomed.info/sct", "code": "22298006"}]})))),
    ("fhir-list-of-resources", Fhir([_PATIENT, _K_OBS])),
    ("phenopacket", Phenopacket(_PHENOPACKET)),
    ("nodelink-minimal", NodeLink(_network())),
    ("nodelink-red-flag-known-finding", NodeLink(_network(nodes=(_RED_FLAG,)))),
]


@pytest.mark.parametrize("payload", [row[1] for row in VALID], ids=[row[0] for row in VALID])
def test_near_neighbour_passes(tmp_path: Path, payload: Any) -> None:
    """A valid payload next to a hostile one passes through the same entry point."""
    result = _run(payload, tmp_path)
    if isinstance(result, twitchcds.Assessment):
        assert all(0.0 <= row.probability <= 1.0 for row in result.differential)
        result.to_json()  # JSON without NaN, encodable
        result.to_json().encode("utf-8")
    else:
        assert isinstance(result, KnowledgeBase)


# --- fixture files ---------------------------------------------------------------------------


HOSTILE_FILES = sorted(p.name for p in HOSTILE_DIR.glob("*.json"))


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_hostile_fixture_file_raises(name: str) -> None:
    """Every fixture under tests/data/hostile raises a TwitchCDSError when read as a case file."""
    with pytest.raises(TwitchCDSError) as info:
        twitchcds.assess(Case.from_json(HOSTILE_DIR / name))
    assert info.value.problems[0].path.startswith("$")


# --- the command line ------------------------------------------------------------------------


def _cli_inputs(tmp_path: Path) -> dict[str, str]:
    """Hostile CLI arguments: every fixture file, a directory, a missing file."""
    inputs = {name: str(HOSTILE_DIR / name) for name in HOSTILE_FILES}
    directory = tmp_path / "case.json"
    directory.mkdir()
    inputs["a-directory"] = str(directory)
    inputs["missing-file"] = str(tmp_path / "missing.json")
    return inputs


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """``twitchcds assess`` on any hostile file exits 2 with one stderr line and no traceback."""
    from twitchcds.cli import main

    for name, argument in _cli_inputs(tmp_path).items():
        for fmt in ("text", "json"):
            code = main(["assess", argument, "--format", fmt])
            out, err = capsys.readouterr()
            assert code == 2, (name, out, err)
            assert out == "", name
            assert err.count("\n") == 1, (name, err)
            assert err.startswith("twitchcds: "), (name, err)
            assert "Traceback" not in err


def test_cli_subprocess_bad_input_exits_2(tmp_path: Path) -> None:
    """``python -m twitchcds assess`` exits 2 with exactly one stderr line in a real process."""
    names = ["not_utf8.json", "empty.json", "lone_surrogate_id.json"]
    arguments = [str(HOSTILE_DIR / name) for name in names]
    directory = tmp_path / "dir.json"
    directory.mkdir()
    arguments += [str(directory), "-"]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    procs = [(argument, subprocess.Popen(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-m", "twitchcds", "assess", argument, "--format", "json"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)) for argument in arguments]
    stdin_text = '{"age": 30, "findings": [{"id": "nope", "status": "present"}]}'
    for argument, proc in procs:
        out, err = proc.communicate(stdin_text if argument == "-" else "", timeout=120)
        name = argument
        assert proc.returncode == 2, (name, err)
        assert out == "", name
        assert err.count("\n") == 1, (name, err)
        assert err.startswith("twitchcds: "), (name, err)


# --- CDS Hooks requests ------------------------------------------------------------------------

_HOOK = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
         "context": {"userId": "Practitioner/1", "patientId": "p1"},
         "prefetch": {"patient": _PATIENT,
                      "observations": {"resourceType": "Bundle", "type": "searchset",
                                       "entry": [{"resource": _K_OBS}]},
                      "conditions": None, "medications": None}}


def _hook(**fields: Any) -> bytes:
    return json.dumps({**_HOOK, **fields}).encode()


CDS_HOOKS_INVALID: list[tuple[str, bytes, int, str]] = [
    # columns: id, request body, HTTP status, JSON path in the error
    ("not-json", b"{", 400, "$"),
    ("empty-body", b"", 400, "$"),
    ("not-utf8", b'{"hook": "\xff"}', 400, "$"),
    ("nan-constant", b'{"hook": NaN}', 400, "$"),
    ("array", b"[]", 400, "$"),
    ("deeply-nested", b"[" * 100_000 + b"]" * 100_000, 400, "$"),
    ("too-large", b'{"x": "' + b"a" * 2_000_000 + b'"}', 413, "$"),
    ("wrong-hook", _hook(hook="order-sign"), 400, "$.hook"),
    ("prefetch-missing", json.dumps({k: v for k, v in _HOOK.items() if k != "prefetch"}).encode(),
     412, "$.prefetch"),
    ("prefetch-string", _hook(prefetch="x"), 400, "$.prefetch"),
    ("patient-gender-uppercase", _hook(prefetch={**_HOOK["prefetch"], "patient": {
        **_PATIENT, "gender": "MALE"}}), 400, "$.prefetch.patient.gender"),
    ("potassium-kg", _hook(prefetch={**_HOOK["prefetch"], "observations": {
        "resourceType": "Bundle", "type": "searchset", "entry": [{"resource": _quantity(
            unit="kg", code="kg")}]}}), 400, "$.prefetch.observations.entry[0].resource"),
]


@pytest.mark.parametrize(("body", "status", "path"), [row[1:] for row in CDS_HOOKS_INVALID],
                         ids=[row[0] for row in CDS_HOOKS_INVALID])
def test_cds_hooks_bad_request_gets_4xx_json(body: bytes, status: int, path: str) -> None:
    """A malformed CDS Hooks request gets the expected 4xx with a JSON error naming the path."""
    client = _cds_client()
    response = client.post("/cds-services/twitchcds", content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code == status, response.text[:300]
    error = response.json()
    assert isinstance(error.get("error"), str)
    assert str(error.get("path", "")).startswith(path), error


def test_cds_hooks_valid_request_gets_cards() -> None:
    """The twin valid request gets 200 and a list of cards."""
    response = _cds_client().post("/cds-services/twitchcds", content=_hook(),
                                  headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text[:300]
    assert isinstance(response.json()["cards"], list)


_CLIENTS: list[Any] = []


def _cds_client() -> Any:
    if not _CLIENTS:
        create_app = _interop("cds_hooks", "create_app")
        testclient = pytest.importorskip("starlette.testclient")
        _CLIENTS.append(testclient.TestClient(create_app(), raise_server_exceptions=False))
    return _CLIENTS[0]


# --- bugs found by fuzzing in interop/phenopackets.py, fixed: kept as regression rows ---------

PHENOPACKET_CRASHES = [
    # columns: id, phenopacket -- found by tests/test_fuzz.py under HYPOTHESIS_PROFILE=ci
    ("features-null-item", _pp(phenotypicFeatures=[None])),
    ("metadata-bool", _pp(metaData=True)),
    ("features-string-item", _pp(phenotypicFeatures=[""])),
]


@pytest.mark.parametrize("obj", [row[1] for row in PHENOPACKET_CRASHES],
                         ids=[row[0] for row in PHENOPACKET_CRASHES])
def test_phenopacket_null_and_bool_values_raise_library_errors(obj: Any) -> None:
    """A phenopacket with a null, true or "" where an object belongs raises InvalidInputError."""
    reader = _interop("phenopackets", "case_from_phenopacket")
    with pytest.raises(twitchcds.InvalidInputError):
        reader(obj)


def test_phenopacket_null_repeated_field_means_empty() -> None:
    """A null list in a phenopacket is read as empty, as the proto3 JSON mapping says."""
    reader = _interop("phenopackets", "read_phenopacket")
    with_null = reader(_pp(phenotypicFeatures=None, measurements=[
        {"assay": {"id": "LOINC:2823-3", "label": "Potassium"},
         "value": {"quantity": {"value": 3.0, "unit": {"id": "UCUM:mmol/L", "label": "mmol/L"}}}}]))
    assert with_null.case.findings == ()
