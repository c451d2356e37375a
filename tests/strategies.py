"""Hypothesis strategies shared by the test suite.

Organised by what they generate; add new strategies under their own heading and list them in
``__all__``. Every strategy is a function returning a ``SearchStrategy`` (call it: ``cases()``),
so that parameters can be added without breaking callers.

Sections
--------
JSON values
    ``json_values()``: arbitrary JSON-like Python values, for fuzzing parsers.
Case v1 (``twitchcds.case``)
    ``finding_ids()``, ``finding_codes()``, ``finding_inputs()``, ``histories()``,
    ``medications()``, ``lab_results()``, ``cases()``: valid values only.
    ``case_like_payloads()``: dictionaries shaped like Case v1 whose values are arbitrary JSON.
    ``invalid_case_payloads()``: a valid payload with one mutation, and the JSON path it breaks.
Valid cases for a knowledge base
    ``kb_cases(kb)``: Case v1 dictionaries that ``assess(case, kb)`` accepts (no contradictions).
Lab units (``twitchcds.units``)
    ``LAB_UNITS``: UCUM spellings the library accepts.
"""

from __future__ import annotations

import string
from typing import Any

import attrs
from hypothesis import strategies as st

from twitchcds.case import Case, FindingInput, History, LabResult, Medication

__all__ = [
    "LAB_UNITS",
    "case_like_payloads",
    "cases",
    "finding_codes",
    "finding_ids",
    "finding_inputs",
    "histories",
    "invalid_case_payloads",
    "json_values",
    "kb_cases",
    "lab_results",
    "medications",
]

# --- JSON values -----------------------------------------------------------------------------


def json_values(*, allow_nan: bool = True) -> st.SearchStrategy[Any]:
    """Arbitrary JSON-like values: null, booleans, numbers (NaN/inf too), strings, lists, dicts."""
    scalars = (st.none() | st.booleans() | st.integers()
               | st.floats(allow_nan=allow_nan, allow_infinity=allow_nan) | st.text(max_size=20))
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4),
        max_leaves=20,
    )


# --- Case v1 ---------------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40,
).filter(str.strip)


def finding_ids() -> st.SearchStrategy[str]:
    """Snake_case finding ids (syntactically valid; not necessarily in a knowledge base)."""
    return st.from_regex(r"[a-z][a-z0-9_]{0,24}", fullmatch=True)


def finding_codes() -> st.SearchStrategy[str]:
    """Syntactically valid HPO (``HP:`` + 7 digits) and SNOMED CT (``SNOMEDCT:`` + 6-18) codes."""
    digits = string.digits
    return (st.text(digits, min_size=7, max_size=7).map(lambda d: f"HP:{d}")
            | st.text(digits, min_size=6, max_size=18).map(lambda d: f"SNOMEDCT:{d}"))


def finding_inputs() -> st.SearchStrategy[FindingInput]:
    """Findings named by id or by code, present or absent."""
    status = st.sampled_from(["present", "absent"])
    return (st.builds(FindingInput, status=status, id=finding_ids())
            | st.builds(FindingInput, status=status, code=finding_codes()))


def _number(low: float, high: float) -> st.SearchStrategy[float]:
    return st.integers(int(low), int(high)) | st.floats(low, high)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def histories() -> st.SearchStrategy[History]:
    """Histories with any subset of fields stated, each within its documented bounds."""
    flag = _maybe(st.booleans())
    return st.builds(
        History,
        duration_days=_maybe(_number(0, 36_500)),
        progressive=flag,
        distribution=_maybe(st.sampled_from(["focal", "multifocal", "generalized"])),
        after_injury=flag,
        painful=flag,
        caffeine_mg_per_day=_maybe(_number(0, 5_000)),
        sleep_hours_per_night=_maybe(_number(0, 24)),
        recent_strenuous_exercise=flag,
        family_history_motor_neuron_disease=flag,
        prior_polio=flag,
        pesticide_exposure=flag,
        alcohol_units_per_week=_maybe(_number(0, 500)),
        rapidly_worsening=flag,
    )


_ATC = st.from_regex(r"[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?", fullmatch=True)


@st.composite
def medications(draw: st.DrawFn) -> Medication:
    """Medications with at least one of name, RxNorm and ATC."""
    name = draw(_maybe(_TEXT))
    rxnorm = draw(_maybe(st.from_regex(r"[0-9]{1,8}", fullmatch=True)))
    atc = draw(_maybe(_ATC))
    if name is None and rxnorm is None and atc is None:
        name = draw(_TEXT)
    return Medication(name=name, rxnorm=rxnorm, atc=atc)


LAB_UNITS: tuple[str, ...] = (
    "mmol/L", "meq/L", "mEq/L", "mg/dL", "mg/L", "g/dL", "g/L", "umol/L", "pmol/L", "pg/mL",
    "ng/dL", "ng/mL", "m[IU]/L", "mIU/L", "u[IU]/mL", "[IU]/L", "U/L", "%", "mmol/mol",
)
"""UCUM spellings of lab units the library accepts."""


def lab_results() -> st.SearchStrategy[LabResult]:
    """Lab results with a well-formed LOINC, any finite value and a known unit."""
    return st.builds(
        LabResult,
        loinc=st.from_regex(r"[0-9]{1,7}-[0-9]", fullmatch=True),
        value=st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False),
        unit=st.sampled_from(LAB_UNITS),
    )


@st.composite
def cases(draw: st.DrawFn, *, max_items: int = 5) -> Case:
    """Valid cases: every field optional, findings never repeated, and always saying something."""
    findings = draw(st.lists(finding_inputs(), max_size=max_items,
                             unique_by=lambda f: (f.id, f.code)))
    fields: dict[str, Any] = {
        "id": draw(_maybe(_TEXT)),
        "age": draw(_maybe(_number(0, 130))),
        "sex": draw(_maybe(st.sampled_from(["female", "male", "other", "unknown"]))),
        "setting": draw(_maybe(st.sampled_from(["primary-care", "neuromuscular-clinic"]))),
        "findings": findings,
        "history": draw(histories()),
        "medications": draw(st.lists(medications(), max_size=max_items)),
        "labs": draw(st.lists(lab_results(), max_size=max_items)),
    }
    said = (fields["age"] is not None or fields["sex"] is not None or findings
            or fields["medications"] or fields["labs"] or not fields["history"].is_empty())
    if not said:
        fields["age"] = draw(_number(0, 130))
    return Case(**fields)


_CASE_KEYS = ("id", "age", "sex", "setting", "findings", "history", "medications", "labs")


def case_like_payloads() -> st.SearchStrategy[dict[str, Any]]:
    """Dictionaries with Case v1 keys (and sometimes others) holding arbitrary JSON values.

    Nested findings/history/medications/labs are often shaped right too, so that fuzzing reaches
    the inner checks rather than stopping at the first wrong type.
    """
    nested_finding = st.fixed_dictionaries({}, optional={
        "id": json_values() | finding_ids(), "code": json_values() | finding_codes(),
        "status": json_values() | st.sampled_from(["present", "absent"]),
        "extra": json_values()})
    nested_lab = st.fixed_dictionaries({}, optional={
        "loinc": json_values(), "value": json_values(), "unit": json_values() | st.sampled_from(
            LAB_UNITS)})
    history = st.dictionaries(st.sampled_from([*(a.name for a in attrs.fields(History)), "other"]),
                              json_values(), max_size=4)
    value = {
        "findings": st.lists(nested_finding | json_values(), max_size=4),
        "labs": st.lists(nested_lab | json_values(), max_size=3),
        "history": history,
        "medications": st.lists(st.dictionaries(
            st.sampled_from(["name", "rxnorm", "atc", "dose"]), json_values(), max_size=3)),
    }
    optional = {key: value.get(key, json_values()) | json_values() for key in _CASE_KEYS}
    optional["unknown"] = json_values()
    return st.fixed_dictionaries({}, optional=optional)


@st.composite
def invalid_case_payloads(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid Case v1 payload with one mutation, and the JSON path where the problem is."""
    payload = draw(cases()).to_dict()
    payload.setdefault("age", 40)
    mutation = draw(st.sampled_from(sorted(_MUTATIONS)))
    return _MUTATIONS[mutation](draw, payload)


def _age_as_text(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    payload["age"] = str(payload["age"])
    return payload, "$.age"


def _age_as_bool(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    payload["age"] = draw(st.booleans())
    return payload, "$.age"


def _unknown_key(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    key = draw(st.text(string.ascii_lowercase, min_size=1).filter(lambda k: k not in _CASE_KEYS))
    payload[key] = draw(json_values())
    return payload, f"$.{key}"


def _history_unknown_key(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    payload.setdefault("history", {})["coffee_cups"] = draw(json_values())
    return payload, "$.history.coffee_cups"


def _sex_spelling(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    payload["sex"] = draw(st.sampled_from(["MALE", "Female", "f", "m", "woman"]))
    return payload, "$.sex"


def _status_spelling(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    findings = payload.setdefault("findings", [])
    findings.append({"id": "zz_mutated", "status": draw(st.sampled_from(["PRESENT", "yes", 1]))})
    return payload, f"$.findings[{len(findings) - 1}].status"


def _flag_as_number(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    payload.setdefault("history", {})["painful"] = draw(st.sampled_from([0, 1, "true"]))
    return payload, "$.history.painful"


def _lab_value_as_text(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    labs = payload.setdefault("labs", [])
    labs.append({"loinc": "2823-3", "value": str(draw(st.floats(0, 10))), "unit": "mmol/L"})
    return payload, f"$.labs[{len(labs) - 1}].value"


_MUTATIONS = {
    "age-as-text": _age_as_text,
    "age-as-bool": _age_as_bool,
    "unknown-key": _unknown_key,
    "history-unknown-key": _history_unknown_key,
    "sex-spelling": _sex_spelling,
    "status-spelling": _status_spelling,
    "flag-as-number": _flag_as_number,
    "lab-value-as-text": _lab_value_as_text,
}


# --- Valid cases for a given knowledge base (reliability / fuzzing, tests/test_fuzz.py) -------
# Cases that pass every evidence check of ``kb``: known finding ids and codes (each finding named
# once, never one a lab or history rule derives), at most one lab per analyte with a plausible
# value in the rule's own unit, medications by the KB's own names, comorbidities as findings.


def _derived_findings(kb: Any) -> set[str]:
    derived = {rule.finding for rule in kb.history_rules}
    derived |= {band.finding for lab in kb.lab_rules for band in lab.bands}
    return derived


@st.composite
def kb_cases(draw: st.DrawFn, kb: Any, *, max_findings: int = 12) -> dict[str, Any]:
    """Case v1 dictionaries that ``twitchcds.assess(case, kb)`` accepts."""
    derived = _derived_findings(kb)
    free = [f for f in kb.findings if f.id not in derived]
    chosen = draw(st.lists(st.sampled_from(free), max_size=min(max_findings, len(free)),
                           unique_by=lambda f: f.id)) if free else []
    findings = []
    for finding in chosen:
        status = draw(st.sampled_from(["present", "absent"]))
        codes = [c for c in finding.codes if kb.code_index.get(c) == finding.id
                 and c not in kb.hpo_absent and c not in kb.hpo_present]
        if codes and draw(st.booleans()):
            findings.append({"code": draw(st.sampled_from(codes)), "status": status})
        else:
            findings.append({"id": finding.id, "status": status})
    comorbidities = [r.id for r in kb.risk_factors if r.kind in {"comorbidity", "exposure"}]
    if comorbidities:
        for rf in draw(st.lists(st.sampled_from(comorbidities), max_size=2, unique=True)):
            findings.append({"id": rf, "status": "present"})
    labs = []
    covered: set[str] = set()  # two analytes deriving one finding (glucose, HbA1c) may disagree
    for rule in draw(st.lists(st.sampled_from(kb.lab_rules), max_size=3,
                              unique_by=lambda r: r.id)) if kb.lab_rules else []:
        bands = {band.finding for band in rule.bands}
        if bands & covered:
            continue
        covered |= bands
        value = draw(st.floats(rule.plausible_min, min(rule.plausible_max, 1e6),
                               allow_nan=False, allow_infinity=False))
        labs.append({"loinc": draw(st.sampled_from(rule.loinc)), "value": value,
                     "unit": rule.unit})
    names = sorted({n for m in kb.medication_classes for n in m.names})
    medications = [{"name": n} for n in draw(st.lists(st.sampled_from(names), max_size=3,
                                                      unique=True))] if names else []
    case: dict[str, Any] = {"age": draw(_number(0, 130))}
    optional = {
        "id": _TEXT, "sex": st.sampled_from(["female", "male", "other", "unknown"]),
        "setting": st.sampled_from(["primary-care", "neuromuscular-clinic"]),
    }
    case.update({key: draw(strategy) for key, strategy in optional.items() if draw(st.booleans())})
    history = {k: v for k, v in attrs.asdict(draw(histories())).items() if v is not None}
    parts = {"findings": findings, "labs": labs, "medications": medications, "history": history}
    case.update({key: value for key, value in parts.items() if value})
    return case
