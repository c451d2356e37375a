"""Case v1: strict parsing, every problem reported with its path, and lossless round trips."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import case_like_payloads, cases, invalid_case_payloads, json_values
from twitchcds._validate import Problems
from twitchcds.case import Case, FindingInput, History, LabResult, Medication, _check_payload
from twitchcds.errors import ContradictionError, InvalidCaseError, TwitchCDSError


@attrs.frozen
class Json:
    """A payload given as JSON text (parsed with ``Case.from_json``)."""

    text: str


def _parse(payload: Any) -> Case:
    if isinstance(payload, Json):
        return Case.from_json(payload.text)
    return Case.from_dict(payload)


def _finding(**fields: Any) -> dict[str, Any]:
    return {"findings": [fields]}


def _history(**fields: Any) -> dict[str, Any]:
    return {"history": fields}


def _med(**fields: Any) -> dict[str, Any]:
    return {"medications": [fields]}


def _lab(**fields: Any) -> dict[str, Any]:
    lab: dict[str, Any] = {"loinc": "2823-3", "value": 2.9, "unit": "mmol/L"}
    lab.update(fields)
    return {"labs": [{k: v for k, v in lab.items() if v is not _DROP}]}


_DROP = object()
_P = "present"
_FASC = {"id": "fasciculations", "status": _P}

INVALID = [
    # columns: id, payload, error class, path
    ("not-object-list", [], InvalidCaseError, "$"),
    ("not-object-none", None, InvalidCaseError, "$"),
    ("not-object-number", 44, InvalidCaseError, "$"),
    ("empty-case", {}, InvalidCaseError, "$"),
    ("only-id-and-setting", {"id": "c1", "setting": "primary-care"}, InvalidCaseError, "$"),
    ("empty-lists-and-history", {"findings": [], "labs": [], "history": {}}, InvalidCaseError,
     "$"),
    ("unknown-top-key", {"age": 30, "weight": 70}, InvalidCaseError, "$.weight"),
    ("non-string-key", {"age": 30, 1: "x"}, InvalidCaseError, "$[1]"),
    ("key-with-space", {"age": 30, "a b": 1}, InvalidCaseError, '$["a b"]'),
    ("age-string", {"age": "44"}, InvalidCaseError, "$.age"),
    ("age-bool", {"age": True}, InvalidCaseError, "$.age"),
    ("age-null", {"age": None, "sex": "male"}, InvalidCaseError, "$.age"),
    ("age-negative", {"age": -1}, InvalidCaseError, "$.age"),
    ("age-too-old", {"age": 131}, InvalidCaseError, "$.age"),
    ("age-huge-int", {"age": 10**400}, InvalidCaseError, "$.age"),
    ("age-nan", {"age": math.nan}, InvalidCaseError, "$.age"),
    ("age-inf", {"age": math.inf}, InvalidCaseError, "$.age"),
    ("age-list", {"age": [44]}, InvalidCaseError, "$.age"),
    ("sex-uppercase", {"sex": "MALE"}, InvalidCaseError, "$.sex"),
    ("sex-abbreviation", {"sex": "f"}, InvalidCaseError, "$.sex"),
    ("sex-int", {"sex": 1}, InvalidCaseError, "$.sex"),
    ("setting-unknown", {"age": 30, "setting": "emergency"}, InvalidCaseError, "$.setting"),
    ("id-int", {"age": 30, "id": 7}, InvalidCaseError, "$.id"),
    ("id-empty", {"age": 30, "id": ""}, InvalidCaseError, "$.id"),
    ("id-too-long", {"age": 30, "id": "x" * 201}, InvalidCaseError, "$.id"),
    ("findings-object", {"findings": _FASC}, InvalidCaseError, "$.findings"),
    ("findings-string", {"findings": "fasciculations"}, InvalidCaseError, "$.findings"),
    ("findings-too-many", {"findings": [{"id": f"f{i}", "status": _P} for i in range(501)]},
     InvalidCaseError, "$.findings"),
    ("finding-string", {"findings": ["fasciculations"]}, InvalidCaseError, "$.findings[0]"),
    ("finding-missing-status", _finding(id="fasciculations"), InvalidCaseError,
     "$.findings[0].status"),
    ("finding-status-bool", _finding(id="fasciculations", status=True), InvalidCaseError,
     "$.findings[0].status"),
    ("finding-status-unknown", _finding(id="fasciculations", status="unknown"),
     InvalidCaseError, "$.findings[0].status"),
    ("finding-status-capital", _finding(id="fasciculations", status="Present"),
     InvalidCaseError, "$.findings[0].status"),
    ("finding-id-and-code", _finding(id="muscle_weakness", code="HP:0001324", status=_P),
     InvalidCaseError, "$.findings[0]"),
    ("finding-no-id-no-code", _finding(status=_P), InvalidCaseError, "$.findings[0]"),
    ("finding-id-camel-case", _finding(id="muscleWeakness", status=_P), InvalidCaseError,
     "$.findings[0].id"),
    ("finding-id-leading-digit", _finding(id="1st_finding", status=_P), InvalidCaseError,
     "$.findings[0].id"),
    ("finding-id-null", _finding(id=None, code="HP:0001324", status=_P), InvalidCaseError,
     "$.findings[0].id"),
    ("finding-code-short-hpo", _finding(code="HP:12", status=_P), InvalidCaseError,
     "$.findings[0].code"),
    ("finding-code-lowercase", _finding(code="hp:0001324", status=_P), InvalidCaseError,
     "$.findings[0].code"),
    ("finding-code-short-snomed", _finding(code="SNOMEDCT:12345", status=_P), InvalidCaseError,
     "$.findings[0].code"),
    ("finding-code-other-system", _finding(code="ICD10:G25.3", status=_P), InvalidCaseError,
     "$.findings[0].code"),
    ("finding-code-arabic-digits", _finding(code="HP:\u0660\u0660\u0660\u0661\u0663\u0662\u0664",
                                            status=_P), InvalidCaseError, "$.findings[0].code"),
    ("finding-unknown-key", _finding(id="fasciculations", status=_P, note="left calf"),
     InvalidCaseError, "$.findings[0].note"),
    ("finding-duplicate", {"findings": [_FASC, _FASC]}, InvalidCaseError, "$.findings[1]"),
    ("finding-contradiction-id", {"findings": [_FASC, {**_FASC, "status": "absent"}]},
     ContradictionError, "$.findings[1].status"),
    ("finding-contradiction-code", {"findings": [
        {"code": "HP:0002380", "status": "absent"}, _FASC,
        {"code": "HP:0002380", "status": _P}]}, ContradictionError, "$.findings[2].status"),
    ("history-list", {"history": []}, InvalidCaseError, "$.history"),
    ("history-unknown-key", _history(coffee_cups=3), InvalidCaseError, "$.history.coffee_cups"),
    ("history-flag-int", _history(progressive=1), InvalidCaseError, "$.history.progressive"),
    ("history-flag-string", _history(painful="true"), InvalidCaseError, "$.history.painful"),
    ("history-flag-null", _history(painful=None, progressive=True), InvalidCaseError,
     "$.history.painful"),
    ("history-duration-negative", _history(duration_days=-1), InvalidCaseError,
     "$.history.duration_days"),
    ("history-duration-huge", _history(duration_days=36_501), InvalidCaseError,
     "$.history.duration_days"),
    ("history-duration-string", _history(duration_days="45"), InvalidCaseError,
     "$.history.duration_days"),
    ("history-caffeine-huge", _history(caffeine_mg_per_day=5_001), InvalidCaseError,
     "$.history.caffeine_mg_per_day"),
    ("history-caffeine-bool", _history(caffeine_mg_per_day=True), InvalidCaseError,
     "$.history.caffeine_mg_per_day"),
    ("history-sleep-25-hours", _history(sleep_hours_per_night=25), InvalidCaseError,
     "$.history.sleep_hours_per_night"),
    ("history-alcohol-negative", _history(alcohol_units_per_week=-2), InvalidCaseError,
     "$.history.alcohol_units_per_week"),
    ("history-distribution-unknown", _history(distribution="diffuse"), InvalidCaseError,
     "$.history.distribution"),
    ("history-distribution-capital", _history(distribution="Focal"), InvalidCaseError,
     "$.history.distribution"),
    ("history-extension-flag-int", _history(prior_polio=0), InvalidCaseError,
     "$.history.prior_polio"),
    ("medications-object", {"medications": {"name": "omeprazole"}}, InvalidCaseError,
     "$.medications"),
    ("medication-empty", {"medications": [{}]}, InvalidCaseError, "$.medications[0]"),
    ("medication-rxnorm-int", _med(rxnorm=7646), InvalidCaseError, "$.medications[0].rxnorm"),
    ("medication-rxnorm-letters", _med(rxnorm="RX7646"), InvalidCaseError,
     "$.medications[0].rxnorm"),
    ("medication-atc-lowercase", _med(atc="a02bc01"), InvalidCaseError, "$.medications[0].atc"),
    ("medication-atc-malformed", _med(atc="A2BC01"), InvalidCaseError, "$.medications[0].atc"),
    ("medication-name-empty", _med(name=""), InvalidCaseError, "$.medications[0].name"),
    ("medication-name-blank", _med(name="   "), InvalidCaseError, "$.medications[0].name"),
    ("medication-name-control", _med(name="omep\nrazole"), InvalidCaseError,
     "$.medications[0].name"),
    ("medication-unknown-key", _med(name="omeprazole", dose="20 mg"), InvalidCaseError,
     "$.medications[0].dose"),
    ("labs-object", {"labs": {"loinc": "2823-3"}}, InvalidCaseError, "$.labs"),
    ("lab-missing-unit", _lab(unit=_DROP), InvalidCaseError, "$.labs[0].unit"),
    ("lab-missing-value", _lab(value=_DROP), InvalidCaseError, "$.labs[0].value"),
    ("lab-missing-loinc", _lab(loinc=_DROP), InvalidCaseError, "$.labs[0].loinc"),
    ("lab-value-string", _lab(value="2.9"), InvalidCaseError, "$.labs[0].value"),
    ("lab-value-bool", _lab(value=False), InvalidCaseError, "$.labs[0].value"),
    ("lab-value-nan", _lab(value=math.nan), InvalidCaseError, "$.labs[0].value"),
    ("lab-loinc-no-check-digit", _lab(loinc="2823"), InvalidCaseError, "$.labs[0].loinc"),
    ("lab-loinc-int", _lab(loinc=28233), InvalidCaseError, "$.labs[0].loinc"),
    ("lab-unit-unknown", _lab(unit="furlongs"), InvalidCaseError, "$.labs[0].unit"),
    ("lab-unit-not-ucum", _lab(unit="mmol per L"), InvalidCaseError, "$.labs[0].unit"),
    ("lab-unit-int", _lab(unit=1), InvalidCaseError, "$.labs[0].unit"),
    ("lab-unknown-key", _lab(range="3.5-5.0"), InvalidCaseError, "$.labs[0].range"),
    ("json-nan", Json('{"age": NaN}'), InvalidCaseError, "$.age"),
    ("json-minus-infinity-nested",
     Json('{"labs": [{"loinc": "2823-3", "value": -Infinity, "unit": "mmol/L"}]}'),
     InvalidCaseError, "$.labs[0].value"),
    ("json-duplicate-key", Json('{"age": 30, "age": 31}'), InvalidCaseError, "$.age"),
    ("json-duplicate-nested-key", Json('{"history": {"painful": true, "painful": false}}'),
     InvalidCaseError, "$.history.painful"),
    ("json-syntax-error", Json('{"age": 30,}'), InvalidCaseError, "$"),
    ("json-empty-text", Json(""), InvalidCaseError, "$"),
    ("json-array", Json('[{"age": 30}]'), InvalidCaseError, "$"),
    ("json-contradiction", Json('{"findings": [{"id": "a", "status": "present"}, '
                                '{"id": "a", "status": "absent"}]}'),
     ContradictionError, "$.findings[1].status"),
]

VALID = [
    # columns: id, payload -- near neighbours of the rows above, which must pass
    ("age-int", {"age": 44}),
    ("age-float", {"age": 44.5}),
    ("age-zero", {"age": 0}),
    ("age-130", {"age": 130}),
    ("sex-lowercase", {"sex": "male"}),
    ("sex-unknown", {"sex": "unknown"}),
    ("setting-clinic", {"age": 30, "setting": "neuromuscular-clinic"}),
    ("id-200-chars", {"age": 30, "id": "x" * 200}),
    ("id-unicode", {"age": 30, "id": "patient-ü-42"}),
    ("findings-500", {"findings": [{"id": f"f{i}", "status": _P} for i in range(500)]}),
    ("finding-by-id", {"findings": [_FASC]}),
    ("finding-by-hpo-code", _finding(code="HP:0001324", status=_P)),
    ("finding-snomed-6-digits", _finding(code="SNOMEDCT:123456", status="absent")),
    ("finding-snomed-18-digits", _finding(code="SNOMEDCT:" + "1" * 18, status=_P)),
    ("finding-id-with-digits", _finding(id="b12_low_2", status=_P)),
    ("same-finding-id-and-code", {"findings": [
        {"id": "muscle_weakness", "status": _P}, {"code": "HP:0001324", "status": _P}]}),
    ("two-findings", {"findings": [_FASC, {"id": "muscle_cramps", "status": "absent"}]}),
    ("history-only", _history(painful=False)),
    ("history-flags-false", _history(progressive=False, after_injury=False)),
    ("history-bounds-high", _history(duration_days=36_500, caffeine_mg_per_day=5_000,
                                     sleep_hours_per_night=24, alcohol_units_per_week=500)),
    ("history-bounds-low", _history(duration_days=0, caffeine_mg_per_day=0,
                                    sleep_hours_per_night=0, alcohol_units_per_week=0.0)),
    ("history-distribution", _history(distribution="multifocal")),
    ("history-extensions", _history(prior_polio=True, pesticide_exposure=False,
                                    rapidly_worsening=True, alcohol_units_per_week=14)),
    ("medication-name", _med(name="omeprazole")),
    ("medication-rxnorm", _med(rxnorm="7646")),
    ("medication-atc-level-1", _med(atc="A")),
    ("medication-atc-level-3", _med(atc="A02B")),
    ("medication-all-codes", _med(name="omeprazole", rxnorm="7646", atc="A02BC01")),
    ("lab-mmol", _lab()),
    ("lab-meq", _lab(unit="mEq/L")),
    ("lab-negative-value", _lab(loinc="1925-5", value=-3.5)),
    ("lab-int-value", _lab(loinc="2601-3", value=2, unit="mg/dL")),
    ("lab-milli-iu", _lab(loinc="3016-3", value=2.1, unit="m[IU]/L")),
    ("lab-percent", _lab(loinc="4548-4", value=5.4, unit="%")),
    ("lab-unconvertible-unit-is-later", _lab(unit="kg")),
    ("json-whitespace", Json(' \n{ "age" : 30 }\n')),
    ("json-nested", Json('{"labs": [{"loinc": "2823-3", "value": 2.9, "unit": "mmol/L"}], '
                         '"history": {"painful": true}}')),
    ("json-exponent", Json('{"labs": [{"loinc": "2823-3", "value": 2.9e0, "unit": "mmol/L"}]}')),
]


@pytest.mark.parametrize(("payload", "error", "path"), [r[1:] for r in INVALID],
                         ids=[r[0] for r in INVALID])
def test_invalid_payload_is_rejected_at_its_path(payload: Any, error: type[Exception],
                                                 path: str) -> None:
    """An invalid payload raises the stated error class, naming the offending JSON path."""
    with pytest.raises(error) as info:
        _parse(payload)
    assert type(info.value) is error
    assert path in [p.path for p in info.value.problems]  # type: ignore[attr-defined]
    assert f"{path}:" in str(info.value)


@pytest.mark.parametrize("payload", [r[1] for r in VALID], ids=[r[0] for r in VALID])
def test_valid_payload_is_accepted_and_round_trips(payload: Any) -> None:
    """A valid payload parses and survives to_dict / from_dict unchanged."""
    case = _parse(payload)
    assert Case.from_dict(case.to_dict()) == case


def test_tables_are_large_enough() -> None:
    """The invalid table has at least 40 rows with unique ids, and so does its twin in spirit."""
    assert len(INVALID) >= 40
    assert len({r[0] for r in INVALID}) == len(INVALID)
    assert len({r[0] for r in VALID}) == len(VALID)


def test_every_problem_is_reported_in_one_error() -> None:
    """Three separate problems yield one error listing all three, in payload order."""
    payload = {"age": "44", "labs": [{"loinc": "2823-3", "value": 2.9}],
               "history": {"caffeine_mg_per_day": -5}}
    with pytest.raises(InvalidCaseError) as info:
        Case.from_dict(payload)
    paths = [p.path for p in info.value.problems]
    assert paths == ["$.age", "$.labs[0].unit", "$.history.caffeine_mg_per_day"]
    assert info.value.path == "$.age"
    assert info.value.value == "44"


def test_contradiction_with_other_problems_is_an_invalid_case() -> None:
    """A contradiction alongside other problems is reported with them as InvalidCaseError."""
    payload = {"age": -1, "findings": [_FASC, {**_FASC, "status": "absent"}]}
    with pytest.raises(InvalidCaseError) as info:
        Case.from_dict(payload)
    assert [p.path for p in info.value.problems] == ["$.age", "$.findings[1].status"]


def test_errors_are_value_errors_and_name_the_value() -> None:
    """Case errors are ValueErrors whose message shows what arrived."""
    with pytest.raises(ValueError, match=r"\$\.sex: must be one of .* \(got 'MALE'\)"):
        Case.from_dict({"sex": "MALE"})


def test_json_syntax_error_gives_line_and_column() -> None:
    """Malformed JSON is reported with its line and column."""
    with pytest.raises(InvalidCaseError, match="line 2 column 9"):
        Case.from_json('{"age": 30,\n "sex": }')


def test_json_nan_and_duplicates_are_reported_with_case_problems() -> None:
    """NaN, a repeated key and a Case v1 problem in one JSON text are reported together."""
    text = '{"age": NaN, "sex": "male", "sex": "male", "labs": [], "setting": "er"}'
    with pytest.raises(InvalidCaseError) as info:
        Case.from_json(text)
    assert {p.path for p in info.value.problems} == {"$.age", "$.sex", "$.setting"}
    assert len(info.value.problems) == 3


def test_from_json_reads_a_path(tmp_path: Path) -> None:
    """A pathlib.Path or a string naming an existing .json file is read as the case."""
    file = tmp_path / "case.json"
    file.write_text('{"age": 61, "sex": "male"}', encoding="utf-8")
    assert Case.from_json(file) == Case(age=61, sex="male")
    assert Case.from_json(str(file)) == Case(age=61, sex="male")


@pytest.mark.parametrize("source", [Path("/nonexistent/case.json"), "/nonexistent/case.json",
                                    b'{"age": 30}', 30])
def test_from_json_rejects_unreadable_sources(source: Any) -> None:
    """A missing file or a source that is neither text nor a path is an InvalidCaseError."""
    with pytest.raises(InvalidCaseError) as info:
        Case.from_json(source)
    assert info.value.path == "$"


def test_from_json_rejects_a_non_utf8_file(tmp_path: Path) -> None:
    """A case file that is not UTF-8 is an InvalidCaseError, not a UnicodeDecodeError."""
    file = tmp_path / "case.json"
    file.write_bytes(b'{"id": "\xff"}')
    with pytest.raises(InvalidCaseError, match="cannot read case file"):
        Case.from_json(file)


def test_from_json_rejects_deep_nesting() -> None:
    """JSON nested far beyond Case v1 is rejected without a RecursionError."""
    with pytest.raises(InvalidCaseError):
        Case.from_json('{"history": ' + "[" * 100_000 + "]" * 100_000 + "}")


def test_to_dict_keeps_only_given_fields() -> None:
    """to_dict writes the fields that were given and nothing else, as JSON-ready lists."""
    case = Case.from_dict({"findings": [{"code": "HP:0002380", "status": "absent"}],
                           "history": {"painful": False}})
    assert case.to_dict() == {"findings": [{"status": "absent", "code": "HP:0002380"}],
                              "history": {"painful": False}}
    assert json.loads(json.dumps(case.to_dict())) == case.to_dict()


def test_constructors_validate_themselves() -> None:
    """Direct construction and attrs.evolve run the same checks as from_dict."""
    with pytest.raises(InvalidCaseError, match=r"\$\.status"):
        FindingInput("maybe", id="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidCaseError, match="exactly one"):
        FindingInput("present")
    with pytest.raises(InvalidCaseError, match="at least one"):
        Medication()
    with pytest.raises(InvalidCaseError, match=r"\$\.value"):
        LabResult("2823-3", True, "mmol/L")
    with pytest.raises(InvalidCaseError, match="must say something"):
        Case()
    with pytest.raises(InvalidCaseError, match=r"\$\.findings\[0\]"):
        Case(findings=({"id": "x", "status": "present"},))  # type: ignore[arg-type]
    with pytest.raises(InvalidCaseError, match=r"\$\.history"):
        Case(age=3, history={"painful": True})  # type: ignore[arg-type]
    case = Case(age=30)
    with pytest.raises(InvalidCaseError, match=r"\$\.age"):
        attrs.evolve(case, age="31")
    with pytest.raises(ContradictionError):
        attrs.evolve(case, findings=[FindingInput("present", id="a"),
                                     FindingInput("absent", id="a")])


def test_cases_are_frozen_hashable_values() -> None:
    """Cases compare by value, hash, and cannot be mutated; lists become tuples."""
    a = Case(age=30, findings=[FindingInput("present", id="fasciculations")])
    b = Case.from_dict({"age": 30, "findings": [_FASC]})
    assert a == b
    assert len({a, b}) == 1
    assert isinstance(a.findings, tuple)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.age = 31  # type: ignore[misc]


def test_history_extensions_are_fields() -> None:
    """The documented History extensions exist beside the DESIGN section 5 fields."""
    names = {a.name for a in attrs.fields(History)}
    assert {"prior_polio", "pesticide_exposure", "alcohol_units_per_week",
            "rapidly_worsening", "family_history_motor_neuron_disease"} <= names


@given(cases())
def test_round_trip_through_dict(case: Case) -> None:
    """Case.from_dict(case.to_dict()) equals the case."""
    assert Case.from_dict(case.to_dict()) == case


@given(cases())
def test_round_trip_through_json_text(case: Case) -> None:
    """A case written as JSON text and read back with from_json equals the case."""
    assert Case.from_json(json.dumps(case.to_dict())) == case


@given(json_values())
def test_from_dict_raises_only_library_errors_on_any_json(value: Any) -> None:
    """from_dict on any JSON-like value returns a Case or raises a TwitchCDSError."""
    with contextlib.suppress(TwitchCDSError):
        Case.from_dict(value)


@given(case_like_payloads())
def test_from_dict_raises_only_library_errors_on_case_like_payloads(value: Any) -> None:
    """from_dict on a Case-shaped payload of arbitrary values returns a Case or a TwitchCDSError."""
    try:
        case = Case.from_dict(value)
    except TwitchCDSError as exc:
        problems = exc.problems
        assert problems
    else:
        assert Case.from_dict(case.to_dict()) == case


@given(st.text(max_size=60) | json_values().map(json.dumps))
def test_from_json_raises_only_library_errors_on_any_text(text: str) -> None:
    """from_json on any text returns a Case or raises a TwitchCDSError."""
    with contextlib.suppress(TwitchCDSError):
        Case.from_json(text)


@given(invalid_case_payloads())
def test_one_mutation_is_reported_at_its_path(mutated: tuple[dict[str, Any], str]) -> None:
    """A valid case with one wrong-typed or unknown field is rejected at that field's path."""
    payload, path = mutated
    with pytest.raises(InvalidCaseError) as info:
        Case.from_dict(payload)
    assert path in [p.path for p in info.value.problems]


_HISTORY_KEYS = ("duration_days, progressive, distribution, after_injury, painful, "
                 "caffeine_mg_per_day, sleep_hours_per_night, recent_strenuous_exercise, "
                 "family_history_motor_neuron_disease, prior_polio, pesticide_exposure, "
                 "alcohol_units_per_week, rapidly_worsening, weakness_onset_days")
_CASE_KEYS = "id, age, sex, setting, findings, history, medications, labs"
_UNITS = "e.g. mmol/L, mg/dL, mEq/L, m[IU]/L, U/L, %"

MESSAGES = [
    # columns: id, payload, every problem as str(problem), in order
    ("top-level-and-history", {
        "age": "44", "sex": "MALE", "setting": 1, "id": "", "weight": 70, "a b": 1,
        "history": {"painful": 1, "duration_days": 36_501, "distribution": "Focal", "coffee": 2},
    }, [
        f"$.weight: unknown key in case (expected one of {_CASE_KEYS}) (got 'weight')",
        f"$[\"a b\"]: unknown key in case (expected one of {_CASE_KEYS}) (got 'a b')",
        "$.age: must be a number (got '44')",
        "$.sex: must be one of 'female', 'male', 'other', 'unknown' (got 'MALE')",
        "$.setting: must be one of 'primary-care', 'neuromuscular-clinic' (got 1)",
        "$.id: must not be empty (got '')",
        f"$.history.coffee: unknown key in history (expected one of {_HISTORY_KEYS}) "
        "(got 'coffee')",
        "$.history.painful: must be true or false (got 1)",
        "$.history.duration_days: must be between 0 and 36500 days (got 36501)",
        "$.history.distribution: must be one of 'focal', 'multifocal', 'generalized' "
        "(got 'Focal')",
    ]),
    ("findings", {"findings": [
        {"id": "Bad", "status": "present"}, {"code": "HP:1", "status": "maybe"},
        {"status": "absent"}, "x", {"id": "a", "status": "present"},
        {"id": "a", "status": "present"}, {"id": "b", "status": "present"},
        {"id": "b", "status": "absent"},
    ]}, [
        "$.findings[0].id: must be a snake_case finding id (got 'Bad')",
        "$.findings[1].code: must be an HPO (HP:0000000) or SNOMED CT (SNOMEDCT:<6-18 digits>) "
        "code (got 'HP:1')",
        "$.findings[1].status: must be one of 'present', 'absent' (got 'maybe')",
        "$.findings[2]: a finding needs exactly one of 'id' or 'code'",
        "$.findings[3]: a finding must be a JSON object (got 'x')",
        "$.findings[5]: duplicate: id 'a' is already listed as present at $.findings[4] "
        "(got 'a')",
        "$.findings[7].status: id 'b' is absent here but present at $.findings[6] "
        "(got 'absent')",
    ]),
    ("medications-and-labs", {
        "medications": [{}, {"name": "  ", "rxnorm": "x1", "atc": "a02"}, {"name": "a\nb"}],
        "labs": [{"loinc": 2823, "value": "2.9"},
                 {"loinc": "2823-3", "value": math.inf, "unit": "furlongs"},
                 {"loinc": "2823-3", "value": 1, "unit": "mmol per L"}],
    }, [
        "$.medications[0]: a medication needs at least one of 'name', 'rxnorm', 'atc'",
        "$.medications[1].name: must not be empty (got '  ')",
        "$.medications[1].rxnorm: must be an RxNorm code (digits) (got 'x1')",
        "$.medications[1].atc: must be an ATC code such as A02BC01 (got 'a02')",
        "$.medications[2].name: must not contain control characters (got 'a\\nb')",
        "$.labs[0].unit: is required",
        "$.labs[0].loinc: must be a string (a LOINC code such as 2823-3) (got 2823)",
        "$.labs[0].value: must be a number (got '2.9')",
        "$.labs[1].value: must be a finite number (got inf)",
        f"$.labs[1].unit: not a unit the library knows ({_UNITS}) (got 'furlongs')",
        f"$.labs[2].unit: not UCUM syntax ({_UNITS}) (got 'mmol per L')",
    ]),
]


@pytest.mark.parametrize(("payload", "expected"), [r[1:] for r in MESSAGES],
                         ids=[r[0] for r in MESSAGES])
def test_every_checker_reports_its_exact_message(payload: dict[str, Any],
                                                 expected: list[str]) -> None:
    """Each kind of problem is reported with its exact path and message, all in payload order."""
    with pytest.raises(InvalidCaseError) as info:
        Case.from_dict(payload)
    assert [str(p) for p in info.value.problems] == expected


def _checked_from_dict(payload: Any) -> Case:
    """``Case.from_dict`` the plain way: the payload check, then every constructor checking."""
    problems = Problems()
    _check_payload(problems, payload)
    problems.raise_if_any()
    return Case(
        id=payload.get("id"), age=payload.get("age"), sex=payload.get("sex"),
        setting=payload.get("setting"),
        findings=tuple(FindingInput(**item) for item in payload.get("findings", ())),
        history=History(**payload.get("history", {})),
        medications=tuple(Medication(**item) for item in payload.get("medications", ())),
        labs=tuple(LabResult(**item) for item in payload.get("labs", ())),
    )


def _outcome(parse: Any, payload: Any) -> tuple[Any, ...]:
    """What parsing gives: the case (by value and by repr), or the error in every detail."""
    try:
        case = parse(payload)
    except TwitchCDSError as exc:
        return (type(exc), str(exc), exc.path, repr(exc.value),
                [(p.path, p.message, repr(p.value)) for p in exc.problems])
    return (Case, case, repr(case))


@given(cases().map(Case.to_dict) | case_like_payloads()
       | invalid_case_payloads().map(lambda mutated: mutated[0]) | json_values())
def test_from_dict_fast_path_agrees_with_checking_constructors(payload: Any) -> None:
    """from_dict builds its objects without re-running their checks; the result is the same.

    Valid or not, a payload gives the same case (equal, with the same repr) or the same error
    as building every object with its own checking constructor; and a case it builds passes
    those checks when rebuilt with ``attrs.evolve``.
    """
    fast = _outcome(Case.from_dict, payload)
    assert fast == _outcome(_checked_from_dict, payload)
    if fast[0] is Case:
        case = fast[1]
        assert attrs.evolve(case) == case
        assert all(attrs.evolve(item) == item for item in (
            *case.findings, case.history, *case.medications, *case.labs))
