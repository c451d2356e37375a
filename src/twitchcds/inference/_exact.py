"""Exact inference in one component: a frontier sum with non-negative terms only.

Shared conditions are processed one at a time in a greedy order. The table ``alpha`` has one
axis of size 2 per *frontier* finding (some but not all of its shared parents processed); index
1 means "already switched on". A finding enters with its entry vector ``(rho, 1 - rho)`` (leak
and collapsed private parents) before its first shared parent and retires, keeping only index 1,
after its last. Processing condition ``c`` applies::

    alpha <- R (pi'_c P_c + (1 - pi'_c) I) E alpha

where ``E`` adds entering axes, ``P_c`` applies ``on += p off; off *= 1 - p`` on each child axis
and ``R`` retires. Every operator has non-negative entries, so there is no cancellation; tables
are rescaled after each step with the log of the scale kept. One backward pass with the
transposed operators gives every posterior: ``P(c_t = 1, e) = pi'_t beta_t^T R P_t E alpha_{t-1}``
and, for a private parent, the derivative of ``P(e)`` with respect to its finding's entry vector.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.errors import InvalidInputError
from twitchcds.inference._reduce import Component

__all__ = ["MAX_WIDTH", "STEP_OVERHEAD", "Plan", "impossible", "make_plan", "solve_exact"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

STEP_OVERHEAD = 4096.0
"""Cost units charged per step for Python and numpy call overhead (one unit ~ one table cell)."""

MAX_WIDTH = 26
"""Widest frontier the exact method will allocate (2**26 cells, 512 MiB per table)."""


@frozen(eq=False)
class Plan:
    """Processing order of a component's shared conditions and its estimated cost."""

    order: tuple[int, ...]
    entering: tuple[IntArray, ...]
    retiring: tuple[IntArray, ...]
    max_width: int
    cost: float


def make_plan(component: Component) -> Plan:
    """Greedy order: next the condition giving the narrowest frontier (then peak, then index).

    The cost is ``sum over steps of STEP_OVERHEAD + 2**peak * (children + 2)``, where ``peak`` is
    the frontier width after the step's findings enter.
    """
    children = component.children
    m, k = len(children), component.findings.size
    incidence = np.zeros((m, k))
    for j, ch in enumerate(children):
        incidence[j, ch] = 1.0
    remaining = incidence.sum(axis=0)
    not_entered = np.ones(k)
    done = np.zeros(m, dtype=bool)
    order: list[int] = []
    entering: list[IntArray] = []
    retiring: list[IntArray] = []
    width, max_width, cost = 0, 0, 0.0
    for _ in range(m):
        new = incidence @ not_entered
        peak = width + new
        key = (peak - incidence @ (remaining == 1)) * (k + 1) + peak
        key[done] = np.inf
        j = int(np.argmin(key))
        ch = children[j]
        ent = ch[not_entered[ch] > 0]
        not_entered[ch] = 0.0
        remaining[ch] -= 1.0
        ret = ch[remaining[ch] == 0]
        done[j] = True
        order.append(j)
        entering.append(ent)
        retiring.append(ret)
        top = width + ent.size
        max_width = max(max_width, top)
        cost += STEP_OVERHEAD + 2.0 ** min(top, 1000) * (ch.size + 2)
        width = top - ret.size
    return Plan(tuple(order), tuple(entering), tuple(retiring), max_width, cost)


def impossible(component: Component) -> InvalidInputError:
    """Return the error for evidence that has probability zero under the model."""
    ids = component.findings.tolist()
    return InvalidInputError("positive findings cannot all be present under the model "
                             "(probability zero)", path="$.present", value=ids)


_TINY = float(np.finfo(np.float64).tiny)


def _index(axis: int, value: int) -> tuple[slice | int, ...]:
    return (slice(None),) * axis + (value,)


_Saved = tuple[FloatArray, tuple[int, ...], tuple[slice | int, ...], list[int], FloatArray,
               FloatArray]


def solve_exact(component: Component, plan: Plan) -> tuple[float, FloatArray, FloatArray]:
    """Log evidence and posteriors (shared conditions, then private parents) of one component.

    Every finding of ``component`` has at least one shared parent.

    Raises
    ------
    InvalidInputError
        If the component's evidence has probability zero.
    """
    entry = np.stack([np.exp(component.log_rho), -np.expm1(component.log_rho)], axis=1)
    log_z, saved = _forward(component, plan, entry)
    post_shared, grad = _backward(component, plan, entry, saved)
    rho_t = component.priv_log_rho
    pv = component.priv_finding
    g = grad[pv]
    num = g[:, 0] * np.exp(rho_t) + g[:, 1] * -np.expm1(rho_t)
    den = g[:, 0] * entry[pv, 0] + g[:, 1] * entry[pv, 1]
    return log_z, post_shared, component.priv_pi * num / den


def _forward(component: Component, plan: Plan, entry: FloatArray,
             ) -> tuple[float, list[_Saved]]:
    """Run the table forward; keep what the backward pass needs."""
    alpha: FloatArray = np.ones(())
    axes: list[int] = []
    saved: list[_Saved] = []
    log_z = 0.0
    for t, j in enumerate(plan.order):
        prev = alpha
        for f in plan.entering[t].tolist():
            alpha = alpha[..., None] * entry[f]
            axes.append(f)
        pos = [axes.index(f) for f in component.children[j].tolist()]
        on = alpha.copy()
        for i, p in zip(pos, component.child_p[j].tolist(), strict=True):
            off_i, on_i = _index(i, 0), _index(i, 1)
            on[on_i] += p * on[off_i]
            on[off_i] *= 1.0 - p
        retire = set(plan.retiring[t].tolist())
        idx = tuple(1 if f in retire else slice(None) for f in axes)
        a, b = on[idx], alpha[idx]
        shape = alpha.shape
        alpha = component.shared_pi[j] * a + component.shared_pi_c[j] * b
        scale = float(alpha.sum())
        if not scale > 0.0:
            raise impossible(component)
        alpha /= scale
        log_z += math.log(scale)
        saved.append((prev, shape, idx, pos, a, b))
        axes = [f for f in axes if f not in retire]
    return log_z, saved


def _backward(component: Component, plan: Plan, entry: FloatArray, saved: list[_Saved],
              ) -> tuple[FloatArray, FloatArray]:
    """Transposed pass: shared posteriors and the gradient of P(e) per finding entry vector."""
    m = len(component.children)
    post_shared = np.empty(m)
    grad = np.zeros((component.findings.size, 2))
    wanted = set(component.priv_finding.tolist())
    beta: FloatArray = np.ones(())
    for t in range(m - 1, -1, -1):
        j = plan.order[t]
        prev, shape, idx, pos, a, b = saved[t]
        pi, pi_c = component.shared_pi[j], component.shared_pi_c[j]
        x, y = pi * float((beta * a).sum()), pi_c * float((beta * b).sum())
        post_shared[j] = x / (x + y)
        z = np.zeros(shape)
        z[idx] = beta
        g = z.copy()
        for i, p in zip(pos, component.child_p[j].tolist(), strict=True):
            off_i, on_i = _index(i, 0), _index(i, 1)
            g[off_i] *= 1.0 - p
            g[off_i] += p * g[on_i]
        big = pi * g + pi_c * z
        ent = plan.entering[t].tolist()
        if wanted.intersection(ent):
            outer = np.tensordot(prev, big, axes=prev.ndim)
            for e, f in enumerate(ent):
                h = outer
                for e2 in range(len(ent) - 1, -1, -1):
                    if e2 != e:  # later axes are gone already, so axis e2 is still at e2
                        h = np.tensordot(h, entry[ent[e2]], axes=([e2], [0]))
                grad[f] = h / max(float(h.max()), _TINY)
        for f in reversed(ent):
            big = big @ entry[f]
        beta = big / float(big.max())
    return post_shared, grad
