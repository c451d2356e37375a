"""The chunk-wide selection of scope checks equals :func:`twitchcds.scope._candidates` per case."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from twitchcds import load_knowledge_base
from twitchcds.compiled import compile_model
from twitchcds.scope import _candidates, _candidates_many, _leak_only_bounds, leak_only_bound

KB = load_knowledge_base()
MODEL = compile_model(KB)
FINDINGS = MODEL.network.finding_ids
CONDITIONS = MODEL.network.condition_ids


@st.composite
def chunks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(0, 6))
    present = np.zeros((n, len(FINDINGS)), dtype=bool)
    for r in range(n):
        chosen = draw(st.lists(st.integers(0, len(FINDINGS) - 1), max_size=10))
        present[r, chosen] = True
    small = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1e-3, 0.05, 0.5, 1.0]))
    table = np.array([[draw(small) for _ in CONDITIONS] for _ in range(n)],
                     dtype=np.float64).reshape(n, len(CONDITIONS))
    return present, table


@given(chunks())
def test_candidates_many_equals_candidates(chunk: tuple[np.ndarray, np.ndarray]) -> None:
    present, table = chunk
    expected = [_candidates(KB, MODEL, frozenset(FINDINGS[j] for j in np.flatnonzero(row)),
                            probs) for row, probs in zip(present, table, strict=True)]
    assert _candidates_many(KB, MODEL, present, table) == expected


@given(chunks())
def test_bounds_equal_leak_only_bound(chunk: tuple[np.ndarray, np.ndarray]) -> None:
    _, table = chunk
    caused = [MODEL.finding_position[f] for f in sorted(KB.caused_findings)]
    rows = np.repeat(np.arange(table.shape[0]), len(caused))
    findings = np.tile(np.array(caused, dtype=np.intp), table.shape[0])
    got = _leak_only_bounds(MODEL, findings, table[rows]).tolist()
    assert got == [leak_only_bound(MODEL, FINDINGS[f], table[r])
                   for r, f in zip(rows.tolist(), findings.tolist(), strict=True)]


def test_some_rows_need_checks() -> None:
    """A complaint no modelled cause explains is asked about (the test above is not vacuous)."""
    present = np.zeros((1, len(FINDINGS)), dtype=bool)
    present[0, [MODEL.finding_position["fasciculations"],
                MODEL.finding_position["muscle_weakness"]]] = True
    [(complaints, asked, check)] = _candidates_many(KB, MODEL, present,
                                                    np.zeros((1, len(CONDITIONS))))
    assert complaints == ("fasciculations", "muscle_weakness")
    assert asked == check == ["fasciculations", "muscle_weakness"]
