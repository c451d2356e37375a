"""Brute-force enumeration of all ``2**n`` condition configurations: the test oracle.

Examples
--------
>>> from twitchcds.inference._network import NoisyOrNetwork
>>> net = NoisyOrNetwork.from_arrays(["flu"], ["fever"], [0.01], [(0, 0, 0.8)])
>>> post, log_ev = brute_force(net, np.array([0.1]), [0], [])
>>> round(float(post[0]), 6)
0.899103
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from twitchcds.inference._network import NoisyOrNetwork

__all__ = ["MAX_BRUTE_CONDITIONS", "brute_force"]

MAX_BRUTE_CONDITIONS = 20


def brute_force(network: NoisyOrNetwork, priors: npt.NDArray[np.float64],
                present: Sequence[int], absent: Sequence[int],
                ) -> tuple[npt.NDArray[np.float64], float]:
    """Posterior of every condition and ``log P(evidence)`` by full enumeration.

    Uses the model directly, inhibitor links included: every configuration's joint probability
    is its prior times ``P(f present | c) = 1 - Q`` or ``P(f absent | c) = Q`` for each observed
    finding (``Q = (1 - l) prod (1 - p)^c`` over its causes), times ``1 - s`` for every
    inhibitor link whose finding is present and whose condition is on (the observed exclusion
    evidence node). Absent and unknown inhibited findings add no such factor. This does not use
    the engine's folding of exclusion evidence into the priors.

    Raises
    ------
    ValueError
        If the network has more than ``MAX_BRUTE_CONDITIONS`` conditions or the evidence has
        probability zero.
    """
    n = network.n_conditions
    if n > MAX_BRUTE_CONDITIONS:
        msg = f"brute force is limited to {MAX_BRUTE_CONDITIONS} conditions, got {n}"
        raise ValueError(msg)
    configs = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    on = configs.astype(np.float64)
    log_q = np.zeros((n, network.n_findings))
    log_keep = np.zeros((n, network.n_findings))  # log(1 - s) of inhibitor links
    for f in range(network.n_findings):
        parents, probs = network.parents(f)
        inhibitors, strengths = network.inhibitors(f)
        with np.errstate(divide="ignore"):
            log_q[parents, f] = np.log1p(-probs)
            log_keep[inhibitors, f] = np.log1p(-strengths)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_prior = on @ np.log(priors) + (1.0 - on) @ np.log1p(-priors)
        log_off = np.log1p(-network.leaks)[None, :] + _matmul_inf(on, log_q)
        # log P(o = 1 | c) summed over the inhibitor links of each finding
        log_excluded = _matmul_inf(on, log_keep)
        log_weight = log_prior.copy()
        if len(present):
            log_weight += np.log(-np.expm1(log_off[:, list(present)])).sum(axis=1)
            log_weight += log_excluded[:, list(present)].sum(axis=1)
        if len(absent):
            log_weight += log_off[:, list(absent)].sum(axis=1)
    top = float(log_weight.max())
    if not np.isfinite(top):
        msg = "evidence has probability zero"
        raise ValueError(msg)
    weight = np.exp(log_weight - top)
    total = float(weight.sum())
    return (weight @ on) / total, top + float(np.log(total))


def _matmul_inf(on: npt.NDArray[np.float64],
                log_q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``on @ log_q`` where ``0 * -inf`` counts as 0 (an absent cause with p = 1)."""
    finite = np.where(np.isfinite(log_q), log_q, 0.0)
    infinite = np.where(np.isfinite(log_q), 0.0, 1.0)
    out: npt.NDArray[np.float64] = on @ finite
    out[(on @ infinite) > 0] = -np.inf
    return out
