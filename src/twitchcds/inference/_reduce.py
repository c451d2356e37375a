"""Exact reductions before inference: fold absent findings, collapse private parents, split.

Every step here is an identity of the model, not an approximation:

* **Absent findings fold into the priors.** ``P(f absent | c)`` factorises over conditions, so
  conditioning on it multiplies each parent's prior odds by ``prod(1 - p_cf)``; the constant
  ``(1 - leak_f)`` and each condition's normaliser go into the log evidence.
* **Conditions with no positive child keep their folded prior** (they never enter a table).
* **Private parents collapse into the leak.** A condition whose only positive child is ``f``
  affects nothing else, so summing it out multiplies ``f``'s "still off" probability by
  ``1 - pi'_c p_cf``; its posterior is recovered afterwards from the gradient with respect to
  ``f``'s entry vector (see :mod:`._exact`).
* **Independent components** (positive findings connected through shared parents) are solved
  separately and their evidences multiply.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.inference._network import NoisyOrNetwork, gather_rows

__all__ = ["Component", "Folded", "Reduced", "build_components", "fold_absent"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@frozen(eq=False)
class Folded:
    """Priors after conditioning on the absent findings.

    ``pi`` and ``pi_c = 1 - pi`` are both kept (computed from log odds) so that priors near 1
    keep their precision; ``log_evidence`` is ``log P(absent findings)``.
    """

    pi: FloatArray
    pi_c: FloatArray
    log_evidence: float


def fold_absent(network: NoisyOrNetwork, priors: FloatArray, absent: IntArray) -> Folded:
    """Condition independent priors on the absent findings, vectorised and in log space.

    Examples
    --------
    >>> net = NoisyOrNetwork.from_arrays(["a"], ["x"], [0.0], [(0, 0, 0.5)])
    >>> folded = fold_absent(net, np.array([0.5]), np.array([0]))
    >>> round(float(folded.pi[0]), 6), round(float(np.exp(folded.log_evidence)), 6)
    (0.333333, 0.75)
    """
    pi, pi_c = priors.copy(), 1.0 - priors
    if not absent.size:
        return Folded(pi=pi, pi_c=pi_c, log_evidence=0.0)
    at = gather_rows(network.parent_ptr, absent)
    # only parents of absent findings change, so the transcendental work stays small
    parents = network.parent_index[at]
    touched = np.flatnonzero(np.bincount(parents, minlength=network.n_conditions))
    shift = np.bincount(parents, weights=network.parent_log_q[at],
                        minlength=network.n_conditions)[touched]
    prior = priors[touched]
    log_pi_c = np.log1p(-prior)
    log_odds = np.log(prior) - log_pi_c + shift
    with np.errstate(over="ignore"):
        # softplus(L) = log(1 + e^L); 1 - pi' = 1 / (1 + e^L) = exp(-softplus(L))
        soft = np.logaddexp(0.0, log_odds)
        pi[touched] = np.exp(log_odds - soft)
        pi_c[touched] = np.exp(-soft)
    # normaliser of each condition: log(pi q + 1 - pi) = log(1 - pi) - log(1 - pi')
    log_evidence = float(np.log1p(-network.leaks[absent]).sum() + (log_pi_c + soft).sum())
    return Folded(pi=pi, pi_c=pi_c, log_evidence=log_evidence)


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


@frozen(eq=False)
class Reduced:
    """Positive findings after collapsing private parents, split into independent parts.

    Findings with no shared parent are *standalone*: their evidence is ``1 - rho`` and their
    private parents' posteriors have a closed form, so they are handled here, vectorised
    (``standalone_log_evidence``, ``standalone_cond`` with ``standalone_post``). The rest form
    ``components``.
    """

    components: list[Component]
    standalone_log_evidence: float
    standalone_cond: IntArray
    standalone_post: FloatArray


def build_components(network: NoisyOrNetwork, folded: Folded, present: IntArray, *,
                     split: bool = True, collapse: bool = True) -> Reduced:
    """Collapse private parents and group the positive findings (which all have a parent).

    ``split=False`` puts every tabled finding in one component and ``collapse=False`` keeps
    every relevant condition in the frontier sum; both exist to test that the reductions are
    exact.
    """
    k = present.size
    at = gather_rows(network.parent_ptr, present)
    cond = network.parent_index[at]
    prob = network.parent_prob[at]
    log_q = network.parent_log_q[at]
    row = np.repeat(np.arange(k), network.parent_ptr[present + 1] - network.parent_ptr[present])
    degree = np.bincount(cond, minlength=network.n_conditions)
    is_shared = degree[cond] >= (2 if collapse else 1)

    pi, pi_c = folded.pi[cond], folded.pi_c[cond]
    # log(1 - pi' p): log1p when pi' p is small, else log((1 - pi') + pi' (1 - p)), which keeps
    # its digits when pi' and p are both near 1
    pip = pi * prob
    with np.errstate(divide="ignore"):
        log_keep = np.where(pip < 0.5, np.log1p(-pip), np.log(pi_c + pi * np.exp(log_q)))
    priv = ~is_shared
    log_rho: FloatArray = np.log1p(-network.leaks[present]) + np.bincount(
        row[priv], weights=log_keep[priv], minlength=k)
    # log of "f still off" when the private parent is known to be present
    priv_log_rho = log_rho[row] - log_keep + log_q
    tabled = np.zeros(k, dtype=bool)
    tabled[row[is_shared]] = True

    lone = priv & ~tabled[row]
    on = -np.expm1(log_rho[~tabled])
    with np.errstate(divide="ignore"):
        lone_log_ev = float(np.log(on).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        lone_post = pi[lone] * -np.expm1(priv_log_rho[lone]) / -np.expm1(log_rho[row[lone]])

    components = _components(cond, row, is_shared, tabled, split=split)
    out = []
    for rows, sh_links in components:
        local = np.full(k, -1, dtype=np.intp)
        local[rows] = np.arange(rows.size)
        pv = np.flatnonzero(priv & (local[row] >= 0))
        shared_ids = sorted({int(cond[i]) for i in sh_links})
        position = {c: j for j, c in enumerate(shared_ids)}
        kids: list[list[int]] = [[] for _ in shared_ids]
        for i in sh_links:
            kids[position[int(cond[i])]].append(i)
        shared = np.array(shared_ids, dtype=np.intp)
        out.append(Component(
            findings=present[rows], log_rho=log_rho[rows], shared=shared,
            shared_pi=folded.pi[shared], shared_pi_c=folded.pi_c[shared],
            children=tuple(local[row[ix]] for ix in kids),
            child_p=tuple(prob[ix] for ix in kids),
            priv_cond=cond[pv], priv_finding=local[row[pv]], priv_pi=pi[pv],
            priv_log_rho=priv_log_rho[pv],
        ))
    return Reduced(out, lone_log_ev, cond[lone], lone_post)


def _components(cond: IntArray, row: IntArray, is_shared: npt.NDArray[np.bool_],
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
