"""How sure the posteriors are: intervals under the knowledge base's parameter ranges.

Every prior, link and leak may be off within the range its source supports
(:mod:`twitchcds.knowledge.ranges`). :func:`probability_intervals` draws the case's parameters
within those ranges, runs exact inference for each draw and reports, for every condition, the
central interval of its posterior over the draws, and how often the top three stay the same.

Examples
--------
>>> from twitchcds import assess
>>> result = assess({"age": 30, "findings": [{"id": "fasciculations", "status": "present"},
...                                           {"id": "muscle_cramps", "status": "present"}]})
>>> u = result.uncertainty
>>> u.draws, u.level
(32, 0.9)
>>> low, high = u.interval(result.differential[0].id)
>>> low <= result.differential[0].probability <= high
True
>>> 0.0 <= u.top3_stability <= 1.0
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.compiled import CompiledModel
from twitchcds.errors import InvalidInputError
from twitchcds.inference import DEFAULT_BUDGET, NoisyOrNetwork, infer
from twitchcds.inference._engine import run_draws
from twitchcds.inference._many import fold_shift
from twitchcds.knowledge.ranges import EPS, log_odds

__all__ = ["DEFAULT_DRAWS", "LEVEL", "METHOD", "STABLE_SHARE", "Uncertainty",
           "probability_intervals"]

DEFAULT_DRAWS = 32
"""Number of parameter draws per assessment.

A median 1.7 ms more per assessment (x1.22 of an assessment with work-up) on the benchmark's
example and varied cases; the leading interval's width is within a median 0.019 of that from
256 draws (``benchmarks/bench_intervals.py``)."""

LEVEL = 0.9
"""Central share of the draws an interval covers (5th to 95th percentile)."""

STABLE_SHARE = 0.9
"""The top three count as stable when at least this share of draws keeps them in order."""

METHOD = (
    "exact inference over {draws} seeded draws of the case's priors, links and leaks, each "
    "uniform on the log-odds scale within its range (ranges.toml: a source's interval or range, "
    "else the knowledge base's default odds factor for expert estimates or for published "
    "numbers); "
    "interval = {lo:g}th-{hi:g}th percentile of the draws, widened to include the point "
    "estimate; the seed is derived from the evidence and the knowledge base, so the result is "
    "deterministic")

FloatArray = npt.NDArray[np.float64]


@frozen
class Uncertainty:
    """Intervals of every condition's posterior and the stability of the top three.

    Attributes
    ----------
    intervals : tuple of (str, float, float)
        ``(condition id, low, high)`` in knowledge-base order; ``low <= probability <= high``.
    draws : int
        Number of parameter draws.
    level : float
        Central share of the draws each interval covers.
    top3 : tuple of str
        The point estimate's three most probable conditions, in order.
    top3_stability : float
        Share of draws whose three most probable conditions are ``top3`` in the same order.
    method : str
        How the intervals were computed, in words.
    """

    intervals: tuple[tuple[str, float, float], ...]
    draws: int
    level: float
    top3: tuple[str, ...]
    top3_stability: float
    method: str

    @property
    def top3_stable(self) -> bool:
        """Whether at least :data:`STABLE_SHARE` of the draws keep the top three in order."""
        return self.top3_stability >= STABLE_SHARE

    def interval(self, condition: str) -> tuple[float, float]:
        """``(low, high)`` of one condition's posterior."""
        for ident, low, high in self.intervals:
            if ident == condition:
                return low, high
        raise KeyError(condition)


def _expit(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _seed(identity: str, priors: FloatArray, pos: Sequence[int], neg: Sequence[int],
          draws: int) -> int:
    """Return a seed from the evidence, priors and knowledge base (never stored or shown)."""
    text = json.dumps([identity, list(pos), list(neg),
                       [float(p) for p in priors], draws])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _top3(probs: FloatArray, rank: npt.NDArray[np.intp]) -> tuple[int, ...]:
    order = np.lexsort((rank, -probs))
    return tuple(int(i) for i in order[:3])


def _gather(ptr: npt.NDArray[np.intp], rows: Sequence[int]) -> tuple[npt.NDArray[np.intp],
                                                                     npt.NDArray[np.intp]]:
    """Entry positions of CSR ``rows`` and the sub-CSR pointer."""
    counts = np.array([ptr[r + 1] - ptr[r] for r in rows], dtype=np.intp)
    entries = (np.concatenate([np.arange(ptr[r], ptr[r + 1]) for r in rows])
               if rows else np.zeros(0, dtype=np.intp))
    return entries.astype(np.intp), np.concatenate(([0], np.cumsum(counts))).astype(np.intp)


def _draw_values(rng: np.random.Generator, draws: int, point: FloatArray, lo: FloatArray,
                 hi: FloatArray) -> FloatArray:
    """``(draws, n)`` values uniform on the log-odds scale in ``[lo, hi]`` (fixed if equal)."""
    u = rng.random((draws, point.size))
    fixed = lo >= hi
    llo, lhi = log_odds(lo), log_odds(hi)
    out = _expit(llo + u * (lhi - llo))
    return np.where(fixed, point, out)


@frozen(eq=False)
class _Observed:
    """The observed findings (the ``k`` present ones first, then the absent ones) and links."""

    k: int
    present: npt.NDArray[np.intp]
    """The present findings' indices, sorted (the first ``k`` observed findings)."""
    entries: npt.NDArray[np.intp]
    """CSR positions of their parent links."""
    ptr: npt.NDArray[np.intp]
    """Where each observed finding's entries start (CSR pointer over ``entries``)."""
    finding_of_entry: npt.NDArray[np.intp]
    """Which observed finding (0, 1, ...) each entry belongs to."""
    inh_entries: npt.NDArray[np.intp]
    inh_ptr: npt.NDArray[np.intp]
    """Their inhibitor links, CSR over the observed findings."""


def _batched_draws(net: NoisyOrNetwork, obs: _Observed, *, links: FloatArray,
                   leaks: FloatArray, priors: FloatArray) -> FloatArray | None:
    """Posteriors of every draw, solved together on the present findings' structure.

    The absent findings' drawn links and the present findings' exclusion evidence fold into
    each draw's priors; the present findings' drawn links and leaks go to
    ``inference._engine.run_draws``. ``None`` when that would not run exactly.
    """
    k, entries, finding_of_entry = obs.k, obs.entries, obs.finding_of_entry
    inh_entries, inh_ptr = obs.inh_entries, obs.inh_ptr
    draws, n = priors.shape
    cond = net.parent_index[entries]
    absent = finding_of_entry >= k
    shift = np.zeros((n, draws))
    with np.errstate(divide="ignore"):  # a link of 1 to an absent finding rules its cause out
        np.add.at(shift, cond[absent], np.log1p(-links[:, absent]).T)
    excluded = inh_entries[:inh_ptr[k]]
    np.add.at(shift, net.inhibit_index[excluded], net.inhibit_log_keep[excluded][:, None])
    touched = np.zeros(n, dtype=bool)
    touched[cond[absent]] = True
    touched[net.inhibit_index[excluded]] = True
    pi, pi_c, _ = fold_shift(priors, shift.T, np.broadcast_to(touched, priors.shape))
    return run_draws(net, obs.present, pi, pi_c, link_prob=links[:, ~absent],
                     leaks=leaks[:, :k], budget=DEFAULT_BUDGET)


def _engine_draws(net: NoisyOrNetwork, obs: _Observed, *, links: FloatArray,
                  leaks: FloatArray, priors: FloatArray) -> FloatArray:
    """Posteriors of every draw, one :func:`~twitchcds.inference.infer` on a sub-network each.

    When the draws cannot be solved together exactly (:func:`_batched_draws`), and as the
    reference it is tested against; the sub-network holds the observed findings only, with the
    draw's links and leaks.
    """
    k, entries, finding_of_entry = obs.k, obs.entries, obs.finding_of_entry
    inh_entries, inh_ptr = obs.inh_entries, obs.inh_ptr
    n_obs = leaks.shape[1]
    ptr = obs.ptr
    cond = net.parent_index[entries]
    by_c = np.lexsort((finding_of_entry, cond))
    child_ptr = np.concatenate(([0], np.cumsum(np.bincount(cond, minlength=net.n_conditions))))
    samples = np.empty(priors.shape)
    for d, prob in enumerate(links):
        with np.errstate(divide="ignore"):
            log_q = np.log1p(-prob)
        sub = NoisyOrNetwork(
            condition_ids=net.condition_ids, finding_ids=[f"f{j}" for j in range(n_obs)],
            leaks=leaks[d], parent_ptr=ptr, parent_index=cond, parent_prob=prob,
            parent_log_q=log_q, child_ptr=child_ptr, child_index=finding_of_entry[by_c],
            child_prob=prob[by_c], inhibit_ptr=inh_ptr,
            inhibit_index=net.inhibit_index[inh_entries],
            inhibit_prob=net.inhibit_prob[inh_entries])
        samples[d] = infer(sub, priors[d], list(range(k)), list(range(k, n_obs))).probabilities
    return samples


def probability_intervals(model: CompiledModel, priors: Sequence[float] | FloatArray,
                          setting: str, present: Iterable[str], absent: Iterable[str], *,
                          point: Sequence[float] | FloatArray, draws: int = DEFAULT_DRAWS,
                          level: float = LEVEL) -> Uncertainty:
    """Posterior intervals of every condition under the knowledge base's parameter ranges.

    Parameters
    ----------
    model : CompiledModel
        The knowledge base compiled (:func:`twitchcds.compiled.compile_model`); its ``bounds``
        hold the range of each number (the knowledge base's ``ranges``) as arrays.
    priors : sequence of float
        The case's priors (after risk factors), aligned with ``kb.conditions``; each is moved
        by its base prior's range on the log-odds scale.
    setting : str
        Care setting whose base-prior ranges apply.
    present, absent : iterable of str
        Finding ids observed present / absent.
    point : sequence of float
        The point-estimate posteriors (each interval is widened to include its point).
    draws : int, default :data:`DEFAULT_DRAWS`
        Number of parameter draws.
    level : float, default :data:`LEVEL`
        Central share of the draws each interval covers.

    Returns
    -------
    Uncertainty

    Raises
    ------
    InvalidInputError
        If ``draws`` is not a positive integer or ``level`` is not in (0, 1).

    Notes
    -----
    Only the observed findings' links and leaks enter the posterior (an unobserved finding is
    barren). The draws share the present findings, hence one structure: they are solved
    together, exactly, each with its own link probabilities and leaks
    (``inference._engine.run_draws``); only when that would not fit the exact
    budget does each draw run :func:`twitchcds.inference.infer` on the sub-network of the
    observed findings. Inhibitor strengths and risk-factor odds ratios keep their
    point values. Draws are independent across parameters; the seed is a hash of the evidence,
    priors and knowledge base, so the same case gives the same intervals. With every range of
    zero width no draw is made and every interval is its point.

    Examples
    --------
    >>> from twitchcds import load_knowledge_base
    >>> from twitchcds.compiled import compile_model
    >>> kb = load_knowledge_base()
    >>> priors = [c.prior["primary-care"] for c in kb.conditions]
    >>> point = kb.posterior(["low_potassium"])
    >>> u = probability_intervals(compile_model(kb), priors, "primary-care",
    ...                           ["low_potassium"], [], point=list(point.values()), draws=16)
    >>> u.top3[0], u.interval("hypokalemia")[0] > 0.5
    ('hypokalemia', True)
    """
    if type(draws) is not int or draws < 1:
        raise InvalidInputError("draws must be a positive integer", path="$.draws", value=draws)
    if not (isinstance(level, float | int) and 0.0 < level < 1.0):
        raise InvalidInputError("level must be in (0, 1)", path="$.level", value=level)
    net = model.network
    pri = np.asarray(priors, dtype=np.float64)
    pt = np.asarray(point, dtype=np.float64)
    position = model.finding_position
    pos = sorted({position[f] for f in present})
    neg = sorted({position[f] for f in absent})
    obs = pos + neg
    rank = np.argsort(np.argsort(np.array(net.condition_ids)))
    top3 = _top3(pt, rank)
    bounds = model.bounds
    link_lo, link_hi, leak_lo, leak_hi = (bounds.link_low, bounds.link_high, bounds.leak_low,
                                          bounds.leak_high)
    shift_lo, shift_hi = bounds.prior_shifts.get(
        setting, (np.zeros(pri.size), np.zeros(pri.size)))
    entries, ptr = _gather(net.parent_ptr, obs)
    inh_entries, inh_ptr = _gather(net.inhibit_ptr, obs)
    leak_pt = net.leaks[obs]
    link_pt = net.parent_prob[entries]
    pri_logit = log_odds(pri)
    varies = (np.any(link_lo[entries] < link_hi[entries])
              or np.any(leak_lo[obs] < leak_hi[obs]) or np.any(shift_lo < shift_hi))
    lo_pct, hi_pct = 50.0 * (1.0 - level), 50.0 * (1.0 + level)
    method = METHOD.format(draws=draws, lo=lo_pct, hi=hi_pct)
    if not varies:
        rows = tuple((c, float(p), float(p)) for c, p in zip(net.condition_ids, pt, strict=True))
        return Uncertainty(rows, draws, level, tuple(net.condition_ids[i] for i in top3), 1.0,
                           method)
    rng = np.random.default_rng(_seed(bounds.identity, pri, pos, neg, draws))
    links = _draw_values(rng, draws, link_pt, link_lo[entries], link_hi[entries])
    leaks = _draw_values(rng, draws, leak_pt, leak_lo[obs], leak_hi[obs])
    u = rng.random((draws, pri.size))
    prior_draws = np.where(shift_lo < shift_hi,
                           _expit(pri_logit + shift_lo + u * (shift_hi - shift_lo)), pri)
    prior_draws = np.clip(prior_draws, EPS, 1.0 - EPS)
    finding_of_entry = np.repeat(np.arange(len(obs)), np.diff(ptr))
    observed = _Observed(len(pos), np.array(pos, dtype=np.intp), entries, ptr, finding_of_entry,
                         inh_entries, inh_ptr)
    args = {"links": links, "leaks": leaks, "priors": prior_draws}
    samples = _batched_draws(net, observed, **args)
    if samples is None:
        samples = _engine_draws(net, observed, **args)
    same = sum(_top3(row, rank) == top3 for row in samples)
    low, high = np.percentile(samples, [lo_pct, hi_pct], axis=0)
    low, high = np.minimum(low, pt), np.maximum(high, pt)
    rows = tuple((c, float(a), float(b))
                 for c, a, b in zip(net.condition_ids, low, high, strict=True))
    return Uncertainty(rows, draws, level, tuple(net.condition_ids[i] for i in top3),
                       same / draws, method)
