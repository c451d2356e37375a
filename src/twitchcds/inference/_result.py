"""The value returned by :func:`twitchcds.inference.infer`."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from attrs import frozen

__all__ = ["InferenceResult"]


@frozen(eq=False)
class InferenceResult:
    """Posterior probabilities of every condition and how they were computed.

    Attributes
    ----------
    probabilities : ndarray of float64, shape (n_conditions,)
        ``P(condition present | evidence)``, aligned with ``network.condition_ids``.
    method : {"exact", "approximate"}
        ``"approximate"`` when at least one component was sampled.
    log_evidence : float
        Natural log of ``P(evidence)`` (an estimate when ``method == "approximate"``).
    positive_findings : int
        Number of distinct present findings.
    estimated_cost : float
        Estimated cost of exact inference: per component, the cost of the method it runs
        (frontier sum, full table or closed form; cells touched plus per-step overhead).
    """

    probabilities: npt.NDArray[np.float64]
    method: Literal["exact", "approximate"]
    log_evidence: float
    positive_findings: int
    estimated_cost: float
