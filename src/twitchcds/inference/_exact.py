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

from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.errors import InvalidInputError

__all__ = ["MAX_WIDTH", "STEP_OVERHEAD", "Plan", "Step", "impossible", "make_plan", "make_steps",
           "solve_batch"]

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


def make_plan(children: tuple[IntArray, ...], k: int) -> Plan:
    """Greedy order: next the condition giving the narrowest frontier (then peak, then index).

    ``children[j]`` are shared condition ``j``'s local findings (``0 <= f < k``). The cost is
    ``sum over steps of STEP_OVERHEAD + 2**peak * (children + 2)``, where ``peak`` is the
    frontier width after the step's findings enter. Sets of findings are Python integers used
    as bit masks (a component has tens of findings and conditions, where a numpy call per
    candidate and step cost ten times as much).
    """
    m = len(children)
    kids = [ch.tolist() for ch in children]
    masks = [sum(1 << f for f in ch) for ch in kids]
    remaining = [0] * k  # shared parents of each finding not processed yet
    for ch in kids:
        for f in ch:
            remaining[f] += 1
    not_entered = (1 << k) - 1
    last = sum(1 << f for f in range(k) if remaining[f] == 1)  # would retire at their next step
    todo = list(range(m))
    order: list[int] = []
    entering: list[IntArray] = []
    retiring: list[IntArray] = []
    width, max_width, cost = 0, 0, 0.0

    def key(j: int) -> tuple[int, int]:
        peak = width + (masks[j] & not_entered).bit_count()
        return (peak - (masks[j] & last).bit_count()) * (k + 1) + peak, j

    for _ in range(m):
        j = min(todo, key=key)
        todo.remove(j)
        ch = kids[j]
        ent = [f for f in ch if not_entered >> f & 1]
        not_entered &= ~masks[j]
        for f in ch:
            remaining[f] -= 1
            last = last | 1 << f if remaining[f] == 1 else last & ~(1 << f)
        ret = [f for f in ch if remaining[f] == 0]
        order.append(j)
        entering.append(np.array(ent, dtype=np.intp))
        retiring.append(np.array(ret, dtype=np.intp))
        top = width + len(ent)
        max_width = max(max_width, top)
        cost += STEP_OVERHEAD + 2.0 ** min(top, 1000) * (len(ch) + 2)
        width = top - len(ret)
    return Plan(tuple(order), tuple(entering), tuple(retiring), max_width, cost)


_Index = tuple[slice | int, ...]


class Step(NamedTuple):
    """One step of a plan with its table indices precomputed.

    Tables have one axis per finding on the frontier and the batch axis last (each cell holds
    its rows side by side, so every operation runs over contiguous runs of rows).
    ``child_ops`` are ``(off, on, p, 1 - p)`` per child axis; ``keep`` selects the retained
    cells (index 1 on retiring axes).
    """

    condition: int
    entering: tuple[int, ...]
    child_ops: tuple[tuple[_Index, _Index, float | FloatArray, float | FloatArray], ...]
    keep: _Index


def make_steps(children: tuple[IntArray, ...], child_p: tuple[FloatArray, ...],
               plan: Plan) -> tuple[Step, ...]:
    """Precompute every step's axis positions and index tuples (they depend on structure only).

    ``child_p[j]`` holds shared condition ``j``'s link probabilities, one per child; or, for
    rows with link probabilities of their own (:func:`._engine.run_draws`), a ``(B, c)`` array
    whose column ``c`` is child ``c``'s probability in each row.
    """
    axes: list[int] = []
    steps = []
    for t, j in enumerate(plan.order):
        ent = tuple(plan.entering[t].tolist())
        axes.extend(ent)
        ops = []
        for c, f in enumerate(children[j].tolist()):
            i = axes.index(f)
            p = float(child_p[j][c]) if child_p[j].ndim == 1 else child_p[j][:, c]
            ops.append((_index(i, 0), _index(i, 1), p, 1.0 - p))
        retire = set(plan.retiring[t].tolist())
        keep = tuple(1 if f in retire else slice(None) for f in axes)
        axes = [f for f in axes if f not in retire]
        steps.append(Step(j, ent, tuple(ops), keep))
    return tuple(steps)


class _HasFindings(Protocol):
    @property
    def findings(self) -> IntArray: ...


def impossible(component: _HasFindings) -> InvalidInputError:
    """Return the error for evidence that has probability zero under the model."""
    ids = component.findings.tolist()
    return InvalidInputError("positive findings cannot all be present under the model "
                             "(probability zero)", path="$.present", value=ids)


_TINY = float(np.finfo(np.float64).tiny)


def _index(axis: int, value: int) -> tuple[slice | int, ...]:
    return (slice(None),) * axis + (value,)


_Saved = tuple[FloatArray, tuple[int, ...], FloatArray, FloatArray]


class _Solvable(Protocol):
    @property
    def findings(self) -> IntArray: ...
    @property
    def children(self) -> tuple[IntArray, ...]: ...
    @property
    def priv_finding(self) -> IntArray: ...
    @property
    def steps(self) -> tuple[Step, ...] | None: ...


def solve_batch(component: _Solvable, shared_pi: FloatArray, shared_pi_c: FloatArray,
                log_rho: FloatArray, *, priv_pi: FloatArray, priv_log_rho: FloatArray,
                ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Log evidence and posteriors (shared conditions, then private parents) of one component.

    Every argument after ``component`` has a leading batch axis of size ``B`` (rows are solved
    together, with one table of shape ``(2, ..., 2, B)``): ``shared_pi`` / ``shared_pi_c``
    ``(B, m)``, ``log_rho`` ``(B, k)``, ``priv_pi`` / ``priv_log_rho`` ``(B, r)``. Every
    finding of ``component`` has at least one shared parent.

    Raises
    ------
    InvalidInputError
        If the component's evidence has probability zero (in any row).
    """
    steps = component.steps
    if steps is None:
        msg = "component has no frontier steps (see _structure.frontier_steps)"
        raise ValueError(msg)
    entry = np.stack([np.exp(log_rho), -np.expm1(log_rho)], axis=1)  # (B, 2, k) -> (k, 2, B)
    entry = np.ascontiguousarray(entry.transpose(2, 1, 0))
    log_z, saved = _forward(component, steps, shared_pi, shared_pi_c, entry)
    post_shared, grad = _backward(component, steps, shared_pi, shared_pi_c, entry, saved=saved)
    pv = component.priv_finding
    g = grad[:, pv]
    num = g[..., 0] * np.exp(priv_log_rho) + g[..., 1] * -np.expm1(priv_log_rho)
    den = g[..., 0] * entry[pv, 0].T + g[..., 1] * entry[pv, 1].T
    return log_z, post_shared, priv_pi * num / den


def _forward(component: _Solvable, steps: tuple[Step, ...], shared_pi: FloatArray,
             shared_pi_c: FloatArray, entry: FloatArray) -> tuple[FloatArray, list[_Saved]]:
    """Run the table forward; keep what the backward pass needs.

    ``entry[f]`` is finding ``f``'s entry vector ``(rho, 1 - rho)`` per row, shape ``(2, B)``.
    """
    b = entry.shape[2]
    alpha: FloatArray = np.ones(b)
    saved: list[_Saved] = []
    log_z = np.zeros(b)
    for step in steps:
        prev = alpha
        for f in step.entering:  # a new axis before the batch axis
            alpha = alpha[..., None, :] * entry[f]
        on = alpha.copy()
        for off_i, on_i, p, q in step.child_ops:
            on[on_i] += p * on[off_i]
            on[off_i] *= q
        a, c = on[step.keep], alpha[step.keep]
        shape = alpha.shape
        j = step.condition
        alpha = shared_pi[:, j] * a + shared_pi_c[:, j] * c
        scale = alpha.reshape(-1, b).sum(axis=0)
        if not np.all(scale > 0.0):
            raise impossible(component)
        alpha /= scale
        log_z += np.log(scale)
        saved.append((prev, shape, a, c))
    return log_z, saved


def _backward(component: _Solvable, steps: tuple[Step, ...], shared_pi: FloatArray,
              shared_pi_c: FloatArray, entry: FloatArray, *, saved: list[_Saved],
              ) -> tuple[FloatArray, FloatArray]:
    """Transposed pass: shared posteriors and the gradient of P(e) per finding entry vector.

    Returns the posteriors ``(B, m)`` and the gradient ``(B, k, 2)``.
    """
    k, b = entry.shape[0], entry.shape[2]
    m = len(component.children)
    post_shared = np.empty((b, m))
    grad = np.zeros((b, k, 2))
    wanted = set(component.priv_finding.tolist())
    beta: FloatArray = np.ones(b)
    for t in range(m - 1, -1, -1):
        step = steps[t]
        j = step.condition
        prev, shape, a, c = saved[t]
        pi, pi_c = shared_pi[:, j], shared_pi_c[:, j]
        x = pi * (beta * a).reshape(-1, b).sum(axis=0)
        y = pi_c * (beta * c).reshape(-1, b).sum(axis=0)
        post_shared[:, j] = x / (x + y)
        z = np.zeros(shape)
        z[step.keep] = beta
        g = z.copy()
        for off_i, on_i, p, q in step.child_ops:
            g[off_i] *= q
            g[off_i] += p * g[on_i]
        big = pi * g + pi_c * z
        ent = step.entering
        if wanted.intersection(ent):
            ne = len(ent)
            outer = np.einsum("sb,seb->eb", prev.reshape(-1, b), big.reshape(prev.size // b, -1, b))
            outer = outer.reshape((2,) * ne + (b,))
            for e, f in enumerate(ent):
                h = outer
                for e2 in range(ne - 1, -1, -1):
                    if e2 != e:  # later axes are gone already, so axis e2 is still at e2
                        h = np.einsum("i...b,ib->...b", np.moveaxis(h, e2, 0), entry[ent[e2]])
                grad[:, f] = (h / np.maximum(h.max(axis=0), _TINY)).T
        for f in reversed(ent):  # the last table axis before the batch axis
            big = np.einsum("...ib,ib->...b", big, entry[f])
        beta = big / big.reshape(-1, b).max(axis=0)
    return post_shared, grad
