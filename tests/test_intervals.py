"""Probability intervals under the knowledge base's parameter ranges (Assessment v1.2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import twitchcds
from twitchcds import KnowledgeBase, load_knowledge_base
from twitchcds.errors import InvalidInputError, KnowledgeBaseError
from twitchcds.knowledge.ranges import ParameterRanges, RangeRule, link_range, prior_range

from .conftest import copy_mini_kb
from .strategies import kb_cases

BUILTIN = load_knowledge_base()
ZERO = attrs.evolve(BUILTIN, ranges=ParameterRanges(RangeRule(1.0, 1.0), RangeRule(1.0, 1.0)))
WIDE = attrs.evolve(BUILTIN, ranges=ParameterRanges(RangeRule(0.1, 10.0), RangeRule(0.1, 10.0)))


@settings(max_examples=25)
@given(case=kb_cases(BUILTIN, max_findings=6), wide=st.booleans())
def test_interval_contains_point(case: dict[str, Any], wide: bool) -> None:
    """Every condition's interval holds its point estimate and lies in [0, 1]."""
    result = twitchcds.assess(case, WIDE if wide else BUILTIN, workup=False, explain=False)
    assert result.uncertainty is not None
    for row in result.differential:
        low, high = result.uncertainty.interval(row.id)
        assert 0.0 <= low <= row.probability <= high <= 1.0
    assert 0.0 <= result.uncertainty.top3_stability <= 1.0
    assert result.uncertainty.top3 == tuple(r.id for r in result.differential[:3])


@settings(max_examples=25)
@given(case=kb_cases(BUILTIN, max_findings=6))
def test_zero_ranges_give_the_point(case: dict[str, Any]) -> None:
    """With every range of zero width each interval is its point and the top three are stable."""
    result = twitchcds.assess(case, ZERO, workup=False, explain=False)
    assert result.uncertainty is not None
    for row in result.differential:
        assert result.uncertainty.interval(row.id) == (row.probability, row.probability)
    assert result.uncertainty.top3_stable


@settings(max_examples=15)
@given(case=kb_cases(BUILTIN, max_findings=6))
def test_intervals_are_deterministic(case: dict[str, Any]) -> None:
    """The same case gives the same intervals, also with a knowledge base loaded afresh."""
    again = load_knowledge_base(Path(twitchcds.__file__).parent / "knowledge" / "data")
    first = twitchcds.assess(case, BUILTIN, workup=False, explain=False)
    second = twitchcds.assess(case, again, workup=False, explain=False)
    assert first.uncertainty == second.uncertainty


def test_ranges_move_the_posterior() -> None:
    """Non-zero ranges give a non-degenerate interval for the leading condition."""
    result = twitchcds.assess({"findings": [{"id": "fasciculations", "status": "present"},
                                            {"id": "muscle_cramps", "status": "present"}]})
    assert result.uncertainty is not None
    low, high = result.uncertainty.interval(result.differential[0].id)
    assert low < result.differential[0].probability < high


@settings(max_examples=15)
@given(case=kb_cases(BUILTIN, max_findings=6))
def test_json_round_trip_and_schema(case: dict[str, Any]) -> None:
    """The intervals survive JSON, validate against the schema and hold the written point."""
    from twitchcds.schemas import validate_assessment_dict as validate_assessment

    result = twitchcds.assess(case, BUILTIN, workup=False)
    data = json.loads(result.to_json())
    assert data == result.to_dict()
    validate_assessment(data)
    assert data["uncertainty"]["draws"] == result.uncertainty.draws  # type: ignore[union-attr]
    for row in data["differential"]:
        assert row["interval"]["low"] <= row["probability"] <= row["interval"]["high"]


def test_intervals_off() -> None:
    """``intervals=False`` and the batch functions leave the intervals out, unless asked."""
    case = {"findings": [{"id": "fasciculations", "status": "present"}]}
    assert twitchcds.assess(case, intervals=False).uncertainty is None
    assert "uncertainty" not in twitchcds.assess(case, intervals=False).to_dict()
    (batch,) = twitchcds.assess_many([case], workup=False)
    assert batch.uncertainty is None
    (asked,) = twitchcds.assess_many([case], workup=False, intervals=True)
    assert asked.uncertainty == twitchcds.assess(case).uncertainty


def test_bad_intervals_option() -> None:
    """A non-boolean ``intervals`` option names the option."""
    with pytest.raises(InvalidInputError) as info:
        twitchcds.assess({"age": 30}, intervals="yes")
    assert info.value.path == "options.intervals"


@pytest.mark.parametrize(("option", "value", "path"), [
    pytest.param("draws", 0, "$.draws", id="no-draws"),
    pytest.param("draws", 2.5, "$.draws", id="fractional-draws"),
    pytest.param("level", 1.0, "$.level", id="level-1"),
    pytest.param("level", 0.0, "$.level", id="level-0"),
])
def test_bad_draws_or_level(option: str, value: Any, path: str) -> None:
    """Bad interval settings raise the library's error naming the argument."""
    from twitchcds.compiled import compile_model
    from twitchcds.intervals import probability_intervals

    priors = [c.prior["primary-care"] for c in BUILTIN.conditions]
    with pytest.raises(InvalidInputError) as info:
        probability_intervals(compile_model(BUILTIN), priors, "primary-care",
                              ["fasciculations"], [], point=priors, **{option: value})
    assert info.value.path == path


def test_explicit_range_and_rules() -> None:
    """An explicit range is used as written; other numbers get their references' rule."""
    kb = BUILTIN
    explicit = kb.ranges.links["cramp_fasciculation_syndrome", "paresthesia"]
    assert link_range(kb, "cramp_fasciculation_syndrome", "paresthesia") == (explicit.low,
                                                                             explicit.high)
    for condition in kb.conditions:
        refs = [kb.reference_index[r] for r in condition.prior_references]
        expert = all(r.expert_estimate for r in refs)
        rule = kb.ranges.expert if expert else kb.ranges.published
        assert prior_range(kb, condition.id, "primary-care") == pytest.approx(
            rule.apply(condition.prior["primary-care"]))


# --- ranges.toml validation: (text, path in the error) and nearby valid files -----------------

_ENTRY = '{{ low = {lo}, high = {hi}, kind = "{kind}", references = ["{ref}"] }}'


def _links(lo: Any = 0.5, hi: Any = 0.7, kind: str = "confidence-interval",
           ref: str = "test_source", link: str = "low_k.cramps") -> str:
    condition, finding = link.split(".")
    entry = _ENTRY.format(lo=lo, hi=hi, kind=kind, ref=ref)
    return f"[links.{condition}]\n{finding} = {entry}\n"


INVALID = [
    pytest.param(_links(lo=0.65), "ranges.toml:links.low_k.cramps", id="point-below-low"),
    pytest.param(_links(hi=1.5), "ranges.toml:links.low_k.cramps", id="high-above-1"),
    pytest.param(_links(link="low_k.high_caffeine"), "ranges.toml:links.low_k.high_caffeine",
                 id="no-such-link"),
    pytest.param(_links(ref="nobody"), "ranges.toml:links.low_k.cramps.references",
                 id="unknown-reference"),
    pytest.param(_links(kind="guess"), "ranges.toml:links.low_k.cramps.kind", id="bad-kind"),
    pytest.param(_links(lo='"0.5"'), "ranges.toml:links.low_k.cramps.low", id="text-number"),
    pytest.param('[rules.expert]\nodds_factor = [1.5, 2.0]\nreason = "x"\n',
                 "ranges.toml:rules.expert.odds_factor", id="rule-excludes-point"),
    pytest.param('[leaks]\ncramps = { low = 0.0, high = 0.9, kind = "expert-range", '
                 'references = ["test_expert"], extra = 1 }\n', "ranges.toml:leaks.cramps.extra",
                 id="unknown-key"),
    pytest.param("[guesses]\n", "ranges.toml:guesses", id="unknown-table"),
]

VALID = [
    pytest.param(_links(), id="interval"),
    pytest.param(_links(lo=0.6, hi=0.6, kind="reported-range"), id="zero-width"),
    pytest.param('[rules.published]\nodds_factor = [1.0, 1.0]\nreason = "exact"\n', id="rule"),
]


@pytest.mark.parametrize(("text", "path"), INVALID)
def test_invalid_ranges(tmp_path: Path, text: str, path: str) -> None:
    """A bad ranges.toml is a KnowledgeBaseError naming the file and key."""
    root = copy_mini_kb(tmp_path)
    (root / "ranges.toml").write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(root)
    assert path in {p.path for p in info.value.problems}


@pytest.mark.parametrize("text", VALID)
def test_valid_ranges(tmp_path: Path, text: str) -> None:
    """Nearby valid ranges load and are used."""
    root = copy_mini_kb(tmp_path)
    (root / "ranges.toml").write_text(text, encoding="utf-8")
    kb: KnowledgeBase = load_knowledge_base(root)
    result = twitchcds.assess({"findings": [{"id": "cramps", "status": "present"}]}, kb)
    assert result.uncertainty is not None


def test_fhir_prediction_carries_the_interval():
    """Each RiskAssessment prediction carries its interval as a Range extension (valid FHIR)."""
    pytest.importorskip("fhir.resources")
    from twitchcds.interop._fhir_export import INTERVAL_EXTENSION

    result = twitchcds.assess({"findings": [{"id": "fasciculations", "status": "present"}]})
    bundle = result.to_fhir(validate=True)
    predictions = bundle["entry"][0]["resource"]["prediction"]
    assert len(predictions) == len(result.differential)
    for prediction in predictions:
        (ext,) = prediction["extension"]
        assert ext["url"] == INTERVAL_EXTENSION
        span = ext["valueRange"]
        assert span["low"]["value"] <= prediction["probabilityDecimal"] <= span["high"]["value"]
    off = twitchcds.assess({"findings": [{"id": "fasciculations", "status": "present"}]},
                           intervals=False).to_fhir(validate=False)
    assert all("extension" not in p for p in off["entry"][0]["resource"]["prediction"])


def test_card_and_text_show_intervals():
    """The card detail and the text report show the leading condition's interval."""
    from twitchcds.interop.cds_hooks import cards
    from twitchcds.report import render_text

    result = twitchcds.assess({"age": 30, "findings": [
        {"id": "fasciculations", "status": "present"}]})
    assert result.uncertainty is not None
    low, high = result.uncertainty.interval(result.differential[0].id)
    shown = f"({low:.0%}-{high:.0%})"
    (card,) = cards(result, hook_instance="h1")
    assert shown in card["detail"]
    assert shown in render_text(result)


@settings(max_examples=40)
@given(data=st.data(), k=st.integers(0, 14), n_absent=st.integers(0, 6))
def test_batched_draws_equal_one_inference_per_draw(data: st.DataObject, k: int,
                                                    n_absent: int) -> None:
    """The draws solved together, with per-draw link probabilities, equal one exact inference
    per draw on its own sub-network (1e-12).

    Random observed findings of the built-in knowledge base (inhibitor links included) and
    random link, leak and prior values per draw, as the interval draws make them; up to 14
    present findings, so components of every kind (closed form, full table, frontier sum).
    """
    import numpy as np

    from twitchcds.compiled import compile_model
    from twitchcds.intervals import _batched_draws, _engine_draws, _gather, _Observed

    model = compile_model(BUILTIN)
    net = model.network
    chosen = data.draw(st.lists(st.integers(0, net.n_findings - 1), unique=True,
                                min_size=k + n_absent, max_size=k + n_absent))
    chosen = sorted(chosen[:k]) + chosen[k:]
    entries, ptr = _gather(net.parent_ptr, chosen)
    inh_entries, inh_ptr = _gather(net.inhibit_ptr, chosen)
    observed = _Observed(k, np.array(chosen[:k], dtype=np.intp), entries, ptr,
                         np.repeat(np.arange(len(chosen)), np.diff(ptr)), inh_entries, inh_ptr)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    draws = 5
    links = rng.uniform(0.01, 0.99, (draws, entries.size))
    leaks = rng.uniform(0.001, 0.3, (draws, len(chosen)))
    priors = rng.uniform(0.001, 0.5, (draws, net.n_conditions))
    args = {"links": links, "leaks": leaks, "priors": priors}
    slow = _engine_draws(net, observed, **args)
    fast = _batched_draws(net, observed, **args)
    assert fast is not None
    assert np.abs(fast - slow).max() <= 1e-12


def test_draws_past_the_exact_budget_take_one_inference_each(monkeypatch: Any) -> None:
    """When the draws cannot be solved together within the exact budget, each draw gets its
    own inference, with the same intervals (to 1e-12) and the same top-3 stability."""
    from twitchcds import intervals

    case = {"age": 60, "findings": [{"id": f, "status": "present"} for f in (
        "fasciculations", "muscle_weakness", "muscle_atrophy", "muscle_cramps",
        "hyperreflexia", "dysarthria", "dysphagia", "weight_loss")]}
    together = twitchcds.assess(case, workup=False).uncertainty
    calls = []
    engine_draws = intervals._engine_draws

    def one_each(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return engine_draws(*args, **kwargs)

    monkeypatch.setattr(intervals, "DEFAULT_BUDGET", 0.0)
    monkeypatch.setattr(intervals, "_engine_draws", one_each)
    alone = twitchcds.assess(case, workup=False).uncertainty
    assert calls == [1]
    assert together is not None
    assert alone is not None
    assert alone.top3_stability == together.top3_stability
    for (c, lo, hi), (c2, lo2, hi2) in zip(alone.intervals, together.intervals, strict=True):
        assert c == c2
        assert abs(lo - lo2) <= 1e-12
        assert abs(hi - hi2) <= 1e-12

