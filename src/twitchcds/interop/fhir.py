"""FHIR R4 in and out: a patient record to a :class:`~twitchcds.case.Case`, an assessment to FHIR.

Reading (:func:`case_from_fhir`) takes a Bundle, a list of resources or one resource. Every
resource is first validated with the ``fhir.resources`` R4B models (``fhir.resources`` 8.x defaults
to R5); a malformed resource is an :class:`~twitchcds.errors.InvalidInputError` naming its JSON
path. Then:

- **Patient**: ``birthDate`` -> ``age`` in completed years at ``on_date`` (default today; a partial
  date is taken at its middle: ``1970`` as 1970-07-01, ``1970-05`` as 1970-05-15), or at the date
  of death for a deceased patient (``deceasedDateTime``; the record is then read as of that date
  and the report says so); ``gender`` -> ``sex`` (``male``/``female``/``other``/``unknown``).
- **Observation** with a LOINC coding (``http://loinc.org``) and ``valueQuantity`` -> a lab; the
  unit is ``valueQuantity.code`` when ``system`` is UCUM (``http://unitsofmeasure.org``), else
  ``valueQuantity.unit``. Besides the lab rules' own codes, the blood, serum/plasma, mass and
  molar variants listed in ``knowledge/data/lab_codes.toml`` are read as the rule's code (e.g.
  potassium in blood ``6298-4`` as ``2823-3``; the report notes it). Several results for one
  analyte: the most recent (``effective[x]``, ``issued``) is used and the others are reported as
  superseded.
- **Observation** with an HPO or SNOMED CT coding and ``valueBoolean``, a yes/no or present/absent
  SNOMED CT ``valueCodeableConcept`` (373066001/373067005, 52101004/2667000) or a ``POS``/``NEG``
  interpretation (v3-ObservationInterpretation) -> a finding present/absent.
- **Condition**: ``verificationStatus`` refuted -> absent; otherwise ``clinicalStatus`` active,
  recurrence or relapse -> present; inactive, resolved, remission or abated -> history; anything
  else (entered-in-error, no status) is skipped.
- **Time**: resolved or abated Conditions, active
  Conditions naming an acute event (seizure, tetany, ...) whose onset is more than 90 days old,
  Observation findings more than 90 days old and lab results more than 365 days old are history,
  not current findings, and are listed in the report's ``history`` with the reason. History
  entries the knowledge base can place go into the case as findings with ``"current": false``
  (one per code, the newest; the assessment lists them in ``unused_inputs`` and they never
  raise triage); old lab results are left out of the case.
- **Tempo**: the earliest onset of a current weakness finding (``muscle_weakness``,
  ``proximal_weakness``, ``distal_weakness``; a Condition's ``onsetDateTime`` or
  ``onsetPeriod.start``, else ``recordedDate``; an Observation's ``effectiveDateTime``,
  ``effectivePeriod.start`` or ``issued``) gives ``history.weakness_onset_days`` in days before
  ``on_date`` (under 29 is acute-onset weakness, NICE NG127), unless ``history`` already has it.
  The report's ``notes`` say where it came from; an onset after ``on_date`` is noted and ignored.
- **Conflicts**: sources that disagree about a finding (a problem-list "prediabetes" and an HbA1c
  of 6.1%) never refuse the record: a lab beats a Condition, then the more recent source wins,
  then an Observation beats a Condition, else "present" is kept; each is listed in the report's
  ``conflicts`` (see :class:`~twitchcds.interop.Conflict`).
- **MedicationStatement** / **MedicationRequest** with status ``active``, coded in
  ``medicationCodeableConcept`` or a referenced Medication (contained ``#id``, a Bundle entry's
  ``fullUrl`` such as ``urn:uuid:...``, relative ``Medication/123`` or an absolute URL): RxNorm
  (``http://www.nlm.nih.gov/research/umls/rxnorm``) and ATC (``http://www.whocc.no/atc``) codings,
  and a generic name read from the text or a display that starts with one the knowledge base
  lists (``"Omeprazole 20 MG ..."`` -> ``omeprazole``).

HPO codings are accepted with any of :data:`HPO_SYSTEMS` as system and code ``HP:0002380`` or
``0002380``; SNOMED CT (``http://snomed.info/sct``) codes become ``SNOMEDCT:<code>``. Items the
knowledge base cannot use (other resource types, unknown LOINC, codes it cannot place, cancelled
or entered-in-error records) are skipped and listed in the result's report, not errors. Resources
that name another patient than the record's Patient are errors.

Examples
--------
>>> bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
...     {"resource": {"resourceType": "Patient", "id": "p1", "gender": "male",
...                   "birthDate": "1961-05-02"}},
...     {"resource": {"resourceType": "Observation", "id": "k", "status": "final",
...                   "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
...                   "valueQuantity": {"value": 2.9, "unit": "mmol/l",
...                                     "system": "http://unitsofmeasure.org",
...                                     "code": "mmol/L"}}}]}
>>> result = case_from_fhir(bundle, on_date=date(2025, 1, 1))
>>> result.case.to_dict()
{'age': 63, 'sex': 'male', 'labs': [{'loinc': '2823-3', 'value': 2.9, 'unit': 'mmol/L'}]}
>>> [u.target for u in result.used]
['age', 'sex', 'labs[0]']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from twitchcds.errors import InvalidInputError, Problem
from twitchcds.interop._builder import CaseBuilder, NothingToAssessError
from twitchcds.interop._fhir_export import assessment_to_fhir, subject_reference
from twitchcds.interop._fhir_model import FHIR_VERSION, model_problems
from twitchcds.interop._fhir_read import HPO_SYSTEMS, Item, Reader
from twitchcds.interop._report import ImportResult
from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["FHIR_VERSION", "HPO_SYSTEMS", "FhirImport", "NothingToAssessError",
           "assessment_to_fhir", "bundle_problems", "case_from_fhir", "full_urls_of",
           "read_resources", "resources_of", "subject_reference"]

FhirImport = ImportResult
"""What :func:`case_from_fhir` returns: ``.case`` and the report (``.used``, ``.skipped``)."""



def resources_of(source: Any) -> list[Item]:
    """Return ``(json path, resource)`` pairs of a Bundle, a list of resources or one resource.

    Raises
    ------
    InvalidInputError
        If ``source`` is none of these (path ``$``) or a Bundle's ``entry`` is not a list.

    Examples
    --------
    >>> resources_of([{"resourceType": "Patient"}])
    [('$[0]', {'resourceType': 'Patient'})]
    """
    if isinstance(source, Sequence) and not isinstance(source, str | bytes):
        return [(f"$[{i}]", r) for i, r in enumerate(source)]
    if not isinstance(source, Mapping):
        raise InvalidInputError.from_problems([Problem(
            "$", "FHIR input must be a Bundle, a resource or a list of resources",
            type(source).__name__)])
    if source.get("resourceType") != "Bundle":
        return [("$", source)]
    entries = source.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidInputError.from_problems([Problem("$.entry", "must be an array", entries)])
    return [(f"$.entry[{i}].resource", e["resource"]) for i, e in enumerate(entries)
            if isinstance(e, Mapping) and "resource" in e]


def full_urls_of(source: Any, base: str = "$") -> dict[str, str]:
    """Return ``{json path of a resource: its entry's fullUrl}`` for a Bundle (else ``{}``).

    References between the entries of a transaction Bundle use these (``urn:uuid:...``).

    Examples
    --------
    >>> full_urls_of({"resourceType": "Bundle", "entry": [
    ...     {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Medication"}}]})
    {'$.entry[0].resource': 'urn:uuid:1'}
    """
    if not isinstance(source, Mapping) or source.get("resourceType") != "Bundle":
        return {}
    entries = source.get("entry", [])
    if not isinstance(entries, list):
        return {}
    return {f"{base}.entry[{i}].resource": e["fullUrl"] for i, e in enumerate(entries)
            if isinstance(e, Mapping) and isinstance(e.get("fullUrl"), str) and "resource" in e}


def bundle_problems(bundle: Mapping[str, Any], path: str) -> list[Problem]:
    """Return what the R4B model finds wrong with a Bundle's envelope (not its resources)."""
    entries = bundle.get("entry", [])
    if isinstance(entries, list):
        bundle = {**bundle, "entry": [{k: v for k, v in e.items() if k != "resource"}
                                      if isinstance(e, Mapping) else e for e in entries]}
    return model_problems(bundle, path)


def case_from_fhir(source: Any, *, kb: KnowledgeBase | None = None, on_date: date | None = None,
                   case_id: str | None = None, setting: str | None = None,
                   history: Mapping[str, Any] | None = None) -> ImportResult:
    """Read a FHIR R4 Bundle, list of resources or resource into a case, with a report.

    Parameters
    ----------
    source : dict or list
        A Bundle (any type: collection, searchset, ...), a list of resources, or one resource,
        in FHIR JSON form.
    kb : KnowledgeBase, optional
        Decides which codes, LOINC and medications can be used (default: built-in).
    on_date : datetime.date, optional
        The date at which the age is computed (default: today).
    case_id, setting : str, optional
        Copied into the case.
    history : Mapping, optional
        Case v1 ``history`` fields known from elsewhere (the consultation), copied into the case;
        a ``weakness_onset_days`` given here is kept rather than read from the record's dates.

    Returns
    -------
    ImportResult
        ``.case`` (assesses against ``kb`` without error), ``.used`` and ``.skipped``.

    Raises
    ------
    InvalidInputError
        Malformed input, listing every problem with its JSON path (e.g.
        ``$.entry[3].resource.valueQuantity.value``).
    UnitConversionError
        A lab unit that cannot convert (at the resource's path).
    twitchcds.interop.fhir.NothingToAssessError
        Nothing in the input can be used by the knowledge base (an
        :class:`~twitchcds.errors.InvalidInputError`).
    MissingExtraError
        Without ``fhir.resources`` (``pip install "twitchcds[fhir]"``).
    """
    problems = []
    if isinstance(source, Mapping) and source.get("resourceType") == "Bundle":
        problems.extend(bundle_problems(source, "$"))
    items = resources_of(source)
    if problems:
        raise InvalidInputError.from_problems(problems)
    return read_resources(items, kb=kb, on_date=on_date, case_id=case_id, setting=setting,
                          full_urls=full_urls_of(source), history=history)


def read_resources(items: Sequence[Item], *, kb: KnowledgeBase | None = None,
                   on_date: date | None = None, case_id: str | None = None,
                   setting: str | None = None, patient_id: str | None = None,
                   full_urls: Mapping[str, str] | None = None,
                   history: Mapping[str, Any] | None = None) -> ImportResult:
    """Read ``(json path, resource)`` pairs (see :func:`case_from_fhir`).

    ``patient_id``, when given, must be the Patient's id, and every resource naming a subject must
    name that patient (used by the CDS Hooks service with ``context.patientId``). ``full_urls``
    maps a resource's path to its Bundle entry's ``fullUrl``, so that references by ``fullUrl``
    (``urn:uuid:...``) resolve. ``history`` is as in :func:`case_from_fhir`.
    """
    from twitchcds._state import builtin_knowledge_base  # noqa: PLC0415  (lazy load)

    problems: list[Problem] = []
    for path, resource in items:
        problems.extend(model_problems(resource, path))
    if problems:
        raise InvalidInputError.from_problems(problems)
    builder = CaseBuilder(builtin_knowledge_base() if kb is None else kb)
    builder.given_history.update(history or {})
    reader = Reader(builder, items, on_date or date.today(), patient_id, full_urls)
    for path, resource in items:
        reader.read(path, resource)
    return builder.build(case_id=case_id, setting=setting, as_of=reader.as_of)
