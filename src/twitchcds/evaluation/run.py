"""Evaluation runs: each vignette assessed and scored, and the report over them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from attrs import frozen

from twitchcds.errors import InvalidInputError
from twitchcds.evaluation.metrics import GroupMetrics, VignetteResult, _clean, _num, _pct
from twitchcds.evaluation.vignettes import Vignette
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.pipeline import assess
from twitchcds.typing import CATEGORIES


@frozen
class EvaluationReport:
    """The result of :func:`evaluate`: per-vignette results and metrics by group."""

    results: tuple[VignetteResult, ...]
    overall: GroupMetrics
    groups: tuple[GroupMetrics, ...]
    kb_version: str
    kb_sha256: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def misses(self) -> tuple[VignetteResult, ...]:
        """Vignettes with a wrong top-1, an unacceptable triage level, or a crash."""
        return tuple(r for r in self.results if r.miss)

    @property
    def crashes(self) -> tuple[VignetteResult, ...]:
        """Vignettes whose assessment raised."""
        return tuple(r for r in self.results if r.crashed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the whole report."""
        return _clean({  # type: ignore[no-any-return]
            "knowledge_base": {"version": self.kb_version, "sha256": self.kb_sha256},
            "options": dict(self.options),
            "overall": self.overall.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "results": [{
                "id": r.id, "group": r.group, "expected": list(r.expected),
                "acceptable": list(r.acceptable), "top3": list(r.top3),
                "top_probability": r.top_probability, "top1": r.top1,
                "top1_lenient": r.top1_lenient, "in_top3": r.in_top3,
                "triage_got": r.triage_got, "triage_expected": r.triage_expected,
                "triage_acceptable": list(r.triage_acceptable),
                "under_triage": r.under_triage, "over_triage": r.over_triage,
                "key_test": r.key_test, "tests_got": list(r.tests_got),
                "key_test_hit": r.key_test_hit, "error": r.error,
            } for r in self.results],
        })

    def to_markdown(self) -> str:
        """Render the report as Markdown tables."""
        lines = [
            "# twitchcds evaluation report", "",
            f"Knowledge base {self.kb_version} (sha256 {self.kb_sha256[:12]}...), "
            f"{self.overall.n} vignettes, {self.overall.crashes} crashes.", "",
            "## Metrics by condition group", "",
            "| group | n | top-1 | top-1 lenient | top-3 | triage exact | triage ok | under | "
            "over | key test (n) | Brier |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for g in (*self.groups, self.overall):
            name = f"**{g.group}**" if g is self.overall else g.group
            lines.append(
                f"| {name} | {g.n} | {_pct(g.top1)} | {_pct(g.top1_lenient)} | {_pct(g.top3)} | "
                f"{_pct(g.triage_exact)} | {_pct(g.triage_acceptable)} | "
                f"{_pct(g.under_triage)} | {_pct(g.over_triage)} | "
                f"{_pct(g.key_test_hits)} ({g.key_test_n}) | {_num(g.brier)} |")
        lines += ["", "## Calibration of the top probability (all vignettes)", "",
                  "| bin | count | mean predicted | observed top-1 |", "|---|---|---|---|"]
        for b in self.overall.reliability:
            lines.append(f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {_num(b.mean_predicted)} | "
                         f"{_num(b.observed)} |")
        lines += ["", "## Misses", ""]
        if not self.misses:
            lines.append("None.")
        else:
            lines += ["| vignette | expected | got top-3 (top p) | triage got / expected |",
                      "|---|---|---|---|"]
            for r in self.misses:
                got = r.error or ", ".join(r.top3)
                lines.append(f"| {r.id} | {', '.join(r.expected)} | {got} "
                             f"({_num(r.top_probability)}) | {r.triage_got} / "
                             f"{r.triage_expected} |")
        return "\n".join(lines) + "\n"



def _group_of(vignette: Vignette, kb: KnowledgeBase) -> str:
    condition = kb.condition_index.get(vignette.diagnosis[0])
    return condition.category if condition is not None else "unknown"


def _check_ids(vignettes: Sequence[Vignette], kb: KnowledgeBase) -> None:
    tests = set(kb.test_index)
    for v in vignettes:
        where = v.path or v.id
        for key, ids in (("diagnosis", v.diagnosis), ("acceptable", v.acceptable)):
            for cid in ids:
                if cid not in kb.condition_index:
                    raise InvalidInputError(f"invalid input: {where}: {key}: unknown condition "
                                            f"id {cid!r}", path=f"{where}:{key}", value=cid)
        if v.key_test is not None and v.key_test not in tests:
            raise InvalidInputError(f"invalid input: {where}: key_test: unknown test id "
                                    f"{v.key_test!r}", path=f"{where}:key_test",
                                    value=v.key_test)


def score_vignette(vignette: Vignette, kb: KnowledgeBase,
                   **assess_options: Any) -> VignetteResult:
    """Assess one vignette and compare the result with its reference answers.

    An exception raised by the assessment is recorded in ``error`` (a crash), not propagated.
    """
    group = _group_of(vignette, kb)
    try:
        result = assess(vignette.case, kb, **assess_options)
    except Exception as err:  # a crash is a finding of the evaluation, not a reason to stop
        return VignetteResult(
            id=vignette.id, group=group, expected=vignette.diagnosis,
            acceptable=vignette.acceptable, top3=(), top_probability=0.0, top1=False,
            top1_lenient=False, in_top3=False, triage_got="", triage_expected=vignette.triage,
            triage_acceptable=vignette.triage_acceptable, key_test=vignette.key_test,
            tests_got=(), error=f"{type(err).__name__}: {err}")
    top3 = tuple(row.id for row in result.differential[:3])
    expected = set(vignette.diagnosis)
    return VignetteResult(
        id=vignette.id, group=group, expected=vignette.diagnosis,
        acceptable=vignette.acceptable, top3=top3,
        top_probability=float(result.differential[0].probability),
        top1=top3[0] in expected, top1_lenient=top3[0] in expected | set(vignette.acceptable),
        in_top3=bool(expected & set(top3)), triage_got=result.triage.level,
        triage_expected=vignette.triage, triage_acceptable=vignette.triage_acceptable,
        key_test=vignette.key_test, tests_got=tuple(t.id for t in result.tests))


def evaluate(vignettes: Iterable[Vignette], kb: KnowledgeBase | None = None, *, bins: int = 5,
             **assess_options: Any) -> EvaluationReport:
    """Assess every vignette and score differential, triage and work-up by condition group.

    Parameters
    ----------
    vignettes : iterable of Vignette
        For example ``load_vignettes("evaluation/vignettes")``.
    kb : KnowledgeBase, optional
        Defaults to the built-in knowledge base.
    bins : int
        Number of equal-width bins of the reliability table.
    **assess_options
        Passed to :func:`twitchcds.assess` (``workup=True`` is needed for key-test hits).

    Returns
    -------
    EvaluationReport

    Raises
    ------
    InvalidInputError
        A vignette names a condition or test id the knowledge base does not have.
    """
    from twitchcds._state import builtin_knowledge_base  # noqa: PLC0415  (lazy load)

    kb = builtin_knowledge_base() if kb is None else kb
    items = tuple(vignettes)
    _check_ids(items, kb)
    results = tuple(score_vignette(v, kb, **assess_options) for v in items)
    groups = tuple(
        GroupMetrics.from_results(cat, [r for r in results if r.group == cat], bins)
        for cat in (*CATEGORIES, "unknown") if any(r.group == cat for r in results))
    return EvaluationReport(results=results,
                            overall=GroupMetrics.from_results("overall", results, bins),
                            groups=groups, kb_version=kb.version, kb_sha256=kb.sha256,
                            options=tuple(sorted(assess_options.items())))
