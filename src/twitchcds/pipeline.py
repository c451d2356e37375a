"""``assess`` and ``assess_many``: the pipeline of DESIGN §3, composed in one direction.

    Case -> evidence -> priors -> inference -> explanation -> triage -> work-up -> Assessment

Each stage is a pure function of the earlier stages' frozen outputs; nothing is mutated.

Examples
--------
>>> from twitchcds import assess
>>> result = assess({"age": 27, "findings": [{"id": "fasciculations", "status": "present"}],
...                  "history": {"caffeine_mg_per_day": 650, "sleep_hours_per_night": 5}})
>>> result.differential[0].category in {"benign", "lifestyle"}
True
>>> result.triage.level in {"self-care", "routine"}
True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from twitchcds._state import per_knowledge_base
from twitchcds.advice import advise
from twitchcds.assessment import Assessment, ConditionScore
from twitchcds.case import Case
from twitchcds.errors import InvalidInputError
from twitchcds.evidence import derive_evidence
from twitchcds.explanation import Contribution, explain
from twitchcds.intervals import probability_intervals
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.priors import RiskAdjustment, case_priors
from twitchcds.scope import assess_scope
from twitchcds.scoring import Method, Scorer
from twitchcds.triage import fired_red_flags, triage
from twitchcds.workup import next_questions, rank_tests

if TYPE_CHECKING:
    from twitchcds.batch import CaseFailure

__all__ = ["assess", "assess_many"]

_OPTIONS = ("method", "workup", "explain", "setting", "intervals")
_APPROXIMATE_NOTE = (
    "Too many interacting findings for exact inference within the time budget: probabilities are "
    "estimated by sampling; explanation weights are isolated link strengths (they do not sum to "
    "the posterior change); tests are not valued (only red-flag and confirmatory indications) "
    "and no next questions are ranked.")


def _condition_fields(kb: KnowledgeBase) -> tuple[tuple[str, str, str, str,
                                                         tuple[tuple[str, str], ...]], ...]:
    """Return the fixed fields of each condition's differential row (codes sorted), in order."""
    return tuple((c.id, c.name, c.category, c.severity, tuple(sorted(c.codes.items())))
                 for c in kb.conditions)


_RowColumns = tuple[Sequence[float], Sequence[float], Sequence[float],
                   Sequence[tuple[Contribution, ...]], Sequence[tuple[RiskAdjustment, ...]]]
"""Per-row probability, prior, base prior, evidence and risk-factor adjustments."""


def _condition_rows(kb: KnowledgeBase, order: Iterable[int],
                    columns: _RowColumns) -> list[ConditionScore]:
    """Differential rows of the conditions at knowledge-base positions ``order``.

    ``columns`` are aligned with ``order``; each row's fixed fields (name, category, severity,
    codes) come from the knowledge base.
    """
    probability, prior, base, evidence, risk = columns
    fixed = per_knowledge_base(kb, _condition_fields)
    return [ConditionScore(ident, name, probability[i], prior[i], base[i], category, severity,
                           codes, evidence[i], risk[i])
            for i, (ident, name, category, severity, codes) in enumerate(fixed[j]
                                                                         for j in order)]


def _as_case(case: Case | Mapping[str, Any]) -> Case:
    if isinstance(case, Case):
        return case
    return Case.from_dict(case)


def _check_options(options: Mapping[str, Any]) -> tuple[Method, bool, bool, str | None, bool]:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise InvalidInputError(f"invalid input: unknown option {unknown[0]!r}; known: "
                                f"{', '.join(_OPTIONS)}", path=f"options.{unknown[0]}",
                                value=unknown[0])
    method = options.get("method", "auto")
    if method not in ("auto", "exact", "approximate"):
        raise InvalidInputError("invalid input: method must be 'auto', 'exact' or 'approximate'",
                                path="options.method", value=method)
    flags = []
    for name in ("workup", "explain", "intervals"):
        value = options.get(name, True)
        if not isinstance(value, bool):
            raise InvalidInputError(f"invalid input: {name} must be true or false",
                                    path=f"options.{name}", value=value)
        flags.append(value)
    setting = options.get("setting")
    if setting is not None and setting not in ("primary-care", "neuromuscular-clinic"):
        raise InvalidInputError("invalid input: unknown setting", path="options.setting",
                                value=setting)
    return method, flags[0], flags[1], setting, flags[2]


def assess(case: Case | Mapping[str, Any], kb: KnowledgeBase | None = None,
           **options: Any) -> Assessment:
    """Assess one case: differential, explanation, triage, tests, questions and advice.

    Parameters
    ----------
    case : Case or dict
        A :class:`~twitchcds.case.Case` or a Case v1 dictionary (DESIGN §5).
    kb : KnowledgeBase, optional
        Defaults to the built-in knowledge base.
    **options
        ``method`` (``"auto"``, ``"exact"``, ``"approximate"``), ``workup`` (bool: value tests and
        questions, default True), ``explain`` (bool: per-finding weights, default True),
        ``setting`` (overrides the case's setting), ``intervals`` (bool: probability intervals
        under the knowledge base's parameter ranges, see :mod:`twitchcds.intervals`; default
        True here, False in the batch functions).

    Returns
    -------
    Assessment

    Raises
    ------
    TwitchCDSError
        A subclass naming the field path and value for any bad input; nothing partial is
        returned.

    Notes
    -----
    Inference is exact (see :func:`twitchcds.inference.infer`) unless the network is too large
    for the time budget, in which case a documented approximation runs and
    ``Assessment.method`` says so.

    Examples
    --------
    >>> result = assess({"labs": [{"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"}],
    ...                  "findings": [{"id": "muscle_cramps", "status": "present"}]})
    >>> result.differential[0].id
    'hypokalemia'
    """
    from twitchcds._state import builtin_knowledge_base  # noqa: PLC0415  (lazy load)

    method, do_workup, do_explain, setting_override, do_intervals = _check_options(options)
    kb = builtin_knowledge_base() if kb is None else kb
    case = _as_case(case)
    evidence = derive_evidence(case, kb)
    priors = case_priors(kb, setting_override or case.setting, evidence.risk_factors)
    scorer = Scorer.for_priors(kb, priors.adjusted, method)
    result = scorer.run(evidence.present, evidence.absent)
    probs = result.probabilities
    # Past the exact budget every extra inference is a sampling run: keep the cost bounded.
    exact = result.method == "exact"
    contributions = (explain(scorer, evidence, chain=exact) if do_explain
                     else tuple(() for _ in kb.conditions))
    prob_array = np.asarray(probs, dtype=float)
    posterior, adjusted, base = (prob_array.tolist(),
                                 np.asarray(priors.adjusted, dtype=float).tolist(),
                                 np.asarray(priors.base, dtype=float).tolist())
    by_id = dict(zip((c.id for c in kb.conditions), posterior, strict=True))
    adjustments: dict[str, list[RiskAdjustment]] = {}
    for a in priors.adjustments:
        adjustments.setdefault(a.condition, []).append(a)
    risk = [tuple(adjustments.get(c.id, ())) for c in kb.conditions]
    rows = _condition_rows(kb, range(len(kb.conditions)),
                           (posterior, adjusted, base, contributions, risk))
    rows.sort(key=lambda r: (-r.probability, r.id))
    # Red flags read present findings and active risk factors (e.g. weakness on a diuretic).
    context = evidence.present | frozenset(evidence.risk_factors)
    fired = fired_red_flags(kb, context)
    tests = (rank_tests(scorer, evidence, probs, result.log_evidence, fired, valued=exact)
             if do_workup else ())
    questions = (next_questions(scorer, evidence, probs, result.log_evidence)
                 if do_workup and exact else ())
    scope = assess_scope(scorer, evidence.present, evidence.absent, prob_array,
                         result.log_evidence)
    advice = advise(kb, by_id, context, fired)
    uncertainty = (probability_intervals(kb, priors.adjusted, priors.setting, evidence.present,
                                         evidence.absent, point=prob_array)
                   if do_intervals and exact else None)
    if scope.status == "no-complaint":
        advice = tuple(item for item in advice if item.condition is None)
    return Assessment(
        case_id=case.id, kb_version=kb.version, kb_sha256=kb.sha256, setting=priors.setting,
        method=result.method, positive_findings=len(evidence.present),
        differential=tuple(rows), triage=triage(kb, context, by_id, fired, scope=scope),
        all_tests=tests, questions=questions, advice=advice, scope=scope,
        derived_findings=evidence.derived, unused_inputs=evidence.unused, case=case, kb=kb,
        options=tuple(sorted(options.items())),
        note="" if exact else _APPROXIMATE_NOTE, uncertainty=uncertainty,
    )


@overload
def assess_many(cases: Iterable[Case | Mapping[str, Any]], kb: KnowledgeBase | None = None, *,
                workers: int | None = None, chunksize: int = 64,
                errors: Literal["raise"] = "raise", **options: Any) -> Iterator[Assessment]: ...


@overload
def assess_many(cases: Iterable[Case | Mapping[str, Any]], kb: KnowledgeBase | None = None, *,
                workers: int | None = None, chunksize: int = 64,
                errors: Literal["return"], **options: Any,
                ) -> Iterator[Assessment | CaseFailure]: ...


def assess_many(cases: Iterable[Case | Mapping[str, Any]], kb: KnowledgeBase | None = None, *,
                workers: int | None = None, chunksize: int = 64,
                errors: Literal["raise", "return"] = "raise",
                **options: Any) -> Iterator[Assessment] | Iterator[Assessment | CaseFailure]:
    """Assess cases lazily, one :class:`Assessment` per case, in the same order.

    Streaming: cases are read as results are consumed, so memory stays flat in the number of
    cases, with or without worker processes.

    Parameters
    ----------
    cases : iterable of Case or dict
        Read lazily (a generator over a huge file is fine).
    kb : KnowledgeBase, optional
        Defaults to the built-in knowledge base, which each worker process loads once; a custom
        one is pickled to the workers.
    workers : int, optional
        Number of worker processes (:class:`concurrent.futures.ProcessPoolExecutor`); ``None``
        or 1 assesses in this process. Results are identical either way.
    chunksize : int, default 64
        Cases sent to a worker at once; at most ``2 * workers`` chunks are in flight.
    errors : {"raise", "return"}, default "raise"
        ``"raise"``: a bad case raises its :class:`~twitchcds.errors.TwitchCDSError` when its
        turn comes (the cases before it have been yielded). ``"return"``: a
        :class:`twitchcds.batch.CaseFailure` (index, case id, error) is yielded in its place
        and the others go on.
    **options
        As for :func:`assess` (``method``, ``workup``, ``explain``, ``setting``,
        ``intervals``, here off unless set); checked before the first case is read.

    Returns
    -------
    iterator of Assessment (or CaseFailure with ``errors="return"``)

    Raises
    ------
    TwitchCDSError
        At once for a bad option; for a bad case when its turn comes (``errors="raise"``).

    Notes
    -----
    For a pandas DataFrame see :func:`twitchcds.batch.assess_dataframe`; for a Dask cluster,
    :func:`twitchcds.batch.assess_many_dask`.

    Worker processes send each :class:`Assessment` back pickled (the differential as plain
    numbers): about 0.12 ms per case of transport (0.03 ms to pack and pickle in the worker,
    0.09 ms to unpickle and rebuild in the parent), against about 0.3 ms for a bare assessment
    (work-up and explanations off). On two cores ``workers=2`` gains about 1.3x there, and
    about 1.7x with the work-up on, where each case costs far more than its transport.

    Examples
    --------
    >>> cases = [{"age": 30, "findings": [{"id": "fasciculations", "status": "present"}]},
    ...          {"age": 70, "findings": [{"id": "muscle_weakness", "status": "present"}]}]
    >>> [a.case.age for a in assess_many(cases, workup=False)]
    [30, 70]
    >>> [getattr(r, "index", "ok") for r in assess_many([{"age": 1}, {"age": -1}],
    ...                                                   errors="return", workup=False)]
    ['ok', 1]
    """
    from twitchcds.batch import _check_batch, _stream  # noqa: PLC0415  (batch imports this)

    _check_options(options)
    _check_batch(workers, chunksize, errors)
    stream: Iterator[Any] = _stream(cases, kb, options, workers=workers, chunksize=chunksize,
                                    errors=errors, parse=False, output="assessment")
    return stream
