"""Integrator-style use of the public API, checked by ``mypy --strict`` in CI (not run by pytest).

If a public signature changes in a way that breaks typed callers, this file stops type-checking.
"""

from __future__ import annotations

from collections.abc import Iterator

import twitchcds
from twitchcds.typing import TRIAGE_LEVELS, Probability, TriageLevel


def top_three(case: dict[str, object]) -> list[tuple[str, Probability]]:
    result: twitchcds.Assessment = twitchcds.assess(case)
    return [(row.id, row.probability) for row in result.differential[:3]]


def needs_attention(case: twitchcds.Case) -> bool:
    level: TriageLevel = twitchcds.assess(case, workup=False).triage.level
    return TRIAGE_LEVELS.index(level) >= TRIAGE_LEVELS.index("soon")


def screen(cases: list[dict[str, object]]) -> Iterator[str]:
    kb: twitchcds.KnowledgeBase = twitchcds.load_knowledge_base()
    for result in twitchcds.assess_many(cases, kb, workup=False, explain=False):
        yield result.to_json(indent=None)


def safe_assess(payload: dict[str, object]) -> dict[str, object] | str:
    try:
        return twitchcds.assess(payload).to_dict()
    except twitchcds.TwitchCDSError as exc:
        return f"{exc.path}: {exc}"


def posterior_only() -> dict[str, float]:
    kb = twitchcds.load_knowledge_base()
    return twitchcds.posterior(kb, ["fasciculations"], ["muscle_weakness"])


def round_trip(kb: twitchcds.KnowledgeBase) -> bool:
    return twitchcds.KnowledgeBase.from_node_link(kb.to_node_link()) == kb


def what_if(result: twitchcds.Assessment) -> float:
    changed = result.what_if(add={"muscle_weakness": "present"}, remove=["fasciculations"])
    return changed.probabilities["amyotrophic_lateral_sclerosis"]


def leading_interval(case: twitchcds.Case) -> tuple[float, float] | None:
    result = twitchcds.assess(case, intervals=True)
    if result.uncertainty is None:  # approximate inference: no intervals
        return None
    stable: bool = result.uncertainty.top3_stable
    del stable
    return result.uncertainty.interval(result.differential[0].id)


def report_page(case: twitchcds.Case) -> str:
    return twitchcds.assess(case).to_html()

def typed_options(case: twitchcds.Case) -> str:
    from twitchcds.typing import Method, Setting

    method: Method = "exact"
    setting: Setting = "neuromuscular-clinic"
    result = twitchcds.assess(case, method=method, workup=False, explain=False, setting=setting)
    for many in twitchcds.assess_many([case], method="auto", setting=None, errors="return"):
        if isinstance(many, twitchcds.Assessment):
            return many.setting
    return result.setting


def mistyped_options(case: twitchcds.Case) -> None:
    # Each line below must stay an error for mypy (``warn_unused_ignores`` under --strict).
    twitchcds.assess(case, workup="yes")  # type: ignore[arg-type]
    twitchcds.assess(case, method="fast")  # type: ignore[arg-type]
    twitchcds.assess(case, speed="fast")  # type: ignore[call-arg]
    twitchcds.assess_many([case], setting="PRIMARY-CARE")  # type: ignore[call-overload]
