"""The compiled model: what it derives from a knowledge base, and the one cache of it."""

from __future__ import annotations

import attrs
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from twitchcds import assess, load_knowledge_base
from twitchcds._state import compiled_model
from twitchcds.compiled import compile_model
from twitchcds.triage import fired_red_flags
from twitchcds.typing import SETTINGS, TRIAGE_LEVELS

KB = load_knowledge_base()
MODEL = compile_model(KB)


def test_positions_and_rows_follow_knowledge_base_order() -> None:
    """Index maps, row fields and priors are aligned with the knowledge base's own order."""
    assert [MODEL.rows[i].id for i in MODEL.condition_position.values()] == [
        c.id for c in KB.conditions]
    assert list(MODEL.finding_position) == [f.id for f in KB.findings]
    for c, row in zip(KB.conditions, MODEL.rows, strict=True):
        assert (row.name, row.category, row.severity) == (c.name, c.category, c.severity)
        assert dict(row.codes) == dict(c.codes)
        for setting in SETTINGS:
            i = MODEL.condition_position[c.id]
            assert MODEL.base_priors(setting)[i] == c.prior.get(setting, c.prior[SETTINGS[0]])
    assert MODEL.network.condition_ids == tuple(c.id for c in KB.conditions)


def test_risk_effects_and_losses_restate_the_knowledge_base() -> None:
    """Each risk factor's effects point at their conditions with the log of their odds ratio;
    the miss loss of each condition is its severity's loss."""
    for rf in KB.risk_factors:
        effects = MODEL.risk_effects[rf.id]
        assert [KB.conditions[e.position].id for e in effects] == [
            e.condition for e in rf.effects]
        assert np.allclose([np.exp(e.log_odds_ratio) for e in effects],
                           [e.odds_ratio for e in rf.effects])
    assert MODEL.miss_loss.tolist() == [KB.decision.miss_loss[c.severity] for c in KB.conditions]
    assert not MODEL.miss_loss.flags.writeable


def test_safety_net_is_most_urgent_first() -> None:
    """The safety net lists every red flag once, never a lower level before a higher one."""
    ranks = [TRIAGE_LEVELS.index(e.flag.level) for e in MODEL.safety_net]
    assert ranks == sorted(ranks, reverse=True)
    assert sorted(e.flag.id for e in MODEL.safety_net) == sorted(f.id for f in KB.red_flags)


@given(present=st.sets(st.sampled_from(sorted({*KB.finding_index, *KB.risk_factor_index}))))
def test_red_flag_matcher_agrees_with_the_flag_definition(present: set[str]) -> None:
    """A red flag fires exactly when all its all_of ids and one any_of id (if any) are present."""
    fired = {flag.id for flag in fired_red_flags(MODEL, frozenset(present))}
    for flag in KB.red_flags:
        expected = (all(x in present for x in flag.all_of)
                    and (not flag.any_of or any(x in present for x in flag.any_of)))
        assert (flag.id in fired) == expected


def test_public_boundary_compiles_once_per_knowledge_base() -> None:
    """compiled_model returns one model per knowledge-base object; an equal copy gets its own."""
    copy = attrs.evolve(KB)
    assert compiled_model(KB) is compiled_model(KB)
    assert compiled_model(copy) is compiled_model(copy)
    assert compiled_model(copy) is not compiled_model(KB)


def test_cache_lets_the_knowledge_base_go() -> None:
    """A cached model does not keep its knowledge base alive; its entry goes with it."""
    import gc
    import weakref

    from twitchcds import _state

    copy = attrs.evolve(KB)
    compiled_model(copy)
    key = id(copy)
    assert key in _state._compiled
    gone = weakref.ref(copy)
    del copy
    gc.collect()
    assert gone() is None
    assert key not in _state._compiled


def test_assess_on_a_copy_equals_assess_on_the_original() -> None:
    """Compiling is a pure function of the knowledge base: an equal copy scores identically."""
    case = {"age": 64, "findings": [{"id": "fasciculations", "status": "present"},
                                    {"id": "muscle_weakness", "status": "present"}]}
    a, b = assess(case, KB), assess(case, attrs.evolve(KB))
    assert a.to_dict() == b.to_dict()
