"""Approximate inference in one component: blocked, Rao-Blackwellised Gibbs sampling.

Used only when the exact frontier sum would be too expensive (see :func:`infer`). Absent findings
are already folded into the priors and private parents collapsed (both exact), so the chain runs
over the component's shared conditions only; each step resamples a whole colour class of
conditions that share no positive finding (they are conditionally independent), vectorised over
``n_chains`` parallel chains. Estimates are Rao-Blackwellised: a condition's posterior is the mean
over sweeps and chains of its full conditional ``P(c = 1 | other conditions, evidence)`` (private
parents likewise, given the shared conditions). ``log P(evidence)`` is estimated by importance
sampling from independent Bernoullis fitted to those posteriors. The random generator is seeded,
so results are deterministic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.inference._exact import impossible
from twitchcds.inference._reduce import Component

__all__ = ["SamplerSettings", "solve_approximate"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_LOG_Q_FLOOR = -700.0  # log(1 - p) for p = 1, kept finite so that 0 * log(1 - p) stays 0
_LLR_CAP = 1e3  # a finding that only this condition can still explain forces it on


@frozen
class SamplerSettings:
    """Size of the sampler: chains run in parallel, sweeps discarded and kept, IS draws."""

    n_chains: int = 128
    burn_in: int = 30
    n_sweeps: int = 200
    n_importance: int = 4096
    seed: int = 20240601


def _colour_classes(children: tuple[IntArray, ...], k: int) -> list[IntArray]:
    """Greedy colouring: conditions sharing a positive finding never share a class."""
    parents: list[list[int]] = [[] for _ in range(k)]
    for j, ch in enumerate(children):
        for f in ch.tolist():
            parents[f].append(j)
    colour: list[int] = []
    for j, ch in enumerate(children):
        taken = {colour[i] for f in ch.tolist() for i in parents[f] if i < j}
        colour.append(next(c for c in range(len(taken) + 1) if c not in taken))
    by_colour = np.asarray(colour, dtype=np.intp)
    return [np.flatnonzero(by_colour == c) for c in range(int(by_colour.max()) + 1)]


def solve_approximate(component: Component, settings: SamplerSettings,
                      ) -> tuple[float, FloatArray, FloatArray]:
    """Estimated log evidence and posteriors (shared, then private parents) of one component.

    Raises
    ------
    InvalidInputError
        If a finding has no possible cause (the evidence has probability zero).
    """
    rng = np.random.default_rng(settings.seed)
    m, k, n = len(component.children), component.findings.size, settings.n_chains
    log_rho = component.log_rho
    log_q = np.zeros((m, k))
    for j, (ch, p) in enumerate(zip(component.children, component.child_p, strict=True)):
        with np.errstate(divide="ignore"):
            log_q[j, ch] = np.maximum(np.log1p(-p), _LOG_Q_FLOOR)
    reachable = (log_rho < 0) | ((log_q < 0) & (component.shared_pi > 0)[:, None]).any(axis=0)
    if not np.all(reachable):
        raise impossible(component)
    pi = component.shared_pi
    with np.errstate(divide="ignore"):
        logit_pi = np.maximum(np.log(pi) - np.log(component.shared_pi_c), -1e4)
    possible = pi > 0

    blocks = []
    for cls in _colour_classes(component.children, k):
        rows = np.concatenate([np.full(component.children[j].size, b, dtype=np.intp)
                               for b, j in enumerate(cls.tolist())])
        cols = np.concatenate([component.children[j] for j in cls.tolist()])
        member = np.zeros((rows.size, cls.size))
        member[np.arange(rows.size), rows] = 1.0
        blocks.append((cls, rows, cols, log_q[cls[rows], cols], member))

    state = rng.random((n, m)) < pi
    log_off = log_rho + state @ log_q
    sums = np.zeros(m)
    pv, pv_shift = component.priv_finding, component.priv_log_rho - log_rho[component.priv_finding]
    priv_sums = np.zeros(pv.size)
    for sweep in range(settings.burn_in + settings.n_sweeps):
        keep = sweep >= settings.burn_in
        for cls, rows, cols, lq, member in blocks:
            cur = log_off[:, cols] - state[:, cls[rows]] * lq
            with np.errstate(divide="ignore"):
                llr = np.minimum(np.log(-np.expm1(cur + lq)) - np.log(-np.expm1(cur)), _LLR_CAP)
            with np.errstate(over="ignore"):
                prob = possible[cls] / (1.0 + np.exp(-(logit_pi[cls] + llr @ member)))
            new = rng.random(prob.shape) < prob
            log_off[:, cols] = cur + new[:, rows] * lq
            state[:, cls] = new
            if keep:
                sums[cls] += prob.sum(axis=0)
        if keep and pv.size:
            off = log_off[:, pv]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = -np.expm1(off + pv_shift) / -np.expm1(off)
            priv_sums += np.nan_to_num(ratio, nan=1.0, posinf=1.0).sum(axis=0)
    count = settings.n_sweeps * n
    post = sums / count
    post_priv = component.priv_pi * priv_sums / count
    return _log_evidence(component, log_q, post, settings, rng), post, post_priv


def _log_evidence(component: Component, log_q: FloatArray, post: FloatArray,
                  settings: SamplerSettings, rng: np.random.Generator) -> float:
    """Importance-sampling estimate of the component's ``log P(evidence)``."""
    pi, pi_c = component.shared_pi, component.shared_pi_c
    proposal = np.clip(0.9 * post + 0.1 * pi, 1e-9, 1.0 - 1e-9)
    draws = rng.random((settings.n_importance, pi.size)) < proposal
    with np.errstate(divide="ignore"):
        log_ratio_on = np.log(pi) - np.log(proposal)
        log_ratio_off = np.log(pi_c) - np.log1p(-proposal)
        log_w = (np.where(draws, log_ratio_on, log_ratio_off).sum(axis=1)
                 + np.log(-np.expm1(component.log_rho + draws @ log_q)).sum(axis=1))
    top = float(log_w.max())
    return top + float(np.log(np.mean(np.exp(log_w - top))))
