"""Validation of FHIR resources with the ``fhir.resources`` R4B models (private).

``fhir.resources`` 8.x defaults to FHIR R5; twitchcds speaks R4, so it validates against the
package's R4B (4.3.0) models, whose resources are R4's with backwards-compatible additions. Model
errors are returned as :class:`~twitchcds.errors.Problem` rows with JSON paths below the
resource's own path, e.g. ``$.entry[3].resource.valueQuantity.value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twitchcds.errors import Problem
from twitchcds.interop._extras import require

__all__ = ["FHIR_VERSION", "model_problems"]

FHIR_VERSION = "4.0.1"
"""The FHIR release twitchcds reads and writes (validated with R4B models)."""


def _path(base: str, loc: tuple[int | str, ...]) -> str:
    out = base
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _resource_model(r4b: Any, kind: str) -> Any:
    """Return the R4B model class of resource type ``kind``, or ``None`` if it is not one."""
    resource_base = require("fhir.resources.R4B.resource", "fhir").Resource
    try:
        model = r4b.get_fhir_model_class(kind)
    except ValueError:
        return None
    return model if issubclass(model, resource_base) else None


def model_problems(resource: Any, path: str) -> list[Problem]:
    """Return what the R4B model of ``resource["resourceType"]`` finds wrong (empty if valid).

    Parameters
    ----------
    resource : object
        A FHIR resource in its JSON form.
    path : str
        JSON path of ``resource`` in the input document.

    Returns
    -------
    list of Problem

    Raises
    ------
    MissingExtraError
        If ``fhir.resources`` is not installed (``pip install "twitchcds[fhir]"``).

    Examples
    --------
    >>> [str(p) for p in model_problems({"resourceType": "Patient", "gender": 5}, "$")]
    ['$.gender: Input should be a valid string (got 5)']
    >>> [str(p) for p in model_problems({"resourceType": "Nope"}, "$.entry[0].resource")]
    ["$.entry[0].resource.resourceType: not a FHIR R4 resource type (got 'Nope')"]
    """
    r4b = require("fhir.resources.R4B", "fhir")
    if not isinstance(resource, Mapping):
        return [Problem(path, "a FHIR resource must be a JSON object", resource)]
    kind = resource.get("resourceType")
    model = _resource_model(r4b, kind) if isinstance(kind, str) else None
    if model is None:
        message = ("not a FHIR R4 resource type" if isinstance(kind, str)
                   else "is required and must be a string")
        return [Problem(f"{path}.resourceType", message, kind)]
    try:
        model.model_validate(dict(resource))
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if not callable(errors):
            return [Problem(path, f"invalid {kind}: {exc}")]
        return [_problem(path, e) for e in errors()]
    except (KeyError, TypeError, AttributeError) as exc:  # e.g. a contained resource of no type
        return [Problem(path, f"invalid {kind}: {type(exc).__name__} {exc}")]
    return []


def _problem(path: str, error: Mapping[str, Any]) -> Problem:
    """Turn one pydantic error into a problem (objects are not echoed back, only scalars)."""
    where = _path(path, tuple(error["loc"]))
    value = error.get("input")
    if "input" not in error or isinstance(value, Mapping | list):
        return Problem(where, str(error["msg"]))
    return Problem(where, str(error["msg"]), value)
