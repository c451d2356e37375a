"""Hypothesis strategies for inference tests: random small noisy-OR networks and evidence.

``problems()`` draws a network of at most ``max_conditions`` conditions (small enough for the
brute-force oracle), priors, and disjoint present/absent finding lists. Probabilities include the
extremes the exact method must survive: 1e-6, 1 - 1e-6, and link probability 1. With
``inhibitors=True`` the network also has inhibitor links (strengths drawn the same way, 1
included; a pair may be both a cause and an inhibitor).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import frozen
from hypothesis import strategies as st

from twitchcds.inference import NoisyOrNetwork
from twitchcds.inference._brute import brute_force

__all__ = [
    "Problem",
    "arrays",
    "batch_rows",
    "extra_batch",
    "extreme_probabilities",
    "oracle",
    "problems",
]

EXTREMES = (1e-6, 0.01, 0.2, 0.5, 0.8, 0.99, 1.0 - 1e-6)


def extreme_probabilities(*, allow_one: bool = False) -> st.SearchStrategy[float]:
    """Probabilities in (0, 1) (or (0, 1] with ``allow_one``), biased toward both ends."""
    picks = (*EXTREMES, 1.0) if allow_one else EXTREMES
    return st.sampled_from(picks) | st.floats(1e-6, 1.0 - 1e-6)


@frozen(eq=False)
class Problem:
    """A network, priors and evidence (indices)."""

    network: NoisyOrNetwork
    priors: Any
    present: list[int]
    absent: list[int]


@st.composite
def problems(draw: st.DrawFn, *, max_conditions: int = 12, min_findings: int = 1,
             max_findings: int = 25, min_present: int = 0, max_present: int = 20,
             max_absent: int = 10, positive_leaks: bool = False,
             density: float | None = None, inhibitors: bool = False) -> Problem:
    """Random network and evidence; ``positive_leaks`` keeps every evidence possible."""
    n_c = draw(st.integers(1, max_conditions))
    n_f = draw(st.integers(max(min_findings, min_present), max_findings))
    rho = density if density is not None else draw(st.sampled_from([0.1, 0.2, 0.35, 0.6]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((n_c, n_f)) < rho
    pairs = np.argwhere(mask).tolist()
    probs = draw(st.lists(extreme_probabilities(allow_one=True), min_size=len(pairs),
                          max_size=len(pairs)))
    leak_values = st.sampled_from([1e-6, 0.01, 0.1, 0.3]) if positive_leaks \
        else st.sampled_from([0.0, 1e-6, 0.01, 0.1, 0.3])
    leaks = draw(st.lists(leak_values, min_size=n_f, max_size=n_f))
    priors = np.array(draw(st.lists(extreme_probabilities(), min_size=n_c, max_size=n_c)))
    blocks: list[tuple[int, int, float]] = []
    if inhibitors:
        sigma = draw(st.sampled_from([0.05, 0.15, 0.3]))
        inhibited = np.argwhere(rng.random((n_c, n_f)) < sigma).tolist()
        strengths = draw(st.lists(extreme_probabilities(allow_one=True),
                                  min_size=len(inhibited), max_size=len(inhibited)))
        blocks = [(c, f, s) for (c, f), s in zip(inhibited, strengths, strict=True)]
    network = NoisyOrNetwork.from_arrays(
        [f"c{i}" for i in range(n_c)], [f"f{i}" for i in range(n_f)], leaks,
        [(c, f, p) for (c, f), p in zip(pairs, probs, strict=True)], inhibitors=blocks)
    order = draw(st.permutations(range(n_f)))
    k = draw(st.integers(min_present, min(max_present, n_f)))
    n_abs = draw(st.integers(0, min(max_absent, n_f - k)))
    return Problem(network, priors, sorted(order[:k]), sorted(order[k:k + n_abs]))


def oracle(case: Problem) -> tuple[Any, float] | None:
    """Brute-force posteriors and log evidence of ``case``, or ``None`` if it is impossible."""
    try:
        return brute_force(case.network, case.priors, case.present, case.absent)
    except ValueError:
        return None


def arrays(case: Problem) -> tuple[Any, Any, Any]:
    """``case``'s priors and its present and absent finding indices as engine arrays."""
    return (np.asarray(case.priors, dtype=np.float64),
            np.array(sorted(set(case.present)), dtype=np.intp),
            np.array(sorted(set(case.absent)), dtype=np.intp))


def batch_rows(n: int) -> Any:
    """Every 0/1 row over ``n`` extra findings (``2**n`` rows, one per absent subset)."""
    return ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(float)


def extra_batch(case: Problem, data: st.DataObject) -> tuple[Any, Any]:
    """Draw up to three unobserved findings of ``case`` and every row over them."""
    free = [f for f in range(case.network.n_findings) if f not in set(case.present)
            and f not in set(case.absent)]
    extra = np.array(data.draw(st.lists(st.sampled_from(free), unique=True, max_size=3))
                     if free else [], dtype=np.intp)
    return extra, batch_rows(extra.size)
