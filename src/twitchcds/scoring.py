"""Run inference by finding id for one knowledge base and one set of priors.

The explanation, work-up and question stages all ask "what would the posterior be with this
evidence?"; :class:`Scorer` answers by id, caching nothing and mutating nothing.

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
from attrs import frozen

from twitchcds.inference import InferenceResult, infer
from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["Method", "Scorer"]

Method = Literal["auto", "exact", "approximate"]


@frozen(eq=False)
class Scorer:
    """Inference on ``kb``'s network with fixed priors (aligned with ``kb.conditions``)."""

    kb: KnowledgeBase
    priors: npt.NDArray[np.float64]
    method: Method = "auto"

    @classmethod
    def for_priors(cls, kb: KnowledgeBase, priors: Sequence[float],
                   method: Method = "auto") -> Scorer:
        """Build a scorer from a sequence of priors."""
        return cls(kb, np.asarray(priors, dtype=np.float64), method)

    def run(self, present: Iterable[str], absent: Iterable[str]) -> InferenceResult:
        """Posterior of every condition given finding ids present and absent."""
        position = self.kb.finding_position
        return infer(self.kb.network, self.priors,
                     sorted(position[f] for f in present),
                     sorted(position[f] for f in absent), method=self.method)
