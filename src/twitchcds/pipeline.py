"""``assess``: the pipeline of DESIGN §3, composed in one direction.

    Case -> evidence -> priors -> inference -> explanation -> triage -> work-up -> Assessment

Each stage is a pure function of the earlier stages' frozen outputs and of the compiled
knowledge base (:class:`~twitchcds.compiled.CompiledModel`), which :func:`assess` obtains once
per knowledge base and passes to every stage; nothing is mutated. Many cases at once:
:func:`twitchcds.assess_many`.

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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import evolve, frozen

from twitchcds._lru import Lru
from twitchcds._state import builtin_knowledge_base, compiled_model
from twitchcds.advice import advise
from twitchcds.assessment import Assessment, ConditionScore
from twitchcds.case import Case
from twitchcds.compiled import CompiledModel
from twitchcds.errors import InvalidInputError, TwitchCDSError
from twitchcds.evidence import Evidence, derive_evidence
from twitchcds.explanation import Contribution, chain_evidence, explain
from twitchcds.inference import InferenceResult, infer_many, rank_order
from twitchcds.intervals import probability_intervals
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.priors import Priors, RiskAdjustment, case_priors
from twitchcds.scope import Scope, assess_scope, scope_many
from twitchcds.scoring import Scorer
from twitchcds.triage import fired_red_flags, triage
from twitchcds.typing import SETTINGS, Method, Setting
from twitchcds.workup import next_questions, rank_tests

__all__ = ["AlikeKey", "SolvedCase", "alike_key", "assess", "check_options", "prepare", "run",
           "run_many", "solve_cases", "solve_many"]

_METHODS = ("auto", "exact", "approximate")
_APPROXIMATE_NOTE = (
    "Too many interacting findings for exact inference within the time budget: probabilities are "
    "estimated by sampling; explanation weights are isolated link strengths (they do not sum to "
    "the posterior change); tests are not valued (only red-flag and confirmatory indications) "
    "and no next questions are ranked.")


_RowColumns = tuple[Sequence[float], Sequence[float], Sequence[float],
                   Sequence[tuple[Contribution, ...]], Sequence[tuple[RiskAdjustment, ...]]]
"""Per-row probability, prior, base prior, evidence and risk-factor adjustments."""


def _condition_rows(model: CompiledModel, order: Iterable[int],
                    columns: _RowColumns) -> list[ConditionScore]:
    """Differential rows of the conditions at knowledge-base positions ``order``.

    ``columns`` are aligned with ``order``; each row's fixed fields (name, category, severity,
    codes) come from the compiled model.
    """
    probability, prior, base, evidence, risk = columns
    rows = model.rows
    return [ConditionScore(f.id, f.name, probability[i], prior[i], base[i], f.category,
                           f.severity, f.codes, evidence[i], risk[i])
            for i, f in enumerate(rows[j] for j in order)]


def _as_case(case: Case | Mapping[str, Any]) -> Case:
    if isinstance(case, Case):
        return case
    return Case.from_dict(case)


def check_options(method: Any = "auto", workup: Any = True, explain: Any = True,
                  setting: Any = None, intervals: Any = True) -> tuple[tuple[str, Any], ...]:
    """Check :func:`assess`'s options as untyped callers may pass them; return them as pairs.

    The pairs (sorted by name) are what ``Assessment.options`` records.

    Raises
    ------
    InvalidInputError
        Naming ``options.<name>`` and the value, for a value of the wrong type or range.

    Examples
    --------
    >>> dict(check_options(setting="neuromuscular-clinic"))["setting"]
    'neuromuscular-clinic'
    >>> check_options(workup="yes")
    Traceback (most recent call last):
    ...
    twitchcds.errors.InvalidInputError: invalid input: workup must be true or false
    """
    if method not in _METHODS:
        raise InvalidInputError("invalid input: method must be 'auto', 'exact' or 'approximate'",
                                path="options.method", value=method)
    for name, value in (("workup", workup), ("explain", explain), ("intervals", intervals)):
        if not isinstance(value, bool):
            raise InvalidInputError(f"invalid input: {name} must be true or false",
                                    path=f"options.{name}", value=value)
    if setting is not None and setting not in SETTINGS:
        raise InvalidInputError("invalid input: unknown setting", path="options.setting",
                                value=setting)
    return (("explain", explain), ("intervals", intervals), ("method", method),
            ("setting", setting), ("workup", workup))


def assess(case: Case | Mapping[str, Any], kb: KnowledgeBase | None = None, *,
           method: Method = "auto", workup: bool = True, explain: bool = True,
           setting: Setting | None = None, intervals: bool = True) -> Assessment:
    """Assess one case: differential, explanation, triage, tests, questions and advice.

    Parameters
    ----------
    case : Case or dict
        A :class:`~twitchcds.case.Case` or a Case v1 dictionary (DESIGN §5).
    kb : KnowledgeBase, optional
        Defaults to the built-in knowledge base.
    method : {"auto", "exact", "approximate"}, default "auto"
        Inference method; ``"auto"`` chooses by estimated cost.
    workup : bool, default True
        Value tests and questions.
    explain : bool, default True
        Per-finding weights of evidence.
    setting : {"primary-care", "neuromuscular-clinic"}, optional
        Overrides the case's setting.
    intervals : bool, default True
        Probability intervals under the knowledge base's parameter ranges (see
        :mod:`twitchcds.intervals`); off by default in the batch functions.

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
    options = check_options(method, workup, explain, setting, intervals)
    kb = builtin_knowledge_base() if kb is None else kb
    return run(_as_case(case), kb, compiled_model(kb), options)


def run(case: Case, kb: KnowledgeBase, model: CompiledModel,
        options: tuple[tuple[str, Any], ...]) -> Assessment:
    """Run the pipeline of :func:`assess` on a parsed case, a compiled model and its options.

    ``model`` is ``kb`` compiled and ``options`` are as :func:`check_options` returns them.
    Every stage gets what it needs from ``kb`` and ``model`` explicitly.

    Examples
    --------
    >>> from twitchcds import Case, load_knowledge_base
    >>> from twitchcds.compiled import compile_model
    >>> case = Case.from_dict({"findings": [{"id": "fasciculations", "status": "present"}]})
    >>> kb = load_knowledge_base()
    >>> run(case, kb, compile_model(kb), check_options(workup=False)).method
    'exact'
    """
    opts = dict(options)
    evidence, priors = prepare(case, kb, model, opts["setting"])
    scorer = Scorer.for_priors(kb, model, priors.adjusted, opts["method"])
    result = scorer.run(evidence.present, evidence.absent)
    return _complete(case, kb, model, options, evidence=evidence, priors=priors, scorer=scorer,
                     result=result, scope=None)


def run_many(cases: Sequence[Case], kb: KnowledgeBase, model: CompiledModel,
             options: tuple[tuple[str, Any], ...], *,
             earlier: Lru[AlikeKey, Assessment] | None = None,
             ) -> list[Assessment | TwitchCDSError]:
    """:func:`run` for many cases, with one inference for all their differentials.

    Each case's evidence and priors are derived alone; the differentials are solved together by
    :func:`twitchcds.inference.infer_many` (an exact method equal to :func:`run`'s to rounding,
    tested to 1e-12); the later stages run case by case. Cases whose later stages would get
    equal inputs (the same present and absent findings, active risk factors and setting; many
    real records share them, often with no complaint at all) run those stages once: the others
    get that assessment with their own case, id, derived findings and unused inputs. With
    ``earlier`` (assessments of earlier chunks of the same run, by :func:`alike_key`; filled
    here), a case alike one of those gets it the same way. A bad case gives its error in its
    place and the others go on.

    Examples
    --------
    >>> from twitchcds import Case, load_knowledge_base
    >>> from twitchcds.compiled import compile_model
    >>> kb = load_knowledge_base()
    >>> cases = [Case.from_dict({"age": 30}), Case.from_dict({"age": 30, "findings": [
    ...     {"id": "fasciculations", "status": "present"}]})]
    >>> [a.scope.status for a in run_many(cases, kb, compile_model(kb),
    ...                                    check_options(workup=False))]
    ['no-complaint', 'in-scope']
    """
    opts = dict(options)
    prepared = solve_cases(cases, kb, model, opts["setting"], opts["method"])
    keys = [None if isinstance(s, TwitchCDSError) else alike_key(s) for s in prepared]
    known = [None if key is None or earlier is None else earlier.get(key) for key in keys]
    first = _first_alike(keys)
    ahead = _ahead(kb, model, [s if first[i] == i and known[i] is None else None
                               for i, s in enumerate(prepared)], opts)
    out: list[Assessment | TwitchCDSError] = []
    for i, (case, solved, answers) in enumerate(zip(cases, prepared, ahead, strict=True)):
        if isinstance(solved, TwitchCDSError):
            out.append(solved)
            continue
        alike = out[first[i]] if first[i] != i else known[i]
        if isinstance(alike, Assessment):  # (if that case failed, this one runs alone)
            out.append(evolve(alike, case_id=case.id, case=case,
                              derived_findings=solved.evidence.derived,
                              unused_inputs=solved.evidence.unused))
            continue
        try:
            scorer = Scorer.for_priors(kb, model, solved.priors.adjusted, opts["method"])
            # None: the batch could not answer this row, so it is asked alone
            result = solved.result or scorer.run(solved.evidence.present,
                                                 solved.evidence.absent)
            scorer.remember(solved.evidence.present, solved.evidence.absent, result)
            for present, absent, answer in answers:
                scorer.remember(present, absent, answer)
            assessment = _complete(case, kb, model, options, evidence=solved.evidence,
                                   priors=solved.priors, scorer=scorer, result=result,
                                   scope=solved.scope)
        except TwitchCDSError as exc:
            out.append(exc)
            continue
        out.append(assessment)
        if earlier is not None and (key := keys[i]) is not None:
            earlier.put(key, assessment)
    return out


_Answer = tuple[frozenset[str], frozenset[str], InferenceResult]

AlikeKey = tuple[str, tuple[str, ...], frozenset[str], frozenset[str]]
"""The inputs the later stages read of a case (setting, active risk factors, present and absent
findings), as :func:`alike_key` returns them."""


def alike_key(solved: SolvedCase) -> AlikeKey:
    """Return the inputs of a case's later stages (explanation, work-up, triage, advice).

    They read the present and absent findings, the active risk factors and the priors, which
    depend on the setting and the risk factors alone (:func:`solve_cases`); cases with equal
    keys get equal assessments but for their id, case, derived findings and unused inputs.
    """
    evidence = solved.evidence
    return (solved.priors.setting, evidence.risk_factors, evidence.present, evidence.absent)


def _first_alike(keys: Sequence[AlikeKey | None]) -> list[int]:
    """For each case, the first case with the same key (itself if none, or if ``None``)."""
    seen: dict[AlikeKey, int] = {}
    return [i if key is None else seen.setdefault(key, i) for i, key in enumerate(keys)]


def _finding_masks(model: CompiledModel,
                   rows: Sequence[tuple[Iterable[str], Iterable[str]]],
                   ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Present and absent masks (rows x the model's findings) of ``(present, absent)`` ids."""
    position = model.finding_position
    masks = np.zeros((2, len(rows), len(position)), dtype=bool)
    cells = [(side, r, position[f]) for r, row in enumerate(rows)
             for side, ids in enumerate(row) for f in ids]
    if cells:
        masks[tuple(zip(*cells, strict=True))] = True  # one assignment
    return masks[0], masks[1]


def _ahead(kb: KnowledgeBase, model: CompiledModel,
           prepared: Sequence[SolvedCase | TwitchCDSError | None], opts: Mapping[str, Any],
           ) -> list[list[_Answer]]:
    """Solve, for every exactly solved case at once, inferences its later stages will ask for.

    The explanation chain's steps (:func:`~twitchcds.explanation.chain_evidence`) are rows of
    one :func:`~twitchcds.inference.infer_many`; each case's scorer is handed its answers, so
    the explanation runs no inference of its own. Rows that were not solved exactly, and
    ``None`` entries (cases that need no later stages of their own), are left out (the stage
    then asks the scorer as :func:`run` does).
    """
    owners: list[int] = []
    sets: list[tuple[frozenset[str], frozenset[str]]] = []
    priors = []
    for i, solved in enumerate(prepared):
        if not isinstance(solved, SolvedCase) or solved.result is None \
                or solved.result.method != "exact":
            continue
        evidence = solved.evidence
        wanted = [(frozenset(pos), frozenset(neg)) for pos, neg in (
            chain_evidence(kb, evidence) if opts["explain"] else ())]
        owners += [i] * len(wanted)
        sets += wanted
        priors += [solved.priors.adjusted] * len(wanted)
    answers: list[list[_Answer]] = [[] for _ in prepared]
    if not sets:
        return answers
    present, absent = _finding_masks(model, sets)
    try:
        many = infer_many(model.network, np.array(priors, dtype=float), present, absent,
                          method=opts["method"])
    except TwitchCDSError:  # not expected: every row is a possible evidence's part or outcome
        return answers
    for r, (i, (pos, neg)) in enumerate(zip(owners, sets, strict=True)):
        if many.exact[r]:
            answers[i].append((pos, neg, InferenceResult(
                probabilities=many.probabilities[r], method="exact",
                log_evidence=float(many.log_evidence[r]), positive_findings=len(pos),
                estimated_cost=0.0)))
    return answers


@frozen(eq=False)
class SolvedCase:
    """A case prepared and solved with its chunk: evidence, priors, differential and scope.

    ``result`` and ``scope`` are ``None`` where the chunk could not answer (see
    :func:`solve_many`).
    """

    evidence: Evidence
    priors: Priors
    result: InferenceResult | None
    scope: Scope | None


def solve_cases(cases: Sequence[Case], kb: KnowledgeBase, model: CompiledModel,
                setting: Setting | None, method: Method) -> list[SolvedCase | TwitchCDSError]:
    """Prepare every case and solve them together; a bad case's error in its place.

    Derive each case's evidence and priors (as :func:`prepare` does), then :func:`solve_many`
    all of them: what :func:`run_many` and :func:`twitchcds.scores.score_many` share before their
    later stages. Cases with the same setting and active risk factors share one
    :class:`~twitchcds.priors.Priors` (it depends on nothing else).
    """
    out: dict[int, SolvedCase | TwitchCDSError] = {}
    ready: list[tuple[int, Evidence, Priors]] = []
    shared: dict[tuple[str | None, tuple[str, ...]], Priors] = {}  # cases with equal inputs
    for i, case in enumerate(cases):
        try:
            evidence = derive_evidence(case, kb)
            key = (setting or case.setting, evidence.risk_factors)
            if key not in shared:
                shared[key] = case_priors(model, *key)
        except TwitchCDSError as exc:
            out[i] = exc
            continue
        ready.append((i, evidence, shared[key]))
    solved = solve_many(kb, model, [e for _, e, _ in ready], [p for _, _, p in ready], method)
    for (i, evidence, priors), (result, scope) in zip(ready, solved, strict=True):
        out[i] = SolvedCase(evidence, priors, result, scope)
    return [out[i] for i in range(len(cases))]


def prepare(case: Case, kb: KnowledgeBase, model: CompiledModel,
            setting: Setting | None) -> tuple[Evidence, Priors]:
    """Return a case's evidence and priors (``setting`` overrides the case's)."""
    evidence = derive_evidence(case, kb)
    return evidence, case_priors(model, setting or case.setting, evidence.risk_factors)


def solve_many(kb: KnowledgeBase, model: CompiledModel, evidences: Sequence[Evidence],
               priors: Sequence[Priors], method: Method,
               ) -> list[tuple[InferenceResult | None, Scope | None]]:
    """Every case's differential and scope from two :func:`~twitchcds.inference.infer_many` calls.

    The first solves the differentials, the second every scope check
    (:func:`~twitchcds.scope.scope_many`). ``(None, None)`` for a row whose evidence is
    impossible; the scope is ``None`` for a row that needed approximate inference (the caller
    then assesses it alone, as :func:`run` would). A row's result does not depend on the other
    rows (see ``twitchcds.inference._many``), so results do not depend on how cases are
    chunked.
    """
    if not evidences:
        return []
    present, absent = _finding_masks(model, [(e.present, e.absent) for e in evidences])
    table = np.array([p.adjusted for p in priors], dtype=float)
    try:
        many = infer_many(model.network, table, present, absent, method=method)
    except TwitchCDSError:  # an impossible row: each row alone, so that only it fails
        if len(evidences) == 1:
            return [(None, None)]
        return [solve_many(kb, model, [e], [p], method)[0]
                for e, p in zip(evidences, priors, strict=True)]
    exact = np.flatnonzero(many.exact)
    scopes: list[Scope | None] = [None] * len(evidences)
    for r, scope in zip(exact.tolist(), scope_many(
            kb, model, priors=table[exact], present=present[exact], absent=absent[exact],
            probabilities=many.probabilities[exact], log_evidence=many.log_evidence[exact]),
            strict=True):
        scopes[r] = scope
    return [(InferenceResult(probabilities=many.probabilities[r],
                             method="exact" if many.exact[r] else "approximate",
                             log_evidence=float(many.log_evidence[r]),
                             positive_findings=len(evidences[r].present), estimated_cost=0.0),
             scopes[r]) for r in range(len(evidences))]


def _complete(case: Case, kb: KnowledgeBase, model: CompiledModel,
              options: tuple[tuple[str, Any], ...], *, evidence: Evidence, priors: Priors,
              scorer: Scorer, result: InferenceResult, scope: Scope | None) -> Assessment:
    """Run the stages after the differential's inference (and scope, when given) for one case."""
    opts = dict(options)
    probs = result.probabilities
    # Past the exact budget every extra inference is a sampling run: keep the cost bounded.
    exact = result.method == "exact"
    contributions = (explain(scorer, evidence, chain=exact) if opts["explain"]
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
    rows = _condition_rows(model, range(len(kb.conditions)),
                           (posterior, adjusted, base, contributions, risk))
    rows = [rows[j] for j in rank_order(prob_array, model.id_rank)]
    # Red flags read present findings and active risk factors (e.g. weakness on a diuretic).
    context = evidence.present | frozenset(evidence.risk_factors)
    fired = fired_red_flags(model, context)
    do_workup = opts["workup"]
    tests = (rank_tests(scorer, evidence, probs, result.log_evidence, fired, valued=exact)
             if do_workup else ())
    questions = (next_questions(scorer, evidence, probs, result.log_evidence)
                 if do_workup and exact else ())
    if scope is None:
        scope = assess_scope(scorer, evidence.present, evidence.absent, prob_array,
                             result.log_evidence)
    advice = advise(model, by_id, context, fired)
    uncertainty = (probability_intervals(model, priors.adjusted, priors.setting, evidence.present,
                                         evidence.absent, point=prob_array)
                   if opts["intervals"] and exact else None)
    if scope.status == "no-complaint":
        advice = tuple(item for item in advice if item.condition is None)
    return Assessment(
        case_id=case.id, kb_version=kb.version, kb_sha256=kb.sha256, setting=priors.setting,
        method=result.method, positive_findings=len(evidence.present),
        differential=tuple(rows), triage=triage(model, context, by_id, fired, scope=scope),
        all_tests=tests, questions=questions, advice=advice, scope=scope,
        derived_findings=evidence.derived, unused_inputs=evidence.unused, case=case, kb=kb,
        options=options, note="" if exact else _APPROXIMATE_NOTE, uncertainty=uncertainty,
    )
