"""Sensitivity of the evaluation to perturbed link probabilities."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np
from attrs import frozen

from twitchcds.errors import InvalidInputError
from twitchcds.evaluation.metrics import _pct
from twitchcds.evaluation.run import _check_ids, score_vignette
from twitchcds.evaluation.vignettes import Vignette
from twitchcds.knowledge.base import KnowledgeBase


@frozen
class SensitivityReport:
    """How robust the top-1 / top-3 rates are to perturbed link probabilities."""

    factor: float
    runs: int
    seed: int
    baseline_top1: float
    baseline_top3: float
    top1: tuple[float, ...]
    top3: tuple[float, ...]
    unchanged_top1: tuple[float, ...]

    @property
    def mean_top1(self) -> float:
        """Mean top-1 rate over the perturbed runs."""
        return float(np.mean(self.top1))

    @property
    def min_top1(self) -> float:
        """Worst top-1 rate over the perturbed runs."""
        return float(np.min(self.top1))

    @property
    def mean_top3(self) -> float:
        """Mean top-3 rate over the perturbed runs."""
        return float(np.mean(self.top3))

    @property
    def min_top3(self) -> float:
        """Worst top-3 rate over the perturbed runs."""
        return float(np.min(self.top3))

    @property
    def mean_unchanged(self) -> float:
        """Mean share of vignettes whose top-1 condition equals the unperturbed one."""
        return float(np.mean(self.unchanged_top1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "factor": self.factor, "runs": self.runs, "seed": self.seed,
            "baseline": {"top1": self.baseline_top1, "top3": self.baseline_top3},
            "top1": {"mean": self.mean_top1, "min": self.min_top1},
            "top3": {"mean": self.mean_top3, "min": self.min_top3},
            "unchanged_top1": {"mean": self.mean_unchanged,
                               "min": float(np.min(self.unchanged_top1))},
        }

    def to_markdown(self) -> str:
        """Render the summary as a Markdown table."""
        return "\n".join([
            f"## Sensitivity (links x U[{1 - self.factor:g}, {1 + self.factor:g}], "
            f"{self.runs} runs, seed {self.seed})", "",
            "| metric | baseline | mean | min |", "|---|---|---|---|",
            f"| top-1 | {_pct(self.baseline_top1)} | {_pct(self.mean_top1)} | "
            f"{_pct(self.min_top1)} |",
            f"| top-3 | {_pct(self.baseline_top3)} | {_pct(self.mean_top3)} | "
            f"{_pct(self.min_top3)} |",
            f"| top-1 unchanged | 100% | {_pct(self.mean_unchanged)} | "
            f"{_pct(float(np.min(self.unchanged_top1)))} |", ""])


def perturb_links(kb: KnowledgeBase, rng: np.random.Generator,
                  factor: float = 0.5) -> KnowledgeBase:
    """Return a copy of ``kb`` with every link probability times U[1-factor, 1+factor].

    Probabilities are clipped to [0.001, 0.999]; the copy recompiles its network.
    """
    scale = rng.uniform(1.0 - factor, 1.0 + factor, size=len(kb.links))
    links = tuple(attrs.evolve(link, probability=float(np.clip(link.probability * s,
                                                                0.001, 0.999)))
                  for link, s in zip(kb.links, scale, strict=True))
    return attrs.evolve(kb, links=links)


def sensitivity(vignettes: Iterable[Vignette], kb: KnowledgeBase | None = None,
                factor: float = 0.5, runs: int = 20, seed: int = 0,
                **assess_options: Any) -> SensitivityReport:
    """Re-run the differential on ``runs`` knowledge bases with perturbed link probabilities.

    Parameters
    ----------
    vignettes : iterable of Vignette
    kb : KnowledgeBase, optional
        Defaults to the built-in knowledge base.
    factor : float
        Each link probability is multiplied by a uniform draw in ``[1 - factor, 1 + factor]``
        and clipped to ``[0.001, 0.999]``.
    runs : int
        Number of perturbed knowledge bases.
    seed : int
        Seed of :func:`numpy.random.default_rng` (results are reproducible).
    **assess_options
        Passed to :func:`twitchcds.assess`; ``workup``, ``explain`` and ``intervals`` default
        to False (only the differential is scored).

    Returns
    -------
    SensitivityReport
    """
    from twitchcds._state import builtin_knowledge_base  # noqa: PLC0415

    if not 0.0 <= factor < 1.0:
        raise InvalidInputError("invalid input: factor must be in [0, 1)", path="factor",
                                value=factor)
    if runs < 1:
        raise InvalidInputError("invalid input: runs must be at least 1", path="runs",
                                value=runs)
    kb = builtin_knowledge_base() if kb is None else kb
    options = {"workup": False, "explain": False, "intervals": False, **assess_options}
    items = tuple(vignettes)
    if not items:
        raise InvalidInputError("invalid input: no vignettes", path="vignettes", value=0)
    _check_ids(items, kb)
    base = [score_vignette(v, kb, **options) for v in items]
    rng = np.random.default_rng(seed)
    top1: list[float] = []
    top3: list[float] = []
    unchanged: list[float] = []
    for _ in range(runs):
        perturbed = perturb_links(kb, rng, factor)
        res = [score_vignette(v, perturbed, **options) for v in items]
        top1.append(sum(r.top1 for r in res) / len(res))
        top3.append(sum(r.in_top3 for r in res) / len(res))
        unchanged.append(sum(bool(r.top3) and bool(b.top3) and r.top3[0] == b.top3[0]
                             for r, b in zip(res, base, strict=True)) / len(res))
    return SensitivityReport(
        factor=factor, runs=runs, seed=seed,
        baseline_top1=sum(b.top1 for b in base) / len(base),
        baseline_top3=sum(b.in_top3 for b in base) / len(base),
        top1=tuple(top1), top3=tuple(top3), unchanged_top1=tuple(unchanged))
