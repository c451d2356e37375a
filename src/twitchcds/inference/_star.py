"""Closed form for a component with one shared condition (a "star"), the commonest component.

With few present findings most components are two or three findings sharing one parent ``c``
(the rest of their parents are private and already folded into ``rho``). Conditioning on ``c``
makes the findings independent, so with ``A0 = prod_f (1 - rho_f)`` and
``A1 = prod_f (1 - rho_f q_f)`` (``q_f = 1 - p_cf``)::

    P(e) = (1 - pi_c) A0 + pi_c A1,        P(c | e) = pi_c A1 / P(e)

and a private parent ``r`` of finding ``g`` (``rho_g`` becomes ``rho_g^r`` when ``r`` is
present) has::

    P(r | e) = pi_r [P(c = 0 | e) (1 - rho_g^r) / (1 - rho_g)
                     + P(c = 1 | e) (1 - rho_g^r q_g) / (1 - rho_g q_g)]

Every term is non-negative (no cancellation) and products are summed in log space, so this
is exact like the frontier sum of :mod:`._exact` (tested equal to it), in a handful of numpy
calls instead of a forward and a backward pass.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twitchcds.inference._exact import impossible
from twitchcds.inference._structure import ComponentStructure

__all__ = ["solve_star"]

FloatArray = npt.NDArray[np.float64]


def solve_star(component: ComponentStructure, shared_pi: FloatArray, shared_pi_c: FloatArray,
               log_rho: FloatArray, *, priv_pi: FloatArray, priv_log_rho: FloatArray,
               ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`._exact.solve_batch` for a component whose only shared condition links all of it.

    Same arguments and results (leading batch axis ``B``; ``shared_pi`` has one column).

    Raises
    ------
    InvalidInputError
        If the component's evidence has probability zero (in any row).

    Examples
    --------
    One condition (prior 0.1) shared by two findings with no leak: ``P(e) = 0.1 * 0.5 * 0.5``.

    >>> from types import SimpleNamespace
    >>> comp = SimpleNamespace(findings=np.array([0, 1]), children=(np.array([0, 1]),),
    ...                        child_p=(np.array([0.5, 0.5]),), priv_finding=np.zeros(0, int))
    >>> log_z, post, _ = solve_star(comp, np.array([[0.1]]), np.array([[0.9]]),
    ...                             np.zeros((1, 2)), priv_pi=np.zeros((1, 0)),
    ...                             priv_log_rho=np.zeros((1, 0)))
    >>> round(float(np.exp(log_z[0])), 6), float(post[0, 0])
    (0.025, 1.0)
    """
    order = component.children[0]
    with np.errstate(divide="ignore"):
        log_q = np.zeros(log_rho.shape[1])
        log_q[order] = np.log1p(-component.child_p[0])  # -inf where p = 1
        on_absent = -np.expm1(log_rho)  # 1 - rho_f: finding on with c absent
        on_present = -np.expm1(log_rho + log_q)  # 1 - rho_f q_f: with c present
        l0 = np.log(shared_pi_c[:, 0]) + np.log(on_absent).sum(axis=1)
        l1 = np.log(shared_pi[:, 0]) + np.log(on_present).sum(axis=1)
    log_z = np.logaddexp(l0, l1)
    if not np.isfinite(log_z).all():
        raise impossible(component)
    w0, w1 = np.exp(l0 - log_z), np.exp(l1 - log_z)
    g = component.priv_finding
    if not g.size:
        return log_z, w1[:, None], np.zeros((log_rho.shape[0], 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        # a zero-probability branch (w = 0) contributes nothing, whatever its 0/0 ratio
        r0 = np.where(w0[:, None] > 0.0, -np.expm1(priv_log_rho) / on_absent[:, g], 0.0)
        r1 = np.where(w1[:, None] > 0.0,
                      -np.expm1(priv_log_rho + log_q[g]) / on_present[:, g], 0.0)
    return log_z, w1[:, None], priv_pi * (w0[:, None] * r0 + w1[:, None] * r1)
