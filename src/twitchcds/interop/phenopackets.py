"""GA4GH Phenopackets v2 in: a phenopacket (JSON form, camelCase) to a case.

Read:

- ``subject.sex``: ``MALE``/``FEMALE``/``OTHER_SEX``/``UNKNOWN_SEX`` -> ``male``/``female``/
  ``other``/``unknown``;
- ``subject.timeAtLastEncounter.age.iso8601duration`` -> age in years (``P63Y6M`` -> 63.5;
  weeks and days count as 7 and 1 of 365.25 days a year);
- ``phenotypicFeatures[].type.id`` (HPO) -> finding, absent when ``excluded`` is true;
- ``measurements[]`` with ``assay.id`` ``LOINC:<code>`` and ``value.quantity`` -> lab, the unit
  from ``unit.id`` when it is ``UCUM:<unit>``, else ``unit.label``;
- ``medicalActions[].treatment.agent`` with id ``RXNORM:<code>`` or ``ATC:<code>`` (and a label
  starting with a generic name the knowledge base lists) -> medication.

The whole document is first validated against the Phenopacket v2 protobuf schema with the
``phenopackets`` package (``google.protobuf.json_format.ParseDict``); problems are reported at
exact JSON paths. Features, measurements and treatments the knowledge base cannot use are
skipped and reported, as for FHIR.

Examples
--------
>>> packet = {"id": "pp1", "subject": {"id": "s1", "sex": "FEMALE",
...           "timeAtLastEncounter": {"age": {"iso8601duration": "P63Y6M"}}},
...           "phenotypicFeatures": [{"type": {"id": "HP:0002380", "label": "Fasciculations"}},
...                                  {"type": {"id": "HP:0001324"}, "excluded": True}],
...           "metaData": {"created": "2024-01-01T00:00:00Z", "createdBy": "me",
...                        "phenopacketSchemaVersion": "2.0"}}
>>> case_from_phenopacket(packet).to_dict()  # doctest: +NORMALIZE_WHITESPACE
{'id': 'pp1', 'age': 63.5, 'sex': 'female',
 'findings': [{'status': 'present', 'code': 'HP:0002380'},
              {'status': 'absent', 'code': 'HP:0001324'}]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from twitchcds.case import Case
from twitchcds.errors import InvalidInputError, Problem
from twitchcds.interop._builder import CaseBuilder, Origin
from twitchcds.interop._extras import require
from twitchcds.interop._report import ImportResult
from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["case_from_phenopacket", "read_phenopacket"]

_SEX: Final = {"MALE": "male", "FEMALE": "female", "OTHER_SEX": "other",
               "UNKNOWN_SEX": "unknown"}
_DURATION: Final = re.compile(r"P(?=[0-9])(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)W)?"
                              r"(?:([0-9]+)D)?")
_HPO: Final = re.compile(r"HP:[0-9]{7}")


def _fields(message: Any) -> dict[str, Any]:
    descriptor = message.DESCRIPTOR
    return {**{f.name: f for f in descriptor.fields}, **{f.json_name: f for f in descriptor.fields}}


def _repeated(field: Any) -> bool:
    """Return whether a protobuf field is repeated (``label`` is deprecated in protobuf 6)."""
    flag = getattr(field, "is_repeated", None)
    if flag is None:  # protobuf < 6
        return bool(field.label == field.LABEL_REPEATED)
    return bool(flag() if callable(flag) else flag)


def _locate(message: Any, data: Any, path: str, parse: Any,
            error: type[Exception] | tuple[type[Exception], ...]) -> Problem:
    """Find the innermost JSON path at which ``data`` fails to parse into ``message``."""
    if not isinstance(data, Mapping):
        return Problem(path, "must be a JSON object", type(data).__name__)
    fields = _fields(message)
    for key, value in data.items():
        where = f"{path}.{key}"
        field = fields.get(key)
        if field is None:
            return Problem(where, f"unknown field of {message.DESCRIPTOR.name}")
        is_message = field.message_type is not None and not field.message_type.GetOptions(
        ).map_entry and field.message_type.full_name.startswith("org.phenopackets")
        if is_message and _repeated(field) and isinstance(value, list):
            for i, item in enumerate(value):
                try:
                    parse(item, getattr(type(message)(), field.name).add())
                except error:
                    return _locate(getattr(type(message)(), field.name).add(), item,
                                   f"{where}[{i}]", parse, error)
        elif is_message and not _repeated(field):
            try:
                parse(value, getattr(type(message)(), field.name))
            except error:
                return _locate(getattr(type(message)(), field.name), value, where, parse, error)
        else:
            try:
                parse({key: value}, type(message)())
            except error as exc:
                text = str(exc).rsplit(": ", 1)[-1].rstrip(".")
                return Problem(where, f"invalid {field.name}: {text}", value)
    return Problem(path, "does not parse as a Phenopacket v2 element")


def _validate(obj: Any) -> None:
    """Parse ``obj`` as a Phenopacket v2 message; raise at the failing JSON path."""
    schema = require("phenopackets", "phenopackets")
    json_format = require("google.protobuf.json_format", "phenopackets")
    # protobuf reports some wrong JSON types (null, true, "" where a message belongs) as
    # TypeError/AttributeError rather than ParseError: all of them are input errors here.
    failures = (json_format.ParseError, TypeError, AttributeError, ValueError)
    try:
        json_format.ParseDict(obj, schema.Phenopacket())
    except failures:
        try:
            problem = _locate(schema.Phenopacket(), obj, "$", json_format.ParseDict, failures)
        except failures:
            problem = Problem("$", "does not parse as a Phenopacket v2")
        raise InvalidInputError.from_problems([problem]) from None


def _age(duration: str) -> float | None:
    match = _DURATION.fullmatch(duration)
    if not match:
        return None
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return round(years + months / 12 + (weeks * 7 + days) / 365.25, 2)


def read_phenopacket(obj: Any, *, kb: KnowledgeBase | None = None, setting: str | None = None,
                     ) -> ImportResult:
    """Read a Phenopacket v2 (JSON form) into a case, with a report of what was skipped.

    Parameters
    ----------
    obj : dict
        The phenopacket as parsed JSON (camelCase keys, as the phenopacket tools write it).
    kb : KnowledgeBase, optional
        Decides which HPO terms, LOINC codes and medications can be used (default: built-in).
    setting : str, optional
        Copied into the case; the case id is the phenopacket's ``id``.

    Returns
    -------
    ImportResult

    Raises
    ------
    InvalidInputError
        The document is not a valid Phenopacket v2 (path of the first failing field), an age is
        not an ISO 8601 duration, or a measurement lacks a value or unit.
    UnitConversionError, ContradictionError
        As for Case v1, at the phenopacket's paths.
    MissingExtraError
        Without the ``phenopackets`` package (``pip install "twitchcds[phenopackets]"``).
    """
    from twitchcds._state import builtin_knowledge_base  # noqa: PLC0415  (lazy load)

    if not isinstance(obj, Mapping):
        raise InvalidInputError.from_problems(
            [Problem("$", "a phenopacket must be a JSON object", type(obj).__name__)])
    _validate(obj)
    b = CaseBuilder(builtin_knowledge_base() if kb is None else kb)
    _subject(b, obj.get("subject"))
    for i, feature in enumerate(_objects(obj, "phenotypicFeatures")):
        path = f"$.phenotypicFeatures[{i}]"
        code = _at(feature, "type", "id") or ""
        origin = Origin("phenotypicFeature", code or None, path,
                        {"code": ".type.id", "status": ".excluded"})
        if not _HPO.fullmatch(code):
            b.skip(origin, f"{code!r} is not an HPO term")
            continue
        b.finding(code, "absent" if feature.get("excluded") is True else "present", origin)
    for i, measurement in enumerate(_objects(obj, "measurements")):
        _measurement(b, measurement, f"$.measurements[{i}]")
    for i, action in enumerate(_objects(obj, "medicalActions")):
        _treatment(b, action, f"$.medicalActions[{i}]")
    case_id = obj.get("id") if isinstance(obj.get("id"), str) and obj.get("id") else None
    return b.build(case_id=case_id, setting=setting)


def _at(obj: Any, *keys: str) -> Any:
    """Walk nested JSON objects; ``None`` where a key is missing or null.

    The protobuf check has already refused wrong types, and the proto3 JSON mapping reads null
    as the field's default, so a null anywhere on the way means "not given".
    """
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _objects(obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """Return ``obj[key]`` as a list of JSON objects, or raise at the first item that is not."""
    items = obj.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise InvalidInputError.from_problems(
            [Problem(f"$.{key}", "must be a list", type(items).__name__)])
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidInputError.from_problems(
                [Problem(f"$.{key}[{i}]", "must be a JSON object", type(item).__name__)])
    return items


def _subject(b: CaseBuilder, subject: Any) -> None:
    if not isinstance(subject, Mapping):
        return
    sid = subject.get("id") or None
    if subject.get("sex") in _SEX:
        b.scalar("sex", _SEX[subject["sex"]], Origin("subject", sid, "$.subject", {"sex": ".sex"}))
    duration = _at(subject, "timeAtLastEncounter", "age", "iso8601duration")
    if duration is not None:
        path = "$.subject.timeAtLastEncounter.age.iso8601duration"
        years = _age(duration)
        if years is None:
            b.problem(path, "must be an ISO 8601 duration such as P63Y6M", duration)
        else:
            b.scalar("age", years, Origin("subject", sid, path))


def _measurement(b: CaseBuilder, measurement: Mapping[str, Any], path: str) -> None:
    assay = _at(measurement, "assay", "id") or ""
    origin = Origin("measurement", assay or None, path)
    if not assay.startswith("LOINC:"):
        b.skip(origin, f"assay {assay!r} is not a LOINC code")
        return
    quantity = _at(measurement, "value", "quantity")
    if quantity is None:
        b.skip(origin, "value is not a quantity")
        return
    value, unit = quantity.get("value"), _at(quantity, "unit") or {}
    unit_id = unit.get("id", "")
    text = unit_id[5:] if unit_id.startswith("UCUM:") else unit.get("label")
    if not isinstance(value, int | float) or isinstance(value, bool):
        b.problem(f"{path}.value.quantity.value", "must be a number", value)
        return
    if not text:
        b.problem(f"{path}.value.quantity.unit", "needs a UCUM id (UCUM:mmol/L) or a label")
        return
    fields = {"value": ".value.quantity.value", "loinc": ".assay.id",
              "unit": ".value.quantity.unit." + ("id" if unit_id.startswith("UCUM:") else "label")}
    b.lab(assay[6:], value, text, Origin("measurement", assay, path, fields))


def _treatment(b: CaseBuilder, action: Mapping[str, Any], path: str) -> None:
    agent = _at(action, "treatment", "agent") or {}
    prefix, _, code = str(agent.get("id", "")).partition(":")
    entry = {"RXNORM": {"rxnorm": code}, "ATC": {"atc": code}}.get(prefix.upper())
    origin = Origin("medicalAction", agent.get("id") or None, path)
    if entry is None or not code:
        b.skip(origin, "no RxNorm or ATC treatment agent")
        return
    label = " ".join(str(agent.get("label", "")).lower().split())
    for cls in b.kb.medication_classes:
        name = next((n for n in cls.names if label == n or label.startswith(n + " ")), None)
        if name:
            entry["name"] = name
            break
    key, value = next(iter(entry.items()))
    if not (value.isdigit() if key == "rxnorm" else re.fullmatch(r"[A-Z][0-9A-Z]{0,6}", value)):
        b.problem(f"{path}.treatment.agent.id", f"is not a valid {key} code", agent.get("id"))
        return
    b.medication(entry, origin)


def case_from_phenopacket(obj: Any, *, kb: KnowledgeBase | None = None,
                          setting: str | None = None) -> Case:
    """Return only the case of :func:`read_phenopacket` (what ``Case.from_phenopacket`` does).

    Raises
    ------
    InvalidInputError
        As :func:`read_phenopacket`.
    """
    return read_phenopacket(obj, kb=kb, setting=setting).case
