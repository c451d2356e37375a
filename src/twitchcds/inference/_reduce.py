"""Exact reductions before inference: fold absent findings, collapse private parents, split.

Every step here is an identity of the model, not an approximation:

* **Absent findings fold into the priors.** ``P(f absent | c)`` factorises over conditions, so
  conditioning on it multiplies each parent's prior odds by ``prod(1 - p_cf)``; the constant
  ``(1 - leak_f)`` and each condition's normaliser go into the log evidence.
* **Exclusion evidence folds the same way.** A present finding ``f`` with inhibitor links
  observes each link's evidence node ``o`` (parent ``c`` only, ``P(o = 1 | c) = (1 - s)^c``):
  it multiplies ``c``'s prior odds by ``1 - s``, exactly like an absent finding of leak 0. The
  node has no other child, so folding it before the present findings are solved is exact.
* **Conditions with no positive child keep their folded prior** (they never enter a table).
* **Private parents collapse into the leak.** A condition whose only positive child is ``f``
  affects nothing else, so summing it out multiplies ``f``'s "still off" probability by
  ``1 - pi'_c p_cf``; its posterior is recovered afterwards from the gradient with respect to
  ``f``'s entry vector (see :mod:`._exact`).
* **Independent components** (positive findings connected through shared parents) are solved
  separately and their evidences multiply.

What depends only on *which* findings are present is built once per present set and cached
(:mod:`._structure`); this module holds the parts that depend on priors and absent findings.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.inference._network import NoisyOrNetwork, gather_rows

__all__ = ["Component", "Folded", "components", "fold_absent", "fold_batch"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@frozen(eq=False)
class Folded:
    """Priors after conditioning on the absent findings.

    ``pi`` and ``pi_c = 1 - pi`` are both kept (computed from log odds) so that priors near 1
    keep their precision; ``log_evidence`` is ``log P(absent findings, exclusion evidence)``.
    """

    pi: FloatArray
    pi_c: FloatArray
    log_evidence: float


def exclusions(network: NoisyOrNetwork, present: IntArray) -> tuple[IntArray, FloatArray]:
    """Inhibitor conditions of the ``present`` findings and their ``log(1 - s)`` (may repeat).

    These are the observed exclusion evidence nodes; both arrays are empty when no present
    finding has an inhibitor.
    """
    if not network.n_inhibitors or not present.size:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    at = gather_rows(network.inhibit_ptr, present)
    return network.inhibit_index[at], network.inhibit_log_keep[at]


def fold_absent(network: NoisyOrNetwork, priors: FloatArray, absent: IntArray,
                present: IntArray | None = None) -> Folded:
    """Condition independent priors on the absent findings, vectorised and in log space.

    With ``present``, the exclusion evidence of its inhibited findings is folded too (a factor
    ``1 - s`` on each inhibitor's odds, see :func:`exclusions`).

    Examples
    --------
    >>> net = NoisyOrNetwork.from_arrays(["a", "b"], ["x"], [0.0], [(0, 0, 0.5)],
    ...                                  inhibitors=[(1, 0, 0.5)])
    >>> folded = fold_absent(net, np.array([0.5, 0.5]), np.array([0]))
    >>> folded.pi.round(6).tolist(), round(float(np.exp(folded.log_evidence)), 6)
    ([0.333333, 0.5], 0.75)
    >>> fold_absent(net, np.array([0.5, 0.5]), np.array([], dtype=np.intp),
    ...             present=np.array([0])).pi.round(6).tolist()
    [0.5, 0.333333]
    """
    pi, pi_c = priors.copy(), 1.0 - priors
    excl, excl_log_keep = exclusions(network, present if present is not None else absent[:0])
    if not absent.size and not excl.size:
        return Folded(pi=pi, pi_c=pi_c, log_evidence=0.0)
    n = network.n_conditions
    at = gather_rows(network.parent_ptr, absent)
    parents, log_q = network.parent_index[at], network.parent_log_q[at]
    if excl.size:  # exclusion nodes fold like absent findings of leak 0
        parents, log_q = np.concatenate((parents, excl)), np.concatenate((log_q, excl_log_keep))
    # only parents of absent findings change, so the transcendental work stays small
    touched = np.bincount(parents, minlength=n).nonzero()[0]
    shift = np.bincount(parents, weights=log_q, minlength=n)[touched]
    prior = priors[touched]
    log_pi_c = np.log1p(-prior)
    log_odds = np.log(prior) - log_pi_c + shift
    # softplus(L) = log(1 + e^L) (no overflow: logaddexp is stable); 1 - pi' = exp(-softplus(L))
    soft = np.logaddexp(0.0, log_odds)
    pi[touched] = np.exp(log_odds - soft)
    pi_c[touched] = np.exp(-soft)
    # normaliser of each condition: log(pi q + 1 - pi) = log(1 - pi) - log(1 - pi')
    log_pi_c += soft
    log_evidence = float(network.log_off_leak[absent].sum()) + float(log_pi_c.sum())
    return Folded(pi=pi, pi_c=pi_c, log_evidence=log_evidence)


def fold_batch(network: NoisyOrNetwork, priors: FloatArray, absent: IntArray,
               extra: FloatArray, extra_findings: IntArray, *,
               present: IntArray | None = None,
               shown: IntArray | None = None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`fold_absent` for a batch: the shared ``absent`` plus, per row, more absent findings.

    ``extra`` is a ``(B, len(extra_findings) + len(shown))`` 0/1 matrix: its first columns say
    which of ``extra_findings`` are also absent in row ``b``, the last ones whose of the
    inhibited findings ``shown`` the exclusion evidence is observed in row ``b`` (as if they
    were present, without their own likelihood). Returns ``pi``, ``pi_c`` (shape ``(B,
    n_conditions)``) and the log evidence of each row's absent findings and exclusion evidence
    (that of the shared ``present`` findings too, as in :func:`fold_absent`). Conditions no
    absent finding or exclusion touches keep their prior exactly.

    Examples
    --------
    >>> net = NoisyOrNetwork.from_arrays(["a", "b"], ["x", "y"], [0.0, 0.1],
    ...                                  [(0, 0, 0.5), (1, 1, 0.5)])
    >>> pi, pi_c, log_ev = fold_batch(net, np.array([0.5, 0.5]), np.array([0]),
    ...                               np.array([[0.0], [1.0]]), np.array([1]))
    >>> pi.round(6).tolist(), np.exp(log_ev).round(6).tolist()
    ([[0.333333, 0.5], [0.333333, 0.333333]], [0.75, 0.50625])
    """
    n = network.n_conditions
    both = np.concatenate((absent, extra_findings))
    dense = np.zeros((both.size, n))
    at = gather_rows(network.parent_ptr, both)
    rows = np.repeat(np.arange(both.size), network.parent_ptr[both + 1] - network.parent_ptr[both])
    dense[rows, network.parent_index[at]] = network.parent_log_q[at]
    linked = np.zeros((both.size, n))
    linked[rows, network.parent_index[at]] = 1.0
    b = extra.shape[0]
    weights = np.concatenate((np.ones((b, absent.size)), extra), axis=1)
    log_leak = np.log1p(-network.leaks[both])
    if shown is not None and shown.size:  # one more row per finding: its exclusion nodes
        at = gather_rows(network.inhibit_ptr, shown)
        rows = np.repeat(np.arange(shown.size),
                         network.inhibit_ptr[shown + 1] - network.inhibit_ptr[shown])
        nodes = np.zeros((shown.size, n))
        with np.errstate(invalid="ignore"):  # -inf + -inf stays -inf (s = 1)
            np.add.at(nodes, (rows, network.inhibit_index[at]), network.inhibit_log_keep[at])
        marks = np.zeros((shown.size, n))
        marks[rows, network.inhibit_index[at]] = 1.0
        dense, linked = np.concatenate((dense, nodes)), np.concatenate((linked, marks))
        log_leak = np.concatenate((log_leak, np.zeros(shown.size)))
    excl, excl_log_keep = exclusions(network, present if present is not None else absent[:0])
    if excl.size:  # one more shared row: the exclusion nodes, like an absent finding of leak 0
        with np.errstate(invalid="ignore"):  # -inf + -inf stays -inf (s = 1)
            shift_row = np.bincount(excl, weights=excl_log_keep, minlength=n)
        dense = np.concatenate((dense, shift_row[None, :]))
        linked = np.concatenate((linked, (np.bincount(excl, minlength=n) > 0)[None, :] * 1.0))
        weights = np.concatenate((weights, np.ones((b, 1))), axis=1)
        log_leak = np.concatenate((log_leak, [0.0]))
    touched = (weights @ linked) > 0
    cols = np.flatnonzero(touched.any(axis=0))
    log_q = dense[:, cols]
    if np.isfinite(log_q).all():
        shift = weights @ log_q
    else:  # a p = 1 link: 0 * -inf (its finding not absent in a row) must count as 0
        shift = np.where(weights[:, :, None] > 0, log_q[None, :, :], 0.0).sum(axis=1)
    prior = priors[cols]
    log_pi_c = np.log1p(-prior)
    log_odds = np.log(prior) - log_pi_c + shift
    with np.errstate(over="ignore"):
        soft = np.logaddexp(0.0, log_odds)
        new_pi = np.exp(log_odds - soft)
        new_pi_c = np.exp(-soft)
    hit = touched[:, cols]
    pi = np.broadcast_to(priors, (b, n)).copy()
    pi_c = np.broadcast_to(1.0 - priors, (b, n)).copy()
    pi[:, cols] = np.where(hit, new_pi, prior)
    pi_c[:, cols] = np.where(hit, new_pi_c, 1.0 - prior)
    log_evidence = weights @ log_leak + np.where(hit, log_pi_c + soft, 0.0).sum(axis=1)
    return pi, pi_c, log_evidence


@frozen(eq=False)
class Component:
    """Positive findings and the conditions linked to them, in local indices.

    ``shared`` conditions (two or more positive children here, or every relevant condition when
    collapsing is off) are processed by the frontier sum; ``children[j]`` lists shared condition
    ``j``'s local findings with link probabilities ``child_p[j]``. ``log_rho[i]`` is the log
    probability that finding ``i`` is still off after its leak and its collapsed private
    parents; private parent ``priv_cond[r]`` of local finding ``priv_finding[r]`` has folded
    prior ``priv_pi[r]`` and ``priv_log_rho[r]``, the value of ``log_rho`` when that parent is
    known to be present.
    """

    findings: IntArray
    log_rho: FloatArray
    shared: IntArray
    shared_pi: FloatArray
    shared_pi_c: FloatArray
    children: tuple[IntArray, ...]
    child_p: tuple[FloatArray, ...]
    priv_cond: IntArray
    priv_finding: IntArray
    priv_pi: FloatArray
    priv_log_rho: FloatArray


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def components(cond: IntArray, row: IntArray, is_shared: npt.NDArray[np.bool_],
                tabled: npt.NDArray[np.bool_], *, split: bool,
                ) -> list[tuple[IntArray, list[int]]]:
    """Tabled rows of each component and its shared links (positions in ``cond``)."""
    links = np.flatnonzero(is_shared).tolist()
    rows_of = row.tolist()
    uf = _UnionFind(tabled.size)
    if split:
        first: dict[int, int] = {}
        for i in links:
            r = rows_of[i]
            uf.union(first.setdefault(int(cond[i]), r), r)
    else:
        for r in np.flatnonzero(tabled).tolist():
            uf.union(int(np.argmax(tabled)), r)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for r in np.flatnonzero(tabled).tolist():
        groups.setdefault(uf.find(r), ([], []))[0].append(r)
    for i in links:
        groups[uf.find(rows_of[i])][1].append(i)
    return [(np.array(rows, dtype=np.intp), sh) for rows, sh in groups.values()]
