"""Prior probabilities for a case: the care setting's base priors adjusted by risk factors.

The odds-to-probability rule: for a condition with base prior ``p`` in the setting and active risk
factors with odds ratios ``OR_1 .. OR_m`` for it,

    odds = p / (1 - p) * OR_1 * ... * OR_m,        prior = odds / (1 + odds).

This treats risk factors as independent and multiplicative on the odds scale (a log-linear model,
as in logistic regression), which is how the odds ratios in the cited studies are reported. It
overstates risk when correlated factors are counted twice, so the knowledge base keeps factors
that measure the same thing (e.g. overlapping age bands) mutually exclusive.

Examples
--------
>>> from twitchcds import load_knowledge_base
>>> from twitchcds.compiled import compile_model
>>> from twitchcds.priors import case_priors
>>> model = compile_model(load_knowledge_base())
>>> base = case_priors(model, "primary-care", ())
>>> base.adjusted == base.base
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from attrs import frozen

from twitchcds.compiled import CompiledModel
from twitchcds.typing import SETTINGS

_EPS = 1e-12

__all__ = ["Priors", "RiskAdjustment", "adjust_odds", "case_priors"]


@frozen
class RiskAdjustment:
    """One odds ratio applied to one condition's prior, and why."""

    risk_factor: str
    condition: str
    odds_ratio: float
    references: tuple[str, ...]


@frozen
class Priors:
    """Base and adjusted priors aligned with ``kb.conditions``."""

    setting: str
    base: tuple[float, ...]
    adjusted: tuple[float, ...]
    adjustments: tuple[RiskAdjustment, ...]


def adjust_odds(probability: float, odds_ratio: float) -> float:
    """Multiply the odds of ``probability`` by ``odds_ratio`` and return a probability.

    Examples
    --------
    >>> round(adjust_odds(0.5, 3.0), 6)
    0.75
    >>> adjust_odds(0.2, 1.0) == 0.2
    True
    """
    if odds_ratio == 1.0:
        return probability
    return _shift_log_odds(probability, math.log(odds_ratio))


def _shift_log_odds(probability: float, log_ratio: float) -> float:
    """Add ``log_ratio`` to the log odds of ``probability``; the result stays in (0, 1).

    Working with summed log odds ratios keeps products of extreme ratios (1e-200 * 1e-200) from
    underflowing to an odds ratio of 0, and the logistic below never overflows ``exp``.
    """
    if log_ratio == 0.0:
        return probability
    log_odds = math.log(probability) - math.log1p(-probability) + log_ratio
    if log_odds >= 0.0:
        result = 1.0 / (1.0 + math.exp(-log_odds))
    else:
        result = math.exp(log_odds) / (1.0 + math.exp(log_odds))
    # Keep priors strictly inside (0, 1) so no evidence can become impossible by rounding.
    return min(max(result, _EPS), 1.0 - _EPS)


def case_priors(model: CompiledModel, setting: str | None,
                risk_factors: Iterable[str]) -> Priors:
    """Return the priors of every condition for a setting and a set of active risk factors.

    Parameters
    ----------
    model : CompiledModel
        The compiled knowledge base (:func:`twitchcds.compiled.compile_model`).
    setting : str or None
        ``primary-care`` (default when ``None``) or ``neuromuscular-clinic``. A condition without a
        prior for the setting uses its ``primary-care`` prior.
    risk_factors : iterable of str
        Ids of active risk factors (from :func:`twitchcds.evidence.derive_evidence`).
    """
    chosen = setting or SETTINGS[0]
    base = model.base_priors(chosen)
    log_ratio: dict[int, float] = {}
    adjustments = []
    for rf_id in risk_factors:
        for at in model.risk_effects[rf_id]:
            log_ratio[at.position] = log_ratio.get(at.position, 0.0) + at.log_odds_ratio
            adjustments.append(RiskAdjustment(rf_id, at.effect.condition, at.effect.odds_ratio,
                                              at.effect.references))
    adjusted = base
    if log_ratio:
        shifted = list(base)
        for i, ratio in log_ratio.items():
            shifted[i] = _shift_log_odds(base[i], ratio)
        adjusted = tuple(shifted)
    return Priors(chosen, base, adjusted, tuple(adjustments))
