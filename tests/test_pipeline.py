"""assess(): priors, explanations, triage, work-up, advice and the Assessment v1 shape."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import kb_cases
from twitchcds import (
    Case,
    InvalidInputError,
    KnowledgeBase,
    assess,
    assess_many,
    load_knowledge_base,
)
from twitchcds.compiled import compile_model
from twitchcds.priors import adjust_odds, case_priors
from twitchcds.scoring import Scorer
from twitchcds.triage import level_rank, triage
from twitchcds.workup import expected_loss, lab_constraints

MINI_FINDINGS = ("twitching", "weakness", "cramps", "low_potassium", "high_caffeine",
                 "emg_denervation")


def _logit(p: float) -> float:
    p = min(max(p, 1e-15), 1 - 1e-15)
    return math.log(p) - math.log1p(-p)


@st.composite
def mini_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Random valid cases over the mini knowledge base's findings."""
    chosen = draw(st.lists(st.sampled_from(MINI_FINDINGS), unique=True, min_size=1))
    findings = [{"id": f, "status": draw(st.sampled_from(["present", "absent"]))}
                for f in chosen]
    case: dict[str, Any] = {"findings": findings}
    if draw(st.booleans()):
        case["age"] = draw(st.integers(18, 90))
    return case


def test_odds_rule() -> None:
    """Risk factors multiply the prior odds."""
    assert adjust_odds(0.2, 4.0) == pytest.approx(0.5)
    assert adjust_odds(0.5, 0.25) == pytest.approx(0.2)


@given(p=st.floats(1e-9, 1 - 1e-9), ratio=st.floats(1e-3, 1e3))
def test_adjusted_priors_stay_probabilities(p: float, ratio: float) -> None:
    """An adjusted prior is strictly inside (0, 1) and moves in the direction of the ratio."""
    q = adjust_odds(p, ratio)
    assert 0.0 < q < 1.0
    if ratio > 1:
        assert q >= p
    if ratio < 1:
        assert q <= p


def test_case_priors_apply_setting_and_risk_factors(mini_kb: KnowledgeBase) -> None:
    """Setting selects base priors (falling back to primary care); risk factors adjust them."""
    model = compile_model(mini_kb)
    clinic = case_priors(model, "neuromuscular-clinic", ())
    assert clinic.base == (0.3, 0.05, 0.1)
    adjusted = case_priors(model, None, ("age_over_60",))
    assert adjusted.adjusted[2] == pytest.approx(adjust_odds(0.01, 3.0))
    assert adjusted.adjustments[0].condition == "motor_neuron"


@given(risk=st.lists(st.sampled_from(["age_55_to_74", "male_sex", "thiazide_use", "statin_use",
                                      "family_history_mnd", "diabetes"]), unique=True),
       setting=st.sampled_from([None, "neuromuscular-clinic"]))
def test_priors_follow_the_odds_rule(kb: KnowledgeBase, risk: list[str],
                                     setting: str | None) -> None:
    """Each condition's adjusted prior is its base prior with the odds multiplied by the odds
    ratios of the active risk factors for it; the scorer checks and keeps them as given."""
    model = compile_model(kb)
    priors = case_priors(model, setting, risk)
    ratios = {c.id: 1.0 for c in kb.conditions}
    for rf in risk:
        for effect in kb.risk_factor_index[rf].effects:
            ratios[effect.condition] *= effect.odds_ratio
    for c, base, adjusted in zip(kb.conditions, priors.base, priors.adjusted, strict=True):
        assert base == c.prior.get(setting or "primary-care", c.prior["primary-care"])
        assert adjusted == pytest.approx(adjust_odds(base, ratios[c.id]), rel=1e-9)
    scorer = Scorer.for_priors(kb, model, priors.adjusted, "exact")
    assert scorer.method == "exact"
    assert np.array_equal(scorer.priors, np.array(priors.adjusted))
    assert not scorer.priors.flags.writeable
    with pytest.raises(InvalidInputError):
        Scorer.for_priors(kb, model, (2.0,) * len(kb.conditions))


@given(case=mini_cases())
def test_probabilities_are_probabilities(mini_kb: KnowledgeBase, case: dict[str, Any]) -> None:
    """Every probability in an assessment is in [0, 1] and the differential is sorted."""
    result = assess(case, mini_kb)
    probs = [row.probability for row in result.differential]
    assert all(0.0 <= p <= 1.0 for p in probs)
    # ranked on the posterior to 12 decimals, ties by id (twitchcds.inference.rank_order)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(probs))
    for test in result.all_tests:
        assert test.value >= 0.0
        if test.outcomes:
            assert sum(o.probability for o in test.outcomes) == pytest.approx(1.0)


@given(case=mini_cases())
def test_explanations_sum_to_the_change(mini_kb: KnowledgeBase, case: dict[str, Any]) -> None:
    """Each condition's evidence weights sum to its log-odds change from prior to posterior."""
    result = assess(case, mini_kb, workup=False)
    for row in result.differential:
        total = sum(e.weight for e in row.evidence)
        assert total == pytest.approx(_logit(row.probability) - _logit(row.prior), abs=1e-6)


def test_absent_weight_is_log_of_link_complement(mini_kb: KnowledgeBase) -> None:
    """An absent linked finding weighs log(1 - p) on its condition."""
    result = assess({"findings": [{"id": "weakness", "status": "absent"}]}, mini_kb)
    row = next(r for r in result.differential if r.id == "motor_neuron")
    assert row.evidence[0].weight == pytest.approx(math.log(1 - 0.9))
    assert row.evidence[0].references == ("test_source",)


@given(case=mini_cases())
def test_red_flag_never_masked(mini_kb: KnowledgeBase, case: dict[str, Any]) -> None:
    """With twitching and weakness present, triage is at least the red flag's level."""
    findings = [f for f in case["findings"] if f["id"] not in {"twitching", "weakness"}]
    findings += [{"id": "twitching", "status": "present"}, {"id": "weakness", "status": "present"}]
    result = assess({**case, "findings": findings}, mini_kb)
    assert level_rank(result.triage.level) >= level_rank("soon")
    assert "weakness_with_twitching" in {r.id for r in result.triage.reasons}


@given(a=st.sets(st.sampled_from(MINI_FINDINGS)), b=st.sets(st.sampled_from(MINI_FINDINGS)),
       low=st.lists(st.floats(0, 1), min_size=3, max_size=3),
       bump=st.lists(st.floats(0, 1), min_size=3, max_size=3))
def test_triage_monotone(mini_kb: KnowledgeBase, a: set[str], b: set[str], low: list[float],
                         bump: list[float]) -> None:
    """More present findings and higher probabilities never lower the triage level."""
    ids = [c.id for c in mini_kb.conditions]
    model = compile_model(mini_kb)
    before = triage(model, frozenset(a), dict(zip(ids, low, strict=True)))
    higher = [min(1.0, x + y) for x, y in zip(low, bump, strict=True)]
    after = triage(model, frozenset(a | b), dict(zip(ids, higher, strict=True)))
    assert level_rank(after.level) >= level_rank(before.level)
    assert {r.id for r in before.reasons if r.kind == "red-flag"} <= {
        r.id for r in after.reasons if r.kind == "red-flag"}


def test_probability_escalation(mini_kb: KnowledgeBase) -> None:
    """A likely serious condition raises triage through its escalation rule."""
    result = assess({"findings": [{"id": "emg_denervation", "status": "present"},
                                  {"id": "twitching", "status": "present"}]}, mini_kb)
    assert result.probabilities["motor_neuron"] >= 0.2
    assert result.triage.level == "urgent"
    assert any(r.kind == "probability" for r in result.triage.reasons)


def test_voi_zero_when_outcomes_cannot_change_anything(mini_kb: KnowledgeBase) -> None:
    """A test whose result is already known has value 0 and is not recommended."""
    result = assess({"findings": [{"id": "emg_denervation", "status": "absent"},
                                  {"id": "twitching", "status": "present"}]}, mini_kb)
    emg = next(t for t in result.all_tests if t.id == "emg")
    assert emg.value == 0.0
    assert not emg.recommended


def test_voi_is_expected_loss_reduction(mini_kb: KnowledgeBase) -> None:
    """A test's value equals the loss now minus the expected loss over its outcomes."""
    case = {"findings": [{"id": "cramps", "status": "present"}]}
    result = assess(case, mini_kb)
    panel = next(t for t in result.all_tests if t.id == "electrolyte_panel")
    model = compile_model(mini_kb)
    priors = case_priors(model, None, ()).adjusted
    scorer = Scorer.for_priors(mini_kb, model, priors)
    now = scorer.run({"cramps"}, set())
    pos = scorer.run({"cramps", "low_potassium"}, set())
    neg = scorer.run({"cramps"}, {"low_potassium"})
    p_pos = math.exp(pos.log_evidence - now.log_evidence)
    expected = expected_loss(model, now.probabilities) - (
        p_pos * expected_loss(model, pos.probabilities)
        + (1 - p_pos) * expected_loss(model, neg.probabilities))
    assert panel.value == pytest.approx(expected, abs=1e-12)
    assert expected_loss(model, np.ones(3)) == 0.0  # certainty costs nothing
    assert expected_loss(model, np.full(3, 0.5)) == pytest.approx(1.5)


def test_assessment_json_shape(mini_kb: KnowledgeBase) -> None:
    """to_dict() has the Assessment v1 keys and is valid JSON with no NaN."""
    result = assess({"id": "c1", "age": 70, "findings": [{"id": "twitching", "status": "present"}]},
                    mini_kb)
    data = json.loads(result.to_json())
    assert data["case_id"] == "c1"
    assert data["knowledge_base"] == {"version": "test-1", "sha256": mini_kb.sha256}
    assert data["inference"]["method"] == "exact"
    assert len(data["differential"]) == 3
    assert set(data) >= {"differential", "triage", "tests", "questions", "advice",
                         "derived_findings", "disclaimer"}
    assert "does not diagnose" in data["disclaimer"]


def test_determinism(mini_kb: KnowledgeBase) -> None:
    """The same case gives byte-identical JSON, whatever the order of its findings."""
    a = {"findings": [{"id": "twitching", "status": "present"},
                      {"id": "cramps", "status": "absent"}]}
    b = {"findings": list(reversed(a["findings"]))}
    assert assess(a, mini_kb).to_json() == assess(a, mini_kb).to_json()
    assert assess(a, mini_kb).to_dict()["differential"] == assess(b, mini_kb).to_dict()[
        "differential"]


def test_what_if_does_not_mutate(mini_kb: KnowledgeBase) -> None:
    """what_if returns a new assessment and leaves the original and its case untouched."""
    data = {"findings": [{"id": "twitching", "status": "present"}]}
    base = assess(data, mini_kb)
    before = base.to_json()
    worse = base.what_if(add={"weakness": "present"})
    assert worse.probabilities["motor_neuron"] > base.probabilities["motor_neuron"]
    assert base.to_json() == before
    assert data == {"findings": [{"id": "twitching", "status": "present"}]}
    back = worse.what_if(remove=["weakness"])
    assert back.to_json() == before
    with pytest.raises(InvalidInputError):
        base.what_if(add={"weakness": "maybe"})


def test_assess_many_keeps_order(mini_kb: KnowledgeBase) -> None:
    """assess_many yields one assessment per case in the same order."""
    cases = [{"id": str(i), "age": 20 + i, "findings": [{"id": "twitching", "status": "present"}]}
             for i in range(5)]
    assert [a.case_id for a in assess_many(cases, mini_kb, workup=False)] == list("01234")


BAD_OPTIONS = [
    pytest.param({"workup": "yes"}, "options.workup", id="workup-not-bool"),
    pytest.param({"explain": 1}, "options.explain", id="explain-int"),
    pytest.param({"method": "fast"}, "options.method", id="unknown-method"),
    pytest.param({"setting": "PRIMARY-CARE"}, "options.setting", id="unknown-setting"),
]


@pytest.mark.parametrize(("options", "path"), BAD_OPTIONS)
def test_bad_options_are_errors(mini_kb: KnowledgeBase, options: dict[str, Any],
                                path: str) -> None:
    """A mistyped option value raises InvalidInputError naming the option, from assess and
    assess_many alike (before any case is read); an unknown option is Python's TypeError."""
    case = Case.from_dict({"age": 30})
    with pytest.raises(InvalidInputError) as info:
        assess(case, mini_kb, **options)
    assert info.value.path == path
    with pytest.raises(InvalidInputError) as info:
        assess_many(iter(()), mini_kb, **options)
    assert info.value.path == path
    with pytest.raises(TypeError, match="speed"):
        assess(case, mini_kb, speed="fast")  # type: ignore[call-arg]


def test_assessment_records_every_option(mini_kb: KnowledgeBase) -> None:
    """Assessment.options holds every option as it applied, so what_if re-runs alike."""
    result = assess({"findings": [{"id": "twitching", "status": "present"}]}, mini_kb,
                    workup=False, setting="neuromuscular-clinic")
    assert dict(result.options) == {"method": "auto", "workup": False, "explain": True,
                                    "setting": "neuromuscular-clinic", "intervals": True}
    again = result.what_if(add={"weakness": "present"})
    assert again.options == result.options
    assert again.setting == "neuromuscular-clinic"
    assert not again.all_tests


def test_red_flag_indicated_test_comes_first(mini_kb: KnowledgeBase) -> None:
    """A test named by a fired red flag is recommended and listed first, whatever its value."""
    result = assess({"findings": [{"id": "twitching", "status": "present"},
                                  {"id": "weakness", "status": "present"}]}, mini_kb)
    assert result.tests[0].id == "emg"
    assert result.tests[0].indicated_by == ("weakness_with_twitching",)
    assert result.to_dict()["tests"][0]["indicated_by"] == ["weakness_with_twitching"]


def test_no_indication_without_red_flag(mini_kb: KnowledgeBase) -> None:
    """Without the red flag, the indicated test competes on value per cost alone."""
    result = assess({"findings": [{"id": "twitching", "status": "present"},
                                  {"id": "weakness", "status": "absent"}]}, mini_kb)
    assert all(not t.indicated_by for t in result.all_tests)
    for test in result.tests:
        assert test.value_per_cost >= mini_kb.decision.min_value_per_cost


def test_lab_constraints_of_the_builtin_potassium_rule(kb: KnowledgeBase) -> None:
    """Nested low bands imply each other and low/high bands of one lab exclude each other."""
    constraints = set(lab_constraints(kb))
    assert ("severe_low_potassium", "low_potassium", True) in constraints
    assert ("low_potassium", "high_potassium", False) in constraints


def test_test_outcomes_are_possible_results(kb: KnowledgeBase) -> None:
    """No valued test outcome has a value both low and high, and outcome probabilities sum to 1."""
    result = assess({"age": 50, "findings": [{"id": "muscle_cramps", "status": "present"}]}, kb)
    panel = next(t for t in result.all_tests if t.id == "electrolyte_panel")
    for outcome in panel.outcomes:
        status = dict(outcome.findings)
        assert not (status.get("low_potassium") == "present"
                    and status.get("high_potassium") == "present")
        assert not (status.get("severe_low_potassium") == "present"
                    and status.get("low_potassium") == "absent")
    assert sum(o.probability for o in panel.outcomes) == pytest.approx(1.0)


def test_approximate_inference_keeps_cost_bounded(kb: KnowledgeBase) -> None:
    """With approximate inference, no outcome enumeration or chained explanation runs, and the
    assessment says so."""
    symptoms = [f.id for f in kb.findings if f.kind in {"symptom", "sign"}]
    case = {"findings": [{"id": f, "status": "present"} for f in symptoms]}
    result = assess(case, kb)
    assert result.method == "approximate"
    note = result.to_dict()["inference"]["note"]
    assert "sampling" in note
    assert "not valued" in note
    assert result.questions == ()
    assert all(t.value == 0.0 and not t.outcomes for t in result.all_tests)
    assert all(t.indicated_by or t.confirms for t in result.tests)
    exact = assess({"findings": [{"id": "fasciculations", "status": "present"}]}, kb)
    assert "note" not in exact.to_dict()["inference"]


@settings(max_examples=40, deadline=None)
@given(case=kb_cases(load_knowledge_base(), max_findings=6))
def test_compact_and_indented_json_are_one_document(case: dict[str, Any]) -> None:
    """The one-line JSON (orjson, what ``twitchcds batch`` writes) and the indented JSON
    (standard library) of any assessment decode to the same document, equal to ``to_dict``."""
    result = assess(case, workup=False)
    line = result.to_json(indent=None)
    assert "\n" not in line
    assert json.loads(line) == json.loads(result.to_json()) == result.to_dict()


def test_a_non_finite_number_is_never_written_as_json() -> None:
    """A NaN in an assessment (a bug) stops serialisation instead of becoming ``null``."""
    result = assess({"findings": [{"id": "fasciculations", "status": "present"}]},
                    workup=False)
    row = attrs.evolve(result.differential[0], probability=math.nan)
    broken = attrs.evolve(result, differential=(row, *result.differential[1:]))
    for serialise in (broken.to_dict, lambda: broken.to_json(indent=None), broken.to_json):
        with pytest.raises(ValueError, match="non-finite"):
            serialise()
