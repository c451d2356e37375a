"""How uncertain each knowledge-base number is: explicit ranges and the default rules.

Every prior, link and leak is a point estimate. ``ranges.toml`` (optional) gives, beside the
point, the range its source supports: a confidence interval (reported, or computed from the
counts a study reports), a reported range, or an expert range with its reasoning. A number
without an explicit range gets one from a default rule on the odds scale, chosen by the kind of
its references: ``expert`` when every reference is an expert estimate, ``published`` otherwise.
:mod:`twitchcds.intervals` turns these ranges into an interval for each posterior.

Examples
--------
>>> from twitchcds import load_knowledge_base
>>> kb = load_knowledge_base()
>>> lo, hi = link_range(kb, "cramp_fasciculation_syndrome", "paresthesia")
>>> lo < kb.link_index["cramp_fasciculation_syndrome", "paresthesia"].probability < hi
True
>>> kb.ranges.expert.odds_low, kb.ranges.expert.odds_high
(0.5, 2.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from attrs import field, frozen

from twitchcds.errors import Problem

if TYPE_CHECKING:
    from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["DEFAULT_RANGES", "EPS", "ParameterBounds", "ParameterRange", "ParameterRanges",
           "RangeRule", "check_ranges", "leak_range", "link_range", "log_odds", "parameter_bounds",
           "parse_ranges", "prior_range"]

RangeKind = Literal["confidence-interval", "reported-range", "expert-range"]
_KINDS = ("confidence-interval", "reported-range", "expert-range")


def _tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _freeze(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


@frozen
class ParameterRange:
    """The range a source supports for one number: ``low <= value <= high``, in [0, 1]."""

    low: float
    high: float
    kind: RangeKind
    references: tuple[str, ...] = field(converter=_tuple)
    note: str = ""


@frozen
class RangeRule:
    """A default range: the point's odds times a factor in ``[odds_low, odds_high]``."""

    odds_low: float
    odds_high: float
    reason: str = ""

    def apply(self, value: float) -> tuple[float, float]:
        """Return the ``(low, high)`` probabilities of ``value`` under this rule.

        Examples
        --------
        >>> RangeRule(0.5, 2.0).apply(0.5)
        (0.3333333333333333, 0.6666666666666666)
        >>> RangeRule(0.5, 2.0).apply(1.0), RangeRule(0.5, 2.0).apply(0.0)
        ((1.0, 1.0), (0.0, 0.0))
        """
        if value <= 0.0 or value >= 1.0:
            return value, value
        odds = value / (1.0 - value)
        lo, hi = odds * self.odds_low, odds * self.odds_high
        return lo / (1.0 + lo), hi / (1.0 + hi)


@frozen
class ParameterRanges:
    """Explicit ranges by parameter and the two default rules (see the module docstring)."""

    expert: RangeRule
    published: RangeRule
    priors: Mapping[tuple[str, str], ParameterRange] = field(factory=dict, converter=_freeze)
    """By ``(condition, setting)``."""
    links: Mapping[tuple[str, str], ParameterRange] = field(factory=dict, converter=_freeze)
    """By ``(condition, finding)``."""
    leaks: Mapping[str, ParameterRange] = field(factory=dict, converter=_freeze)
    """By finding."""


DEFAULT_RANGES = ParameterRanges(
    expert=RangeRule(0.5, 2.0, "an elicited probability is uncertain by about a factor of two "
                               "in odds either way"),
    published=RangeRule(2.0 / 3.0, 1.5, "a published proportion from a cohort of 50-100 has a "
                                       "95% interval of about +-0.1 around 0.5, i.e. odds x "
                                       "[2/3, 3/2]"),
)
"""The rules used when a knowledge base has no ``ranges.toml``."""


def _rule_for(kb: KnowledgeBase, references: Iterable[str]) -> RangeRule:
    refs = [kb.reference_index.get(r) for r in references]
    if refs and all(r is not None and r.expert_estimate for r in refs):
        return kb.ranges.expert
    return kb.ranges.published


def prior_range(kb: KnowledgeBase, condition: str, setting: str) -> tuple[float, float]:
    """``(low, high)`` of a condition's base prior in ``setting`` (explicit, else by rule)."""
    explicit = kb.ranges.priors.get((condition, setting))
    if explicit is not None:
        return explicit.low, explicit.high
    item = kb.condition_index[condition]
    return _rule_for(kb, item.prior_references).apply(item.prior[setting])


def link_range(kb: KnowledgeBase, condition: str, finding: str) -> tuple[float, float]:
    """``(low, high)`` of the link ``condition -> finding`` (explicit, else by rule)."""
    explicit = kb.ranges.links.get((condition, finding))
    if explicit is not None:
        return explicit.low, explicit.high
    link = kb.link_index[condition, finding]
    return _rule_for(kb, link.references).apply(link.probability)


def leak_range(kb: KnowledgeBase, finding: str) -> tuple[float, float]:
    """``(low, high)`` of a finding's leak (explicit, else by rule)."""
    explicit = kb.ranges.leaks.get(finding)
    if explicit is not None:
        return explicit.low, explicit.high
    item = kb.finding_index[finding]
    return _rule_for(kb, item.leak_references).apply(item.leak)


_RANGE_KEYS = frozenset({"low", "high", "kind", "references", "note"})


def _one_range(body: Any, where: str, problems: list[Problem]) -> ParameterRange | None:
    if not isinstance(body, dict):
        problems.append(Problem(where, "must be a table {low, high, kind, references, note}",
                                body))
        return None
    extra = sorted(set(body) - _RANGE_KEYS)
    if extra:
        problems.append(Problem(f"{where}.{extra[0]}", "unknown key", extra[0]))
    low, high, kind = body.get("low"), body.get("high"), body.get("kind")
    refs, note = body.get("references", []), body.get("note", "")
    bad = len(problems)
    for name, value in (("low", low), ("high", high)):
        if type(value) is not float and type(value) is not int:
            problems.append(Problem(f"{where}.{name}", "must be a number", value))
    if kind not in _KINDS:
        problems.append(Problem(f"{where}.kind", f"must be one of {', '.join(_KINDS)}", kind))
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        problems.append(Problem(f"{where}.references", "must be a non-empty list of "
                                "reference ids", refs))
    if not isinstance(note, str):
        problems.append(Problem(f"{where}.note", "must be a string", note))
    if len(problems) > bad:
        return None
    return ParameterRange(float(low), float(high), kind, refs, note)  # type: ignore[arg-type]


def _rule(body: Any, where: str, default: RangeRule, problems: list[Problem]) -> RangeRule:
    if body is None:
        return default
    factors = body.get("odds_factor") if isinstance(body, dict) else None
    reason = body.get("reason", "") if isinstance(body, dict) else ""
    if (not isinstance(factors, list) or len(factors) != 2
            or not all(type(x) in (int, float) for x in factors)
            or not 0.0 < factors[0] <= 1.0 <= factors[1] or not isinstance(reason, str)):
        problems.append(Problem(f"{where}.odds_factor", "must be [low, high] with "
                                "0 < low <= 1 <= high, with a reason string", factors))
        return default
    return RangeRule(float(factors[0]), float(factors[1]), reason)


def _nested(data: Any, table: str, problems: list[Problem],
            ) -> dict[tuple[str, str], ParameterRange]:
    out: dict[tuple[str, str], ParameterRange] = {}
    if not isinstance(data, dict):
        problems.append(Problem(f"ranges.toml:{table}", "must be a table", data))
        return out
    for outer, inner in data.items():
        if not isinstance(inner, dict):
            problems.append(Problem(f"ranges.toml:{table}.{outer}", "must be a table", inner))
            continue
        for key, body in inner.items():
            found = _one_range(body, f"ranges.toml:{table}.{outer}.{key}", problems)
            if found is not None:
                out[outer, key] = found
    return out


def parse_ranges(data: Mapping[str, Any] | None, problems: list[Problem]) -> ParameterRanges:
    """Read the parsed ``ranges.toml`` (``None`` when absent), appending what is wrong.

    Examples
    --------
    >>> problems = []
    >>> r = parse_ranges({"links": {"a": {"x": {"low": 0.1, "high": 0.4,
    ...     "kind": "reported-range", "references": ["r"]}}}}, problems)
    >>> r.links["a", "x"].high, problems
    (0.4, [])
    >>> _ = parse_ranges({"leaks": {"x": {"low": "0.1"}}}, problems)
    >>> str(problems[0])
    "ranges.toml:leaks.x.low: must be a number (got '0.1')"
    """
    if data is None:
        return DEFAULT_RANGES
    extra = sorted(set(data) - {"rules", "priors", "links", "leaks"})
    for key in extra:
        problems.append(Problem(f"ranges.toml:{key}", "unknown table", key))
    rules = data.get("rules", {})
    if not isinstance(rules, dict):
        problems.append(Problem("ranges.toml:rules", "must be a table", rules))
        rules = {}
    leaks: dict[str, ParameterRange] = {}
    raw_leaks = data.get("leaks", {})
    if isinstance(raw_leaks, dict):
        for finding, body in raw_leaks.items():
            found = _one_range(body, f"ranges.toml:leaks.{finding}", problems)
            if found is not None:
                leaks[finding] = found
    else:
        problems.append(Problem("ranges.toml:leaks", "must be a table", raw_leaks))
    return ParameterRanges(
        expert=_rule(rules.get("expert"), "ranges.toml:rules.expert", DEFAULT_RANGES.expert,
                     problems),
        published=_rule(rules.get("published"), "ranges.toml:rules.published",
                        DEFAULT_RANGES.published, problems),
        priors=_nested(data.get("priors", {}), "priors", problems),
        links=_nested(data.get("links", {}), "links", problems), leaks=leaks)


def _check(where: str, value: float, item: ParameterRange, kb: KnowledgeBase,
           problems: list[Problem]) -> None:
    if not 0.0 <= item.low <= value <= item.high <= 1.0:
        problems.append(Problem(where, f"range must satisfy 0 <= low <= value ({value:g}) <= "
                                "high <= 1", (item.low, item.high)))
    for ref in item.references:
        if ref not in kb.reference_index:
            problems.append(Problem(f"{where}.references", "unknown reference", ref))


def check_ranges(kb: KnowledgeBase) -> list[Problem]:
    """Problems with ``kb.ranges``: unknown ids or references, a point outside its range.

    Examples
    --------
    >>> from twitchcds import load_knowledge_base
    >>> check_ranges(load_knowledge_base())
    []
    """
    problems: list[Problem] = []
    for (condition, setting), item in kb.ranges.priors.items():
        where = f"ranges.toml:priors.{condition}.{setting}"
        cond = kb.condition_index.get(condition)
        if cond is None or setting not in cond.prior:
            problems.append(Problem(where, "unknown condition or setting", condition))
        else:
            _check(where, cond.prior[setting], item, kb, problems)
    for (condition, finding), item in kb.ranges.links.items():
        where = f"ranges.toml:links.{condition}.{finding}"
        link = kb.link_index.get((condition, finding))
        if link is None:
            problems.append(Problem(where, "no such link", f"{condition} -> {finding}"))
        else:
            _check(where, link.probability, item, kb, problems)
    for finding, item in kb.ranges.leaks.items():
        where = f"ranges.toml:leaks.{finding}"
        found = kb.finding_index.get(finding)
        if found is None:
            problems.append(Problem(where, "unknown finding", finding))
        else:
            _check(where, found.leak, item, kb, problems)
    return problems


FloatArray = npt.NDArray[np.float64]
EPS = 1e-9
"""How far from 0 and 1 a probability is clipped before taking its log-odds."""


def log_odds(p: FloatArray) -> FloatArray:
    """Log-odds of ``p``, clipped to ``[EPS, 1 - EPS]`` (shared with the parameter draws)."""
    q = np.clip(p, EPS, 1.0 - EPS)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def _link_bounds(kb: KnowledgeBase) -> tuple[FloatArray, FloatArray]:
    """Range of every link, aligned with ``kb.network``'s parent arrays (cached per KB)."""
    net = kb.network
    lo, hi = np.empty(net.n_links), np.empty(net.n_links)
    for f, finding in enumerate(net.finding_ids):
        start = int(net.parent_ptr[f])
        for k, c in enumerate(net.parent_index[start:net.parent_ptr[f + 1]]):
            lo[start + k], hi[start + k] = link_range(kb, net.condition_ids[c], finding)
    return lo, hi


def _leak_bounds(kb: KnowledgeBase) -> tuple[FloatArray, FloatArray]:
    pairs = [leak_range(kb, f) for f in kb.network.finding_ids]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _prior_factors(kb: KnowledgeBase) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Per setting, the log-odds shifts ``(low, high)`` of each condition's prior."""
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    settings = sorted({s for c in kb.conditions for s in c.prior})
    for setting in settings:
        lo, hi = np.zeros(len(kb.conditions)), np.zeros(len(kb.conditions))
        for i, c in enumerate(kb.conditions):
            if setting in c.prior:
                point = log_odds(np.array([c.prior[setting]]))[0]
                bounds = log_odds(np.array(prior_range(kb, c.id, setting)))
                lo[i], hi[i] = bounds[0] - point, bounds[1] - point
        out[setting] = (lo, hi)
    return out


@frozen(eq=False)
class ParameterBounds:
    """Every link's and leak's range as arrays aligned with the network, and prior shifts.

    ``link_low``/``link_high`` follow ``kb.network``'s parent arrays, ``leak_low``/``leak_high``
    its findings; ``prior_shifts`` maps each setting to the log-odds shifts ``(low, high)`` of
    each condition's prior; ``identity`` names the knowledge base and its ranges (the seed of
    the parameter draws depends on it).
    """

    link_low: FloatArray
    link_high: FloatArray
    leak_low: FloatArray
    leak_high: FloatArray
    prior_shifts: Mapping[str, tuple[FloatArray, FloatArray]]
    identity: str


def parameter_bounds(kb: KnowledgeBase) -> ParameterBounds:
    """Return the ranges of ``kb``'s numbers as arrays (computed once per compiled model).

    Examples
    --------
    >>> from twitchcds import load_knowledge_base
    >>> kb = load_knowledge_base()
    >>> bounds = parameter_bounds(kb)
    >>> bool((bounds.link_low <= kb.network.parent_prob).all())
    True
    """
    link_low, link_high = _link_bounds(kb)
    leak_low, leak_high = _leak_bounds(kb)
    return ParameterBounds(link_low, link_high, leak_low, leak_high,
                           MappingProxyType(_prior_factors(kb)), kb.sha256 + repr(kb.ranges))
