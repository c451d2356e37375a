"""Run inference by finding id for one knowledge base and one set of priors.

The explanation, work-up and question stages all ask "what would the posterior be with this
evidence?"; :class:`Scorer` answers by id and mutates nothing. It calls the inference engine
directly (ids and priors are checked once, not per call), and :meth:`Scorer.run_absent_batch`
answers many "the same evidence plus these findings absent" questions in one batched solve.

Examples
--------
>>> from twitchcds import load_knowledge_base
>>> from twitchcds.priors import case_priors
>>> kb = load_knowledge_base()
>>> scorer = Scorer.for_priors(kb, case_priors(kb, None, ()).adjusted)
>>> result = scorer.run({"fasciculations"}, set())
>>> 0.0 <= float(result.probabilities.min()) <= float(result.probabilities.max()) <= 1.0
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from attrs import field, frozen

from twitchcds._state import Lru, per_knowledge_base
from twitchcds.inference import DEFAULT_BUDGET, InferenceResult, infer
from twitchcds.inference._engine import run, run_batch
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.priors import MEMO_SIZE

__all__ = ["Method", "Scorer"]

Method = Literal["auto", "exact", "approximate"]


def _float_array(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def _memo(kb: KnowledgeBase) -> Lru[tuple[float, ...], npt.NDArray[np.float64]]:
    return Lru(MEMO_SIZE)


def _checked_priors(kb: KnowledgeBase, priors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.array(priors, dtype=np.float64)
    if arr.shape != (len(kb.conditions),) or not np.all((arr > 0.0) & (arr < 1.0)):
        # let infer() raise its usual error, naming the offending entry
        infer(kb.network, arr, [], [])
    arr.flags.writeable = False
    return arr


@frozen(eq=False)
class Scorer:
    """Inference on ``kb``'s network with fixed priors (aligned with ``kb.conditions``)."""

    kb: KnowledgeBase
    priors: npt.NDArray[np.float64] = field(converter=_float_array)
    method: Method = "auto"

    @classmethod
    def for_priors(cls, kb: KnowledgeBase, priors: Sequence[float],
                   method: Method = "auto") -> Scorer:
        """Build a scorer from a sequence of priors (checked here, once).

        Checked priors are kept per knowledge base (the last few hundred), so cases that share
        their priors (see :func:`twitchcds.priors.case_priors`) are checked once.
        """
        key = tuple(priors)
        memo = per_knowledge_base(kb, _memo)
        checked = memo.get(key)
        if checked is None:
            checked = _checked_priors(kb, priors)
            memo.put(key, checked)
        return cls(kb, checked, method)

    def _indices(self, ids: Iterable[str]) -> npt.NDArray[np.intp]:
        position = self.kb.finding_position
        return np.array(sorted({position[f] for f in ids}), dtype=np.intp)

    def run(self, present: Iterable[str], absent: Iterable[str]) -> InferenceResult:
        """Posterior of every condition given finding ids present and absent."""
        present, absent = set(present), set(absent)
        pos, neg = self._indices(present), self._indices(absent)
        if not present.isdisjoint(absent):
            return infer(self.kb.network, self.priors, pos.tolist(), neg.tolist(),
                         method=self.method)  # raises the ContradictionError
        return run(self.kb.network, self.priors, pos, neg, method=self.method,
                   budget=DEFAULT_BUDGET)

    def run_absent_batch(self, present: Iterable[str], absent: Iterable[str],
                         extra: Sequence[str], rows: npt.NDArray[np.float64],
                         ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
        """Posteriors ``(B, n_conditions)`` and log evidences ``(B,)`` of a batch.

        Row ``b`` has the findings ``present`` and ``absent``, plus ``extra[i]`` absent where
        ``rows[b, i] == 1`` (``extra`` must be unobserved). All rows share one structure and are
        solved together. Returns ``None`` when this scorer would not run them exactly (method
        ``"approximate"``, or a component over budget); ask :meth:`run` row by row then.
        """
        pos, neg = self._indices(present), self._indices(absent)
        position = self.kb.finding_position
        found = np.array([position[f] for f in extra], dtype=np.intp)
        return run_batch(self.kb.network, self.priors, pos, neg, extra=rows,
                         extra_findings=found, method=self.method, budget=DEFAULT_BUDGET)
