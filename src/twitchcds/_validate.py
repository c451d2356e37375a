"""Small named checkers for Case v1 payloads (private).

Checkers never raise: a field checker returns what is wrong with a value, and :func:`check_record`
adds it as a :class:`~twitchcds.errors.Problem`, with the JSON path of the offending field, to a
:class:`Problems` collector, so that every problem in a payload is reported in one round. Paths
are formatted only for fields that have a problem. :class:`~twitchcds.case.Case` uses the same
checkers for JSON input (:meth:`~twitchcds.case.Case.from_dict`) and for direct construction.

The limits below are part of the documented contract (see :mod:`twitchcds.case`). Nothing here
is public API: names are imported explicitly by :mod:`twitchcds.case`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from attrs import frozen

from twitchcds.errors import ContradictionError, InvalidCaseError, Problem, UnitConversionError
from twitchcds.typing import SETTINGS, STATUSES
from twitchcds.units import normalise_unit  # cheap: it imports pint only on first use

MAX_TEXT: Final = 200
"""Longest accepted string (ids, names, codes, units), in characters."""
MAX_ITEMS: Final = 500
"""Most entries accepted in each of ``findings``, ``medications`` and ``labs``."""
AGE_YEARS: Final = (0.0, 130.0)
"""Accepted age range, years (fractions allowed for infants)."""
DURATION_DAYS: Final = (0.0, 36_500.0)
"""Accepted ``history.duration_days`` range (up to 100 years)."""
CAFFEINE_MG_PER_DAY: Final = (0.0, 5_000.0)
"""Accepted ``history.caffeine_mg_per_day`` range (10 g/day is lethal; 5 g is already extreme)."""
SLEEP_HOURS_PER_NIGHT: Final = (0.0, 24.0)
"""Accepted ``history.sleep_hours_per_night`` range."""
ALCOHOL_UNITS_PER_WEEK: Final = (0.0, 500.0)
"""Accepted ``history.alcohol_units_per_week`` range (UK units of 8 g ethanol)."""
MAX_JSON_CHARS: Final = 5_000_000
"""Longest Case v1 JSON text accepted, in characters."""

_FINDING_ID: Final = re.compile(r"[a-z][a-z0-9_]*")
_FINDING_CODE: Final = re.compile(r"HP:[0-9]{7}|SNOMEDCT:[0-9]{6,18}")
_LOINC: Final = re.compile(r"[0-9]{1,7}-[0-9]")
_ATC: Final = re.compile(r"[A-Z](?:[0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?)?")
_RXNORM: Final = re.compile(r"[0-9]{1,12}")
# C0 and C1 control characters, and lone surrogates: a JSON "\\ud800" escape parses to a str that
# cannot be encoded as UTF-8, so echoing it back (case id, report) would fail far from the input.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_DISTRIBUTIONS: Final = ("focal", "multifocal", "generalized")
_MISSING: Any = object()


def member_path(path: str, key: object) -> str:
    """Return the JSON path of ``key`` inside the object at ``path`` (``$.a`` or ``$["a b"]``)."""
    # An ASCII identifier is exactly [A-Za-z_][A-Za-z0-9_]*: the plain keys, without a regex.
    if isinstance(key, str) and key.isascii() and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key) if isinstance(key, str) else repr(key)}]"


class Problems:
    """Collects problems; contradictions are kept apart to choose the error class."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.contradictions: list[Problem] = []

    def add(self, path: str, message: str, value: Any = _MISSING) -> None:
        """Record one problem at ``path`` (with the value that arrived, when there is one).

        A JSON ``NaN``/``Infinity`` was already reported by :func:`parse_json_text`; checks
        that trip over it again are not repeated.
        """
        if isinstance(value, _Constant):
            return
        if isinstance(value, list | tuple | Mapping) and not _printable(value):
            value = _TooDeep(type(value).__name__)
        self.items.append(Problem(path, message) if value is _MISSING
                          else Problem(path, message, value))

    def contradiction(self, path: str, message: str, value: Any) -> None:
        """Record that the payload contradicts itself at ``path``."""
        self.contradictions.append(Problem(path, message, value))

    def __bool__(self) -> bool:
        return bool(self.items or self.contradictions)

    def raise_if_any(self) -> None:
        """Raise one error listing every problem (contradictions last).

        Raises
        ------
        ContradictionError
            If every problem is a contradiction.
        InvalidCaseError
            Otherwise, if there is any problem.
        """
        if self.items:
            raise InvalidCaseError.from_problems(self.items + self.contradictions)
        if self.contradictions:
            raise ContradictionError.from_problems(self.contradictions)


class _TooDeep:
    """Stands in for a container too deeply nested to show in a message (``repr`` would fail)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind} nested too deeply to show>"


def _printable(value: object) -> bool:
    """Return whether ``repr(value)`` works (a deeply nested list exhausts the call stack)."""
    try:
        repr(value)
    except RecursionError:
        return False
    return True


Check = Callable[[Any], str | None]
"""A field checker: ``check(value)`` returns what is wrong with ``value`` (a message) or ``None``.

Checkers are pure and never see the JSON path: :func:`check_record` formats a field's path only
when its checker finds a problem, so a valid payload costs no path strings.
"""


@frozen
class Nested:
    """A field holding JSON objects (one object, or an array of them), checked at their own paths.

    ``check(problems, value, path)`` records every problem of ``value``, the field at ``path``.
    """

    check: Callable[[Problems, Any, str], None]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_object(value: object) -> bool:
    """Return whether ``value`` is a mapping (tested as a ``dict`` first: the ABC check is slow)."""
    return isinstance(value, (dict, Mapping))


def _finite(value: float) -> bool:
    """Return whether a number is finite as a float (huge integers overflow)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def number(bounds: tuple[float, float] | None, unit: str = "") -> Check:
    """Checker for a JSON number (never a bool or a string), finite, within ``bounds``."""

    def check(value: Any) -> str | None:
        if not _is_number(value):
            return "must be a number"
        if not _finite(value):
            return "must be a finite number"
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            return f"must be between {bounds[0]:g} and {bounds[1]:g}{unit}"
        return None

    return check


def boolean(value: Any) -> str | None:
    """Check a JSON boolean (``1`` and ``"true"`` are not booleans)."""
    return None if isinstance(value, bool) else "must be true or false"


def choice(options: Iterable[str]) -> Check:
    """Checker for a string that is exactly one of ``options`` (case-sensitive)."""
    allowed = tuple(options)
    shown = ", ".join(repr(o) for o in allowed)

    def check(value: Any) -> str | None:
        if not isinstance(value, str) or value not in allowed:
            return f"must be one of {shown}"
        return None

    return check


def text(pattern: re.Pattern[str] | None = None, what: str = "") -> Check:
    """Checker for a non-blank string of at most :data:`MAX_TEXT` characters matching ``pattern``.

    ``pattern`` must match the whole string; it spells digits ``[0-9]`` because a bare digit
    class also matches the digits of other scripts. The first rule broken is the one reported.
    """
    not_a_string = f"must be a string{f' ({what})' if what else ''}"
    mismatch = f"must be {what}"

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return not_a_string
        if not value.strip():
            return "must not be empty"
        if len(value) > MAX_TEXT:
            return f"must be at most {MAX_TEXT} characters"
        if _CONTROL.search(value):
            return "must not contain control characters"
        if pattern is not None and not pattern.fullmatch(value):
            return mismatch
        return None

    return check


_UNIT_TEXT: Final = text(what="a UCUM unit")


def _unit(value: Any) -> str | None:
    """Check a lab unit: a string the unit registry understands (convertibility comes later)."""
    problem = _UNIT_TEXT(value)
    if problem is not None:
        return problem
    try:
        normalise_unit(value)
    except UnitConversionError as exc:
        # normalise_unit reports exactly one problem, about the unit itself: its message is ours.
        (problem_at_unit,) = exc.problems
        return problem_at_unit.message
    return None


@frozen
class Record:
    """The shape of one JSON object: its fields' checkers and which fields it needs.

    ``plain``, when given, recognises the most common valid form of the object at a glance: it
    returns ``True`` only for an object with no problem (so the checks can be skipped), and
    ``False`` for anything else, valid or not, which the checks then examine.
    """

    name: str
    fields: Mapping[str, Check | Nested]
    required: tuple[str, ...] = ()
    exactly_one: tuple[str, ...] = ()
    at_least_one: tuple[str, ...] = ()
    plain: Callable[[Any], bool] | None = None


def _plain_finding(value: Any) -> bool:
    """Return whether ``value`` is ``{"id": <snake_case id>, "status": <status>}``.

    Such a finding passes every check of :data:`FINDING`: the id pattern admits no blank or
    control character. Property-tested against the checks.

    Examples
    --------
    >>> _plain_finding({"id": "cramps", "status": "present"})
    True
    >>> _plain_finding({"id": "Cramps", "status": "present"})
    False
    """
    if not isinstance(value, dict) or len(value) != 2:
        return False
    finding_id, status = value.get("id"), value.get("status")
    return (isinstance(status, str) and status in STATUSES and isinstance(finding_id, str)
            and len(finding_id) <= MAX_TEXT and _FINDING_ID.fullmatch(finding_id) is not None)


FINDING: Final = Record(
    "finding",
    {"status": choice(STATUSES), "id": text(_FINDING_ID, "a snake_case finding id"),
     "code": text(_FINDING_CODE, "an HPO (HP:0000000) or SNOMED CT (SNOMEDCT:<6-18 digits>) "
                                 "code"),
     "current": boolean},
    required=("status",), exactly_one=("id", "code"), plain=_plain_finding,
)
HISTORY: Final = Record("history", {
    "duration_days": number(DURATION_DAYS, " days"),
    "progressive": boolean,
    "distribution": choice(_DISTRIBUTIONS),
    "after_injury": boolean,
    "painful": boolean,
    "caffeine_mg_per_day": number(CAFFEINE_MG_PER_DAY, " mg/day"),
    "sleep_hours_per_night": number(SLEEP_HOURS_PER_NIGHT, " hours"),
    "recent_strenuous_exercise": boolean,
    "family_history_motor_neuron_disease": boolean,
    "prior_polio": boolean,
    "pesticide_exposure": boolean,
    "alcohol_units_per_week": number(ALCOHOL_UNITS_PER_WEEK, " units/week"),
    "rapidly_worsening": boolean,
    "weakness_onset_days": number(DURATION_DAYS, " days"),
})
MEDICATION: Final = Record(
    "medication",
    {"name": text(what="a medication name"), "rxnorm": text(_RXNORM, "an RxNorm code (digits)"),
     "atc": text(_ATC, "an ATC code such as A02BC01")},
    at_least_one=("name", "rxnorm", "atc"),
)
LAB: Final = Record(
    "lab",
    {"loinc": text(_LOINC, "a LOINC code such as 2823-3"), "value": number(None), "unit": _unit},
    required=("loinc", "value", "unit"),
)


def check_record(problems: Problems, record: Record, values: Mapping[str, Any],
                 path: str) -> None:
    """Check the given fields of one object (``values`` holds only the fields that were given)."""
    for key in record.required:
        if key not in values:
            problems.add(member_path(path, key), "is required")
    if record.exactly_one and len(values.keys() & record.exactly_one) != 1:
        names = " or ".join(repr(k) for k in record.exactly_one)
        problems.add(path, f"a {record.name} needs exactly one of {names}")
    if record.at_least_one and values.keys().isdisjoint(record.at_least_one):
        names = ", ".join(repr(k) for k in record.at_least_one)
        problems.add(path, f"a {record.name} needs at least one of {names}")
    checks = record.fields
    for key, value in values.items():
        check = checks[key]
        if isinstance(check, Nested):
            check.check(problems, value, member_path(path, key))
        else:
            problem = check(value)
            if problem is not None:
                problems.add(member_path(path, key), problem, value)


def check_object(problems: Problems, value: Any, path: str, record: Record) -> None:
    """Check that ``value`` is a JSON object of shape ``record``: no unknown keys, valid fields."""
    if record.plain is not None and record.plain(value):
        return
    if not is_object(value):
        problems.add(path, f"a {record.name} must be a JSON object", value)
        return
    checks = record.fields
    unknown = [key for key in value if key not in checks]
    for key in unknown:
        expected = ", ".join(checks)
        problems.add(member_path(path, key), f"unknown key in {record.name} (expected one of "
                                             f"{expected})", key)
    if unknown or not isinstance(value, dict):  # else a dict of known fields is used as it is
        value = {k: v for k, v in value.items() if k in checks}
    check_record(problems, record, value, path)


def array_of(record: Record) -> Nested:
    """Checker for a JSON array of at most :data:`MAX_ITEMS` objects of shape ``record``."""

    def check(problems: Problems, value: Any, path: str) -> None:
        if not isinstance(value, (list, tuple)):
            problems.add(path, f"must be an array of {record.name} objects", value)
            return
        if len(value) > MAX_ITEMS:
            problems.add(path, f"must have at most {MAX_ITEMS} entries", len(value))
            return
        for i, item in enumerate(value):
            check_object(problems, item, f"{path}[{i}]", record)

    return Nested(check)


def object_of(record: Record) -> Nested:
    """Checker for a nested JSON object of shape ``record``."""

    def check(problems: Problems, value: Any, path: str) -> None:
        check_object(problems, value, path, record)

    return Nested(check)


CASE: Final = Record("case", {
    "id": text(what="a case identifier"),
    "age": number(AGE_YEARS, " years"),
    "sex": choice(("female", "male", "other", "unknown")),
    "setting": choice(SETTINGS),
    "findings": array_of(FINDING),
    "history": object_of(HISTORY),
    "medications": array_of(MEDICATION),
    "labs": array_of(LAB),
})


def check_findings(problems: Problems, findings: Iterable[tuple[Any, Any, Any, Any]],
                   path: str = "$.findings") -> None:
    """Report findings named twice, as duplicates or (different status) contradictions.

    ``findings`` yields ``(status, id, code, current)``; entries whose own fields are invalid
    are skipped (their problems are reported by :func:`check_record`). A current finding and a
    history entry (``current`` false) of the same id are different statements, never a
    contradiction.
    """
    seen: dict[tuple[str, str, bool], tuple[int, str]] = {}
    for i, (status, finding_id, code, current) in enumerate(findings):
        if status not in STATUSES or (finding_id is None) == (code is None):
            continue
        key = (("id", finding_id, current is not False) if finding_id is not None
               else ("code", code, current is not False))
        if not isinstance(key[1], str):
            continue
        if key not in seen:
            seen[key] = (i, status)
            continue
        first, first_status = seen[key]
        where = f"{path}[{i}]"
        if first_status == status:
            problems.add(where, f"duplicate: {key[0]} {key[1]!r} is already listed as "
                                f"{status} at {path}[{first}]", key[1])
        else:
            problems.contradiction(f"{where}.status", f"{key[0]} {key[1]!r} is {status} here but "
                                                      f"{first_status} at {path}[{first}]",
                                   status)


# --- JSON text ------------------------------------------------------------------------------


class _Constant:
    """Stands in for a JSON ``NaN``/``Infinity``/``-Infinity`` so it can be reported by path."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the keys it saw more than once."""

    duplicates: tuple[str, ...] = ()


def _repeated(pairs: list[tuple[str, Any]]) -> tuple[str, ...]:
    """Keys seen more than once among ``pairs``, in first-repeat order."""
    seen: set[str] = set()
    repeated: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    return tuple(repeated)


def read_json_source(source: object) -> str:
    """Return the JSON text of ``source``: the text itself, or a file's contents.

    A :class:`os.PathLike` is always a file; a string is a file path when it ends in ``.json`` and
    does not start like JSON text. Files are read as UTF-8 (a byte-order mark is allowed).

    Raises
    ------
    InvalidCaseError
        If ``source`` is neither text nor a path, or the file cannot be read.
    """
    if isinstance(source, str):
        looks_like_path = source.endswith(".json") and source.lstrip()[:1] not in {"{", "[", '"'}
        if not looks_like_path:
            return source
    elif not isinstance(source, os.PathLike):
        raise InvalidCaseError.from_problems(
            [Problem("$", "from_json needs JSON text or a path", type(source).__name__)])
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise InvalidCaseError.from_problems(
            [Problem("$", f"cannot read case file: {reason}", str(path))]) from None


def parse_json_text(text: str) -> tuple[Any, Problems]:
    """Parse Case v1 JSON text strictly: standard JSON only, no repeated keys.

    Returns the parsed value and the problems found in it (``NaN``/``Infinity`` constants and
    repeated keys, each at its JSON path); the caller adds the Case v1 checks.

    Raises
    ------
    InvalidCaseError
        If the text is too long or not JSON at all (message with line and column).
    """
    if len(text) > MAX_JSON_CHARS:
        raise InvalidCaseError.from_problems(
            [Problem("$", f"JSON text must be at most {MAX_JSON_CHARS} characters", len(text))])
    if not text.strip():
        # Not the path hint below: an empty file read from a path is empty, not misnamed.
        raise InvalidCaseError.from_problems([Problem("$", "empty JSON text: expected a case "
                                                           "object")])
    irregular: list[object] = []  # set by the hooks: only then is the document walked

    def constant(name: str) -> _Constant:
        irregular.append(name)
        return _Constant(name)

    def member(pairs: list[tuple[str, Any]]) -> _Object:
        obj = _Object(pairs)  # the last of repeated keys wins, as in json.loads
        if len(obj) != len(pairs):
            obj.duplicates = _repeated(pairs)
            irregular.append(obj)
        return obj

    try:
        data = json.loads(text, parse_constant=constant, object_pairs_hook=member)
    except json.JSONDecodeError as exc:
        hint = "" if exc.pos or text.lstrip()[:1] in {"{", "[", "\ufeff"} else (
            " (a file is read only from a pathlib.Path or a string ending in .json)")
        raise InvalidCaseError.from_problems([Problem(
            "$", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}")],
        ) from None
    except (RecursionError, ValueError) as exc:  # too deep; an integer of over 4300 digits
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidCaseError.from_problems([Problem("$", f"invalid JSON: {reason}")]) from None
    problems = Problems()
    if not irregular:
        return data, problems
    stack: list[tuple[Any, str]] = [(data, "$")]
    while stack:  # iterative: a deep document must not exhaust the call stack here either
        value, path = stack.pop()
        if isinstance(value, _Constant):
            problems.items.append(Problem(path, "NaN and Infinity are not valid JSON", value))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(value))))
        elif isinstance(value, _Object):
            problems.items.extend(Problem(member_path(path, key), "duplicate key in a JSON object",
                                          value[key]) for key in value.duplicates)
            stack.extend((item, member_path(path, key)) for key, item in reversed(value.items()))
    return data, problems
