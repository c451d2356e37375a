"""The Case v1 value object: a patient's presentation, validated strictly at the boundary.

A :class:`Case` is what :func:`twitchcds.assess` takes. It is built from the Case v1 JSON format
(DESIGN section 5) with :meth:`Case.from_dict` or :meth:`Case.from_json`, written back with
:meth:`Case.to_dict`, and changed only with :func:`attrs.evolve` (every class here is frozen and
checks itself on construction, so a ``Case`` that exists is a valid one).

Examples
--------
>>> from twitchcds.case import Case
>>> case = Case.from_dict({"age": 52, "sex": "female",
...                        "findings": [{"id": "fasciculations", "status": "present"}],
...                        "history": {"caffeine_mg_per_day": 500}})
>>> case.findings[0].id, case.history.caffeine_mg_per_day
('fasciculations', 500)
>>> Case.from_dict(case.to_dict()) == case
True
>>> Case.from_dict({"age": "44", "sex": "MALE"})
Traceback (most recent call last):
...
twitchcds.errors.InvalidCaseError: invalid case: $.age: must be a number (got '44'); $.sex: ...

Notes
-----
Validation is syntactic: types (never coerced: ``"44"`` is not a number, ``1`` is not ``true``,
``true`` is not a number, ``"MALE"`` is not ``"male"``), unknown keys, value bounds, code formats,
findings named twice. Whether a finding id, code or LOINC is known to the knowledge base, and
whether a unit converts to the analyte's unit, is checked later by :mod:`twitchcds.evidence`.
``null`` is not accepted for an optional field: leave the key out.

Limits (see :mod:`twitchcds._validate`): age 0-130 years; ``duration_days`` 0-36500;
``caffeine_mg_per_day`` 0-5000; ``sleep_hours_per_night`` 0-24; ``alcohol_units_per_week`` 0-500;
lab values finite; strings 1-200 characters without control characters; at most 500 findings,
500 medications and 500 labs; JSON text at most 5,000,000 characters.

Codes: a finding ``id`` is snake_case (``^[a-z][a-z0-9_]*$``); a finding ``code`` is
``HP:`` + 7 digits or ``SNOMEDCT:`` + 6-18 digits; LOINC ``^[0-9]{1,7}-[0-9]$``; RxNorm digits
(1-12); ATC a level 1-5 prefix such as ``A02BC01``; a lab unit is UCUM the unit registry knows
(:func:`twitchcds.units.normalise_unit`).

History fields beyond DESIGN section 5 (extensions, all optional): ``prior_polio`` (bool),
``pesticide_exposure`` (bool, e.g. organophosphates), ``alcohol_units_per_week`` (number, UK
units), ``rapidly_worsening`` (bool: weakness or spread worsening over days to weeks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final, Literal, TypeVar

import cattrs
from attrs import field, fields, frozen

from twitchcds._validate import (
    CASE,
    FINDING,
    HISTORY,
    LAB,
    MAX_ITEMS,
    MEDICATION,
    Problems,
    Record,
    check_findings,
    check_object,
    check_record,
    is_object,
    parse_json_text,
    read_json_source,
)
from twitchcds.typing import Setting, Sex, Status

__all__ = ["Case", "FindingInput", "History", "LabResult", "Medication"]

Distribution = Literal["focal", "multifocal", "generalized"]
_T = TypeVar("_T")


def _check_self(instance: Any, record: Record) -> None:
    """Run ``record``'s checkers on an instance's given (non-``None``) fields."""
    problems = Problems()
    values = {a.name: getattr(instance, a.name) for a in fields(type(instance))
              if getattr(instance, a.name) is not None}
    check_record(problems, record, values, "$")
    problems.raise_if_any()


@frozen
class FindingInput:
    """A finding as the case states it: a KB id or an HPO / SNOMED CT code, and a status.

    Exactly one of ``id`` and ``code`` is given. ``current=False`` (Case v1.1) marks a history
    entry: recorded in the past, not a finding now (e.g. a seizure years ago). History entries
    are reported in the assessment but never enter inference, red flags or scope; left out
    (``None``), a finding is current.

    Examples
    --------
    >>> FindingInput("present", id="muscle_weakness")
    FindingInput(status='present', id='muscle_weakness', code=None, current=None)
    >>> FindingInput("absent", code="HP:0002380").code
    'HP:0002380'
    >>> FindingInput("present", id="seizure", current=False).is_current
    False
    """

    status: Status
    id: str | None = None
    code: str | None = None
    current: bool | None = None

    @property
    def is_current(self) -> bool:
        """Whether the finding describes the patient now (anything but ``current=False``)."""
        return self.current is not False

    def __attrs_post_init__(self) -> None:
        """Check the fields (raises :class:`~twitchcds.errors.InvalidCaseError`)."""
        _check_self(self, FINDING)


@frozen
class History:
    """History items; every field is optional (``None`` = not stated).

    ``prior_polio``, ``pesticide_exposure``, ``alcohol_units_per_week`` and ``rapidly_worsening``
    extend DESIGN section 5; ``weakness_onset_days`` (days since weakness began, Case v1.1) gives
    the tempo of weakness (within 4 weeks is acute: NICE NG127).

    Examples
    --------
    >>> History(duration_days=45, progressive=True).progressive
    True
    >>> History(progressive=1)
    Traceback (most recent call last):
    ...
    twitchcds.errors.InvalidCaseError: invalid case: $.progressive: must be true or false (got 1)
    """

    duration_days: float | None = None
    progressive: bool | None = None
    distribution: Distribution | None = None
    after_injury: bool | None = None
    painful: bool | None = None
    caffeine_mg_per_day: float | None = None
    sleep_hours_per_night: float | None = None
    recent_strenuous_exercise: bool | None = None
    family_history_motor_neuron_disease: bool | None = None
    prior_polio: bool | None = None
    pesticide_exposure: bool | None = None
    alcohol_units_per_week: float | None = None
    rapidly_worsening: bool | None = None
    weakness_onset_days: float | None = None

    def __attrs_post_init__(self) -> None:
        """Check the fields (raises :class:`~twitchcds.errors.InvalidCaseError`)."""
        _check_self(self, HISTORY)

    def is_empty(self) -> bool:
        """Return whether no history item is stated.

        Examples
        --------
        >>> History().is_empty(), History(painful=False).is_empty()
        (True, False)
        """
        return all(getattr(self, a.name) is None for a in fields(History))


@frozen
class Medication:
    """A medication by name, RxNorm code and/or ATC code (at least one).

    Examples
    --------
    >>> Medication(name="omeprazole", atc="A02BC01").atc
    'A02BC01'
    """

    name: str | None = None
    rxnorm: str | None = None
    atc: str | None = None

    def __attrs_post_init__(self) -> None:
        """Check the fields (raises :class:`~twitchcds.errors.InvalidCaseError`)."""
        _check_self(self, MEDICATION)


@frozen
class LabResult:
    """A lab result: LOINC code, value and UCUM unit.

    Examples
    --------
    >>> LabResult("2823-3", 2.9, "mmol/L")
    LabResult(loinc='2823-3', value=2.9, unit='mmol/L')
    """

    loinc: str
    value: float
    unit: str

    def __attrs_post_init__(self) -> None:
        """Check the fields (raises :class:`~twitchcds.errors.InvalidCaseError`)."""
        _check_self(self, LAB)


def _as_tuple(value: Any) -> Any:
    """Turn a list into a tuple; anything else is left for the checks to reject."""
    return tuple(value) if isinstance(value, list) else value


_CONVERTER: Final = cattrs.Converter(omit_if_default=True,
                                     unstruct_collection_overrides={tuple: list})


@frozen
class Case:
    """A patient's presentation (Case v1, DESIGN section 5).

    Every field is optional, but a case must say something: an age, a sex, a finding, a history
    item, a medication or a lab (``id`` and ``setting`` alone do not count).

    Attributes
    ----------
    id : str, optional
        Caller's identifier, echoed back in the assessment.
    age : float, optional
        Years, 0-130.
    sex : {'female', 'male', 'other', 'unknown'}, optional
    setting : {'primary-care', 'neuromuscular-clinic'}, optional
        Care setting whose base priors apply (default: primary care).
    findings : tuple of FindingInput
    history : History
    medications : tuple of Medication
    labs : tuple of LabResult

    Examples
    --------
    >>> case = Case(age=27, findings=[FindingInput("present", id="fasciculations")])
    >>> case.findings
    (FindingInput(status='present', id='fasciculations', code=None, current=None),)
    >>> case.to_dict()
    {'age': 27, 'findings': [{'status': 'present', 'id': 'fasciculations'}]}
    """

    id: str | None = None
    age: float | None = None
    sex: Sex | None = None
    setting: Setting | None = None
    findings: tuple[FindingInput, ...] = field(default=(), converter=_as_tuple)
    history: History = field(factory=History)
    medications: tuple[Medication, ...] = field(default=(), converter=_as_tuple)
    labs: tuple[LabResult, ...] = field(default=(), converter=_as_tuple)

    def _repr_html_(self) -> str:
        """Show the case's inputs as a table in a notebook (every string escaped)."""
        from twitchcds._display import case_html  # noqa: PLC0415  (notebooks only)

        return case_html(self)

    def __attrs_post_init__(self) -> None:
        """Check the fields (raises :class:`~twitchcds.errors.InvalidCaseError`)."""
        problems = Problems()
        scalars = {k: getattr(self, k) for k in ("id", "age", "sex", "setting")
                   if getattr(self, k) is not None}
        check_record(problems, CASE, scalars, "$")
        for name, kind in (("findings", FindingInput), ("medications", Medication),
                           ("labs", LabResult)):
            items = getattr(self, name)
            if not isinstance(items, tuple):
                problems.add(f"$.{name}", f"must be a tuple of {kind.__name__}", items)
            elif len(items) > MAX_ITEMS:
                problems.add(f"$.{name}", f"must have at most {MAX_ITEMS} entries", len(items))
            else:
                for i, item in enumerate(items):
                    if not isinstance(item, kind):
                        problems.add(f"$.{name}[{i}]", f"must be a {kind.__name__}", item)
        if not isinstance(self.history, History):
            problems.add("$.history", "must be a History", self.history)
        if not problems:
            check_findings(problems, ((f.status, f.id, f.code, f.current)
                                      for f in self.findings))
            if not (scalars.keys() - {"id", "setting"} or self.findings or self.medications
                    or self.labs or not self.history.is_empty()):
                problems.add("$", _EMPTY)
        problems.raise_if_any()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Case:
        """Build a case from a Case v1 dictionary, strictly.

        Parameters
        ----------
        data : Mapping
            Parsed Case v1 JSON (DESIGN section 5).

        Returns
        -------
        Case

        Raises
        ------
        InvalidCaseError
            Listing every problem found (``err.problems``), each with its JSON path, e.g.
            ``$.labs[0].unit``; also when ``data`` is not an object (path ``$``).
        ContradictionError
            If the only problems are findings listed twice with different statuses.

        Examples
        --------
        >>> Case.from_dict({"labs": [{"loinc": "2823-3", "value": 2.9, "unit": "mmol/L"}]}).labs
        (LabResult(loinc='2823-3', value=2.9, unit='mmol/L'),)
        >>> Case.from_dict({"findings": [{"id": "cramps", "status": "present"},
        ...                              {"id": "cramps", "status": "absent"}]})
        Traceback (most recent call last):
        ...
        twitchcds.errors.ContradictionError: contradiction: $.findings[1].status: id 'cramps' ...
        """
        problems = Problems()
        _check_payload(problems, data)
        problems.raise_if_any()
        return cls._build(data)

    @classmethod
    def _build(cls, data: Mapping[str, Any]) -> Case:
        """Build the case from a payload that :func:`_check_payload` accepted.

        The payload check applies the very checks each class runs on construction (same
        checkers, same values), so they are not run a second time here: see :func:`_unchecked`.
        """
        return _unchecked(cls, {
            "id": data.get("id"), "age": data.get("age"), "sex": data.get("sex"),
            "setting": data.get("setting"),
            "findings": tuple(_unchecked(FindingInput, item)
                              for item in data.get("findings", ())),
            "history": _unchecked(History, data.get("history", {})),
            "medications": tuple(_unchecked(Medication, item)
                                 for item in data.get("medications", ())),
            "labs": tuple(_unchecked(LabResult, item) for item in data.get("labs", ())),
        })

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> Case:
        """Build a case from Case v1 JSON text or a ``.json`` file.

        Parameters
        ----------
        source : str or path-like
            JSON text; a :class:`pathlib.Path`; or a string naming an existing file that ends in
            ``.json``.

        Returns
        -------
        Case

        Raises
        ------
        InvalidCaseError
            If the file cannot be read, the text is not JSON (the message gives line and column),
            uses ``NaN``/``Infinity`` or repeats a key within an object, or breaks Case v1 (as in
            :meth:`from_dict`; all problems are reported together).
        ContradictionError
            As in :meth:`from_dict`.

        Examples
        --------
        >>> Case.from_json('{"age": 30, "sex": "male"}').sex
        'male'
        >>> Case.from_json('{"age": 30, "age": 31}')
        Traceback (most recent call last):
        ...
        twitchcds.errors.InvalidCaseError: invalid case: $.age: duplicate key in a JSON object ...
        >>> Case.from_json('{"age": 30,}')
        Traceback (most recent call last):
        ...
        twitchcds.errors.InvalidCaseError: invalid case: $: invalid JSON at line 1 column 12: ...
        """
        data, problems = parse_json_text(read_json_source(source))
        _check_payload(problems, data)
        problems.raise_if_any()
        return cls._build(data)

    @classmethod
    def from_fhir(cls, bundle: Any, **options: Any) -> Case:
        """Read a FHIR R4 Bundle or list of resources (needs ``pip install "twitchcds[fhir]"``).

        Resources the knowledge base cannot use are skipped; to see which, call
        :func:`twitchcds.interop.fhir.case_from_fhir`, whose result also carries the report.
        Options (``kb``, ``on_date``, ``case_id``, ``setting``) are passed on to it.
        """
        from twitchcds.interop.fhir import case_from_fhir  # noqa: PLC0415  (optional extra)

        return case_from_fhir(bundle, **options).case

    @classmethod
    def from_phenopacket(cls, obj: Any, **options: Any) -> Case:
        """Read a GA4GH Phenopacket v2 (JSON form); see :mod:`twitchcds.interop.phenopackets`."""
        from twitchcds.interop.phenopackets import case_from_phenopacket  # noqa: PLC0415

        return case_from_phenopacket(obj, **options)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready Case v1 dictionary, with only the fields that were given.

        ``Case.from_dict(case.to_dict()) == case`` always holds.

        Examples
        --------
        >>> Case(sex="male", history=History(painful=False)).to_dict()
        {'sex': 'male', 'history': {'painful': False}}
        """
        result: dict[str, Any] = _CONVERTER.unstructure(self)
        return result


_EMPTY: Final = ("case must say something: give at least one of age, sex, findings, history, "
                 "medications or labs")


_FIELD_NAMES: Final[dict[type, tuple[str, ...]]] = {
    kind: tuple(a.name for a in fields(kind))
    for kind in (Case, FindingInput, History, Medication, LabResult)
}


def _unchecked(kind: type[_T], values: Mapping[str, Any]) -> _T:
    """Return a ``kind`` holding ``values`` (a field left out is ``None``), skipping its checks.

    The private fast path of :meth:`Case.from_dict`: only for values that :func:`_check_payload`
    has accepted, which are exactly the values the class's own checks accept, so checking them
    again would only repeat the work. Direct construction and :func:`attrs.evolve` always check.
    This sets the fields the way the attrs-generated ``__init__`` of a frozen class does, but
    runs no converter: ``values`` must already have their final types (tuples, not lists).
    """
    instance = object.__new__(kind)
    set_field, given = object.__setattr__, values.get
    for name in _FIELD_NAMES[kind]:
        set_field(instance, name, given(name))
    return instance


def _check_payload(problems: Problems, data: Any) -> None:
    """Record every problem of a Case v1 payload (types, keys, bounds, duplicates, emptiness)."""
    check_object(problems, data, "$", CASE)
    if not is_object(data):
        return
    findings = data.get("findings")
    if isinstance(findings, (list, tuple)) and len(findings) <= MAX_ITEMS:
        check_findings(problems, ((f.get("status"), f.get("id"), f.get("code"), f.get("current"))
                                  if is_object(f) else (None, None, None, None)
                                  for f in findings))
    said = any(key in data for key in ("age", "sex")) or any(
        data.get(key) for key in ("findings", "history", "medications", "labs"))
    if not said:
        problems.add("$", _EMPTY)

