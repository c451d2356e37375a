"""An :class:`~twitchcds.assessment.Assessment` as FHIR R4 resources (private; see ``fhir``).

The Bundle (type ``collection``) holds one RiskAssessment (status ``final``, one prediction per
condition of the knowledge base, most probable first: ``outcome`` coded with ICD-10-CM and SNOMED
CT where the knowledge base has them, plus text; ``probabilityDecimal``, and its interval in the
:data:`INTERVAL_EXTENSION` extension when computed; ``basis`` referencing
the input resources when known; the disclaimer and the triage level as notes) and one
ServiceRequest (intent ``proposal``, status ``draft``) per recommended test. Ids and ``fullUrl``
are deterministic (uuid5 of the knowledge base and the case), so the same case gives the same
Bundle.

**Codes.** A ServiceRequest's ``code`` carries the test's LOINC or SNOMED CT code from
``knowledge/data/tests.toml`` (each with its source in a comment there) plus the test's name as
text. A CodeableConcept may hold several codings only when they mean the same thing, and no single
verified code means "potassium, magnesium and calcium", so the electrolyte panel is proposed as one
ServiceRequest per analyte (:data:`PANEL_ANALYTES`), each coded with the LOINC code of the
knowledge base's lab rule and all sharing one ``requisition`` identifier (FHIR's way of grouping
the orders of one request). Tests without a verified code (EMG, nerve conduction studies, the
genetic tests) keep text only. ``RiskAssessment.code`` stays text: FHIR defines only an example
code system for risk-assessment types and no verified SNOMED CT or LOINC concept names a
differential diagnosis of twitching.

**Subject.** ``subject`` must be a relative reference ``Patient/<id>`` or ``Group/<id>`` (the
types both RiskAssessment and ServiceRequest accept) with a valid FHIR id; see
:func:`subject_reference`.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from twitchcds.assessment import Assessment
from twitchcds.errors import InvalidInputError, Problem, TwitchCDSError
from twitchcds.interop._fhir_model import model_problems
from twitchcds.interop._report import ImportResult
from twitchcds.knowledge.model import Test
from twitchcds.workup import TestValue

__all__ = ["CODE_SYSTEMS", "INTERVAL_EXTENSION", "PANEL_ANALYTES", "assessment_to_fhir",
           "service_request",
           "subject_reference"]

CODE_SYSTEMS: Final[Mapping[str, str]] = {
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "snomedct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
}
"""FHIR coding systems of the knowledge base's code keys."""

_PRIORITY: Final[Mapping[str, str]] = {"urgent": "urgent", "emergency": "stat"}

PANEL_ANALYTES: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "electrolyte_panel": (
        # LOINC codes of the lab rules in knowledge/data/derivations.toml (the first, molar code
        # of each rule), seen with these names in HL7 FHIR pages (shared/reference/codes.md):
        ("2823-3", "Potassium, serum or plasma"),  # Potassium [Moles/volume] in Serum or Plasma
        ("2601-3", "Magnesium, serum or plasma"),  # Magnesium [Moles/volume] in Serum or Plasma
        ("2000-8", "Calcium, serum or plasma"),  # Calcium [Moles/volume] in Serum or Plasma
    ),
}
"""Tests proposed as one ServiceRequest per analyte: ``{test id: ((LOINC, analyte name), ...)}``."""

_REFERENCE: Final = re.compile(r"(?P<type>Patient|Group)/(?P<id>[A-Za-z0-9\-.]{1,64})")
_REQUISITION_SYSTEM: Final = "urn:ietf:rfc:3986"


def subject_reference(value: str) -> str:
    """Return ``value`` if it is a relative reference to a Patient or Group with a valid id.

    A FHIR id is 1-64 letters, digits, ``-`` and ``.``.

    Raises
    ------
    InvalidInputError
        Any other value (path ``subject``).

    Examples
    --------
    >>> subject_reference("Patient/pat-7f3c")
    'Patient/pat-7f3c'
    >>> subject_reference("Patient/a b")
    Traceback (most recent call last):
    ...
    twitchcds.errors.InvalidInputError: invalid input: subject: must be Patient/<id> or \
Group/<id>, the id 1-64 letters, digits, '-' or '.' (got 'Patient/a b')
    """
    if not isinstance(value, str) or not _REFERENCE.fullmatch(value):
        msg = ("must be Patient/<id> or Group/<id>, the id 1-64 letters, digits, '-' or '.'")
        raise InvalidInputError.from_problems([Problem("subject", msg, value)])
    return value


def _coded(codes: Mapping[str, str], text: str, keys: Sequence[str]) -> dict[str, Any]:
    coding = [{"system": CODE_SYSTEMS[k], "code": codes[k]} for k in keys if k in codes]
    return {"coding": coding, "text": text} if coding else {"text": text}


def _subject(subject: str | None, case_id: str | None) -> dict[str, str]:
    if subject:
        return {"reference": subject}
    return {"display": f"case {case_id}" if case_id else "unidentified patient"}


def service_request(test: TestValue, kb_test: Test | None, subject: Mapping[str, str],
                    triage_level: str, rid: str | None = None) -> dict[str, Any]:
    """Return a ServiceRequest (intent ``proposal``, status ``draft``) proposing ``test``.

    Priority is ``urgent``/``stat`` when a red flag indicates the test and triage is urgent or
    emergency, else ``routine``.
    """
    codes = dict(kb_test.codes) if kb_test is not None else {}
    priority = _PRIORITY.get(triage_level, "routine") if test.indicated_by else "routine"
    request: dict[str, Any] = {"resourceType": "ServiceRequest"}
    if rid:
        request["id"] = rid
    request |= {
        "status": "draft", "intent": "proposal", "priority": priority,
        "code": _coded(codes, test.name, ("loinc", "snomedct")),
        "subject": dict(subject),
        "reasonCode": [{"text": test.rationale}],
        "note": [{"text": f"Proposed by twitchcds (value per cost {test.value_per_cost:.3g}): "
                          f"{test.rationale}"}],
    }
    return request


def _requests(test: TestValue, kb_test: Test | None, subject: Mapping[str, str],
              triage_level: str, rids: Sequence[str]) -> list[dict[str, Any]]:
    """Return the ServiceRequests proposing ``test``: one, or one per analyte of a panel."""
    analytes = PANEL_ANALYTES.get(test.id, ())
    if not analytes:
        return [service_request(test, kb_test, subject, triage_level, rids[0])]
    group = {"system": _REQUISITION_SYSTEM,
             "value": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, rids[0] + ':' + test.id)}"}
    out = []
    for rid, (loinc, analyte) in zip(rids, analytes, strict=True):
        request = service_request(test, kb_test, subject, triage_level, rid)
        request["code"] = {"coding": [{"system": CODE_SYSTEMS["loinc"], "code": loinc}],
                           "text": f"{analyte} ({test.name})"}
        request["requisition"] = dict(group)
        out.append(request)
    return out


def _ids(assessment: Assessment, count: int) -> list[str]:
    seed = json.dumps({"kb": assessment.kb_sha256, "case": assessment.case.to_dict()},
                      sort_keys=True)
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:twitchcds:{digest}:{i}"))
            for i in range(count)]


_DOCS: Final = "https://twitchcds.readthedocs.io/en/latest"
INTERVAL_EXTENSION: Final = f"{_DOCS}/reference/assessment-format.html#probability-interval"
"""Extension on ``RiskAssessment.prediction`` carrying the probability interval (a Range).

``probability[x]`` is a choice in FHIR R4 (a decimal *or* a Range), and ``probabilityDecimal``
is the contract, so the interval travels in this extension (``valueRange``, unit-less).
"""


def _interval_extension(low: float, high: float) -> dict[str, Any]:
    return {"url": INTERVAL_EXTENSION,
            "valueRange": {"low": {"value": float(f"{low:.6g}")},
                           "high": {"value": float(f"{high:.6g}")}}}


def assessment_to_fhir(assessment: Assessment, *, subject: str | None = None,
                       basis: Sequence[str] = (), imported: ImportResult | None = None,
                       validate: bool = True) -> dict[str, Any]:
    """Return the assessment as a FHIR R4 Bundle (``collection``) in JSON form.

    Parameters
    ----------
    assessment : Assessment
    subject : str, optional
        Reference to the patient, ``"Patient/<id>"`` (or ``"Group/<id>"``); without one (and
        without ``imported``) the subject is a display-only reference naming the case id.
    basis : sequence of str
        References to the resources the assessment is based on, e.g. ``"Observation/k1"``.
    imported : ImportResult, optional
        The result of :func:`~twitchcds.interop.fhir.case_from_fhir`: its Patient becomes the
        subject and every other used resource with an id goes into ``basis``.
    validate : bool
        Validate every resource and the Bundle with the ``fhir.resources`` R4B models.

    Returns
    -------
    dict
        JSON-ready FHIR Bundle.

    Raises
    ------
    InvalidInputError
        ``subject`` is not ``Patient/<id>`` or ``Group/<id>`` with a valid id (path ``subject``).
    MissingExtraError
        When validating without ``fhir.resources`` (``pip install "twitchcds[fhir]"``).

    Examples
    --------
    >>> from twitchcds import assess
    >>> result = assess({"id": "c1", "age": 61, "findings": [
    ...     {"id": "fasciculations", "status": "present"},
    ...     {"id": "muscle_weakness", "status": "present"}]})
    >>> bundle = assessment_to_fhir(result, subject="Patient/p1")
    >>> risk = bundle["entry"][0]["resource"]
    >>> risk["resourceType"], risk["status"], len(risk["prediction"]) == len(result.differential)
    ('RiskAssessment', 'final', True)
    >>> {e["resource"]["intent"] for e in bundle["entry"][1:]}
    {'proposal'}
    """
    if subject is not None:
        subject_reference(subject)
    refs = list(basis)
    if imported is not None:
        for used in imported.used:
            ref = used.reference
            if ref and used.resource_type == "Patient":
                subject = subject or ref
            elif ref and ref not in refs:
                refs.append(ref)
    who = _subject(subject, assessment.case_id)
    tests = assessment.tests
    sizes = [len(PANEL_ANALYTES.get(t.id, ())) or 1 for t in tests]
    ids = _ids(assessment, 1 + sum(sizes))
    risk: dict[str, Any] = {
        "resourceType": "RiskAssessment", "id": ids[0], "status": "final",
        "method": {"text": f"twitchcds noisy-OR network, {assessment.method} inference; "
                           f"knowledge base {assessment.kb_version}"},
        "code": {"text": "Causes of muscle twitching (fasciculations): differential"},
        "subject": who,
    }
    if refs:
        risk["basis"] = [{"reference": r} for r in refs]
    bounds = ({c: (lo, hi) for c, lo, hi in assessment.uncertainty.intervals}
              if assessment.uncertainty else {})
    risk["prediction"] = [
        {"outcome": _coded(dict(row.codes), row.name, ("icd10cm", "snomedct")),
         "probabilityDecimal": float(f"{row.probability:.6g}"),
         **({"extension": [_interval_extension(*bounds[row.id])]} if bounds else {})}
        for row in assessment.differential]
    risk["note"] = [{"text": f"Triage: {assessment.triage.level}."
                             + "".join(f" {r.text}" for r in assessment.triage.reasons)},
                    {"text": assessment.disclaimer}]
    resources = [risk]
    start = 1
    for test, size in zip(tests, sizes, strict=True):
        for request in _requests(test, assessment.kb.test_index.get(test.id), who,
                                 assessment.triage.level, ids[start:start + size]):
            request["supportingInfo"] = [{"reference": f"urn:uuid:{ids[0]}"}]
            resources.append(request)
        start += size
    bundle = {"resourceType": "Bundle", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, ids[0])),
              "type": "collection",
              "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}
    if validate:
        problems = model_problems(bundle, "$")
        if problems:  # pragma: no cover - a bug in this module, not bad input
            raise TwitchCDSError.from_problems(problems)
    return bundle
