"""Differential, scope and triage only, for many cases at once (Scores v1).

An :class:`~twitchcds.assessment.Assessment` carries explanations, tests, questions, advice and
the case itself. A population run (``twitchcds batch --scores``, a DataFrame of a registry)
often needs only each case's posteriors, scope and triage; :class:`CaseScores` holds those and
nothing else. :func:`score_many` computes them with the same stages as
:func:`twitchcds.pipeline.run_many` (evidence and priors per case, one exact inference for all
differentials and one for all scope checks, then the chunk's ranking and triage as arrays:
:func:`~twitchcds.triage.triage_many`), so they equal the full assessment's to rounding (a
property test checks 1e-12 and identical triage and scope).
A case that needs approximate inference, or whose evidence is impossible, goes through the full
pipeline alone and is reduced to its scores.

Examples
--------
>>> from twitchcds import Case, load_knowledge_base
>>> from twitchcds.compiled import compile_model
>>> kb = load_knowledge_base()
>>> cases = [Case.from_dict({"id": "a", "findings": [
...     {"id": "fasciculations", "status": "present"},
...     {"id": "muscle_weakness", "status": "present"}]})]
>>> [scores] = score_many(cases, kb, compile_model(kb))
>>> scores.triage, scores.scope
('soon', 'in-scope')
>>> scores.to_dict()["differential"][0]["id"] == scores.differential[0][0]
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson
from attrs import frozen

from twitchcds.assessment import DISCLAIMER, Assessment
from twitchcds.case import Case
from twitchcds.compiled import CompiledModel
from twitchcds.errors import TwitchCDSError
from twitchcds.evidence import Evidence
from twitchcds.inference import InferenceResult, rank_order
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.pipeline import SolvedCase, check_options, run, solve_cases
from twitchcds.priors import Priors
from twitchcds.scope import Scope, ScopeStatus
from twitchcds.triage import triage_many
from twitchcds.typing import Method, Setting, TriageLevel

__all__ = ["CaseScores", "score_many", "to_json_many"]


@frozen
class CaseScores:
    """One case's differential, scope and triage (the Scores v1 row).

    Attributes
    ----------
    differential : tuple of (str, float)
        Every condition with its posterior, most probable first (ties by id).
    reasons : tuple of (str, str)
        ``(id, level)`` of every triage reason (red flag or probability rule), highest first.

    Examples
    --------
    >>> from twitchcds import assess
    >>> scores = CaseScores.from_assessment(assess({"age": 30}, workup=False))
    >>> scores.scope, scores.triage, len(scores.differential) > 10
    ('no-complaint', 'self-care', True)
    """

    case_id: str | None
    kb_version: str
    kb_sha256: str
    setting: str
    method: str
    """``exact`` or ``approximate``."""
    positive_findings: int
    scope: ScopeStatus
    triage: TriageLevel
    reasons: tuple[tuple[str, TriageLevel], ...]
    differential: tuple[tuple[str, float], ...]

    @property
    def probabilities(self) -> dict[str, float]:
        """Posterior of each condition id."""
        return dict(self.differential)

    @classmethod
    def from_assessment(cls, result: Assessment) -> CaseScores:
        """Reduce a full assessment to its scores."""
        return cls(result.case_id, result.kb_version, result.kb_sha256, result.setting,
                   result.method, result.positive_findings, result.scope.status,
                   result.triage.level, tuple((r.id, r.level) for r in result.triage.reasons),
                   tuple((r.id, r.probability) for r in result.differential))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready Scores v1 dictionary (probabilities to six significant digits).

        Examples
        --------
        >>> from twitchcds import assess
        >>> sorted(CaseScores.from_assessment(assess({"age": 30}, workup=False)).to_dict())
        ['case_id', 'differential', 'disclaimer', 'inference', 'knowledge_base', 'scope', \
'setting', 'triage']
        """
        return self._dict([float(f"{p:.6g}") for _, p in self.differential])

    def _dict(self, rounded: Sequence[float]) -> dict[str, Any]:
        """:meth:`to_dict`, given the differential's probabilities rounded (in its order)."""
        return {
            "case_id": self.case_id,
            "knowledge_base": {"version": self.kb_version, "sha256": self.kb_sha256},
            "setting": self.setting,
            "inference": {"method": self.method, "positive_findings": self.positive_findings},
            "scope": self.scope,
            "triage": {"level": self.triage,
                       "reasons": [{"id": i, "level": level} for i, level in self.reasons]},
            "differential": [{"id": i, "probability": p}
                             for (i, _), p in zip(self.differential, rounded, strict=True)],
            "disclaimer": DISCLAIMER,
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as one compact JSON line (keys in a fixed order)."""
        return orjson.dumps(self.to_dict()).decode()


def to_json_many(rows: Sequence[CaseScores]) -> list[str]:
    """``[row.to_json() for row in rows]``, with every probability rounded at once.

    Examples
    --------
    >>> from twitchcds import assess
    >>> rows = [CaseScores.from_assessment(assess({"age": age}, workup=False))
    ...         for age in (30, 70)]
    >>> to_json_many(rows) == [row.to_json() for row in rows]
    True
    """
    flat = np.array([p for row in rows for _, p in row.differential], dtype=np.float64)
    rounded = _six_significant(flat).tolist()
    out, at = [], 0
    for row in rows:
        end = at + len(row.differential)
        out.append(orjson.dumps(row._dict(rounded[at:end])).decode())
        at = end
    return out


_POWERS_OF_TEN: Final = np.array([float(10**k) for k in range(23)])
"""``10**k`` for ``k`` up to 22: every one is exact in binary64."""


def _six_significant(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``float(f"{p:.6g}")`` of every value, computed for the whole array at once.

    A value ``p`` in ``[1e-16, 1]`` is scaled by an exact power of ten ``s`` into
    ``[1e5, 1e6)``, rounded to an integer ``m`` and divided back: ``m / s`` is one correctly
    rounded division of exact numbers, so it is the double nearest to the six-digit decimal,
    which is what ``float(f"{p:.6g}")`` returns, as long as ``m`` is the decimal's digits. The
    scaling rounds once (by under 1.2e-10), which can change ``m`` only when ``p * s`` is that
    close to a half (a tie, rounded half to even on ``p``'s exact binary value by the string
    path). Values within 1e-6 of a half, values outside ``[1e-16, 1]`` (zero, subnormals, NaN)
    and values that ``log10`` does not scale into range take the string path. Property tests
    check equality on floats in ``[0, 1]``, near ties and exact ties.

    Examples
    --------
    >>> _six_significant(np.array([0.123456789, 1.0, 0.0, 2.5e-7, 5e-324])).tolist()
    [0.123457, 1.0, 0.0, 2.5e-07, 5e-324]
    """
    p = np.asarray(values, dtype=np.float64)
    fast = (p >= 1e-16) & (p <= 1.0)
    q = np.where(fast, p, 1.0)  # the others' results are replaced below
    scale = _POWERS_OF_TEN[(5 - np.floor(np.log10(q))).astype(np.intp)]
    scaled = q * scale
    # log10 can be off by one next to a power of ten: the scaled value then falls outside
    fast &= (scaled >= 1e5) & (scaled < 1e6) & (np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6)
    out: npt.NDArray[np.float64] = np.rint(scaled) / scale
    slow = np.flatnonzero(~fast)
    out[slow] = [float(f"{x:.6g}") for x in p[slow].tolist()]
    return out


def _scores(kb: KnowledgeBase, model: CompiledModel,
            solved: Sequence[tuple[Case, Evidence, Priors, InferenceResult, Scope]],
            ) -> list[CaseScores]:
    """Return the scores of solved cases, ranked and triaged all at once (as arrays)."""
    if not solved:
        return []
    probabilities = np.array([result.probabilities for _, _, _, result, _ in solved])
    order = rank_order(probabilities, np.broadcast_to(model.id_rank, probabilities.shape))
    ranked = np.take_along_axis(probabilities, order, axis=1).tolist()
    ranked_ids = np.array(model.network.condition_ids, dtype=object)[order].tolist()
    levels = triage_many(model, [e.present | frozenset(e.risk_factors) for _, e, _, _, _ in solved],
                         probabilities, [scope for _, _, _, _, scope in solved])
    return [CaseScores(case.id, kb.version, kb.sha256, priors.setting, result.method,
                       len(evidence.present), scope.status, level.level,
                       tuple((r.id, r.level) for r in level.reasons),
                       tuple(zip(ids, probs, strict=True)))
            for (case, evidence, priors, result, scope), level, ids, probs
            in zip(solved, levels, ranked_ids, ranked, strict=True)]


def score_many(cases: Sequence[Case], kb: KnowledgeBase, model: CompiledModel, *,
               setting: Setting | None = None, method: Method = "auto",
               ) -> list[CaseScores | TwitchCDSError]:
    """Score every case: a :class:`CaseScores` or the case's error, in order.

    ``model`` is ``kb`` compiled; ``setting`` overrides each case's. See the module notes.

    Raises
    ------
    InvalidInputError
        At once, for a bad ``setting`` or ``method`` (naming ``options.<name>``).
    """
    options = check_options(method=method, workup=False, explain=False, setting=setting,
                            intervals=False)
    solved = solve_cases(cases, kb, model, setting, method)
    ready = [(case, s.evidence, s.priors, s.result, s.scope)
             for case, s in zip(cases, solved, strict=True)
             if isinstance(s, SolvedCase) and s.result is not None and s.scope is not None]
    scored = iter(_scores(kb, model, ready))
    out: list[CaseScores | TwitchCDSError] = []
    for case, s in zip(cases, solved, strict=True):
        if isinstance(s, TwitchCDSError):
            out.append(s)
        elif s.result is None or s.scope is None:  # impossible or approximate: assessed alone
            out.append(_alone(case, kb, model, options))
        else:
            out.append(next(scored))
    return out


def _alone(case: Case, kb: KnowledgeBase, model: CompiledModel,
           options: tuple[tuple[str, Any], ...]) -> CaseScores | TwitchCDSError:
    """Score one case through the full pipeline: its scores, or its error."""
    try:
        return CaseScores.from_assessment(run(case, kb, model, options))
    except TwitchCDSError as exc:
        return exc
