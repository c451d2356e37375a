"""Per-vignette results and the metrics over them (top-k, triage, Brier, reliability)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from attrs import frozen

from twitchcds.typing import TRIAGE_LEVELS


@frozen
class VignetteResult:
    """How the assessment of one vignette compares with its reference answers."""

    id: str
    group: str
    expected: tuple[str, ...]
    acceptable: tuple[str, ...]
    top3: tuple[str, ...]
    top_probability: float
    top1: bool
    top1_lenient: bool
    in_top3: bool
    triage_got: str
    triage_expected: str
    triage_acceptable: tuple[str, ...]
    key_test: str | None
    tests_got: tuple[str, ...]
    error: str | None = None

    @property
    def crashed(self) -> bool:
        """Whether the assessment raised."""
        return self.error is not None

    @property
    def triage_exact(self) -> bool:
        """Assigned triage level equals the expected one."""
        return self.triage_got == self.triage_expected

    @property
    def triage_ok(self) -> bool:
        """Assigned triage level is one of the acceptable ones."""
        return self.triage_got in self.triage_acceptable

    @property
    def under_triage(self) -> bool:
        """Assigned triage level is below every acceptable level."""
        if self.crashed:
            return False
        rank = TRIAGE_LEVELS.index(self.triage_got)
        return all(rank < TRIAGE_LEVELS.index(a)
                   for a in self.triage_acceptable)

    @property
    def over_triage(self) -> bool:
        """Assigned triage level is above every acceptable level."""
        if self.crashed:
            return False
        rank = TRIAGE_LEVELS.index(self.triage_got)
        return all(rank > TRIAGE_LEVELS.index(a)
                   for a in self.triage_acceptable)

    @property
    def key_test_hit(self) -> bool | None:
        """``key_test`` among the first two recommended tests (None without a key test)."""
        if self.key_test is None:
            return None
        return self.key_test in self.tests_got[:2]

    @property
    def miss(self) -> bool:
        """Top-1 wrong (strict), triage not acceptable, or a crash."""
        return self.crashed or not self.top1 or not self.triage_ok


@frozen
class ReliabilityBin:
    """One bin of a reliability (calibration) table of the top probability."""

    low: float
    high: float
    count: int
    mean_predicted: float
    observed: float


@frozen
class GroupMetrics:
    """Metrics over a set of vignette results (a condition group, or all of them)."""

    group: str
    n: int
    crashes: int
    top1: float
    top1_lenient: float
    top3: float
    triage_exact: float
    triage_acceptable: float
    under_triage: float
    over_triage: float
    key_test_n: int
    key_test_hits: float
    brier: float
    reliability: tuple[ReliabilityBin, ...]

    @classmethod
    def from_results(cls, group: str, results: Sequence[VignetteResult],
                     bins: int = 5) -> GroupMetrics:
        """Compute the metrics of ``results``; rates are ``nan`` for an empty set."""
        n = len(results)

        def rate(values: Sequence[bool]) -> float:
            return sum(values) / len(values) if values else math.nan

        keyed = [r.key_test_hit for r in results if r.key_test_hit is not None]
        return cls(
            group=group, n=n, crashes=sum(r.crashed for r in results),
            top1=rate([r.top1 for r in results]),
            top1_lenient=rate([r.top1_lenient for r in results]),
            top3=rate([r.in_top3 for r in results]),
            triage_exact=rate([r.triage_exact for r in results]),
            triage_acceptable=rate([r.triage_ok for r in results]),
            under_triage=rate([r.under_triage for r in results]),
            over_triage=rate([r.over_triage for r in results]),
            key_test_n=len(keyed), key_test_hits=rate(keyed),
            brier=brier_score([r.top_probability for r in results], [r.top1 for r in results]),
            reliability=reliability_table([r.top_probability for r in results],
                                          [r.top1 for r in results], bins),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``nan`` becomes ``None``)."""
        data = attrs.asdict(self, recurse=True)
        return _clean(data)  # type: ignore[no-any-return]


def brier_score(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float:
    """Mean squared difference between predicted probability and outcome (0 or 1).

    Examples
    --------
    >>> brier_score([0.8, 0.4], [True, False])
    0.1
    """
    if not probabilities:
        return math.nan
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(outcomes, dtype=np.float64)
    return round(float(np.mean((p - y) ** 2)), 12)


def reliability_table(probabilities: Sequence[float], outcomes: Sequence[bool],
                      bins: int = 5) -> tuple[ReliabilityBin, ...]:
    """Bin predictions into ``bins`` equal-width bins over [0, 1]; empty bins are kept.

    Examples
    --------
    >>> table = reliability_table([0.1, 0.9, 0.95], [False, True, False], bins=2)
    >>> [(b.count, b.mean_predicted, b.observed) for b in table]
    [(1, 0.1, 0.0), (2, 0.925, 0.5)]
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(outcomes, dtype=np.float64)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        out.append(ReliabilityBin(
            low=float(edges[b]), high=float(edges[b + 1]), count=count,
            mean_predicted=round(float(p[mask].mean()), 12) if count else math.nan,
            observed=round(float(y[mask].mean()), 12) if count else math.nan))
    return tuple(out)



def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.0f}%"


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
