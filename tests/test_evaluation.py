"""Tests of the vignette evaluation harness (twitchcds.evaluation) and of the vignette set."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from twitchcds import InvalidInputError, KnowledgeBase, load_knowledge_base
from twitchcds.evaluation import (
    EvaluationReport,
    GroupMetrics,
    Vignette,
    VignetteResult,
    brier_score,
    evaluate,
    load_vignettes,
    perturb_links,
    reliability_table,
    sensitivity,
)

VIGNETTES = Path(__file__).resolve().parents[1] / "evaluation" / "vignettes"


def _vignette(vid: str, diagnosis: list[str], case: dict[str, Any], triage: str = "routine",
              **extra: Any) -> Vignette:
    data: dict[str, Any] = {"id": vid, "source": {"url": "https://example.org"}, "case": case,
                            "diagnosis": diagnosis, "triage": triage, **extra}
    return Vignette.from_dict(data, path=f"{vid}.json")


def _result(**kw: Any) -> VignetteResult:
    base: dict[str, Any] = {
        "id": "x", "group": "benign", "expected": ("a",), "acceptable": (), "top3": ("a", "b", "c"),
        "top_probability": 0.5, "top1": True, "top1_lenient": True, "in_top3": True,
        "triage_got": "routine", "triage_expected": "routine", "triage_acceptable": ("routine",),
        "key_test": None, "tests_got": ()}
    base.update(kw)
    return VignetteResult(**base)


HYPOK = {"labs": [{"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"}],
         "findings": [{"id": "muscle_cramps", "status": "present"}]}


@pytest.fixture(scope="module")
def vignettes() -> tuple[Vignette, ...]:
    """The shipped vignette set."""
    return load_vignettes(VIGNETTES)


@pytest.fixture(scope="module")
def full_report(vignettes: tuple[Vignette, ...], kb: KnowledgeBase) -> tuple[EvaluationReport,
                                                                             float]:
    """The evaluation of the whole set with work-up, and how long it took."""
    start = time.perf_counter()
    report = evaluate(vignettes, kb, workup=True, explain=False)
    return report, time.perf_counter() - start


def test_every_vignette_file_loads(vignettes: tuple[Vignette, ...]) -> None:
    """Every JSON file in evaluation/vignettes is a valid vignette with a cited source."""
    files = sorted(VIGNETTES.glob("*.json"))
    assert len(vignettes) == len(files) >= 40
    for v in vignettes:
        assert v.source.doi or v.source.url
        assert v.triage in v.triage_acceptable
        assert v.path == f"{v.id}.json"


def test_every_vignette_assesses_without_crash(full_report: tuple[EvaluationReport, float]) -> None:
    """Assessing every vignette (with work-up) raises nothing."""
    report, _ = full_report
    assert report.crashes == ()
    assert report.overall.crashes == 0


def test_vignette_ids_exist_in_kb(vignettes: tuple[Vignette, ...], kb: KnowledgeBase) -> None:
    """Every diagnosis, acceptable and key-test id names a knowledge-base item."""
    for v in vignettes:
        assert set(v.diagnosis) | set(v.acceptable) <= set(kb.condition_index), v.id
        assert v.key_test is None or v.key_test in kb.test_index, v.id


def test_every_condition_is_covered(vignettes: tuple[Vignette, ...], kb: KnowledgeBase) -> None:
    """Each condition of the knowledge base is the diagnosis of at least one published case: a
    team vignette or a case of a frozen evaluation set."""
    covered = {cid for v in vignettes for cid in v.diagnosis}
    frozen = Path(__file__).parent.parent / "evaluation" / "frozen"
    for path in frozen.glob("*.json"):
        covered |= {cid for case in json.loads(path.read_text(encoding="utf-8"))
                    for cid in case["diagnosis"]}
    assert set(kb.condition_index) <= covered


def test_set_has_required_mix(vignettes: tuple[Vignette, ...]) -> None:
    """The set holds coexisting causes, no-lab first visits, test results and both settings."""
    assert sum(len(v.diagnosis) >= 2 for v in vignettes) >= 3
    assert any(not v.case.labs for v in vignettes)
    assert any(f.id is not None and f.id.startswith(("emg_", "ncs_")) for v in vignettes
               for f in v.case.findings)
    assert {v.case.setting for v in vignettes} >= {"primary-care", "neuromuscular-clinic"}


def test_full_evaluation_runs_fast_and_records_figures(
        full_report: tuple[EvaluationReport, float]) -> None:
    """The whole-set evaluation yields rates in [0, 1] (its run time is reported, not asserted)."""
    report, seconds = full_report
    print(f"evaluation of {report.overall.n} vignettes: {seconds:.1f} s; "
          f"top-1 {report.overall.top1:.2f}, top-3 {report.overall.top3:.2f}")
    overall = report.overall
    for rate in (overall.top1, overall.top1_lenient, overall.top3, overall.triage_exact,
                 overall.triage_acceptable, overall.under_triage, overall.over_triage,
                 overall.key_test_hits, overall.brier):
        assert 0.0 <= rate <= 1.0
    assert overall.top1 <= overall.top1_lenient
    assert sum(b.count for b in overall.reliability) == overall.n
    json.dumps(report.to_dict())
    assert "| **overall** |" in report.to_markdown()


def test_top1_half_on_two_vignettes(kb: KnowledgeBase) -> None:
    """With one right and one wrong top answer, top-1 is 0.5 and the wrong one is a miss."""
    right = _vignette("right", ["hypokalemia"], HYPOK, triage="soon",
                      triage_acceptable=["routine", "soon", "urgent"])
    wrong = _vignette("wrong", ["kennedy_disease"], HYPOK, triage="soon",
                      triage_acceptable=["routine", "soon", "urgent"])
    report = evaluate([right, wrong], kb, workup=False)
    assert report.overall.top1 == 0.5
    assert [m.id for m in report.misses] == ["wrong"]
    assert {g.group for g in report.groups} == {"metabolic", "neurological"}


def test_lenient_top1_counts_acceptable(kb: KnowledgeBase) -> None:
    """An acceptable alternative at rank 1 counts for lenient top-1 but not strict top-1."""
    v = _vignette("lenient", ["kennedy_disease"], HYPOK, acceptable=["hypokalemia"])
    result = evaluate([v], kb, workup=False).results[0]
    assert (result.top1, result.top1_lenient) == (False, True)


def test_under_and_over_triage_detection() -> None:
    """A level below every acceptable one is under-triage; above every one is over-triage."""
    under = _result(triage_got="self-care", triage_expected="urgent",
                    triage_acceptable=("soon", "urgent"))
    over = _result(triage_got="emergency", triage_expected="routine",
                   triage_acceptable=("routine", "soon"))
    inside = _result(triage_got="soon", triage_expected="routine",
                     triage_acceptable=("routine", "soon"))
    assert (under.under_triage, under.over_triage, under.triage_ok) == (True, False, False)
    assert (over.under_triage, over.over_triage) == (False, True)
    assert (inside.under_triage, inside.over_triage, inside.triage_ok,
            inside.triage_exact) == (False, False, True, False)


def test_key_test_hit_uses_first_two_tests() -> None:
    """The key test counts only within the first two recommended tests; None without one."""
    assert _result(key_test="emg", tests_got=("vitamin_b12", "emg")).key_test_hit is True
    assert _result(key_test="emg", tests_got=("a", "b", "emg")).key_test_hit is False
    assert _result(key_test=None).key_test_hit is None


def test_brier_formula() -> None:
    """The Brier score is the mean squared gap between probability and 0/1 outcome."""
    assert brier_score([0.8, 0.4], [True, False]) == pytest.approx((0.04 + 0.16) / 2)
    assert brier_score([1.0], [True]) == 0.0
    assert math.isnan(brier_score([], []))


def test_reliability_table_bins() -> None:
    """Predictions fall into equal-width bins with their mean and observed frequency."""
    table = reliability_table([0.05, 0.15, 0.95, 1.0], [False, True, True, True], bins=2)
    assert [b.count for b in table] == [2, 2]
    assert table[0].mean_predicted == pytest.approx(0.1)
    assert table[0].observed == 0.5
    assert table[1].observed == 1.0


def test_group_metrics_from_results() -> None:
    """Group metrics average the per-vignette outcomes and count key tests separately."""
    results = [_result(top1=True, top_probability=0.9, key_test="emg", tests_got=("emg",)),
               _result(top1=False, top1_lenient=False, in_top3=False, top_probability=0.6)]
    g = GroupMetrics.from_results("benign", results)
    assert (g.n, g.top1, g.top3, g.key_test_n, g.key_test_hits) == (2, 0.5, 0.5, 1, 1.0)
    assert g.brier == pytest.approx((0.01 + 0.36) / 2)


def test_crash_is_recorded_not_raised(kb: KnowledgeBase) -> None:
    """An assessment that raises becomes a crash result instead of stopping the evaluation."""
    v = _vignette("bad_option", ["hypokalemia"], HYPOK)
    report = evaluate([v], kb, method="no-such-method")
    assert report.overall.crashes == 1
    assert report.results[0].error is not None
    assert report.misses[0].id == "bad_option"


@pytest.mark.parametrize(("data", "field"), [
    ({"source": {"url": "u"}, "case": HYPOK, "diagnosis": ["hypokalemia"], "triage": "soon"},
     "id"),
    ({"id": "x", "source": {"url": "u"}, "case": HYPOK, "diagnosis": ["hypokalemia"],
      "triage": "asap"}, "triage"),
    ({"id": "x", "source": {"title": "t"}, "case": HYPOK, "diagnosis": ["hypokalemia"],
      "triage": "soon"}, "source"),
    ({"id": "x", "source": {"url": "u"}, "case": {"age": "44"}, "diagnosis": ["hypokalemia"],
      "triage": "soon"}, "case.age"),
    ({"id": "x", "source": {"url": "u"}, "case": HYPOK, "diagnosis": [], "triage": "soon"},
     "diagnosis"),
    ({"id": "x", "source": {"url": "u"}, "case": HYPOK, "diagnosis": ["hypokalemia"],
      "triage": "soon", "extra": 1}, "extra"),
])
def test_malformed_vignette_names_file_and_field(tmp_path: Path, data: dict[str, Any],
                                                 field: str) -> None:
    """A malformed vignette file raises InvalidInputError naming the file and the field."""
    (tmp_path / "broken.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        load_vignettes(tmp_path)
    assert "broken.json" in str(info.value)
    assert field in info.value.path


def test_invalid_json_and_empty_folder(tmp_path: Path) -> None:
    """Unparsable JSON and a folder without vignettes are input errors."""
    with pytest.raises(InvalidInputError, match=r"no \*\.json"):
        load_vignettes(tmp_path)
    (tmp_path / "a.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"a\.json: not valid JSON"):
        load_vignettes(tmp_path)


def test_unknown_condition_id_is_rejected(kb: KnowledgeBase) -> None:
    """A diagnosis id the knowledge base does not know is an input error, not a miss."""
    v = _vignette("typo", ["hypokalaemia"], HYPOK)
    with pytest.raises(InvalidInputError, match="unknown condition id"):
        evaluate([v], kb)


def test_perturbed_kb_recompiles_with_clipped_links(kb: KnowledgeBase) -> None:
    """Perturbed links stay within [0.001, 0.999] and the copy scores differently."""
    import numpy as np

    copy = perturb_links(kb, np.random.default_rng(1), factor=0.9)
    assert all(0.001 <= lk.probability <= 0.999 for lk in copy.links)
    assert copy.network is not kb.network
    assert kb.links != copy.links


def test_sensitivity_is_reproducible(kb: KnowledgeBase) -> None:
    """Sensitivity with the same seed gives the same figures; zero factor changes nothing."""
    vs = [_vignette("k", ["hypokalemia"], HYPOK)]
    a = sensitivity(vs, kb, factor=0.5, runs=3, seed=7)
    b = sensitivity(vs, kb, factor=0.5, runs=3, seed=7)
    assert a == b
    same = sensitivity(vs, kb, factor=0.0, runs=2)
    assert same.top1 == (same.baseline_top1,) * 2
    assert same.mean_unchanged == 1.0
    assert "top-1 unchanged" in a.to_markdown()


def test_mini_kb_rejects_unknown_vignette_ids(mini_kb: KnowledgeBase) -> None:
    """Against a different knowledge base, vignettes naming its missing conditions are refused."""
    v = _vignette("k", ["kennedy_disease"], {"age": 30})
    if "kennedy_disease" in mini_kb.condition_index:  # pragma: no cover - depends on mini KB
        pytest.skip("mini KB has this condition")
    with pytest.raises(InvalidInputError):
        evaluate([v], mini_kb)


def test_builtin_kb_is_default(vignettes: tuple[Vignette, ...]) -> None:
    """evaluate() without a knowledge base uses the built-in one."""
    report = evaluate(vignettes[:1], workup=False)
    assert report.kb_sha256 == load_knowledge_base().sha256
