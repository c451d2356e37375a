"""Scorer: answers by finding id, and a repeated question reuses its answer."""

from __future__ import annotations

import numpy as np
import pytest

from twitchcds import load_knowledge_base
from twitchcds.compiled import compile_model
from twitchcds.errors import ContradictionError
from twitchcds.priors import case_priors
from twitchcds.scoring import MEMO_SIZE, Scorer


def _scorer() -> Scorer:
    kb = load_knowledge_base()
    model = compile_model(kb)
    return Scorer.for_priors(kb, model, case_priors(model, None, ()).adjusted)


def test_a_repeated_question_gets_the_same_read_only_answer() -> None:
    scorer = _scorer()
    first = scorer.run(["fasciculations", "muscle_cramps"], ["muscle_weakness"])
    again = scorer.run(("muscle_cramps", "fasciculations"), {"muscle_weakness"})
    assert again is first
    assert not first.probabilities.flags.writeable
    fresh = _scorer().run({"fasciculations", "muscle_cramps"}, {"muscle_weakness"})
    assert np.array_equal(fresh.probabilities, first.probabilities)
    assert fresh.log_evidence == first.log_evidence


def test_the_memo_is_bounded() -> None:
    scorer = _scorer()
    ids = [f.id for f in scorer.kb.findings if f.question is not None]
    for f in ids[:MEMO_SIZE + 5]:
        scorer.run({f}, ())
    late = scorer.run({ids[MEMO_SIZE + 1]}, ())
    assert late.probabilities.flags.writeable  # past the bound: answered, not kept
    assert late is not scorer.run({ids[MEMO_SIZE + 1]}, ())


def test_a_contradiction_is_refused_every_time() -> None:
    scorer = _scorer()
    for _ in range(2):
        with pytest.raises(ContradictionError):
            scorer.run({"fasciculations"}, {"fasciculations"})
