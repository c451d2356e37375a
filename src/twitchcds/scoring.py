"""Run inference by finding id for one knowledge base and one set of priors.

The explanation, work-up and question stages all ask "what would the posterior be with this
evidence?"; :class:`Scorer` answers by id and changes nothing but its memo of answers. It
calls the inference engine directly (ids and priors are checked once, not per call), and
:meth:`Scorer.run_absent_batch` answers many "the same evidence plus these findings absent"
questions in one batched solve.
A scorer remembers the answers of :meth:`Scorer.run` (up to ``MEMO_SIZE`` evidence sets), so
stages asking the same question share one inference (in :func:`twitchcds.assess`, the
differential and the explanation's last step).

Examples
--------
>>> from twitchcds import load_knowledge_base
>>> from twitchcds.compiled import compile_model
>>> from twitchcds.priors import case_priors
>>> kb = load_knowledge_base()
>>> model = compile_model(kb)
>>> scorer = Scorer.for_priors(kb, model, case_priors(model, None, ()).adjusted)
>>> result = scorer.run({"fasciculations"}, set())
>>> 0.0 <= float(result.probabilities.min()) <= float(result.probabilities.max()) <= 1.0
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from attrs import field, frozen

from twitchcds.compiled import CompiledModel
from twitchcds.inference import DEFAULT_BUDGET, InferenceResult, infer
from twitchcds.inference._engine import run, run_batch
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.typing import Method

__all__ = ["MEMO_SIZE", "Method", "Scorer"]

MEMO_SIZE = 64
"""Answers of :meth:`Scorer.run` a scorer keeps (the first ones asked; a case asks about 20)."""


def _float_array(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def _checked_priors(model: CompiledModel, priors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.array(priors, dtype=np.float64)
    if arr.shape != (len(model.rows),) or not np.all((arr > 0.0) & (arr < 1.0)):
        # let infer() raise its usual error, naming the offending entry
        infer(model.network, arr, [], [])
    arr.flags.writeable = False
    return arr


@frozen(eq=False)
class Scorer:
    """Inference on ``kb``'s compiled model with fixed priors (aligned with ``kb.conditions``).

    Carries the knowledge base beside its model for the stages that read both (explanation,
    work-up, scope).
    """

    kb: KnowledgeBase
    model: CompiledModel
    priors: npt.NDArray[np.float64] = field(converter=_float_array)
    method: Method = "auto"
    _answers: dict[tuple[frozenset[str], frozenset[str]], InferenceResult] = field(
        factory=dict, init=False, repr=False)

    @classmethod
    def for_priors(cls, kb: KnowledgeBase, model: CompiledModel, priors: Sequence[float],
                   method: Method = "auto") -> Scorer:
        """Build a scorer from a sequence of priors (checked here, once).

        ``model`` is ``kb`` compiled (:func:`twitchcds.compiled.compile_model`).
        """
        return cls(kb, model, _checked_priors(model, priors), method)

    def _indices(self, ids: Iterable[str]) -> npt.NDArray[np.intp]:
        position = self.model.finding_position
        return np.array(sorted({position[f] for f in ids}), dtype=np.intp)

    def run(self, present: Iterable[str], absent: Iterable[str]) -> InferenceResult:
        """Posterior of every condition given finding ids present and absent.

        The same question asked again gets the same (read-only) answer without inference.
        """
        key = (frozenset(present), frozenset(absent))
        known = self._answers.get(key)
        if known is not None:
            return known
        pos, neg = self._indices(key[0]), self._indices(key[1])
        if not key[0].isdisjoint(key[1]):
            return infer(self.model.network, self.priors, pos.tolist(), neg.tolist(),
                         method=self.method)  # raises the ContradictionError
        result = run(self.model.network, self.priors, pos, neg, method=self.method,
                     budget=DEFAULT_BUDGET)
        self.remember(*key, result)
        return result

    def remember(self, present: Iterable[str], absent: Iterable[str],
                 result: InferenceResult) -> None:
        """Keep ``result``, solved elsewhere, as :meth:`run`'s answer for these findings.

        An answer already kept for them stays; at most ``MEMO_SIZE`` are kept, and a kept
        answer's probabilities become read-only. :meth:`run` keeps its own answers this way;
        :func:`twitchcds.pipeline.run_many` hands over answers solved with other cases'.
        """
        key = (frozenset(present), frozenset(absent))
        if key not in self._answers and len(self._answers) < MEMO_SIZE:
            result.probabilities.flags.writeable = False
            self._answers[key] = result

    def run_absent_batch(self, present: Iterable[str], absent: Iterable[str],
                         extra: Sequence[str], rows: npt.NDArray[np.float64], *,
                         shown: Sequence[str] = (),
                         ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
        """Posteriors ``(B, n_conditions)`` and log evidences ``(B,)`` of a batch.

        Row ``b`` has the findings ``present`` and ``absent``, plus ``extra[i]`` absent where
        ``rows[b, i] == 1`` (``extra`` must be unobserved). ``shown`` names findings with
        inhibitor links (unobserved too) whose exclusion evidence row ``b`` observes where
        ``rows[b, len(extra) + j] == 1``: ``P(row) - P(row with shown[j] also absent)`` is
        then the probability of the row's evidence with ``shown[j]`` present. All rows share one
        structure and are solved together. Returns ``None`` when this scorer would not run them
        exactly (method ``"approximate"``, or a component over budget); ask :meth:`run` row by
        row then.
        """
        pos, neg = self._indices(present), self._indices(absent)
        position = self.model.finding_position
        found = np.array([position[f] for f in extra], dtype=np.intp)
        held = np.array([position[f] for f in shown], dtype=np.intp)
        return run_batch(self.model.network, self.priors, pos, neg, extra=rows,
                         extra_findings=found, method=self.method, budget=DEFAULT_BUDGET,
                         shown=held)

    def run_results(self, present: Iterable[str], absent: Iterable[str],
                    findings: Sequence[str], shows: npt.NDArray[np.int8],
                    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
        """Posteriors and log evidences of rows that each observe some of ``findings``.

        Row ``b`` has the findings ``present`` and ``absent``, plus ``findings[i]`` present
        where ``shows[b, i] == 1`` and absent where it is ``0`` (unobserved where ``-1``;
        ``findings`` must be unobserved in ``present`` and ``absent``). The rows are solved
        together, each directly (no difference of two probabilities), on the structure of
        ``present`` and every finding some row shows present. Returns ``None`` when this
        scorer would not run them exactly; ask :meth:`run` row by row then.
        """
        position = self.model.finding_position
        found = np.array([position[f] for f in findings], dtype=np.intp)
        on = shows == 1
        joining = on.any(axis=0)  # shown present by some row: they join the structure
        pos = np.union1d(self._indices(present), found[joining])
        unobserved = np.zeros((shows.shape[0], pos.size), dtype=np.bool_)
        unobserved[:, np.searchsorted(pos, found[joining])] = ~on[:, joining]
        return run_batch(self.model.network, self.priors, pos, self._indices(absent),
                         extra=(shows == 0).astype(np.float64), extra_findings=found,
                         method=self.method, budget=DEFAULT_BUDGET, unobserved=unobserved)
