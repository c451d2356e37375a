"""The shipped JSON Schemas accept every example and produced document and reject bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("jsonschema")

from twitchcds import assess
from twitchcds.errors import InvalidInputError
from twitchcds.schemas import (
    SCHEMA_NAMES,
    load_schema,
    validate_assessment_dict,
    validate_case_dict,
)

ROOT = Path(__file__).parent.parent
CASES = sorted((ROOT / "examples" / "cases").glob("*.json"))


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schemas_are_valid_draft_2020_12(name):
    """Each shipped schema is itself a valid draft 2020-12 schema."""
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_example_cases_and_their_assessments_validate(path):
    """Every example case and the assessment produced from it validate against the schemas."""
    data = json.loads(path.read_text(encoding="utf-8"))
    validate_case_dict(data)
    validate_assessment_dict(assess(data).to_dict())


def test_assessment_without_workup_validates():
    """An assessment with no tests, questions or explanation still matches the schema."""
    validate_assessment_dict(assess({"age": 30}, workup=False, explain=False).to_dict())


BAD_CASES = [
    ("string-age", {"age": "44"}, "$.age"),
    ("upper-sex", {"sex": "MALE"}, "$.sex"),
    ("unknown-key", {"age": 30, "weight": 80}, "$"),
    ("finding-id-and-code", {"findings": [{"id": "a", "code": "HP:0002380",
                                           "status": "present"}]}, "$.findings[0]"),
    ("bad-loinc", {"labs": [{"loinc": "2823", "value": 1, "unit": "mmol/L"}]},
     "$.labs[0].loinc"),
    ("says-nothing", {"id": "x"}, "$"),
    ("int-as-bool", {"history": {"progressive": 1}}, "$.history.progressive"),
]


@pytest.mark.parametrize(("payload", "path"), [b[1:] for b in BAD_CASES],
                         ids=[b[0] for b in BAD_CASES])
def test_schema_rejects_invalid_cases(payload, path):
    """A payload breaking Case v1 fails the schema at the offending path."""
    with pytest.raises(InvalidInputError) as info:
        validate_case_dict(payload)
    assert info.value.path == path


def test_schema_rejects_broken_assessment():
    """An assessment with an out-of-range probability fails the schema."""
    data = assess({"age": 30}).to_dict()
    data["differential"][0]["probability"] = 1.5
    with pytest.raises(InvalidInputError) as info:
        validate_assessment_dict(data)
    assert info.value.path == "$.differential[0].probability"


def test_unknown_schema_name_is_an_error():
    """Asking for a schema that does not ship raises InvalidInputError."""
    with pytest.raises(InvalidInputError):
        load_schema("case-v2")  # type: ignore[arg-type]
