"""The chunk-wide triage (``triage_many``) equals :func:`twitchcds.triage.triage` case by case."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from twitchcds import load_knowledge_base
from twitchcds.compiled import compile_model
from twitchcds.scope import Scope
from twitchcds.triage import triage, triage_many

KB = load_knowledge_base()
MODEL = compile_model(KB)
IDS = MODEL.network.condition_ids
NAMES = sorted(set(MODEL.red_flags_naming) | {f.id for f in KB.findings}
               | {r.id for r in KB.risk_factors})
THRESHOLDS = sorted({e.min_probability for c in MODEL.escalating for e in c.escalations})
SCOPES = [None, Scope("in-scope", "in"), Scope("no-complaint", "none"),
          Scope("unexplained", "odd", ("fasciculations",))]


def probabilities() -> st.SearchStrategy[float]:
    """Posteriors, often exactly at an escalation threshold or just below it."""
    at = st.sampled_from(THRESHOLDS)
    return st.one_of(st.floats(0.0, 1.0), at, at.map(lambda t: math.nextafter(t, 0.0)))


@st.composite
def chunks(draw: st.DrawFn) -> tuple[list[frozenset[str]], np.ndarray, list[Scope | None]]:
    n = draw(st.integers(0, 6))
    present = [frozenset(draw(st.lists(st.sampled_from(NAMES), max_size=8))) for _ in range(n)]
    rows = [[draw(probabilities()) for _ in IDS] for _ in range(n)]
    table = np.array(rows, dtype=np.float64).reshape(n, len(IDS))
    return present, table, [draw(st.sampled_from(SCOPES)) for _ in range(n)]


@given(chunks())
def test_triage_many_equals_triage(chunk: tuple[list[frozenset[str]], np.ndarray,
                                                list[Scope | None]]) -> None:
    present, table, scopes = chunk
    expected = [triage(MODEL, context, dict(zip(IDS, row.tolist(), strict=True)), scope=scope)
                for context, row, scope in zip(present, table, scopes, strict=True)]
    assert triage_many(MODEL, present, table, scopes) == expected


def test_every_escalation_can_fire() -> None:
    """At probability 1 every escalating condition gives a reason (the test above can fail)."""
    [result] = triage_many(MODEL, [frozenset()], np.ones((1, len(IDS))), [None])
    assert {r.id for r in result.reasons} == {f"likely_{c.id}" for c in MODEL.escalating}
