"""Inhibitor links, exactly: evidence on inhibited findings as a mixture of ordinary evidence.

A finding ``f`` with causes ``i`` (links ``p_i``, leak ``l``) and inhibitors ``j`` (strengths
``s_j``) has ``P(f present | conditions) = (1 - Q) B`` with ``Q = (1 - l) prod_i (1 - p_i)^c_i``
and ``B = prod_j (1 - s_j)^c_j``. In the compiled ordinary network
(:class:`~twitchcds.inference._network.Inhibition`) ``1 - Q`` is ``f`` present and ``B`` is its
block finding ``b_f`` absent (a noisy-OR of the inhibitors with leak 0), so:

* ``f`` **present** is the ordinary evidence "``f`` present and ``b_f`` absent": ``B``
  factorises over the inhibitors and folds into their prior odds, like any absent finding;
* ``f`` **absent** has ``P(f absent | conditions) = Q B + (1 - B)``, a sum of two non-negative
  terms: "``f`` absent and ``b_f`` absent" (``Q B``) or "``b_f`` present" (``1 - B``, ``f``
  itself then unobserved).

With ``m`` absent inhibited findings the evidence is therefore a disjoint union of ``2**m``
ordinary evidence sets (one branch per absent inhibited finding). Each is solved by the ordinary
exact engine; the posterior is their mixture weighted by their evidences ``P(e_t)``, all
non-negative, so nothing cancels::

    P(e) = sum_t P(e_t),    P(c | e) = sum_t P(e_t) P(c | e_t) / P(e)

This module builds the branches; :mod:`._engine` solves and mixes them (in log space).

Examples
--------
>>> from twitchcds.inference._network import NoisyOrNetwork
>>> net = NoisyOrNetwork.from_arrays(["a", "b"], ["x", "y"], [0.1, 0.1],
...                                  [(0, 0, 0.9), (0, 1, 0.5)], inhibitors=[(1, 0, 0.8)])
>>> [(p.tolist(), n.tolist()) for p, n in branches(net.inhibition, np.array([1]),
...                                                 np.array([0]))]
[([1], [0, 2]), ([1, 2], [])]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.inference._network import Inhibition

__all__ = ["BatchBranch", "batch_branches", "branch_count", "branches", "mix"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def _blocks(inh: Inhibition, findings: IntArray) -> tuple[IntArray, IntArray]:
    """Return the inhibited ones among ``findings`` and their block findings."""
    block = inh.block[findings]
    keep = block >= 0
    return findings[keep], block[keep]


def _bits(mask: int, m: int) -> npt.NDArray[np.bool_]:
    return ((mask >> np.arange(m)) & 1).astype(bool)


def _union(*parts: IntArray) -> IntArray:
    return np.unique(np.concatenate(parts)).astype(np.intp)


def branch_count(inh: Inhibition, neg: IntArray) -> int:
    """Return how many ordinary evidence sets the evidence splits into: ``2**m``."""
    return 1 << int((inh.block[neg] >= 0).sum())


def branches(inh: Inhibition, pos: IntArray,
             neg: IntArray) -> Iterator[tuple[IntArray, IntArray]]:
    """Split the evidence into ordinary ``(present, absent)`` sets of ``inh.augmented``.

    ``pos`` and ``neg`` are sorted, distinct and disjoint original finding indices. The branches
    are disjoint events whose union is the evidence, so their evidences add up to ``P(e)``.
    Built with Python lists: the evidence is a handful of findings, where numpy's set
    operations cost more than the sets they build.
    """
    block = inh.block
    present = pos.tolist()
    pos_blocks = [int(block[f]) for f in present if block[f] >= 0]
    absent = neg.tolist()
    inhibited = [(f, int(block[f])) for f in absent if block[f] >= 0]
    for mask in range(1 << len(inhibited)):
        blocked = {f for i, (f, _) in enumerate(inhibited) if (mask >> i) & 1}
        # block findings follow every original finding, in the order of the findings they block
        on = present + [b for f, b in inhibited if f in blocked]
        off = [f for f in absent if f not in blocked]
        off += sorted(pos_blocks + [b for f, b in inhibited if f not in blocked])
        yield np.array(on, dtype=np.intp), np.array(off, dtype=np.intp)


@frozen(eq=False)
class BatchBranch:
    """One ordinary batch of :func:`batch_branches`: rows ``rows`` of the caller's batch."""

    rows: IntArray
    present: IntArray
    absent: IntArray
    extra: FloatArray
    extra_findings: IntArray


def batch_branches(inh: Inhibition, pos: IntArray, neg: IntArray, extra: FloatArray,
                   extra_findings: IntArray) -> Iterator[BatchBranch]:
    """:func:`branches` for a batch: row ``b`` also has ``extra_findings[i]`` absent if marked.

    ``extra[b, i] == 1`` marks ``extra_findings[i]`` absent in row ``b``. Absent inhibited
    findings shared by every row split every row; an inhibited extra finding splits only the
    rows where it is absent, so each branch carries the rows it applies to.
    """
    _, pos_blocks = _blocks(inh, pos)
    inhibited, neg_blocks = _blocks(inh, neg)
    cols = np.flatnonzero(inh.block[extra_findings] >= 0)
    col_blocks = inh.block[extra_findings[cols]]
    for mask in range(1 << inhibited.size):
        blocked = _bits(mask, inhibited.size)
        present = _union(pos, neg_blocks[blocked])
        absent = _union(np.setdiff1d(neg, inhibited[blocked]), pos_blocks,
                        neg_blocks[~blocked])
        for extra_mask in range(1 << cols.size):
            taken = _bits(extra_mask, cols.size)
            rows = np.flatnonzero((extra[:, cols[taken]] > 0).all(axis=1))
            if not rows.size:
                continue
            # a taken column's finding is blocked (its block present, itself unobserved); the
            # others stay absent as ordinary findings, with their blocks absent too
            keep = np.setdiff1d(np.arange(extra_findings.size), cols[taken])
            open_cols = cols[~taken]
            yield BatchBranch(
                rows=rows, present=_union(present, col_blocks[taken]), absent=absent,
                extra=np.concatenate((extra[np.ix_(rows, keep)], extra[np.ix_(rows, open_cols)]),
                                     axis=1),
                extra_findings=np.concatenate((extra_findings[keep], col_blocks[~taken])))


def mix(log_evidences: FloatArray, posteriors: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mix branch posteriors by their evidences, in log space.

    ``log_evidences`` has shape ``(T, B)`` (``-inf`` for a branch of probability zero, at least
    one finite per row) and ``posteriors`` ``(T, B, n)``. Returns the mixed posteriors ``(B, n)``
    and ``log P(e)`` per row ``(B,)``; every weight is non-negative, so nothing cancels.

    Examples
    --------
    >>> post, log_ev = mix(np.log([[0.2], [0.6]]), np.array([[[1.0]], [[0.0]]]))
    >>> post.round(6).tolist(), np.exp(log_ev).round(6).tolist()
    ([[0.25]], [0.8])
    """
    top = log_evidences.max(axis=0)
    weight = np.exp(log_evidences - top)
    total = weight.sum(axis=0)
    post = np.einsum("tb,tbn->bn", weight, posteriors) / total[:, None]
    return np.clip(post, 0.0, 1.0), top + np.log(total)
