"""An :class:`~twitchcds.assessment.Assessment` as FHIR R4 resources (private; see ``fhir``).

The Bundle (type ``collection``) holds one RiskAssessment (status ``final``, one prediction per
condition of the knowledge base, most probable first: ``outcome`` coded with ICD-10-CM and SNOMED
CT where the knowledge base has them, plus text; ``probabilityDecimal``; ``basis`` referencing
the input resources when known; the disclaimer and the triage level as notes) and one
ServiceRequest (intent ``proposal``, status ``draft``) per recommended test. Ids and ``fullUrl``
are deterministic (uuid5 of the knowledge base and the case), so the same case gives the same
Bundle.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from twitchcds.assessment import Assessment
from twitchcds.errors import TwitchCDSError
from twitchcds.interop._fhir_model import model_problems
from twitchcds.interop._report import ImportResult
from twitchcds.knowledge.model import Test
from twitchcds.workup import TestValue

__all__ = ["CODE_SYSTEMS", "assessment_to_fhir", "service_request"]

CODE_SYSTEMS: Final[Mapping[str, str]] = {
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "snomedct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
}
"""FHIR coding systems of the knowledge base's code keys."""

_PRIORITY: Final[Mapping[str, str]] = {"urgent": "urgent", "emergency": "stat"}


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


def _ids(assessment: Assessment, count: int) -> list[str]:
    seed = json.dumps({"kb": assessment.kb_sha256, "case": assessment.case.to_dict()},
                      sort_keys=True)
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:twitchcds:{digest}:{i}"))
            for i in range(count)]


def assessment_to_fhir(assessment: Assessment, *, subject: str | None = None,
                       basis: Sequence[str] = (), imported: ImportResult | None = None,
                       validate: bool = True) -> dict[str, Any]:
    """Return the assessment as a FHIR R4 Bundle (``collection``) in JSON form.

    Parameters
    ----------
    assessment : Assessment
    subject : str, optional
        Reference to the patient, e.g. ``"Patient/123"``; without one (and without ``imported``)
        the subject is a display-only reference naming the case id.
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
    ids = _ids(assessment, 1 + len(tests))
    risk: dict[str, Any] = {
        "resourceType": "RiskAssessment", "id": ids[0], "status": "final",
        "method": {"text": f"twitchcds noisy-OR network, {assessment.method} inference; "
                           f"knowledge base {assessment.kb_version}"},
        "code": {"text": "Causes of muscle twitching (fasciculations): differential"},
        "subject": who,
    }
    if refs:
        risk["basis"] = [{"reference": r} for r in refs]
    risk["prediction"] = [
        {"outcome": _coded(dict(row.codes), row.name, ("icd10cm", "snomedct")),
         "probabilityDecimal": float(f"{row.probability:.6g}")}
        for row in assessment.differential]
    risk["note"] = [{"text": f"Triage: {assessment.triage.level}."
                             + "".join(f" {r.text}" for r in assessment.triage.reasons)},
                    {"text": assessment.disclaimer}]
    resources = [risk]
    for rid, test in zip(ids[1:], tests, strict=True):
        request = service_request(test, assessment.kb.test_index.get(test.id), who,
                                  assessment.triage.level, rid)
        request["supportingInfo"] = [{"reference": f"urn:uuid:{ids[0]}"}]
        resources.append(request)
    bundle = {"resourceType": "Bundle", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, ids[0])),
              "type": "collection",
              "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}
    if validate:
        problems = model_problems(bundle, "$")
        if problems:  # pragma: no cover - a bug in this module, not bad input
            raise TwitchCDSError.from_problems(problems)
    return bundle
