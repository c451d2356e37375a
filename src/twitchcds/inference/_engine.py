"""The inference engine behind :func:`twitchcds.inference.infer`, for one row or a batch.

:func:`run` solves one evidence set; :func:`run_batch` solves many that share the present
findings and differ in which further findings are absent (the work-up's "what if this were also
negative?"), or leave some of the present findings unobserved (a finding whose likelihood is
one, as if its leak were one: the work-up's improbable outcomes, each row observing its own
findings). Both fold absent findings into the priors, look up the cached :class:`Structure`
of the present findings and solve every component with the batched frontier sum
(:func:`._exact.solve_batch`), rows side by side, so that a batch costs about one inference;
a batch leaves a component's full table for the frontier sum when that is cheaper per row
(:func:`table_pays`). :func:`run_draws` solves rows that share the present findings but each
have their own link probabilities and leaks (the probability intervals' parameter draws).
Inputs are trusted here: :func:`twitchcds.inference.infer` validates them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from attrs import evolve

from twitchcds.errors import InvalidInputError
from twitchcds.inference._approximate import SamplerSettings, solve_approximate
from twitchcds.inference._exact import (
    MAX_WIDTH,
    STEP_OVERHEAD,
    Plan,
    make_plan,
    make_steps,
    solve_batch,
)
from twitchcds.inference._network import NoisyOrNetwork
from twitchcds.inference._reduce import fold_absent, fold_batch
from twitchcds.inference._result import InferenceResult
from twitchcds.inference._star import solve_star, solve_stars
from twitchcds.inference._structure import (
    ComponentStructure,
    Structure,
    Values,
    build_structure,
    component_at,
    frontier_steps,
    present_links,
    structure,
    structure_values,
)
from twitchcds.inference._table import solve_table

__all__ = ["choose", "planned_for", "run", "run_batch", "run_draws", "table_pays"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


def choose(st: Structure, method: str, budget: float) -> list[bool]:
    """Which components run exactly: all, none, or the cheapest while the budget lasts."""
    comps = st.components
    if method != "auto":
        return [method == "exact"] * len(comps)
    exact = [False] * len(comps)
    spent = 0.0
    for i in sorted(range(len(comps)), key=lambda i: comps[i].cost):
        spent += comps[i].cost
        exact[i] = spent <= budget and comps[i].max_width <= MAX_WIDTH
    return exact


def run(network: NoisyOrNetwork, priors: FloatArray, pos: IntArray, neg: IntArray, *,
        method: str, budget: float, split: bool = True, collapse: bool = True,
        tables: bool = True, sampler: SamplerSettings | None = None) -> InferenceResult:
    """Posteriors for sorted, distinct ``pos`` and ``neg`` (see :func:`infer`).

    ``split``, ``collapse`` and ``tables`` switch reductions and the full-table method off
    (uncached), to test that they are exact. The exclusion evidence of present inhibited
    findings is folded with the absent findings (:func:`._reduce.fold_absent`). When every
    component is a star (no present finding has two shared parents), the stars are solved
    together from the links (:func:`._star.solve_stars`) and no structure is built.
    """
    folded = fold_absent(network, priors, neg, pos)
    if split and collapse and tables and method != "approximate":
        stars = solve_stars(network, folded.pi, folded.pi_c, present_links(network, pos),
                            budget if method == "auto" else np.inf)
        if stars is not None:  # every component a star: solved without building a structure
            probs, log_z, cost = stars
            return InferenceResult(probabilities=probs, method="exact",
                                   log_evidence=folded.log_evidence + log_z,
                                   positive_findings=int(pos.size), estimated_cost=cost)
    if split and collapse and tables:
        st = structure(network, tuple(pos.tolist()))
    else:
        st = build_structure(network, pos, split=split, collapse=collapse, tables=tables)
    exact = choose(st, method, budget)
    probs, log_ev = _solve(network, st, pi=folded.pi[None, :], pi_c=folded.pi_c[None, :],
                           log_ev=np.array([folded.log_evidence]), exact=exact, method=method,
                           sampler=sampler)
    return InferenceResult(probabilities=probs[0], method="exact" if all(exact) else "approximate",
                           log_evidence=float(log_ev[0]), positive_findings=int(pos.size),
                           estimated_cost=st.cost)


def run_batch(network: NoisyOrNetwork, priors: FloatArray, pos: IntArray, neg: IntArray, *,
              extra: FloatArray, extra_findings: IntArray, method: str, budget: float,
              shown: IntArray | None = None, unobserved: BoolArray | None = None,
              ) -> tuple[FloatArray, FloatArray] | None:
    """Exact posteriors ``(B, n_conditions)`` and log evidences ``(B,)`` of a batch.

    Row ``b`` has present findings ``pos`` and absent findings ``neg`` plus those
    ``extra_findings[i]`` with ``extra[b, i] == 1`` (none of them present), and the exclusion
    evidence of ``shown[j]`` where ``extra[b, len(extra_findings) + j] == 1`` (see
    :func:`._reduce.fold_batch`). Where ``unobserved[b, i]`` (shape ``(B, len(pos))``) is
    true, row ``b`` leaves ``pos[i]`` unobserved instead: its likelihood is one (as if its
    leak were one) and its exclusion evidence is not observed. Returns ``None`` when some
    component would not run exactly under ``method`` and ``budget``, or when a finding some
    row leaves unobserved has no parent (the caller then runs rows one at a time, as
    :func:`run` would).
    """
    st = structure(network, tuple(pos.tolist()))
    exact = choose(st, method, budget)
    if not all(exact):
        return None
    fixed = pos
    if unobserved is not None:
        either = unobserved.any(axis=0)
        if np.isin(st.orphans, pos[either]).any():
            return None
        fixed = pos[~either]  # the others' exclusion evidence goes per row, where observed
        extra = np.concatenate((extra, ~unobserved[:, either]), axis=1)
        shown = pos[either] if shown is None else np.concatenate((shown, pos[either]))
        off = np.repeat(st.linked_log_off[None, :], extra.shape[0], axis=0)
        off[unobserved[:, np.searchsorted(pos, st.linked)]] = -np.inf
        st = evolve(st, linked_log_off=off)
    pi, pi_c, log_ev = fold_batch(network, priors, neg, extra, extra_findings, present=fixed,
                                  shown=shown)
    return _solve(network, st, pi=pi, pi_c=pi_c, log_ev=log_ev, exact=exact, method=method,
                  sampler=None)


def run_draws(network: NoisyOrNetwork, pos: IntArray, pi: FloatArray, pi_c: FloatArray, *,
              link_prob: FloatArray, leaks: FloatArray, budget: float) -> FloatArray | None:
    """Exact posteriors ``(B, n_conditions)`` of rows with their own link probabilities.

    Every row has the sorted, distinct present findings ``pos``; row ``b`` gives each of their
    parent links (in CSR order: ``pos[0]``'s parents first) probability ``link_prob[b]`` and
    each of them leak ``leaks[b]`` (aligned with ``pos``). Absent findings and exclusion
    evidence must already be folded into ``pi`` and ``pi_c``. The rows share the structure of
    ``pos`` on ``network`` (its links' probabilities change nothing in it): the structure's
    numbers are replaced by the rows' and every component runs the frontier sum with per-row
    link probabilities (the full tables and closed forms are built for the network's own
    probabilities). Returns ``None`` when that would not run exactly within ``budget`` for all
    rows (the caller then runs the rows one at a time); raises ``InvalidInputError`` when some
    row's evidence is impossible, as one inference per row would.
    """
    st = structure(network, tuple(pos.tolist()))
    rows = pi.shape[0]
    plans = [comp.plan if comp.plan is not None else make_plan(comp.children, comp.findings.size)
             for comp in st.components]
    cost = sum(plan.cost + (rows - 1) * _frontier_row_cost(plan) for plan in plans)
    if cost > budget or any(plan.max_width > MAX_WIDTH for plan in plans):
        return None
    link_of = {key: i for i, key in enumerate(zip(st.cond.tolist(), st.row.tolist(),
                                                   strict=True))}
    components = []
    for comp, plan in zip(st.components, plans, strict=True):
        child_p = tuple(link_prob[:, [link_of[c, r] for r in comp.rows[ch].tolist()]]
                        for c, ch in zip(comp.shared.tolist(), comp.children, strict=True))
        components.append(evolve(comp, plan=plan, steps=make_steps(comp.children, child_p, plan),
                                 table=None, star=False))
    with np.errstate(divide="ignore"):  # a link of 1: log(1 - p) = -inf, as in the network
        log_q = np.log1p(-link_prob)
    drawn = evolve(st, prob=link_prob, q=1.0 - link_prob, log_q=log_q,
                   linked_log_off=np.log1p(-leaks[:, np.searchsorted(pos, st.linked)]),
                   components=tuple(components))
    probs, _ = _solve(network, drawn, pi=pi, pi_c=pi_c, log_ev=np.zeros(rows),
                      exact=[True] * len(components), method="exact", sampler=None)
    return probs


def _frontier_row_cost(plan: Plan) -> float:
    """Return a frontier plan's cost for each further row of a batch (step overheads paid)."""
    return plan.cost - len(plan.order) * STEP_OVERHEAD


def _check_orphans(network: NoisyOrNetwork, st: Structure) -> float:
    """Log probability of the present findings no condition can cause (their leaks)."""
    if st.orphan_log_leak == -np.inf:
        f = int(st.orphans[np.argmin(network.leaks[st.orphans])])
        raise InvalidInputError("present finding has no cause and no leak (probability zero)",
                                path="$.present", value=f)
    return st.orphan_log_leak


def _impossible(st: Structure) -> InvalidInputError:
    return InvalidInputError("a present finding cannot occur (probability zero)",
                             path="$.present", value=st.present.tolist())


def _solve_exact(comp: ComponentStructure, pi: FloatArray, pi_c: FloatArray,
                 values: Values, method: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Exact ``(log_z, post, post_priv)`` of one component for a batch of rows."""
    if comp.max_width > MAX_WIDTH:
        raise InvalidInputError(f"exact inference needs a frontier of {comp.max_width} "
                                f"findings (limit {MAX_WIDTH}); use method='auto'",
                                path="$.method", value=method)
    args = (pi[:, comp.shared], pi_c[:, comp.shared], values.log_rho[:, comp.rows])
    priv = {"priv_pi": values.pi[:, comp.priv],
            "priv_log_rho": values.priv_log_rho[:, comp.priv]}
    if comp.star:
        return solve_star(comp, *args, **priv)
    rows = pi.shape[0]
    comp = planned_for(comp, rows)
    solved = solve_table(comp, *args, **priv) if table_pays(comp, rows) else None
    return solved if solved is not None else solve_batch(frontier_steps(comp), *args, **priv)


def planned_for(comp: ComponentStructure, rows: int) -> ComponentStructure:
    """``comp`` with a frontier plan when a batch of ``rows`` rows needs one to compare.

    The structure plans the frontier sum of a component only when its full table might cost
    more for one row; a batch on a table of Kronecker factors (over 32 cells) also compares the
    two per row (:func:`table_pays`), so it plans it now, for this batch only.
    """
    if comp.table is None or comp.table.high is None or comp.plan is not None or rows == 1:
        return comp
    return evolve(comp, plan=make_plan(comp.children, comp.findings.size))


def table_pays(comp: ComponentStructure, rows: int) -> bool:
    """Whether ``comp``'s full table (if it has one) beats its frontier sum on ``rows`` rows.

    The structure chose the table for one row (its cost is below the frontier plan's). Each
    further row of a batch costs the table about one unit per cell and step, and the frontier
    sum half its plan's cost less the fixed overhead of its steps (fitted to the published
    records' work-up batches, about 100 rows, where the frontier sum was 2-8 times faster on
    tables of 256 cells and more, while the table stayed faster for small batches and tables).
    A table with no frontier plan (planned whole, certainly cheaper for one row) is kept.
    """
    table, plan = comp.table, comp.plan
    if table is None:
        return False
    if rows == 1 or plan is None:
        return True
    more = rows - 1
    per_row_table = len(table.children) * float(1 << table.k)
    per_row_frontier = _frontier_row_cost(plan) / 2.0
    return table.cost + more * per_row_table <= plan.cost + more * per_row_frontier


def _solve(network: NoisyOrNetwork, st: Structure, *, pi: FloatArray, pi_c: FloatArray,
           log_ev: FloatArray, exact: list[bool], method: str,
           sampler: SamplerSettings | None) -> tuple[FloatArray, FloatArray]:
    if st.orphans.size:
        log_ev = log_ev + _check_orphans(network, st)
    values = structure_values(network, st, pi, pi_c)
    log_ev = log_ev + values.lone_log_evidence
    if not np.isfinite(log_ev).all():
        raise _impossible(st)
    probs = pi.copy()
    probs[:, st.lone_cond] = values.lone_post
    for comp, ok in zip(st.components, exact, strict=True):
        if ok:
            log_z, post, post_priv = _solve_exact(comp, pi, pi_c, values, method)
        else:
            rows = [solve_approximate(component_at(comp, values, pi, pi_c, b),
                                      sampler or SamplerSettings())
                    for b in range(pi.shape[0])]
            log_z = np.array([r[0] for r in rows])
            post = np.stack([r[1] for r in rows])
            post_priv = np.stack([r[2] for r in rows])
        log_ev = log_ev + log_z
        probs[:, comp.shared] = post
        probs[:, comp.priv_cond] = post_priv
    np.minimum(probs, 1.0, out=probs)  # rounding can step just past the bounds
    np.maximum(probs, 0.0, out=probs)
    return probs, log_ev
