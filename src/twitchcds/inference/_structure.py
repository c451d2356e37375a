"""What an inference needs that depends only on which findings are present, built once and cached.

Every call with the same present findings (the explanation's prefixes, the work-up's outcomes,
many patients with the same symptoms) shares the links of those findings, the split into
private and shared parents, the independent components and each component's processing plan
(:func:`._exact.make_plan`). :func:`structure` builds that :class:`Structure` and keeps it on the
network (a bounded cache, so memory stays flat); :func:`structure_values` then computes, from
folded priors with an optional leading batch axis, everything the solvers need.
"""

from __future__ import annotations

import threading
import weakref
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt
from attrs import evolve, frozen

from twitchcds._lru import Lru
from twitchcds.inference._exact import STEP_OVERHEAD, Plan, Step, make_plan, make_steps
from twitchcds.inference._network import NoisyOrNetwork, gather_rows
from twitchcds.inference._reduce import Component, components
from twitchcds.inference._table import (
    MAX_TABLE_FINDINGS,
    TablePlan,
    make_table_plan,
    table_cost,
)

__all__ = ["ComponentStructure", "Links", "Structure", "Values", "build_structure",
           "component_at", "frontier_steps", "present_links", "structure",
           "structure_values"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

CACHE_SIZE = 2048
"""Structures kept per network (least recently used are dropped)."""




@frozen(eq=False)
class ComponentStructure:
    """One component: its findings (local order), shared conditions and plan.

    ``rows`` index the structure's linked findings; ``children[j]`` are shared condition ``j``'s
    local findings with link probabilities ``child_p[j]``; ``priv`` are the positions (in the
    structure's link arrays) of the private parents inside this component, ``priv_finding``
    their local findings.
    """

    rows: IntArray
    findings: IntArray
    shared: IntArray
    children: tuple[IntArray, ...]
    child_p: tuple[FloatArray, ...]
    priv: IntArray
    priv_cond: IntArray
    priv_finding: IntArray
    plan: Plan | None
    """The frontier plan (``None`` for a star, or when the full table is certainly cheaper;
    built on demand by :func:`frontier_steps`)."""
    cost: float
    """Estimated cost of the method that will run (table, closed form or frontier sum)."""
    max_width: int
    """Widest frontier of the frontier plan (the number of findings when there is no plan)."""
    steps: tuple[Step, ...] | None
    """The frontier steps (``None`` when ``table`` or ``star`` is set; see
    :func:`frontier_steps`)."""
    table: TablePlan | None
    """The full-table plan when it is cheaper than the frontier plan (small components)."""
    star: bool
    """One shared condition: solved in closed form (:func:`._star.solve_star`)."""


@frozen(eq=False)
class Structure:
    """Present findings, their links and components, independent of priors.

    ``linked`` are the present findings with at least one parent (the rows of the link arrays
    ``cond``, ``prob``, ``log_q``, ``row``); ``orphans`` those with none. ``priv`` marks links
    whose condition has no other present child (collapsed into the finding), ``lone`` the
    private links of findings with no shared parent (closed form), ``open_rows`` those findings.
    """

    present: IntArray
    orphans: IntArray
    linked: IntArray
    cond: IntArray
    prob: FloatArray
    log_q: FloatArray
    row: IntArray
    priv: npt.NDArray[np.bool_]
    priv_links: IntArray
    lone: IntArray
    open_rows: IntArray
    components: tuple[ComponentStructure, ...]
    cost: float
    orphan_log_leak: float
    """``log`` of the product of the orphans' leaks (``-inf`` if one is zero)."""
    linked_log_off: FloatArray
    """``log(1 - leak)`` of each linked finding."""
    q: FloatArray
    """``1 - prob`` of each link."""
    priv_row: IntArray
    """``row[priv_links]``."""
    lone_row: IntArray
    """``row[lone]``."""
    lone_cond: IntArray
    """``cond[lone]``."""


class Links(NamedTuple):
    """The links of the present findings that have parents (``linked``), in finding order.

    Link ``i`` joins condition ``cond[i]`` to ``linked[row[i]]`` with probability ``prob[i]``
    (``log_q[i] = log(1 - prob[i])``); ``orphans`` are the present findings with no parent.
    """

    linked: IntArray
    orphans: IntArray
    cond: IntArray
    prob: FloatArray
    log_q: FloatArray
    row: IntArray


def present_links(network: NoisyOrNetwork, present: IntArray) -> Links:
    """Gather the :class:`Links` of sorted, distinct ``present`` finding indices."""
    n_parents = network.parent_ptr[present + 1] - network.parent_ptr[present]
    has = n_parents > 0
    everyone = bool(has.all())
    linked = present if everyone else present[has]
    at = gather_rows(network.parent_ptr, linked)
    cond, prob, log_q = network.parent_index[at], network.parent_prob[at], network.parent_log_q[at]
    row = np.repeat(np.arange(linked.size), n_parents[has])
    orphans = present[:0] if everyone else present[~has]
    return Links(linked, orphans, cond, prob, log_q, row)


def build_structure(network: NoisyOrNetwork, present: IntArray, *, split: bool = True,
                    collapse: bool = True, tables: bool = True) -> Structure:
    """Build the :class:`Structure` of sorted, distinct ``present`` finding indices.

    ``split=False`` puts every tabled finding in one component and ``collapse=False`` keeps
    every relevant condition in the frontier sum; both exist to test that the reductions are
    exact. ``tables=False`` never uses the full-table method (to test the frontier sum).
    """
    links = present_links(network, present)
    linked, cond, prob, log_q, row = links.linked, links.cond, links.prob, links.log_q, links.row
    k = linked.size
    degree = np.bincount(cond, minlength=network.n_conditions)
    is_shared = degree[cond] >= (2 if collapse else 1)
    priv = ~is_shared
    comps = []
    if is_shared.any():
        tabled = np.zeros(k, dtype=bool)
        tabled[row[is_shared]] = True
        priv_links = np.flatnonzero(priv)
        lone = np.flatnonzero(priv & ~tabled[row])
        open_rows = np.flatnonzero(~tabled)
        priv_row, lone_row, lone_cond = row[priv_links], row[lone], cond[lone]
        for rows, sh_links in components(cond, row, is_shared, tabled, split=split):
            comps.append(_component(rows, sh_links, linked=linked, cond=cond, prob=prob,
                                    row=row, priv=priv, tables=tables))
    else:  # the common case with few present findings: every link is private, no component
        priv_links = lone = np.arange(cond.size)
        open_rows = np.arange(k)
        priv_row, lone_row, lone_cond = row, row, cond
    orphans = links.orphans
    orphan_log_leak = 0.0
    if orphans.size:
        with np.errstate(divide="ignore"):
            orphan_log_leak = float(np.log(network.leaks[orphans]).sum())
    return Structure(
        present=present, orphans=orphans, linked=linked, cond=cond, prob=prob,
        log_q=log_q, row=row, priv=priv, priv_links=priv_links,
        lone=lone, open_rows=open_rows,
        components=tuple(comps), cost=float(sum(c.cost for c in comps)),
        orphan_log_leak=orphan_log_leak, linked_log_off=network.log_off_leak[linked],
        q=1.0 - prob, priv_row=priv_row, lone_row=lone_row, lone_cond=lone_cond)


def _component(rows: IntArray, sh_links: list[int], *, linked: IntArray, cond: IntArray,
               prob: FloatArray, row: IntArray, priv: npt.NDArray[np.bool_],
               tables: bool) -> ComponentStructure:
    """One component's structure from its tabled rows and shared links."""
    local = np.full(linked.size, -1, dtype=np.intp)
    local[rows] = np.arange(rows.size)
    pv = np.flatnonzero(priv & (local[row] >= 0))
    findings = linked[rows]
    shared_ids = sorted({int(cond[i]) for i in sh_links})
    position = {c: j for j, c in enumerate(shared_ids)}
    kids: list[list[int]] = [[] for _ in shared_ids]
    for i in sh_links:
        kids[position[int(cond[i])]].append(i)
    children = tuple(local[row[ix]] for ix in kids)
    child_p = tuple(prob[ix] for ix in kids)
    star = tables and len(shared_ids) == 1  # closed form (._star): no table or steps needed
    plan, table = None, None
    if tables and not star and rows.size <= MAX_TABLE_FINDINGS:
        cost = table_cost(children, rows.size)
        if cost >= _frontier_floor(children):  # else the table is certainly cheaper
            plan = make_plan(children, rows.size)
        if plan is None or cost < plan.cost:
            table = make_table_plan(children, child_p, rows.size)
    elif not star:
        plan = make_plan(children, rows.size)
    return ComponentStructure(
        rows=rows, findings=findings, shared=np.array(shared_ids, dtype=np.intp),
        children=children, child_p=child_p, priv=pv, priv_cond=cond[pv],
        priv_finding=local[row[pv]], plan=plan,
        cost=(table.cost if table is not None else plan.cost if plan is not None
              else _frontier_floor(children)),  # a star: one step on its children
        max_width=plan.max_width if plan is not None else int(rows.size),
        steps=None if table or star or plan is None else make_steps(children, child_p, plan),
        table=table, star=star)


def _frontier_floor(children: tuple[IntArray, ...]) -> float:
    """Return a lower bound of :func:`._exact.make_plan`'s cost, without planning.

    Each step costs ``STEP_OVERHEAD + 2**top * (c + 2)`` where the frontier ``top`` holds at
    least the step's ``c`` children.
    """
    return float(sum(STEP_OVERHEAD + 2.0 ** ch.size * (ch.size + 2) for ch in children))


class _Cache:
    """Structures by present-finding tuple."""

    def __init__(self) -> None:
        self.structures: Lru[tuple[int, ...], Structure] = Lru(CACHE_SIZE)


# one cache per live network, dropped with it; networks are immutable, so entries never go stale
_CACHES: weakref.WeakKeyDictionary[NoisyOrNetwork, _Cache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cache_of(network: NoisyOrNetwork) -> _Cache:
    cache = _CACHES.get(network)
    if cache is None:
        with _CACHES_LOCK:
            cache = _CACHES.setdefault(network, _Cache())
    return cache


def structure(network: NoisyOrNetwork, present: tuple[int, ...]) -> Structure:
    """Return the cached :class:`Structure` of sorted, distinct ``present`` finding indices."""
    cache = _cache_of(network)
    found = cache.structures.get(present)
    if found is None:
        found = build_structure(network, np.array(present, dtype=np.intp))
        cache.structures.put(present, found)
    return found


@frozen(eq=False)
class Values:
    """Per-link and per-finding quantities from folded priors, with a leading batch axis.

    ``pi`` is the folded prior at each link's condition; ``log_rho[b, i]`` the log probability
    that linked finding ``i`` is still off after its leak and collapsed private parents;
    ``priv_log_rho`` its value when the link's (private) condition is known present.
    ``lone_log_evidence`` and ``lone_post`` are the closed forms for findings with no shared
    parent (``lone_post`` aligned with ``Structure.lone``).
    """

    pi: FloatArray
    log_rho: FloatArray
    priv_log_rho: FloatArray
    lone_log_evidence: FloatArray
    lone_post: FloatArray


def _row_sums(values: FloatArray, rows: IntArray, k: int) -> FloatArray:
    """Sum ``values[:, i]`` into ``out[:, rows[i]]`` (batched bincount)."""
    if values.shape[0] == 1:
        return cast("FloatArray", np.bincount(rows, weights=values[0], minlength=k)[None, :])
    out = np.zeros((values.shape[0], k))
    np.add.at(out.T, rows, values.T)
    return out


def structure_values(network: NoisyOrNetwork, st: Structure, pi: FloatArray,
                     pi_c: FloatArray) -> Values:
    """Values of a structure for folded priors ``pi``, ``pi_c`` of shape ``(B, n_conditions)``."""
    k = st.linked.size
    p_l = pi[:, st.cond]
    pip = p_l * st.prob
    # log(1 - pi' p): log1p when pi' p is small, else log((1 - pi') + pi' (1 - p)), which keeps
    # its digits when pi' and p are both near 1 (pi' < 1, so neither is ever log(0))
    log_keep = np.log1p(-pip)
    big = pip >= 0.5
    if big.any():
        log_keep = np.where(big, np.log(pi_c[:, st.cond] + p_l * st.q), log_keep)
    log_rho = st.linked_log_off + _row_sums(log_keep[:, st.priv_links], st.priv_row, k)
    # log of "f still off" when the private parent is known to be present
    priv_log_rho = log_rho[:, st.row] - log_keep + st.log_q
    on = -np.expm1(log_rho[:, st.open_rows])
    if not on.all():
        # some present finding is certainly off (every cause ruled out, no leak): the log
        # evidence is -inf and the caller refuses the evidence
        with np.errstate(divide="ignore"):
            lone_log_ev = np.log(on).sum(axis=1)
        return Values(pi=p_l, log_rho=log_rho, priv_log_rho=priv_log_rho,
                      lone_log_evidence=lone_log_ev,
                      lone_post=np.full((pi.shape[0], st.lone.size), np.nan))
    lone_post = (p_l[:, st.lone] * np.expm1(priv_log_rho[:, st.lone])
                 / np.expm1(log_rho[:, st.lone_row]))
    return Values(pi=p_l, log_rho=log_rho, priv_log_rho=priv_log_rho,
                  lone_log_evidence=np.log(on).sum(axis=1), lone_post=lone_post)


def frontier_steps(comp: ComponentStructure) -> ComponentStructure:
    """``comp`` with its frontier steps (built now if the full-table plan made them unneeded)."""
    if comp.steps is not None:
        return comp
    plan = comp.plan if comp.plan is not None else make_plan(comp.children, comp.findings.size)
    return evolve(comp, plan=plan, steps=make_steps(comp.children, comp.child_p, plan))


def component_at(comp: ComponentStructure, values: Values, pi: FloatArray, pi_c: FloatArray,
                 b: int) -> Component:
    """Row ``b`` of the batch as a :class:`Component` (for the sampler)."""
    return Component(
        findings=comp.findings, log_rho=values.log_rho[b, comp.rows], shared=comp.shared,
        shared_pi=pi[b, comp.shared], shared_pi_c=pi_c[b, comp.shared],
        children=comp.children, child_p=comp.child_p, priv_cond=comp.priv_cond,
        priv_finding=comp.priv_finding, priv_pi=values.pi[b, comp.priv],
        priv_log_rho=values.priv_log_rho[b, comp.priv])
