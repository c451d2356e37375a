"""The :class:`Assessment`: what twitchcds answers about a case (Assessment v1, DESIGN §6).

Examples
--------
>>> from twitchcds import assess
>>> result = assess({"age": 27, "findings": [{"id": "fasciculations", "status": "present"}]})
>>> data = result.to_dict()
>>> sorted(data)[:4]
['advice', 'case_id', 'derived_findings', 'differential']
>>> data["differential"][0]["probability"] >= data["differential"][-1]["probability"]
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import attrs
import orjson
from attrs import field, frozen

from twitchcds.advice import AdviceItem
from twitchcds.case import Case, FindingInput
from twitchcds.errors import InvalidInputError
from twitchcds.evidence import DerivedFinding, UnusedInput
from twitchcds.explanation import Contribution
from twitchcds.intervals import Uncertainty
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.priors import RiskAdjustment
from twitchcds.scope import Scope
from twitchcds.triage import Triage
from twitchcds.workup import Question, TestValue

__all__ = ["DISCLAIMER", "Assessment", "ConditionScore"]

DISCLAIMER = (
    "twitchcds supports clinicians; it does not diagnose. Probabilities come from a published-"
    "evidence model of people presenting with muscle twitching and are no substitute for history, "
    "examination and clinical judgement. Seek urgent care for weakness, difficulty swallowing or "
    "breathing, or rapidly worsening symptoms."
)


@frozen
class ConditionScore:
    """One row of the differential: a condition's prior, posterior and explanation."""

    id: str
    name: str
    probability: float
    prior: float
    base_prior: float
    category: str
    severity: str
    codes: tuple[tuple[str, str], ...]
    evidence: tuple[Contribution, ...]
    risk_factors: tuple[RiskAdjustment, ...]


def _round(x: float) -> float:
    """``x`` to six significant digits; a NaN or infinity is a bug, never written out."""
    if not math.isfinite(x):
        raise ValueError(f"assessment holds a non-finite number ({x!r}); JSON has none")
    return float(f"{x:.6g}")


@frozen(eq=False)
class Assessment:
    """The result of :func:`twitchcds.assess`.

    ``differential`` lists every condition, most probable first; ``tests`` only the recommended
    ones: those a fired red flag indicates, then the rest by value per cost (``all_tests`` has
    every test's value); ``questions`` the
    next findings worth asking about; ``advice`` management steps and the safety net; ``scope``
    whether the input is a presentation the knowledge base models (DESIGN §6a): read the
    differential as an answer only when ``scope.status`` is ``in-scope``.
    """

    case_id: str | None
    kb_version: str
    kb_sha256: str
    setting: str
    method: str
    positive_findings: int
    differential: tuple[ConditionScore, ...]
    triage: Triage
    all_tests: tuple[TestValue, ...]
    questions: tuple[Question, ...]
    advice: tuple[AdviceItem, ...]
    derived_findings: tuple[DerivedFinding, ...]
    unused_inputs: tuple[UnusedInput, ...]
    scope: Scope
    case: Case = field(repr=False)
    kb: KnowledgeBase = field(repr=False)
    options: tuple[tuple[str, Any], ...] = field(repr=False, default=())
    disclaimer: str = DISCLAIMER
    note: str = ""
    """Why parts of the assessment were simplified (empty when inference was exact)."""
    uncertainty: Uncertainty | None = None
    """Interval of each probability under the knowledge base's ranges (Assessment v1.2); ``None``
    when not computed (``intervals=False``, the default in batch, or approximate inference)."""

    @property
    def tests(self) -> tuple[TestValue, ...]:
        """Recommended tests, best value per cost first (may be empty)."""
        return tuple(t for t in self.all_tests if t.recommended)

    @property
    def probabilities(self) -> dict[str, float]:
        """Posterior probability by condition id."""
        return {row.id: row.probability for row in self.differential}

    def what_if(self, add: Iterable[tuple[str, str]] | dict[str, str] = (),
                remove: Iterable[str] = ()) -> Assessment:
        """Re-assess with findings added (``{id: status}``) or removed, without mutating anything.

        Parameters
        ----------
        add : mapping or iterable of (finding id, status)
            Findings to set; an existing entry for the same id is replaced.
        remove : iterable of str
            Finding ids to drop from the case's findings list.

        Examples
        --------
        >>> from twitchcds import assess
        >>> base = assess({"age": 60, "findings": [{"id": "fasciculations", "status": "present"}]})
        >>> worse = base.what_if(add={"muscle_weakness": "present"})
        >>> worse.probabilities["amyotrophic_lateral_sclerosis"] > \
base.probabilities["amyotrophic_lateral_sclerosis"]
        True
        """
        from twitchcds.pipeline import assess  # noqa: PLC0415  (pipeline imports this module)

        changes = dict(add.items() if isinstance(add, dict) else add)
        dropped = set(remove) | set(changes)
        for finding_id, status in changes.items():
            if status not in ("present", "absent"):
                raise InvalidInputError(f"invalid input: what_if status for {finding_id!r} must be "
                                        f"'present' or 'absent'", path=f"add.{finding_id}",
                                        value=status)
        kept = tuple(f for f in self.case.findings if f.id not in dropped)
        added = tuple(FindingInput(status=s, id=f) for f, s in changes.items())
        new_case = attrs.evolve(self.case, findings=kept + added)
        return assess(new_case, self.kb, **dict(self.options))

    def _repr_html_(self) -> str:
        """Show triage, the differential as bars with intervals and the first tests (notebook)."""
        from twitchcds.interop.html import summary_html  # noqa: PLC0415  (renderer sits above)

        return summary_html(self)

    def to_html(self) -> str:
        """Return the full report as one self-contained HTML page (see ``interop.html``).

        Examples
        --------
        >>> from twitchcds import assess
        >>> assess({"age": 30}, workup=False).to_html().startswith("<!DOCTYPE html>")
        True
        """
        from twitchcds.interop.html import render_html  # noqa: PLC0415  (renderer sits above)

        return render_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready Assessment v1 dictionary (DESIGN §6)."""
        bounds = ({c: (lo, hi) for c, lo, hi in self.uncertainty.intervals}
                  if self.uncertainty else None)
        return {
            "case_id": self.case_id,
            "knowledge_base": {"version": self.kb_version, "sha256": self.kb_sha256},
            "setting": self.setting,
            "inference": {"method": self.method, "positive_findings": self.positive_findings,
                          **({"note": self.note} if self.note else {})},
            "scope": {"status": self.scope.status, "text": self.scope.text,
                      "findings": list(self.scope.findings)},
            **({"uncertainty": _uncertainty_dict(self.uncertainty)} if self.uncertainty else {}),
            "differential": [_score_dict(row, bounds) for row in self.differential],
            "triage": {
                "level": self.triage.level,
                "reasons": [{"id": r.id, "text": r.text, "level": r.level, "kind": r.kind,
                             "references": list(r.references)} for r in self.triage.reasons],
            },
            "tests": [_test_dict(t) for t in self.tests],
            "questions": [{"finding": q.finding, "text": q.text, "value": _round(q.value)}
                          for q in self.questions],
            "advice": [{"condition": a.condition, "text": a.text, "kind": a.kind,
                        "references": list(a.references)} for a in self.advice],
            "derived_findings": [{"finding": d.finding, "status": d.status, "from": d.source}
                                 for d in self.derived_findings],
            "unused_inputs": [{"path": u.path, "reason": u.reason} for u in self.unused_inputs],
            "disclaimer": self.disclaimer,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return :meth:`to_dict` as JSON text (keys in a fixed order, deterministic).

        ``indent=None`` gives one compact line (no spaces; what ``twitchcds batch`` writes),
        encoded by orjson, about ten times faster than the standard library on an assessment.

        Examples
        --------
        >>> from twitchcds import assess
        >>> line = assess({"age": 30}, workup=False).to_json(indent=None)
        >>> line.startswith('{"case_id":null,"knowledge_base":{"version":')
        True
        """
        data = self.to_dict()
        if indent is None:
            return orjson.dumps(data).decode()
        return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)

    def to_fhir(self, **options: Any) -> dict[str, Any]:
        """Return the assessment as a FHIR R4 Bundle (a RiskAssessment and ServiceRequests).

        Same as :func:`twitchcds.interop.fhir.assessment_to_fhir`, whose keyword options
        (``subject``, ``basis``, ``imported``, ``validate``) it accepts; validation needs the
        ``fhir`` extra (``pip install "twitchcds[fhir]"``).

        Examples
        --------
        >>> import twitchcds
        >>> result = twitchcds.assess({"findings": [{"id": "fasciculations", "status": "present"}]})
        >>> bundle = result.to_fhir(validate=False)
        >>> bundle["resourceType"], bundle["entry"][0]["resource"]["resourceType"]
        ('Bundle', 'RiskAssessment')
        """
        from twitchcds.interop.fhir import assessment_to_fhir  # noqa: PLC0415  (optional extra)

        return assessment_to_fhir(self, **options)


def _uncertainty_dict(u: Uncertainty) -> dict[str, Any]:
    return {"method": u.method, "draws": u.draws, "level": u.level, "top3": list(u.top3),
            "top3_stability": _round(u.top3_stability), "top3_stable": u.top3_stable}


def _score_dict(row: ConditionScore,
                bounds: dict[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    interval = {}
    if bounds is not None:
        low, high = bounds[row.id]
        # rounded outwards, so the written interval still holds the written probability
        interval = {"interval": {"low": min(_round(low), _round(row.probability)),
                                 "high": max(_round(high), _round(row.probability))}}
    return {
        "id": row.id, "name": row.name, "probability": _round(row.probability), **interval,
        "prior": _round(row.prior), "base_prior": _round(row.base_prior),
        "category": row.category, "severity": row.severity, "codes": dict(row.codes),
        "evidence": [{"finding": e.finding, "status": e.status, "weight": _round(e.weight),
                      "linked": e.linked, "references": list(e.references)}
                     for e in row.evidence],
        "risk_factors": [{"id": r.risk_factor, "odds_ratio": r.odds_ratio,
                          "references": list(r.references)} for r in row.risk_factors],
    }


def _test_dict(test: TestValue) -> dict[str, Any]:
    return {
        "id": test.id, "name": test.name, "value": _round(test.value), "cost": test.cost,
        "value_per_cost": _round(test.value_per_cost), "rationale": test.rationale,
        "indicated_by": list(test.indicated_by), "confirms": list(test.confirms),
        "outcomes": [{"findings": dict(o.findings), "probability": _round(o.probability),
                      "posterior": [{"id": c, "probability": _round(p)} for c, p in o.posterior]}
                     for o in test.outcomes],
    }
