"""Reading validated FHIR R4 resources into :class:`CaseBuilder` items (private; see ``fhir``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from twitchcds.interop._builder import CaseBuilder, Origin, parse_when
from twitchcds.interop._conflicts import facts_of
from twitchcds.interop._records import (
    CONDITION_ACUTE_DAYS,
    FINDING_DAYS,
    PAST_CLINICAL,
    acute_findings,
    lab_days,
    older_than,
)
from twitchcds.typing import Status

__all__ = ["HPO_SYSTEMS", "Item", "Reader"]

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
SNOMED: Final = "http://snomed.info/sct"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC: Final = "http://www.whocc.no/atc"
HPO_SYSTEMS: Final = frozenset({
    "http://purl.obolibrary.org/obo/hp.owl", "http://purl.obolibrary.org/obo/hp",
    "https://hpo.jax.org", "http://hpo.jax.org", "https://hpo.jax.org/app",
    "http://human-phenotype-ontology.org", "https://human-phenotype-ontology.org",
    "http://www.human-phenotype-ontology.org",
})
"""Coding systems read as the Human Phenotype Ontology (compared without a trailing ``/``)."""

_INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_YES_NO: Final[Mapping[str, Status]] = {"373066001": "present", "373067005": "absent",
                                        "52101004": "present", "2667000": "absent"}
_HPO_CODE: Final = re.compile(r"(?:HP:)?([0-9]{7})")
_RXNORM_CODE: Final = re.compile(r"[0-9]{1,12}")
_ATC_CODE: Final = re.compile(r"[A-Z](?:[0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?)?")
_ACTIVE_CLINICAL: Final = frozenset({"active", "recurrence", "relapse"})
_SKIP_OBSERVATION: Final = frozenset({"entered-in-error", "cancelled", "registered"})
_MEDICATION_REF: Final = re.compile(r"(?:^|/)Medication/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?")
Item = tuple[str, Mapping[str, Any]]


def _codings(concept: Any, path: str) -> list[tuple[str, str, str, str]]:
    """Return ``(system, code, display, path)`` of a CodeableConcept's codings."""
    if not isinstance(concept, Mapping):
        return []
    return [(str(c.get("system", "")).rstrip("/"), str(c.get("code", "")),
             str(c.get("display", "")), f"{path}.coding[{i}]")
            for i, c in enumerate(concept.get("coding", []))]


def _finding_code(system: str, code: str) -> str | None:
    if system in HPO_SYSTEMS and (m := _HPO_CODE.fullmatch(code)):
        return f"HP:{m.group(1)}"
    if system == SNOMED and code.isdigit():
        return f"SNOMEDCT:{code}"
    return None


class Reader:
    """Turn validated resources into builder items (one method per resource type)."""

    def __init__(self, builder: CaseBuilder, items: Sequence[Item], on_date: date,
                 patient_id: str | None, full_urls: Mapping[str, str] | None = None) -> None:
        self.b = builder
        self.on_date = on_date
        self.patient_id = patient_id
        self.patient_path: str | None = None
        self.acute = acute_findings(builder.kb)
        self.medications = {str(r.get("id")): r for _, r in items
                            if r.get("resourceType") == "Medication"}
        by_path = dict(items)
        self.by_full_url = {url: by_path[path] for path, url in (full_urls or {}).items()
                            if path in by_path}
        patients = [(p, r) for p, r in items if r.get("resourceType") == "Patient"]
        if patients and self.patient_id is None:
            self.patient_id = patients[0][1].get("id")
        self.as_of = on_date
        death = parse_when(patients[0][1].get("deceasedDateTime")) if patients else None
        if death is not None and death.date() < on_date:
            self.as_of = death.date()

    def origin(self, path: str, resource: Mapping[str, Any],
               fields: Mapping[str, str] | None = None, when: Any = None,
               onset: Any = None) -> Origin:
        return Origin(resource["resourceType"], resource.get("id"), path, fields or {},
                      parse_when(when), parse_when(onset))

    def read(self, path: str, resource: Mapping[str, Any]) -> None:
        kind = resource["resourceType"]
        handler = {"Patient": self.patient, "Observation": self.observation,
                   "Condition": self.condition, "MedicationStatement": self.medication,
                   "MedicationRequest": self.medication}.get(kind)
        if handler is None:
            if kind != "Medication":
                self.b.skip(self.origin(path, resource), f"{kind} is not read")
            return
        if kind != "Patient" and not self.same_patient(path, resource):
            return
        handler(path, resource)

    def same_patient(self, path: str, resource: Mapping[str, Any]) -> bool:
        ref = resource.get("subject", {}).get("reference")
        if not isinstance(ref, str) or "Patient/" not in ref or self.patient_id is None:
            return True
        if ref.rsplit("Patient/", 1)[1].split("/")[0] == self.patient_id:
            return True
        self.b.problem(f"{path}.subject.reference", f"names another patient than Patient/"
                                                    f"{self.patient_id}", ref)
        return False

    def patient(self, path: str, resource: Mapping[str, Any]) -> None:
        if self.patient_path is not None:
            self.b.problem(path, f"a second Patient (the first is at {self.patient_path})",
                           resource.get("id"))
            return
        self.patient_path = path
        if self.patient_id is not None and resource.get("id") != self.patient_id:
            self.b.problem(f"{path}.id", f"is not the patient in context "
                                         f"({self.patient_id})", resource.get("id"))
        self.deceased(resource)
        birth = resource.get("birthDate")
        if isinstance(birth, str):
            self.age(path, resource, birth)
        gender = resource.get("gender")
        if gender is not None:
            if gender not in ("male", "female", "other", "unknown"):
                self.b.problem(f"{path}.gender", "must be male, female, other or unknown", gender)
            else:
                self.b.scalar("sex", gender, self.origin(path, resource, {"sex": ".gender"}))

    def deceased(self, resource: Mapping[str, Any]) -> None:
        if resource.get("deceasedBoolean") is True or "deceasedDateTime" in resource:
            self.b.deceased = True
            if self.as_of < self.on_date:
                self.b.notes.append(f"the patient died on {self.as_of.isoformat()}: the age is "
                                    "the age at death and the record is read as of that date")
            else:
                self.b.notes.append("the patient is recorded as deceased (no date of death): "
                                    f"the age is counted to {self.on_date.isoformat()}")

    def age(self, path: str, resource: Mapping[str, Any], birth: str) -> None:
        parts = [int(x) for x in birth.split("-")]
        # a partial date is taken at the middle of its year or month
        year, month, day = {1: (*parts, 7, 1), 2: (*parts, 15)}.get(len(parts), tuple(parts))
        on = self.as_of
        if (year, month, day) > (on.year, on.month, on.day):
            self.b.problem(f"{path}.birthDate", f"is after {on.isoformat()}", birth)
            return
        years = on.year - year - ((on.month, on.day) < (month, day))
        self.b.scalar("age", years, self.origin(path, resource, {"age": ".birthDate"}))

    def observation(self, path: str, obs: Mapping[str, Any]) -> None:
        when = (obs.get("effectiveDateTime") or obs.get("effectiveInstant")
                or (obs.get("effectivePeriod") or {}).get("end")
                or (obs.get("effectivePeriod") or {}).get("start") or obs.get("issued"))
        status = obs.get("status")
        if status in _SKIP_OBSERVATION:
            self.b.skip(self.origin(path, obs), f"status is {status}")
            return
        codings = _codings(obs.get("code"), f"{path}.code")
        dated = parse_when(when)
        if "valueQuantity" not in obs and isinstance(obs.get("component"), list):
            # a panel (e.g. blood pressure 85354-9): each coded component with a quantity is a
            # result of its own
            for i, part in enumerate(obs["component"]):
                if isinstance(part, dict) and "valueQuantity" in part:
                    self.quantity(f"{path}.component[{i}]", {**obs, **part, "component": []},
                                  _codings(part.get("code"), f"{path}.component[{i}].code"),
                                  when, dated)
            return
        if "valueQuantity" in obs:
            self.quantity(path, obs, codings, when, dated)
        elif any(_finding_code(s, c) for s, c, _, _ in codings) and older_than(
                dated, self.as_of, FINDING_DAYS):
            self.observed_finding(path, obs, codings, when, past=(
                f"observation of {dated:%Y-%m-%d} is more than {FINDING_DAYS} days before "
                f"{self.as_of.isoformat()}"))
        else:
            self.observed_finding(path, obs, codings, when)

    def quantity(self, path: str, obs: Mapping[str, Any],
                 codings: list[tuple[str, str, str, str]], when: Any,
                 dated: datetime | None) -> None:
        """Read a measured value: a lab result unless too old (vital signs: a day)."""
        loinc = next((c for s, c, _, _ in codings if s == LOINC and self.b.lab_rule(c)), None)
        if loinc is not None and older_than(dated, self.as_of, lab_days(loinc)):
            self.b.past(self.origin(path, obs), f"result of {dated:%Y-%m-%d} is more than "
                        f"{lab_days(loinc)} days before {self.as_of.isoformat()}")
            return
        self.lab(path, obs, codings, when)

    def lab(self, path: str, obs: Mapping[str, Any], codings: list[tuple[str, str, str, str]],
            when: Any) -> None:
        loincs = [(code, cpath) for system, code, _, cpath in codings if system == LOINC]
        known = [(code, cpath) for code, cpath in loincs if self.b.lab_rule(code)]
        if not known:
            why = f"LOINC {loincs[0][0]} is not used by the knowledge base" if loincs else \
                "a valueQuantity without a LOINC coding"
            self.b.skip(self.origin(path, obs), why)
            return
        qty = obs["valueQuantity"]
        vpath = f"{path}.valueQuantity"
        if "comparator" in qty:
            self.b.skip(self.origin(path, obs), f"value is bounded ({qty['comparator']}), "
                                                "not measured")
            return
        value = qty.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.b.problem(f"{vpath}.value", "must be a number", value)
            return
        ucum = qty.get("system") == UCUM and isinstance(qty.get("code"), str)
        unit = qty["code"] if ucum else qty.get("unit")
        if not isinstance(unit, str):
            self.b.problem(vpath, "needs a unit: a UCUM code (system http://unitsofmeasure.org) "
                                  "or unit", qty)
            return
        fields = {"value": ".valueQuantity.value",
                  "unit": ".valueQuantity.code" if ucum else ".valueQuantity.unit",
                  "loinc": known[0][1][len(path):] + ".code"}
        self.b.lab(known[0][0], value, unit, self.origin(path, obs, fields, when))

    def observed_finding(self, path: str, obs: Mapping[str, Any],
                         codings: list[tuple[str, str, str, str]], when: Any,
                         past: str | None = None) -> None:
        """Read a coded yes/no Observation; ``past`` (why it is history) makes it history."""
        if not any(_finding_code(s, c) for s, c, _, _ in codings):
            loinc = next((c for s, c, _, _ in codings if s == LOINC), None)
            self.b.skip(self.origin(path, obs), f"LOINC {loinc} without a valueQuantity" if loinc
                        else "no HPO or SNOMED CT coding")
            return
        status: Status | None = None
        field = ".valueBoolean"
        if "valueBoolean" in obs:
            if not isinstance(obs["valueBoolean"], bool):  # the model would coerce "yes"
                self.b.problem(f"{path}.valueBoolean", "must be true or false",
                               obs["valueBoolean"])
                return
            status = "present" if obs["valueBoolean"] else "absent"
        elif "valueCodeableConcept" in obs:
            field = ".valueCodeableConcept"
            status = next((_YES_NO[c] for s, c, _, _ in _codings(obs["valueCodeableConcept"], "")
                           if s == SNOMED and c in _YES_NO), None)
        else:
            field = ".interpretation"
            for concept in obs.get("interpretation", []):
                for system, code, _, _ in _codings(concept, ""):
                    if system == _INTERPRETATION and code in ("POS", "NEG"):
                        status = "present" if code == "POS" else "absent"
        if status is None:
            if past is not None:  # old and unreadable: history, as before, but not in the case
                self.b.past(self.origin(path, obs), past)
                return
            self.b.skip(self.origin(path, obs), "no valueBoolean, yes/no valueCodeableConcept or "
                                                "POS/NEG interpretation")
            return
        period = obs.get("effectivePeriod") or {}
        onset = (obs.get("effectiveDateTime") or obs.get("effectiveInstant")
                 or period.get("start") or obs.get("issued"))
        self.coded_finding(path, obs, codings, status=status, fields={"status": field},
                           when=when, onset=onset, past=past)

    def coded_finding(self, path: str, resource: Mapping[str, Any],
                      codings: list[tuple[str, str, str, str]], *, status: Status,
                      fields: dict[str, str], when: Any, onset: Any = None,
                      past: str | None = None) -> None:
        """Add the first placeable code as a finding, or as history when ``past`` says why."""
        codes = [(c, cpath) for s, code, _, cpath in codings
                 if (c := _finding_code(s, code)) is not None]
        if not codes:
            self.b.skip(self.origin(path, resource), "no HPO or SNOMED CT coding")
            return
        for code, cpath in codes:
            if self.b.placeable(code, status) is None:
                fields["code"] = cpath[len(path):] + ".code"
                origin = self.origin(path, resource, fields, when, onset)
                if past is not None:
                    self.b.past(origin, past, (code, status))
                else:
                    self.b.finding(code, status, origin)
                return
        if past is not None:  # history the knowledge base cannot place: reported only
            self.b.past(self.origin(path, resource), past)
            return
        self.b.finding(codes[0][0], status, self.origin(path, resource))  # skipped with reason

    def condition(self, path: str, cond: Mapping[str, Any]) -> None:
        clinical = {c for _, c, _, _ in _codings(cond.get("clinicalStatus"), "")}
        verification = {c for _, c, _, _ in _codings(cond.get("verificationStatus"), "")}
        if "entered-in-error" in verification:
            self.b.skip(self.origin(path, cond), "verificationStatus is entered-in-error")
            return
        codings = _codings(cond.get("code"), f"{path}.code")
        if "refuted" in verification:
            status: Status = "absent"
            field = ".verificationStatus"
        elif clinical & PAST_CLINICAL or any(k.startswith("abatement") for k in cond):
            why = (f"clinicalStatus is {', '.join(sorted(clinical & PAST_CLINICAL))}"
                   if clinical & PAST_CLINICAL else "it has abated (abatement is recorded)")
            self.past_condition(path, cond, codings, why)
            return
        elif clinical & _ACTIVE_CLINICAL:
            status, field = "present", ".clinicalStatus"
        else:
            shown = ", ".join(sorted(clinical)) or "missing"
            self.b.skip(self.origin(path, cond), f"clinicalStatus is {shown}, not active")
            return
        onset = (cond.get("onsetDateTime") or (cond.get("onsetPeriod") or {}).get("start")
                 or cond.get("recordedDate"))
        began = parse_when(onset)
        if status == "present" and older_than(began, self.as_of, CONDITION_ACUTE_DAYS):
            acute = sorted(self.acute & set(self.condition_facts(codings)))
            if acute:
                self.past_condition(path, cond, codings, (
                    f"onset {began:%Y-%m-%d} is more than {CONDITION_ACUTE_DAYS} days before "
                    f"{self.as_of.isoformat()} and {', '.join(acute)} is an acute event"))
                return
        when = cond.get("recordedDate") or cond.get("onsetDateTime")
        self.coded_finding(path, cond, codings, status=status, fields={"status": field},
                           when=when, onset=onset)

    def condition_facts(self, codings: list[tuple[str, str, str, str]]) -> dict[str, Status]:
        """Return what the first placeable code of a present Condition says about findings."""
        for system, code, _, _ in codings:
            finding = _finding_code(system, code)
            if finding is not None and self.b.placeable(finding, "present") is None:
                return facts_of(self.b.kb, {"findings": [{"code": finding,
                                                          "status": "present"}]},
                                self.b.facts_cache)
        return {}

    def past_condition(self, path: str, cond: Mapping[str, Any],
                       codings: list[tuple[str, str, str, str]], why: str) -> None:
        """Put a Condition into the case as history when the KB can place it; else skip it."""
        if not self.condition_facts(codings):
            self.b.skip(self.origin(path, cond), f"{why}; and no code the knowledge base can "
                                                 "place")
            return
        when = (cond.get("abatementDateTime") or (cond.get("abatementPeriod") or {}).get("end")
                or cond.get("recordedDate") or cond.get("onsetDateTime"))
        self.coded_finding(path, cond, codings, status="present",
                           fields={"status": ".clinicalStatus"}, when=when, past=why)

    def medication(self, path: str, res: Mapping[str, Any]) -> None:
        if res.get("status") != "active":
            self.b.skip(self.origin(path, res), f"status is {res.get('status')}, not active")
            return
        concept: Any = res.get("medicationCodeableConcept")
        cpath = f"{path}.medicationCodeableConcept"
        ref = (res.get("medicationReference") or {}).get("reference")
        if concept is None and isinstance(ref, str):
            med = self.referenced_medication(res, ref)
            if med is None:
                self.b.skip(self.origin(path, res), f"medicationReference {ref!r} names no "
                                                    "Medication in the input")
                return
            concept, cpath = med.get("code"), f"{path}.medicationReference"
        entry: dict[str, str] = {}
        texts = [str((concept or {}).get("text", ""))]
        for system, code, display, where in _codings(concept, cpath):
            texts.append(display)
            for key, sys_uri, pattern in (("rxnorm", RXNORM, _RXNORM_CODE),
                                          ("atc", ATC, _ATC_CODE)):
                if system == sys_uri and key not in entry:
                    if pattern.fullmatch(code):
                        entry[key] = code
                    else:
                        self.b.problem(f"{where}.code", f"is not a valid {key} code", code)
        name = self.generic_name(texts)
        if name:
            entry["name"] = name
        if not entry:
            self.b.skip(self.origin(path, res), "no RxNorm or ATC coding or known generic name")
            return
        self.b.medication(entry, self.origin(path, res))

    def referenced_medication(self, res: Mapping[str, Any], ref: str,
                              ) -> Mapping[str, Any] | None:
        """Find a Medication by any reference form FHIR allows.

        Contained (``#id``), a Bundle entry's ``fullUrl`` (``urn:uuid:...`` or an absolute URL),
        relative (``Medication/123``) or absolute (``https://ehr/fhir/Medication/123``, with or
        without ``/_history/n``).
        """
        if ref.startswith("#"):
            return next((c for c in res.get("contained", [])
                         if isinstance(c, Mapping) and f"#{c.get('id')}" == ref
                         and c.get("resourceType") == "Medication"), None)
        found = self.by_full_url.get(ref)
        if found is not None:
            return found if found.get("resourceType") == "Medication" else None
        match = _MEDICATION_REF.search(ref)
        return self.medications.get(match.group(1)) if match else None

    def generic_name(self, texts: list[str]) -> str | None:
        for text in texts:
            low = " ".join(text.lower().split())
            for cls in self.b.kb.medication_classes:
                for name in cls.names:
                    if low == name or low.startswith(name + " "):
                        return name
        return None
