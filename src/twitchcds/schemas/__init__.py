"""JSON Schemas (draft 2020-12) for Case v1, Assessment v1 and Scores v1, shipped in the package.

The schemas let integrators validate payloads in any language. They describe the shape (keys,
types, enums, bounds, code formats); what needs the knowledge base (known ids and codes,
convertible units, contradictions) or finer text rules (no control characters) is checked by
twitchcds itself, so a payload the schema accepts may still be refused by
:meth:`twitchcds.Case.from_dict`, never the other way round.

Examples
--------
>>> schema = load_schema("case-v1")
>>> schema["$schema"]
'https://json-schema.org/draft/2020-12/schema'
>>> validate_case_dict({"age": 30, "sex": "male"})
>>> validate_case_dict({"age": "30"})
Traceback (most recent call last):
...
twitchcds.errors.InvalidInputError: invalid input: $.age: '30' is not of type 'number'
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any, Literal

from twitchcds.errors import InvalidInputError, Problem
from twitchcds.interop._extras import require

__all__ = ["SCHEMA_NAMES", "load_schema", "validate_assessment_dict", "validate_case_dict",
           "validate_scores_dict"]

SchemaName = Literal["case-v1", "assessment-v1", "scores-v1"]
SCHEMA_NAMES: tuple[SchemaName, ...] = ("case-v1", "assessment-v1", "scores-v1")
"""Names of the shipped schemas (file ``<name>.schema.json`` in this package)."""


@cache
def _text(name: str) -> str:
    return (files(__name__) / f"{name}.schema.json").read_text(encoding="utf-8")


def load_schema(name: SchemaName) -> dict[str, Any]:
    """Return a fresh copy of the JSON Schema ``name`` (one of :data:`SCHEMA_NAMES`).

    Raises
    ------
    InvalidInputError
        If ``name`` is not one of :data:`SCHEMA_NAMES`.
    """
    if name not in SCHEMA_NAMES:
        raise InvalidInputError(f"invalid input: unknown schema {name!r}; known: "
                                f"{', '.join(SCHEMA_NAMES)}", path="name", value=name)
    data: dict[str, Any] = json.loads(_text(name))
    return data


@cache
def _validator(name: SchemaName) -> Any:
    jsonschema = require("jsonschema", "schemas")
    schema = load_schema(name)
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _validate(name: SchemaName, data: Any) -> None:
    errors = sorted(_validator(name).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidInputError.from_problems(
            [Problem(e.json_path, e.message) for e in errors])


def validate_case_dict(data: Any) -> None:
    """Validate ``data`` against the Case v1 schema.

    Raises
    ------
    InvalidInputError
        Listing every schema violation with its JSON path.
    MissingExtraError
        Without ``jsonschema`` (``pip install "twitchcds[schemas]"``).
    """
    _validate("case-v1", data)


def validate_assessment_dict(data: Any) -> None:
    """Validate ``data`` (e.g. ``assessment.to_dict()``) against the Assessment v1 schema.

    Raises
    ------
    InvalidInputError
        Listing every schema violation with its JSON path.
    MissingExtraError
        Without ``jsonschema`` (``pip install "twitchcds[schemas]"``).

    Examples
    --------
    >>> from twitchcds import assess
    >>> validate_assessment_dict(assess({"age": 40}).to_dict())
    """
    _validate("assessment-v1", data)


def validate_scores_dict(data: Any) -> None:
    """Validate ``data`` (e.g. ``case_scores.to_dict()``) against the Scores v1 schema.

    Raises
    ------
    InvalidInputError
        Listing every schema violation with its JSON path.
    MissingExtraError
        Without ``jsonschema`` (``pip install "twitchcds[schemas]"``).

    Examples
    --------
    >>> from twitchcds import assess
    >>> from twitchcds.scores import CaseScores
    >>> validate_scores_dict(CaseScores.from_assessment(assess({"age": 40})).to_dict())
    """
    _validate("scores-v1", data)
