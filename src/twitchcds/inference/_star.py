"""Closed form for "stars": findings that share one condition, the commonest component.

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

:func:`solve_star` applies it to one component of a :class:`._structure.Structure`.
:func:`solve_stars` applies it to every star of a present set at once, straight from the
links, when no present finding has two shared parents (then every component is a star): the
commonest case with few present findings, where building a structure would cost more than
solving it.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from twitchcds.inference._exact import MAX_WIDTH, STEP_OVERHEAD, impossible
from twitchcds.inference._network import NoisyOrNetwork
from twitchcds.inference._structure import ComponentStructure, Links

__all__ = ["solve_star", "solve_stars"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


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


def solve_stars(network: NoisyOrNetwork, pi: FloatArray, pi_c: FloatArray, links: Links,
                budget: float) -> tuple[FloatArray, float, float] | None:
    """Posteriors, log evidence and cost of one row whose components are all stars, or ``None``.

    :func:`solve_star` for every star at once, on 1-d arrays, with the findings that have no
    shared parent (whose evidence is their own ``1 - rho``) in the same pass. ``pi`` and
    ``pi_c`` are the folded priors, ``links`` those of the present findings. Returns ``None``
    (the caller then builds the structure, which also reports impossible evidence) when some
    present finding has two shared parents, when the stars' cost (the estimate their
    components would have, see :func:`._structure.build_structure`) exceeds ``budget`` or a
    star is wider than :data:`._exact.MAX_WIDTH`, or when the evidence has probability zero.
    """
    cond, row = links.cond, links.row
    log_ev = 0.0
    if links.orphans.size:
        orphan_leaks = network.leaks[links.orphans]
        if not orphan_leaks.all():
            return None
        log_ev = float(np.log(orphan_leaks).sum())
    degree = np.bincount(cond, minlength=network.n_conditions)
    shared = degree[cond] >= 2
    star_links = shared.nonzero()[0]
    star_row = row[star_links]  # the finding of each star link, in order (links are by finding)
    if len(set(star_row.tolist())) < star_row.size:
        return None  # a finding with two shared parents: stars join into larger components
    stars = (degree >= 2).nonzero()[0]
    children = degree[stars].tolist()
    cost = sum(STEP_OVERHEAD + 2.0 ** c * (c + 2) for c in children)
    if cost > budget or max(children, default=0) > MAX_WIDTH:
        return None
    priv = (~shared).nonzero()[0]
    priv_cond, priv_row = cond[priv], row[priv]
    p_l = pi[priv_cond]
    log_rho, priv_log_rho = _fold_private(network, links, priv, p_l, pi_c[priv_cond])
    probs = pi.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        if stars.size:
            log_z, post, priv_post = _star_forms(
                pi[stars], pi_c[stars], log_rho, star_of=stars.searchsorted(cond[star_links]),
                star_row=star_row, star_log_q=links.log_q[star_links], priv_row=priv_row,
                priv_log_rho=priv_log_rho)
            probs[cond[star_links]] = post
        else:  # no star: each finding's evidence is its own 1 - rho
            log_z = math.fsum(np.log(-np.expm1(log_rho)).tolist())
            priv_post = np.expm1(priv_log_rho) / np.expm1(log_rho[priv_row])
    log_ev += log_z
    if not np.isfinite(log_ev):
        return None
    # every term is non-negative and the star weights are at most 1, but rounding can step
    # a private parent's posterior just past 1
    probs[priv_cond] = np.minimum(p_l * priv_post, 1.0)
    return probs, log_ev, cost


def _star_forms(pi: FloatArray, pi_c: FloatArray, log_rho: FloatArray, *, star_of: IntArray,
                star_row: IntArray, star_log_q: FloatArray, priv_row: IntArray,
                priv_log_rho: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """Log evidence, each star link's ``P(star | e)`` and ``P(r | e) / pi'_r`` per private link.

    Star link ``i`` joins star ``star_of[i]`` (folded prior ``pi``, ``pi_c``) to finding
    ``star_row[i]`` with ``log(1 - p) = star_log_q[i]``; every finding has at most one. Private
    link ``j`` is of finding ``priv_row[j]``, whose ``log rho`` becomes ``priv_log_rho[j]`` with
    the parent present. Run under ``np.errstate`` (zero probabilities give ``-inf`` logs).
    """
    k = log_rho.size
    # per finding: log q of its star link (0 without one), so "on with the star present"
    log_q = np.zeros(k)
    log_q[star_row] = star_log_q
    lone = np.ones(k, dtype=bool)  # findings of no star: their evidence is their own 1 - rho
    lone[star_row] = False
    on_absent = -np.expm1(log_rho)
    on_present = -np.expm1(log_rho + log_q)
    log_absent = np.log(on_absent)
    l0 = np.log(pi_c) + np.bincount(star_of, weights=log_absent[star_row], minlength=pi.size)
    l1 = np.log(pi) + np.bincount(star_of, weights=np.log(on_present[star_row]),
                                  minlength=pi.size)
    log_z = np.logaddexp(l0, l1)
    # P(its star absent | e) and P(present | e) per finding ((1, 0) for a lone finding)
    w0, w1 = lone.astype(np.float64), np.zeros(k)
    w0[star_row] = np.exp(l0 - log_z)[star_of]
    w1[star_row] = post = np.exp(l1 - log_z)[star_of]
    # weight over P(finding on) in each branch; a branch of probability zero (w = 0)
    # contributes nothing, whatever its 0/0 ratio
    r0 = np.divide(w0, on_absent, out=np.zeros(k), where=w0 > 0.0)
    r1 = np.divide(w1, on_present, out=np.zeros(k), where=w1 > 0.0)
    g = priv_row
    priv_post = r0[g] * -np.expm1(priv_log_rho) + r1[g] * -np.expm1(priv_log_rho + log_q[g])
    return (math.fsum(log_z.tolist()) + math.fsum(log_absent[lone].tolist()), post,
            priv_post)


def _fold_private(network: NoisyOrNetwork, links: Links, priv: IntArray, p_l: FloatArray,
                  p_l_c: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``log rho`` of every linked finding and ``priv_log_rho`` of each private link ``priv``.

    The private parents (folded priors ``p_l``, ``p_l_c = 1 - p_l``) are summed out into their
    finding's "still off" probability, as :func:`._structure.structure_values` does.
    """
    prob = links.prob[priv]
    pip = p_l * prob
    log_keep = np.log1p(-pip)
    big = pip >= 0.5
    if big.any():  # keep the digits of 1 - pi' p when pi' and p are both near 1
        log_keep = np.where(big, np.log(p_l_c + p_l * (1.0 - prob)), log_keep)
    log_rho = network.log_off_leak[links.linked] + np.bincount(
        links.row[priv], weights=log_keep, minlength=links.linked.size)
    return log_rho, log_rho[links.row[priv]] - log_keep + links.log_q[priv]
