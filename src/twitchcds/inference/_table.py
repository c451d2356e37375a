"""Exact inference in a small component: the frontier sum on the full table, as sparse matvecs.

When a component has few findings (``k`` up to :data:`MAX_TABLE_FINDINGS`) every finding can
stay on the table for the whole sum: ``alpha`` has ``2**k`` cells (which findings are already
switched on), starts as the product of the entry vectors ``(rho, 1 - rho)`` and each shared
condition ``c`` applies ``M_c = pi'_c K_c + (1 - pi'_c) I``, where ``K_c`` switches each child
on with its link probability. ``K_c`` depends on the network only, so it is planned once per
present set: for a small table (up to :data:`MAX_KRON_CELLS` cells) as dense matrices and their
non-zero entries (a step is then one matrix product, or one gather, one product and one
``bincount``), for a larger one as two small Kronecker factors (:mod:`._split`). All entries
are non-negative and the table keeps total mass 1 (nothing retires), so there is no
cancellation and no rescaling; one backward pass with the transposed steps gives every
posterior, exactly as in :mod:`._exact`, whose scaled, narrower tables take over for wide
components (and whenever the evidence is so improbable that cells could underflow).
"""

from __future__ import annotations

import functools
import itertools
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt
from attrs import evolve, frozen

from twitchcds.inference._split import factor_steps, kron_stack, passes_split, switches

__all__ = ["MAX_TABLE_FINDINGS", "TABLE_STEP_OVERHEAD", "TablePlan", "make_table_plan",
           "solve_table", "table_cost"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

MAX_TABLE_FINDINGS = 12
"""Most findings a component may have for the full-table method (4096 cells)."""

TABLE_STEP_OVERHEAD = 600.0
"""Cost units per step (a step is a few numpy calls; compare ``_exact.STEP_OVERHEAD``)."""

TABLE_SETUP = 6144.0
"""Cost units for the fixed work of a larger table (split factors, passes, private parents), so
that components of one or two steps, common in large sparse networks, keep the frontier sum."""

SPLIT_STEP_OVERHEAD = 1100.0
"""Cost units per step of the split kernel, plus ``n**2 / 512`` for a table of ``n`` cells, and
``SPLIT_CELL_SETUP`` units per cell once (the factors, the passes' set-up, the private parents),
on the frontier sum's scale (about 40,000 units per ms). Fitted to CPU times of from-scratch
solves of the QMR-DT-like and 600 x 4000 benchmarks' components of 6-12 findings and 5-41 steps:
0.03-0.05 ms a step on 256-1,024 cells, but 0.15-1 ms on 4,096 cells, where the frontier sum
was 2-6 times faster (hence the square)."""

SPLIT_CELL_SETUP = 8.0

MAX_ONE_CELLS = 32
"""One-row tables up to this many cells use the per-entry kernel :func:`_passes_one`. Only
tables planned whole have entries; larger tables take the split kernel, whose plan (two small
factors per step) costs far less to build than the entries: from scratch on the QMR-DT-like
benchmark's tables of 64-512 cells, building the entries took 60% as long as the per-entry solve
itself, which the split kernel then also beat."""

MAX_KRON_CELLS = 32
"""Tables up to this many cells are planned whole, as Kronecker products (:func:`_kron_plan`).

One row on such a table takes the per-entry kernel (above); a batch applies each
step as a dense matrix product (:func:`_passes_dense`). Larger tables take the split kernel: at
128 cells it was measured faster than dense products (8.2 vs 13.9 ms for 90 rows and 27 steps;
at 64 cells they are within 25% of each other either way)."""

KRON_SETUP = 2048.0
"""Cost units for planning and the fixed work of a table planned whole: about half a frontier
step (``_exact.STEP_OVERHEAD``), so components of up to five findings always take the table.
Measured on the built-in knowledge base's components of 2-5 findings and 2-14 shared
conditions, one row: table plan + solve 1.5-3x faster than frontier plan + steps + solve."""

_BLAS_SINGLE_THREAD = 262_143
"""OpenBLAS runs a product of m x k by k x n on one thread when ``m * n * k`` is below 262144."""

_SAFE = 1e-250  # below this P(e) some cells may have underflowed: use the scaled method


_NO_INDEX = np.zeros(0, dtype=np.intp)
_NO_VALUE = np.zeros(0)
_NO_INDEX.flags.writeable = _NO_VALUE.flags.writeable = False


@frozen(eq=False)
class TablePlan:
    """What the kernels need of every step's ``K_c`` (steps in shared-condition order).

    A table of up to :data:`MAX_KRON_CELLS` cells is planned whole: ``dense`` holds every
    ``K_t`` and the entries below list their non-zeros, for the per-entry and dense kernels.
    A larger table keeps each ``K_t`` as two Kronecker factors ``high`` and ``low`` for the
    split kernel (:mod:`._split`), and no entries.

    Entry ``e`` of step ``t`` (``bounds[t] <= e < bounds[t + 1]``) moves mass from cell
    ``src[e]`` to ``dst[e]`` with factor ``val[e]``; ``same[e]`` is 1 where ``src == dst``
    (where ``(1 - pi')`` of the identity is added). ``bits[s, i]`` is 1 when finding ``i`` is on
    in cell ``s``.
    """

    k: int
    bits: FloatArray
    cost: float
    children: tuple[IntArray, ...]
    """Each step's children (local findings)."""
    child_p: tuple[FloatArray, ...]
    """Their link probabilities."""
    src: IntArray = _NO_INDEX
    dst: IntArray = _NO_INDEX
    val: FloatArray = _NO_VALUE
    same: FloatArray = _NO_VALUE
    step: IntArray = _NO_INDEX
    bounds: tuple[int, ...] = ()
    dense: FloatArray | None = None
    """Every ``K_t`` as a read-only ``(m, n, n)`` stack indexed ``[t, dst, src]`` (tables
    planned whole only, see :data:`MAX_KRON_CELLS`)."""
    high: FloatArray | None = None
    """Every step's high factor (larger tables only, see :func:`._split.factor_steps`)."""
    low: FloatArray | None = None
    """Every step's low factor."""


def table_cost(children: tuple[IntArray, ...], k: int) -> float:
    """Cost of :func:`make_table_plan` and a solve on its plan, without building it.

    A table planned whole pays for its entries: a condition with ``c`` children on ``2**k``
    cells has ``2**(k - c) * 3**c`` entries (each child is already on, stays off, or is switched
    on). A larger table pays per cell and per step of the split kernel.
    """
    n = 1 << k
    if n <= MAX_KRON_CELLS:
        return KRON_SETUP + float(sum(2.0 ** (k - ch.size) * 3.0 ** ch.size
                                      + TABLE_STEP_OVERHEAD for ch in children))
    return (TABLE_SETUP + SPLIT_CELL_SETUP * n
            + len(children) * (SPLIT_STEP_OVERHEAD + n * n / 512.0))


def make_table_plan(children: tuple[IntArray, ...], child_p: tuple[FloatArray, ...],
                    k: int) -> TablePlan:
    """Enumerate the entries of each shared condition's switching operator on ``2**k`` cells.

    Small tables (up to :data:`MAX_KRON_CELLS` cells) are built whole, every step at once, as
    Kronecker products of one ``2 x 2`` switch per finding (identity for non-children), and
    keep that dense stack and its entries for the dense and per-entry kernels; larger ones keep
    each step as two Kronecker factors for the split kernel (:func:`._split.factor_steps`).

    Examples
    --------
    >>> plan = make_table_plan((np.array([0, 1]),), (np.array([0.5, 0.25]),), 2)
    >>> for row in plan.dense[0].tolist():  # K[dst, src], cells: none, f0, f1, both on
    ...     print(row)
    [0.375, 0.0, 0.0, 0.0]
    [0.375, 0.75, 0.0, 0.0]
    [0.125, 0.0, 0.5, 0.0]
    [0.125, 0.25, 0.5, 1.0]
    """
    bits = _cell_bits(k)
    if (1 << k) <= MAX_KRON_CELLS:
        return _kron_plan(children, child_p, k, bits)
    plan = TablePlan(k=k, bits=bits, cost=table_cost(children, k), children=children,
                     child_p=child_p)
    high, low = factor_steps(plan)
    return evolve(plan, high=high, low=low)


def _cell_bits(k: int) -> FloatArray:
    """``bits[s, i]`` is 1 when finding ``i`` is on in cell ``s`` (``2**k`` cells)."""
    return ((np.arange(1 << k)[:, None] >> np.arange(k)[None, :]) & 1).astype(np.float64)


def _listed_plan(children: tuple[IntArray, ...], child_p: tuple[FloatArray, ...],
                 k: int) -> TablePlan:
    """:func:`make_table_plan` enumerated step by step over ``(cell, subset of children)``.

    Simple and slow (arrays of ``2**k * 2**c * c`` per step); kept to test the faster builders.
    """
    cells = np.arange(1 << k)
    src, dst, val, step = [], [], [], []
    bounds = [0]
    for t, (ch, p) in enumerate(zip(children, child_p, strict=True)):
        c = ch.size
        masks = 1 << ch  # cell bit of each child
        subsets = np.arange(1 << c)
        picked = ((subsets[:, None] >> np.arange(c)[None, :]) & 1).astype(bool)  # (2^c, c)
        add = (picked * masks[None, :]).sum(axis=1)  # cell bits switched on by each subset
        is_on = (cells[:, None] & masks[None, :]) != 0  # (n, c): child already on in source
        ok = (cells[:, None] & add[None, :]) == 0  # (n, 2^c): subset only switches off children
        # factor per child: already on -> 1, switched -> p, stays off -> 1 - p
        factor = np.where(picked[None, :, :], p[None, None, :], 1.0 - p[None, None, :])
        factor = np.where(is_on[:, None, :], 1.0, factor).prod(axis=2)  # (n, 2^c)
        s_idx, b_idx = np.nonzero(ok)
        src.append(s_idx)
        dst.append(s_idx | add[b_idx])
        val.append(factor[s_idx, b_idx])
        step.append(np.full(s_idx.size, t, dtype=np.intp))
        bounds.append(bounds[-1] + s_idx.size)
    src_a = np.concatenate(src) if src else np.zeros(0, dtype=np.intp)
    dst_a = np.concatenate(dst) if dst else np.zeros(0, dtype=np.intp)
    return TablePlan(
        k=k, bits=_cell_bits(k), src=src_a.astype(np.intp), dst=dst_a.astype(np.intp),
        val=np.concatenate(val) if val else np.zeros(0), same=(src_a == dst_a).astype(float),
        step=np.concatenate(step) if step else np.zeros(0, dtype=np.intp),
        bounds=tuple(bounds), cost=table_cost(children, k), children=children, child_p=child_p)


def _kron_plan(children: tuple[IntArray, ...], child_p: tuple[FloatArray, ...], k: int,
               bits: FloatArray) -> TablePlan:
    """:func:`make_table_plan` of a small table: all steps' ``K_t`` at once, then their entries.

    ``K_t[dst, src]`` is the Kronecker product over findings (the last finding is the most
    significant cell bit) of ``[[1 - p, 0], [p, 1]]`` for a child and the identity otherwise.
    Its entries are those of :func:`_mask_entries` for the step's children (every diagonal
    entry included, even where its value is 0, because the identity part ``(1 - pi')`` of the
    step acts there).
    """
    m = len(children)
    dense = kron_stack(switches(k, children, child_p))
    dense.flags.writeable = False
    entries = [_mask_entries(k, int(np.left_shift(1, ch).sum())) for ch in children]
    counts = [e[0].size for e in entries]
    none = [np.zeros(0, dtype=np.intp)]  # no steps (tests only): no entries
    dst = np.concatenate([e[0] for e in entries] or none)
    src = np.concatenate([e[1] for e in entries] or none)
    step = np.repeat(np.arange(m), counts)
    return TablePlan(
        k=k, bits=bits, src=src, dst=dst, val=dense[step, dst, src],
        same=(src == dst).astype(float), step=step, bounds=(0, *itertools.accumulate(counts)),
        cost=table_cost(children, k), children=children, child_p=child_p, dense=dense)


@functools.cache
def _mask_entries(k: int, mask: int) -> tuple[IntArray, IntArray]:
    """``(dst, src)`` of the entries of a step whose children are the set bits of ``mask``.

    Mass moves from ``src`` to every ``dst`` that adds children still off in ``src``; ordered
    by ``dst`` then ``src``, with every diagonal entry. At most ``2**k`` masks per ``k``, and
    ``k`` is at most ``log2(MAX_KRON_CELLS)``, so the cache stays small.

    Examples
    --------
    >>> dst, src = _mask_entries(1, 1)  # one finding, a child: stays off, or is switched on
    >>> list(zip(dst.tolist(), src.tolist()))
    [(0, 0), (1, 0), (1, 1)]
    """
    cells = np.arange(1 << k)
    d, s = cells[:, None], cells[None, :]
    dst, src = np.nonzero(((d & s) == s) & (((d ^ s) & ~mask) == 0))
    dst, src = dst.astype(np.intp), src.astype(np.intp)
    dst.flags.writeable = src.flags.writeable = False
    return dst, src


class _Tabled(Protocol):
    @property
    def findings(self) -> IntArray: ...
    @property
    def priv_finding(self) -> IntArray: ...
    @property
    def table(self) -> TablePlan | None: ...


def solve_table(component: _Tabled, shared_pi: FloatArray, shared_pi_c: FloatArray,
                log_rho: FloatArray, *, priv_pi: FloatArray, priv_log_rho: FloatArray,
                ) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """Like :func:`._exact.solve_batch` (same arguments, leading batch axis), or ``None``.

    ``None`` means some row's evidence is below ``1e-250`` (or zero), where unscaled cells
    could underflow; the caller then runs the scaled frontier sum.
    """
    plan = component.table
    assert plan is not None  # noqa: S101  (callers only pass tabled components)
    b, n = log_rho.shape[0], 1 << plan.k
    off, on = np.exp(log_rho), -np.expm1(log_rho)
    cell_entry = np.where(plan.bits[None, :, :] > 0, on[:, None, :], off[:, None, :])
    alpha = cell_entry.prod(axis=2)  # (b, n)
    m = len(plan.bounds) - 1
    if plan.high is not None:  # a larger table, planned as split factors
        z, x, y, beta = passes_split(plan, alpha, shared_pi, shared_pi_c)
    elif n <= MAX_ONE_CELLS and b == 1:
        weights = shared_pi[0, plan.step] * plan.val + shared_pi_c[0, plan.step] * plan.same
        z, x, y, beta = _passes_one(plan, alpha[0], weights, m, n)
    else:  # a batch (or, when tests lower the limits above, any table planned whole)
        z, x, y, beta = _passes_dense(plan, alpha, shared_pi, shared_pi_c)
    if not np.all(z > _SAFE):
        return None
    px, py = shared_pi * x, shared_pi_c * y
    post = px / (px + py)
    pv = component.priv_finding
    if pv.size:
        post_priv = priv_pi * _private_ratio(alpha * beta, plan.bits[:, pv], log_rho[:, pv],
                                             priv_log_rho)
    else:
        post_priv = np.zeros((b, 0))
    return np.log(z), post, post_priv


def _scatter(index: IntArray, weights: FloatArray, minlength: int) -> FloatArray:
    """``out[index[i]] += weights[i]`` (a weighted ``bincount``, which returns float64)."""
    return cast("FloatArray", np.bincount(index, weights, minlength=minlength))


def _passes_one(plan: TablePlan, alpha: FloatArray, weights: FloatArray, m: int, n: int,
                ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Forward and backward passes for one row (1-d tables): ``P(e)``, ``x``, ``y``, ``beta_0``.

    ``x[t]`` and ``y[t]`` are ``P(e, c_t = 1) / pi_t`` and ``P(e, c_t = 0) / (1 - pi_t)``: the
    backward message times ``K_t`` (or ``I``) times the forward table before step ``t``.
    """
    bounds, src, dst, val = plan.bounds, plan.src, plan.dst, plan.val
    tables = []
    gathered = []
    for t in range(m):
        lo, hi = bounds[t], bounds[t + 1]
        tables.append(alpha)
        g = alpha[src[lo:hi]]
        gathered.append(g)
        alpha = _scatter(dst[lo:hi], g * weights[lo:hi], n)
    z = alpha[n - 1:]
    beta = np.zeros(n)
    beta[n - 1] = 1.0
    x = np.empty(m)
    y = np.empty(m)
    for t in range(m - 1, -1, -1):
        lo, hi = bounds[t], bounds[t + 1]
        bd = beta[dst[lo:hi]]
        x[t] = np.dot(gathered[t] * val[lo:hi], bd)
        y[t] = np.dot(tables[t], beta)
        beta = _scatter(src[lo:hi], bd * weights[lo:hi], n)
    return z, x[None, :], y[None, :], beta[None, :]


def _passes_dense(plan: TablePlan, alpha: FloatArray, pi: FloatArray, pi_c: FloatArray,
                  ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """:func:`_passes_one` for ``b`` rows, each ``K_t`` as a dense ``n x n`` matrix (batches).

    Rows share ``K_t``; only the mixing weights ``pi_t`` differ, so a step is one matrix
    product for the whole batch and no per-entry weights are formed. Rows go in blocks small
    enough that each block's product runs on one BLAS thread: on a busy machine, threads for
    products this small cost more than they save, and timings become erratic. A batch smaller
    than a block is one block of its own size (padding it to a whole block made 4 rows of 16
    cells cost as much as 1,000).
    """
    m, n = pi.shape[1], alpha.shape[1]
    b = alpha.shape[0]
    block = max(1, min(b, _BLAS_SINGLE_THREAD // (n * n)))
    padded = -(-b // block) * block
    if padded != b:  # zero rows pad the batch to whole blocks; they are dropped at the end
        alpha = np.concatenate((alpha, np.zeros((padded - b, n))))
        pi = np.concatenate((pi, np.zeros((padded - b, m))))
        pi_c = np.concatenate((pi_c, np.ones((padded - b, m))))
    shape = (padded // block, block, n)
    k_t = _dense_steps(plan)  # row vector @ k_t[t] applies K_t
    tables = []
    switched = []
    for t in range(m):
        tables.append(alpha)
        on = (alpha.reshape(shape) @ k_t[t]).reshape(padded, n)
        switched.append(on)
        alpha = pi[:, t, None] * on + pi_c[:, t, None] * alpha
    z = alpha[:, n - 1]
    beta = np.zeros_like(alpha)
    beta[:, n - 1] = 1.0
    x = np.empty((padded, m))
    y = np.empty((padded, m))
    for t in range(m - 1, -1, -1):
        x[:, t] = np.einsum("bs,bs->b", beta, switched[t])
        y[:, t] = np.einsum("bs,bs->b", beta, tables[t])
        back = (beta.reshape(shape) @ k_t[t].T).reshape(padded, n)
        beta = pi[:, t, None] * back + pi_c[:, t, None] * beta
    return z[:b], x[:b], y[:b], beta[:b]


def _dense_steps(plan: TablePlan) -> FloatArray:
    """Every ``K_t`` as a dense ``(m, n, n)`` array indexed ``[t, src, dst]`` (read-only)."""
    assert plan.dense is not None  # noqa: S101  (only tables planned whole come here)
    return plan.dense.transpose(0, 2, 1)


def _private_ratio(mass: FloatArray, on_bits: FloatArray, log_rho: FloatArray,
                   priv_log_rho: FloatArray) -> FloatArray:
    """``P(r | e) / pi'_r`` of private parents ``r`` from each cell's share of ``P(e)``.

    ``mass`` is the initial table times the backward message at the start, so it sums to
    ``P(e)`` and its cells with ``r``'s finding on (``on_bits``, one column per ``r``) sum to
    ``P(e, f on)``. Given the cells, ``r`` only changes its finding's entry: from ``rho`` to
    ``rho^r`` (``exp(priv_log_rho)``) when off, from ``1 - rho`` to ``1 - rho^r`` when on, so
    the ratio is ``(P(e, f off) rho^r / rho + P(e, f on) (1 - rho^r) / (1 - rho)) / P(e)``: a
    mean of non-negative terms, no gradient by leave-one-out products needed.
    """
    s_on = mass @ on_bits
    s_off = mass @ (1.0 - on_bits)
    on_ratio = np.divide(np.expm1(priv_log_rho), np.expm1(log_rho), out=np.zeros_like(s_on),
                         where=s_on > 0.0)  # f never on (rho = 1): no mass, no term
    with np.errstate(invalid="ignore"):  # f always on (rho = 0): no mass, no term
        off_ratio = np.where(s_off > 0.0, np.exp(priv_log_rho - log_rho), 0.0)
    return (s_off * off_ratio + s_on * on_ratio) / (s_off + s_on)
