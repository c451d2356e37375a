"""A full-table kernel for batches: each step's operator split into two Kronecker factors.

A step's switching operator ``K_t`` is the Kronecker product of one ``2 x 2`` switch per finding
(identity for a finding that is not the condition's child; see :mod:`._table`). Grouping the
findings into a low half (``l`` findings, the fast cell bits) and a high half (``h``), it is
``K_t = H_t (x) L_t`` with ``L_t`` of size ``2**l`` and ``H_t`` of size ``2**h``. With the batch
of tables viewed as ``(b, 2**h, 2**l)``, one step is two small matrix products,
``H_t X L_t^T``, instead of one product by the ``n x n`` matrix ``K_t`` (``n`` multiplications
per cell) or one pass per child (a numpy call per child, the kernel this one replaced, whose
call overhead dominated on tables where most findings are children of most conditions). The
matrices are non-negative, so the sums are the same non-negative sums as the other kernels, in
another order.
"""

from __future__ import annotations

from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

__all__ = ["factor_steps", "kron_stack", "passes_split", "switches"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class _Steps(Protocol):
    @property
    def k(self) -> int: ...
    @property
    def children(self) -> tuple[IntArray, ...]: ...
    @property
    def child_p(self) -> tuple[FloatArray, ...]: ...


class _Plan(_Steps, Protocol):
    @property
    def high(self) -> FloatArray | None: ...
    @property
    def low(self) -> FloatArray | None: ...


def switches(k: int, children: tuple[IntArray, ...], child_p: tuple[FloatArray, ...],
             ) -> FloatArray:
    """Each step's ``2 x 2`` switch per finding, ``(m, k, 2, 2)`` indexed ``[t, i, dst, src]``.

    ``[[1 - p, 0], [p, 1]]`` for a child of step ``t`` with link probability ``p``, the identity
    for the other findings.
    """
    m = len(children)
    switch = np.zeros((m, k, 2, 2))
    switch[:, :, 0, 0] = switch[:, :, 1, 1] = 1.0
    if m:  # every link at once: (step, child finding, probability)
        step = np.repeat(np.arange(m), [ch.size for ch in children])
        child, p = np.concatenate(children), np.concatenate(child_p)
        switch[step, child, 0, 0] = 1.0 - p
        switch[step, child, 1, 0] = p
    return switch


def kron_stack(switch: FloatArray) -> FloatArray:
    """Stack ``(m, 2**g, 2**g)`` of the Kronecker products of each step's switches.

    ``switch`` is ``(m, g, 2, 2)``, indexed ``[step, finding, dst, src]``; finding ``i`` is cell
    bit ``i`` (the last finding the most significant).
    """
    m, g = switch.shape[0], switch.shape[1]
    dense = np.ones((m, 1, 1))
    for i in range(g):  # switch_i (x) dense: finding i is the new high bit
        r = dense.shape[1]
        dense = (switch[:, i, :, None, :, None] * dense[:, None, :, None, :]).reshape(
            m, 2 * r, 2 * r)
    return dense


def factor_steps(plan: _Steps) -> tuple[FloatArray, FloatArray]:
    """Every step's high and low factors ``(H, L)`` (read-only).

    ``H`` is ``(m, 2**h, 2**h)`` and ``L`` is ``(m, 2**l, 2**l)`` with ``l = k // 2`` and
    ``h = k - l``, indexed ``[t, dst, src]``. :func:`._table.make_table_plan` builds them once
    for a table over :data:`._table.MAX_KRON_CELLS` cells and keeps them in the plan.

    Examples
    --------
    >>> from twitchcds.inference._table import make_table_plan
    >>> plan = make_table_plan((np.array([0, 1]),), (np.array([0.5, 0.25]),), 2)
    >>> high, low = factor_steps(plan)
    >>> bool(np.allclose(np.kron(high[0], low[0]), plan.dense[0]))
    True
    """
    switch = switches(plan.k, plan.children, plan.child_p)
    low = plan.k // 2
    factors = (kron_stack(switch[:, low:]), kron_stack(switch[:, :low]))
    for f in factors:
        f.flags.writeable = False
    return factors


def _apply(x: FloatArray, high: FloatArray, low: FloatArray) -> FloatArray:
    """``(H (x) L)`` applied to each table of ``x`` (``(b, 2**h, 2**l)``): ``H X L^T``."""
    return cast("FloatArray", np.matmul(high, x @ low.T))


def passes_split(plan: _Plan, alpha: FloatArray, pi: FloatArray, pi_c: FloatArray,
                 ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Forward and backward passes like :func:`._table._passes_dense`, steps as two factors.

    Returns ``P(e)`` ``(b,)``, ``x`` and ``y`` ``(b, m)`` (``P(e, c_t = 1) / pi_t`` and
    ``P(e, c_t = 0) / (1 - pi_t)``) and the backward message at the start ``(b, n)``.
    """
    if plan.high is not None and plan.low is not None:
        high, low = plan.high, plan.low
    else:  # a table planned whole, forced onto this kernel (tests)
        high, low = factor_steps(plan)
    b, n = alpha.shape
    m = pi.shape[1]
    shape = (b, high.shape[1], low.shape[1])
    col_pi = pi.T[:, :, None, None].copy()  # (m, b, 1, 1): step t's weights per table
    col_pi_c = pi_c.T[:, :, None, None].copy()
    table = alpha.reshape(shape)
    tables = []
    switched = []
    for t in range(m):
        tables.append(table)
        on = _apply(table, high[t], low[t])
        switched.append(on)
        table = col_pi[t] * on + col_pi_c[t] * table
    z = table.reshape(b, n)[:, n - 1].copy()
    beta = np.zeros(shape)
    beta.reshape(b, n)[:, n - 1] = 1.0
    x = np.empty((b, m))
    y = np.empty((b, m))
    for t in range(m - 1, -1, -1):
        flat_beta = beta.reshape(b, n)
        x[:, t] = np.einsum("bs,bs->b", flat_beta, switched[t].reshape(b, n))
        y[:, t] = np.einsum("bs,bs->b", flat_beta, tables[t].reshape(b, n))
        back = _apply(beta, high[t].T, low[t].T)
        beta = col_pi[t] * back + col_pi_c[t] * beta
    return z, x, y, beta.reshape(b, n)
