"""The inference engine behind :func:`twitchcds.inference.infer`, for one row or a batch.

:func:`run` solves one evidence set; :func:`run_batch` solves many that share the present
findings and differ in which further findings are absent (the work-up's "what if this were also
negative?"). Both fold absent findings into the priors, look up the cached :class:`Structure`
of the present findings and solve every component with the batched frontier sum
(:func:`._exact.solve_batch`), rows side by side, so that a batch costs about one inference.
Inputs are trusted here: :func:`twitchcds.inference.infer` validates them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twitchcds.errors import InvalidInputError
from twitchcds.inference._approximate import SamplerSettings, solve_approximate
from twitchcds.inference._exact import MAX_WIDTH, solve_batch
from twitchcds.inference._network import NoisyOrNetwork
from twitchcds.inference._reduce import fold_absent, fold_batch
from twitchcds.inference._result import InferenceResult
from twitchcds.inference._structure import (
    Structure,
    build_structure,
    component_at,
    frontier_steps,
    structure,
    structure_values,
)
from twitchcds.inference._table import solve_table

__all__ = ["choose", "run", "run_batch"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def choose(st: Structure, method: str, budget: float) -> list[bool]:
    """Which components run exactly: all, none, or the cheapest while the budget lasts."""
    plans = [c.plan for c in st.components]
    if method != "auto":
        return [method == "exact"] * len(plans)
    exact = [False] * len(plans)
    spent = 0.0
    for i in sorted(range(len(plans)), key=lambda i: plans[i].cost):
        spent += plans[i].cost
        exact[i] = spent <= budget and plans[i].max_width <= MAX_WIDTH
    return exact


def run(network: NoisyOrNetwork, priors: FloatArray, pos: IntArray, neg: IntArray, *,
        method: str, budget: float, split: bool = True, collapse: bool = True,
        tables: bool = True, sampler: SamplerSettings | None = None) -> InferenceResult:
    """Posteriors for sorted, distinct ``pos`` and ``neg`` (see :func:`infer`).

    ``split``, ``collapse`` and ``tables`` switch reductions and the full-table method off
    (uncached), to test that they are exact.
    """
    if split and collapse and tables:
        st = structure(network, tuple(pos.tolist()))
    else:
        st = build_structure(network, pos, split=split, collapse=collapse, tables=tables)
    folded = fold_absent(network, priors, neg)
    exact = choose(st, method, budget)
    probs, log_ev = _solve(network, st, pi=folded.pi[None, :], pi_c=folded.pi_c[None, :],
                           log_ev=np.array([folded.log_evidence]), exact=exact, method=method,
                           sampler=sampler)
    return InferenceResult(probabilities=probs[0], method="exact" if all(exact) else "approximate",
                           log_evidence=float(log_ev[0]), positive_findings=int(pos.size),
                           estimated_cost=st.cost)


def run_batch(network: NoisyOrNetwork, priors: FloatArray, pos: IntArray, neg: IntArray, *,
              extra: FloatArray, extra_findings: IntArray, method: str, budget: float,
              ) -> tuple[FloatArray, FloatArray] | None:
    """Exact posteriors ``(B, n_conditions)`` and log evidences ``(B,)`` of a batch.

    Row ``b`` has present findings ``pos`` and absent findings ``neg`` plus those
    ``extra_findings[i]`` with ``extra[b, i] == 1`` (none of them present). Returns ``None``
    when some component would not run exactly under ``method`` and ``budget`` (the caller then
    runs rows one at a time, as :func:`run` would).
    """
    st = structure(network, tuple(pos.tolist()))
    exact = choose(st, method, budget)
    if not all(exact):
        return None
    pi, pi_c, log_ev = fold_batch(network, priors, neg, extra, extra_findings)
    return _solve(network, st, pi=pi, pi_c=pi_c, log_ev=log_ev, exact=exact, method=method,
                  sampler=None)


def _solve(network: NoisyOrNetwork, st: Structure, *, pi: FloatArray, pi_c: FloatArray,
           log_ev: FloatArray, exact: list[bool], method: str,
           sampler: SamplerSettings | None) -> tuple[FloatArray, FloatArray]:
    if st.orphans.size:
        leaks = network.leaks[st.orphans]
        if np.any(leaks <= 0.0):
            f = int(st.orphans[np.argmin(leaks)])
            raise InvalidInputError("present finding has no cause and no leak (probability "
                                    "zero)", path="$.present", value=f)
        log_ev = log_ev + float(np.log(leaks).sum())
    values = structure_values(network, st, pi, pi_c)
    if not np.all(np.isfinite(values.lone_log_evidence)):
        raise InvalidInputError("a present finding cannot occur (probability zero)",
                                path="$.present", value=st.present.tolist())
    log_ev = log_ev + values.lone_log_evidence
    probs = pi.copy()
    probs[:, st.cond[st.lone]] = values.lone_post
    for comp, ok in zip(st.components, exact, strict=True):
        if ok:
            if comp.plan.max_width > MAX_WIDTH:
                raise InvalidInputError(f"exact inference needs a frontier of "
                                        f"{comp.plan.max_width} findings (limit {MAX_WIDTH}); "
                                        "use method='auto'", path="$.method", value=method)
            args = (pi[:, comp.shared], pi_c[:, comp.shared], values.log_rho[:, comp.rows])
            priv = {"priv_pi": values.pi[:, comp.priv],
                    "priv_log_rho": values.priv_log_rho[:, comp.priv]}
            solved = solve_table(comp, *args, **priv) if comp.table is not None else None
            log_z, post, post_priv = (solved if solved is not None
                                      else solve_batch(frontier_steps(comp), *args, **priv))
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
    np.clip(probs, 0.0, 1.0, out=probs)
    return probs, log_ev
