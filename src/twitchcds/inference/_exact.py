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
    """One step of a plan with its table indices precomputed (a leading batch axis included).

    ``child_ops`` are ``(off, on, p, 1 - p)`` per child axis; ``keep`` selects the retained
    cells (index 1 on retiring axes); ``enter_ones`` / ``keep_ones`` are broadcast shapes
    (without the batch axis) after the findings enter and after retirement.
    """

    condition: int
    entering: tuple[int, ...]
    child_ops: tuple[tuple[_Index, _Index, float | FloatArray, float | FloatArray], ...]
    keep: _Index
    enter_ones: tuple[int, ...]
    keep_ones: tuple[int, ...]
    entry_shapes: tuple[tuple[int, ...], ...]


def make_steps(children: tuple[IntArray, ...], child_p: tuple[FloatArray, ...],
               plan: Plan) -> tuple[Step, ...]:
    """Precompute every step's axis positions and index tuples (they depend on structure only).

    ``child_p[j]`` holds shared condition ``j``'s link probabilities, one per child; or, for
    rows with link probabilities of their own (:func:`._engine.run_draws`), a ``(B, c)`` array
    whose columns are broadcast over each row's table.
    """
    axes: list[int] = []
    steps = []
    for t, j in enumerate(plan.order):
        ent = tuple(plan.entering[t].tolist())
        shapes = []
        for f in ent:
            shapes.append((1,) * len(axes) + (2,))
            axes.append(f)
        nd = len(axes)
        ops = []
        for c, f in enumerate(children[j].tolist()):
            i = axes.index(f)
            p = _link(child_p[j], c, nd)
            ops.append((_index(i + 1, 0), _index(i + 1, 1), p, 1.0 - p))
        retire = set(plan.retiring[t].tolist())
        keep = (slice(None), *(1 if f in retire else slice(None) for f in axes))
        axes = [f for f in axes if f not in retire]
        steps.append(Step(j, ent, tuple(ops), keep, (1,) * nd, (1,) * len(axes),
                          tuple(shapes)))
    return tuple(steps)


def _link(p: FloatArray, c: int, nd: int) -> float | FloatArray:
    """Child ``c``'s link probability: a number, or per row, shaped for ``nd - 1`` table axes."""
    if p.ndim == 1:
        return float(p[c])
    return p[:, c].reshape((-1,) + (1,) * (nd - 1))


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
    together, with one table of shape ``(B, 2, ..., 2)``): ``shared_pi`` / ``shared_pi_c``
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
    entry = np.stack([np.exp(log_rho), -np.expm1(log_rho)], axis=2)
    log_z, saved = _forward(component, steps, shared_pi, shared_pi_c, entry)
    post_shared, grad = _backward(component, steps, shared_pi, shared_pi_c, entry, saved=saved)
    pv = component.priv_finding
    g = grad[:, pv]
    num = g[..., 0] * np.exp(priv_log_rho) + g[..., 1] * -np.expm1(priv_log_rho)
    den = g[..., 0] * entry[:, pv, 0] + g[..., 1] * entry[:, pv, 1]
    return log_z, post_shared, priv_pi * num / den


def _forward(component: _Solvable, steps: tuple[Step, ...], shared_pi: FloatArray,
             shared_pi_c: FloatArray, entry: FloatArray) -> tuple[FloatArray, list[_Saved]]:
    """Run the table forward; keep what the backward pass needs."""
    b = entry.shape[0]
    alpha: FloatArray = np.ones(b)
    saved: list[_Saved] = []
    log_z = np.zeros(b)
    for step in steps:
        prev = alpha
        for f, shape in zip(step.entering, step.entry_shapes, strict=True):
            alpha = alpha[..., None] * entry[:, f].reshape((b, *shape))
        on = alpha.copy()
        for off_i, on_i, p, q in step.child_ops:
            on[on_i] += p * on[off_i]
            on[off_i] *= q
        a, c = on[step.keep], alpha[step.keep]
        shape = alpha.shape
        j = step.condition
        bshape = (b, *step.keep_ones)
        alpha = shared_pi[:, j].reshape(bshape) * a + shared_pi_c[:, j].reshape(bshape) * c
        scale = alpha.reshape(b, -1).sum(axis=1)
        if not np.all(scale > 0.0):
            raise impossible(component)
        alpha /= scale.reshape(bshape)
        log_z += np.log(scale)
        saved.append((prev, shape, a, c))
    return log_z, saved


def _backward(component: _Solvable, steps: tuple[Step, ...], shared_pi: FloatArray,
              shared_pi_c: FloatArray, entry: FloatArray, *, saved: list[_Saved],
              ) -> tuple[FloatArray, FloatArray]:
    """Transposed pass: shared posteriors and the gradient of P(e) per finding entry vector."""
    b, k = entry.shape[0], entry.shape[1]
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
        x = pi * (beta * a).reshape(b, -1).sum(axis=1)
        y = pi_c * (beta * c).reshape(b, -1).sum(axis=1)
        post_shared[:, j] = x / (x + y)
        z = np.zeros(shape)
        z[step.keep] = beta
        g = z.copy()
        for off_i, on_i, p, q in step.child_ops:
            g[off_i] *= q
            g[off_i] += p * g[on_i]
        eshape = (b, *step.enter_ones)
        big = pi.reshape(eshape) * g + pi_c.reshape(eshape) * z
        ent = step.entering
        if wanted.intersection(ent):
            ne = len(ent)
            outer = np.matmul(prev.reshape(b, 1, -1), big.reshape(b, prev[0].size, -1))
            outer = outer.reshape((b,) + (2,) * ne)
            for e, f in enumerate(ent):
                h = outer
                for e2 in range(ne - 1, -1, -1):
                    if e2 != e:  # later axes are gone already, so axis e2 is still at e2
                        h = np.einsum("b...i,bi->b...", np.moveaxis(h, e2 + 1, -1),
                                      entry[:, ent[e2]])
                grad[:, f] = h / np.maximum(h.max(axis=1), _TINY)[:, None]
        for f in reversed(ent):
            big = np.einsum("b...i,bi->b...", big, entry[:, f])
        beta = big / big.reshape(b, -1).max(axis=1).reshape((b,) + (1,) * (big.ndim - 1))
    return post_shared, grad
