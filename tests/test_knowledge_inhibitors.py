"""Inhibitor links in the knowledge base: TOML, node-link, validation, scores, explanations."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import copy_mini_kb, edit_text
from twitchcds import KnowledgeBase, KnowledgeBaseError, assess, load_knowledge_base
from twitchcds.case import Case
from twitchcds.compiled import compile_model
from twitchcds.evidence import derive_evidence
from twitchcds.inference._brute import brute_force
from twitchcds.knowledge.loader import build_knowledge_base, read_sources
from twitchcds.knowledge.validation import citation_summary, validate
from twitchcds.outcomes import batched_outcomes
from twitchcds.priors import case_priors
from twitchcds.scoring import Scorer
from twitchcds.workup import (
    _question_values,
    _value,
    expected_loss,
    rank_tests,
)

INHIBITS = """
# Evidence against a cause: benign twitching has no weakness and no denervation by definition.
[inhibits.benign_twitch]
weakness = { probability = 0.9, references = ["test_expert"] }
emg_denervation = { probability = 0.95, references = ["test_source"] }
"""

MINI_FINDINGS = ("twitching", "weakness", "cramps", "low_potassium", "high_caffeine",
                 "emg_denervation")


def _with_inhibitors(tmp_path: Path) -> Path:
    directory = copy_mini_kb(tmp_path)
    with (directory / "links.toml").open("a", encoding="utf-8") as out:
        out.write(INHIBITS)
    return directory


@pytest.fixture(scope="module")
def inhibited_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The mini knowledge base plus two inhibitor links on its benign condition."""
    return load_knowledge_base(_with_inhibitors(tmp_path_factory.mktemp("inhibited")))


def _logit(p: float) -> float:
    p = min(max(p, 1e-15), 1 - 1e-15)
    return math.log(p) - math.log1p(-p)


# --- loading and exchange --------------------------------------------------------------------

def test_inhibits_table_loads(inhibited_kb: KnowledgeBase) -> None:
    """``[inhibits.<condition>]`` in links.toml loads as inhibitor links, valid and cited."""
    assert [(i.condition, i.finding, i.probability) for i in inhibited_kb.inhibitors] == [
        ("benign_twitch", "weakness", 0.9), ("benign_twitch", "emg_denervation", 0.95)]
    assert inhibited_kb.inhibitor_index["benign_twitch", "weakness"].references == (
        "test_expert",)
    assert not [i for i in validate(inhibited_kb) if i.severity == "error"]
    assert inhibited_kb.network.n_inhibitors == 2
    # 29 numbers in the mini knowledge base, plus the two strengths
    assert citation_summary(inhibited_kb)["numbers"] == 31


def test_node_link_carries_inhibitor_links(inhibited_kb: KnowledgeBase) -> None:
    """Export writes ``inhibits`` links; import reads them back to an equal knowledge base."""
    data = json.loads(json.dumps(inhibited_kb.to_node_link()))
    inhibits = [e for e in data["links"] if e["kind"] == "inhibits"]
    assert {(e["source"], e["target"], e["probability"]) for e in inhibits} == {
        ("benign_twitch", "weakness", 0.9), ("benign_twitch", "emg_denervation", 0.95)}
    assert all(set(e) == {"source", "target", "kind", "probability", "references"}
               for e in inhibits)
    back = KnowledgeBase.from_node_link(data)
    assert back == inhibited_kb
    assert back.sha256 == inhibited_kb.sha256
    present, absent = ["twitching", "weakness"], ["emg_denervation"]
    assert back.posterior(present, absent) == inhibited_kb.posterior(present, absent)


def test_inhibitor_links_change_the_hash(inhibited_kb: KnowledgeBase,
                                         mini_kb: KnowledgeBase) -> None:
    """Adding inhibitor links, or changing a strength, gives another sha256."""
    assert inhibited_kb.sha256 != mini_kb.sha256
    data = inhibited_kb.to_node_link()
    next(e for e in data["links"] if e["kind"] == "inhibits")["probability"] = 0.5
    assert KnowledgeBase.from_node_link(data).sha256 != inhibited_kb.sha256


# --- validation ------------------------------------------------------------------------------

BAD_TOML = [
    ("unknown-condition", "[inhibits.benign_twitch]", "[inhibits.benign_twich]",
     "links.toml:inhibits.benign_twich.weakness", "unknown condition"),
    ("unknown-finding", "]\nweakness = { probability = 0.9", "]\nweaknes = { probability = 0.9",
     "links.toml:inhibits.benign_twitch.weaknes", "unknown finding"),
    ("unknown-reference", '0.95, references = ["test_source"]', '0.95, references = ["nope"]',
     "links.toml:inhibits.benign_twitch.emg_denervation", "unknown reference"),
    ("uncited", '0.95, references = ["test_source"]', "0.95, references = []",
     "links.toml:inhibits.benign_twitch.emg_denervation", "cites no reference"),
    ("cause-and-inhibitor", "]\nweakness = { probability = 0.9",
     "]\ntwitching = { probability = 0.9",
     "links.toml:inhibits.benign_twitch.twitching", "both cause and inhibit"),
]


@pytest.mark.parametrize(("old", "new", "path", "message"), [row[1:] for row in BAD_TOML],
                         ids=[row[0] for row in BAD_TOML])
def test_validation_checks_inhibitor_links(tmp_path: Path, old: str, new: str, path: str,
                                           message: str) -> None:
    """Validation reports a bad inhibitor link at its ``links.toml:inhibits`` key."""
    directory = _with_inhibitors(tmp_path)
    edit_text(directory / "links.toml", old, new)
    issues = validate(build_knowledge_base(read_sources(directory)))
    assert any(i.path == path and message in i.message and i.severity == "error"
               for i in issues), issues
    with pytest.raises(KnowledgeBaseError):
        load_knowledge_base(directory)


@pytest.mark.parametrize("probability", [0.0, 1.0, 1.5, -0.1, "0.9"])
def test_out_of_range_strength_is_refused_in_toml(tmp_path: Path, probability: object) -> None:
    """A strength outside (0, 1) (or not a number) is refused, naming the TOML key."""
    directory = _with_inhibitors(tmp_path)
    edit_text(directory / "links.toml", "]\nweakness = { probability = 0.9",
              f"]\nweakness = {{ probability = {json.dumps(probability)}")
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(directory)
    assert any(p.path.startswith("links.toml:inhibits.benign_twitch.weakness")
               for p in info.value.problems), info.value.problems


def _minimal(**link: Any) -> dict[str, Any]:
    return {"nodes": [
        {"id": "r", "kind": "reference", "title": "A study", "doi": "10.1/x"},
        {"id": "mnd", "kind": "condition", "prior": {"primary-care": 0.05}, "references": ["r"]},
        {"id": "bfs", "kind": "condition", "prior": {"primary-care": 0.3}, "references": ["r"]},
        {"id": "twitch", "kind": "finding", "leak": 0.1, "references": ["r"]},
        {"id": "weak", "kind": "finding", "leak": 0.02, "references": ["r"]}],
        "links": [
            {"source": "mnd", "target": "twitch", "kind": "causes", "probability": 0.9,
             "references": ["r"]},
            {"source": "bfs", "target": "twitch", "kind": "causes", "probability": 0.95,
             "references": ["r"]},
            {"source": "mnd", "target": "weak", "kind": "causes", "probability": 0.9,
             "references": ["r"]},
            {"source": "bfs", "target": "weak", "kind": "inhibits", "references": ["r"],
             "probability": 0.9, **link}]}


@pytest.mark.parametrize(("link", "message"), [
    pytest.param({"probability": 1.5}, "probability must be in", id="above-one"),
    pytest.param({"probability": 0.0}, "probability must be in", id="zero"),
    pytest.param({"source": "nobody"}, "unknown condition", id="unknown-condition"),
    pytest.param({"references": ["missing"]}, "unknown reference", id="unknown-reference"),
])
def test_bad_node_link_inhibitor_is_refused(link: dict[str, Any], message: str) -> None:
    """A node-link ``inhibits`` link with a bad strength, end or reference is refused."""
    with pytest.raises(KnowledgeBaseError, match=message) as info:
        KnowledgeBase.from_node_link(_minimal(**link))
    assert info.value.path.startswith(("$.links[3]", "links.toml:inhibits.")), info.value.path


def test_minimal_network_with_inhibitor_scores_like_brute_force() -> None:
    """A researcher's network with an ``inhibits`` link scores exactly (brute force)."""
    kb = KnowledgeBase.from_node_link(_minimal())
    post = kb.posterior(["twitch", "weak"])
    truth, _ = brute_force(kb.network, np.array([0.05, 0.3]), [0, 1], [])
    assert list(post.values()) == pytest.approx(truth.tolist(), abs=1e-12)
    plain = _minimal()
    plain["links"].pop()
    without = KnowledgeBase.from_node_link(plain).posterior(["twitch", "weak"])
    assert post["bfs"] < without["bfs"] / 5


# --- uncited numbers in a user's network (DESIGN section 4) ----------------------------------

def test_uncited_minimal_network_scores_and_validation_reports_it() -> None:
    """A minimal network whose numbers name no reference loads, scores, and is reported."""
    data = _minimal()
    for item in (*data["nodes"], *data["links"]):
        item.pop("references", None)
    data["nodes"] = [n for n in data["nodes"] if n["kind"] != "reference"]
    kb = KnowledgeBase.from_node_link(data)
    post = kb.posterior(["twitch"], ["weak"])
    assert all(0.0 < p < 1.0 for p in post.values())
    uncited = sorted(i.path for i in validate(kb) if "cites no reference" in i.message)
    assert uncited == ["conditions.toml:conditions.bfs.prior_references",
                       "conditions.toml:conditions.mnd.prior_references",
                       "findings.toml:findings.twitch.leak_references",
                       "findings.toml:findings.weak.leak_references",
                       "links.toml:inhibits.bfs.weak", "links.toml:links.bfs.twitch",
                       "links.toml:links.mnd.twitch", "links.toml:links.mnd.weak"]
    assert citation_summary(kb) == {"numbers": 8, "published": 0, "expert_estimate": 0,
                                    "uncited": 8}


def test_one_uncited_leak_is_reported_not_refused() -> None:
    """A single leak without references is accepted by from_node_link and reported once."""
    data = _minimal()
    del data["nodes"][3]["references"]
    kb = KnowledgeBase.from_node_link(data)
    assert kb.finding_index["twitch"].leak_references == ()
    assert kb.posterior(["twitch"])["bfs"] > 0.3
    issues = [i for i in validate(kb) if "cites no reference" in i.message]
    assert [i.path for i in issues] == ["findings.toml:findings.twitch.leak_references"]


# --- assessments and explanations ------------------------------------------------------------

@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """Random valid cases over the mini knowledge base's findings."""
    chosen = draw(st.lists(st.sampled_from(MINI_FINDINGS), unique=True, min_size=1))
    return {"findings": [{"id": f, "status": draw(st.sampled_from(["present", "absent"]))}
                         for f in chosen]}


@given(case=cases())
def test_explanations_sum_to_the_change_with_inhibitors(inhibited_kb: KnowledgeBase,
                                                         case: dict[str, Any]) -> None:
    """With inhibitor links, each condition's weights still sum to its log-odds change."""
    result = assess(case, inhibited_kb, workup=False)
    for row in result.differential:
        total = sum(e.weight for e in row.evidence)
        assert total == pytest.approx(_logit(row.probability) - _logit(row.prior), abs=1e-6)


def test_present_inhibited_finding_weighs_log_one_minus_strength(
        inhibited_kb: KnowledgeBase) -> None:
    """Present weakness alone lowers the benign condition by log(1 - s), citing the inhibitor."""
    result = assess({"findings": [{"id": "weakness", "status": "present"}]}, inhibited_kb,
                    workup=False)
    row = next(r for r in result.differential if r.id == "benign_twitch")
    weight = next(e for e in row.evidence if e.finding == "weakness")
    assert weight.weight == pytest.approx(math.log(1 - 0.9), abs=1e-9)
    assert weight.references == ("test_expert",)
    assert weight.status == "present"


def test_absent_inhibited_finding_is_no_evidence_against(inhibited_kb: KnowledgeBase) -> None:
    """An absent inhibited finding leaves its exclusion node unobserved: no inhibitor weight."""
    result = assess({"findings": [{"id": "twitching", "status": "present"},
                                  {"id": "emg_denervation", "status": "absent"}]},
                    inhibited_kb, workup=False)
    benign = next(r for r in result.differential if r.id == "benign_twitch")
    assert all(e.finding != "emg_denervation" for e in benign.evidence)
    motor = next(r for r in result.differential if r.id == "motor_neuron")
    link = inhibited_kb.link_index["motor_neuron", "emg_denervation"]
    weight = next(e for e in motor.evidence if e.finding == "emg_denervation")
    assert weight.weight == pytest.approx(math.log1p(-link.probability), abs=1e-12)


def test_work_up_runs_on_inhibited_findings(inhibited_kb: KnowledgeBase) -> None:
    """Test outcomes over inhibited findings are possible and their probabilities sum to one."""
    result = assess({"findings": [{"id": "twitching", "status": "present"},
                                  {"id": "weakness", "status": "absent"}]}, inhibited_kb)
    assert result.method == "exact"
    for test in result.all_tests:
        if test.outcomes:
            assert sum(o.probability for o in test.outcomes) == pytest.approx(1.0)


# --- the work-up against brute force on random small networks ----------------------------------

@st.composite
def small_networks(draw: st.DrawFn) -> tuple[KnowledgeBase, dict[str, Any]]:
    """A random minimal network with cause and inhibitor links, tests, and a case over it."""
    n_c, n_f = draw(st.integers(2, 4)), draw(st.integers(3, 6))
    probs = st.sampled_from([0.05, 0.3, 0.7, 0.95, 0.999])
    nodes: list[dict[str, Any]] = [{"id": "r", "kind": "reference", "title": "A study",
                                    "doi": "10.1/x"}]
    nodes += [{"id": f"c{i}", "kind": "condition", "references": ["r"],
               "prior": {"primary-care": draw(st.sampled_from([0.01, 0.1, 0.4]))}}
              for i in range(n_c)]
    nodes += [{"id": f"f{j}", "kind": "finding", "references": ["r"],
               "leak": draw(st.sampled_from([0.01, 0.05, 0.2]))} for j in range(n_f)]
    links: list[dict[str, Any]] = []
    for i in range(n_c):
        for j in range(n_f):
            kind = draw(st.sampled_from(["causes", "causes", "inhibits", None, None]))
            if kind is not None:
                links.append({"source": f"c{i}", "target": f"f{j}", "kind": kind,
                              "probability": draw(probs), "references": ["r"]})
    statuses = draw(st.lists(st.sampled_from(["present", "absent", None]), min_size=n_f,
                             max_size=n_f))
    if all(s is None for s in statuses):
        statuses[0] = "present"  # a case needs at least one finding
    unknown = [f"f{j}" for j, s in enumerate(statuses) if s is None]
    for t in range(2):
        reveals = draw(st.lists(st.sampled_from(unknown), unique=True, max_size=3)
                       if unknown else st.just([]))
        nodes.append({"id": f"t{t}", "kind": "test", "name": f"Test {t}", "cost": 1.0,
                      "cost_references": ["r"], "reveals": reveals or [f"f{t}"]})
    case = {"findings": [{"id": f"f{j}", "status": s} for j, s in enumerate(statuses)
                         if s is not None]}
    return KnowledgeBase.from_node_link({"nodes": nodes, "links": links}), case


def _brute_outcomes(kb: KnowledgeBase, priors: np.ndarray, present: set[str], absent: set[str],
                    findings: list[str]) -> list[tuple[float, np.ndarray]]:
    """Probability (normalised over the outcomes) and posterior of each joint result."""
    pos = kb.finding_position
    rows = []
    for combo in itertools.product(("present", "absent"), repeat=len(findings)):
        shown = present | {f for f, s in zip(findings, combo, strict=True) if s == "present"}
        hidden = absent | {f for f, s in zip(findings, combo, strict=True) if s == "absent"}
        rows.append(brute_force(kb.network, priors, sorted(pos[f] for f in shown),
                                sorted(pos[f] for f in hidden)))
    top = max(log_ev for _, log_ev in rows)
    total = math.fsum(math.exp(log_ev - top) for _, log_ev in rows)
    return [(math.exp(log_ev - top) / total, post) for post, log_ev in rows]


@settings(max_examples=40, deadline=None)
@given(small_networks())
def test_work_up_matches_brute_force(drawn: tuple[KnowledgeBase, dict[str, Any]]) -> None:
    """Outcome probabilities and posteriors of every test, and question values, equal brute force.

    Showing an inhibited finding present observes its exclusion evidence too; outcomes are
    normalised over the possible results, as the work-up does.
    """
    kb, payload = drawn
    case = Case.from_dict(payload)
    evidence = derive_evidence(case, kb)
    model = compile_model(kb)
    priors = case_priors(model, case.setting, evidence.risk_factors)
    scorer = Scorer.for_priors(kb, model, priors.adjusted)
    base = scorer.run(evidence.present, evidence.absent)
    truth = brute_force(kb.network, scorer.priors, sorted(kb.finding_position[f]
                                                          for f in evidence.present),
                        sorted(kb.finding_position[f] for f in evidence.absent))
    assert np.abs(base.probabilities - truth[0]).max() <= 1e-9
    tests = {t.id: t for t in rank_tests(scorer, evidence, base.probabilities,
                                         base.log_evidence)}
    loss = expected_loss(model, base.probabilities)
    for test in kb.tests:
        unknown = [f for f in test.reveals if evidence.status(f) is None]
        if not unknown:
            continue
        want = _brute_outcomes(kb, scorer.priors, set(evidence.present), set(evidence.absent),
                               unknown)
        got = batched_outcomes(scorer, evidence, unknown, base.log_evidence)
        assert got is not None
        for (_, p, post), (p_true, post_true) in zip(got, want, strict=True):
            assert p == pytest.approx(p_true, abs=1e-9)
            assert np.abs(post - post_true).max() <= 1e-9
        ranked = tests[test.id]
        assert [o.probability for o in ranked.outcomes] == pytest.approx(
            [p for p, _ in want], abs=1e-9)
        value = _value(model, loss, [(pairs, p, post) for (pairs, _, _), (p, post)
                                  in zip(got, want, strict=True)])
        assert ranked.value == pytest.approx(value, abs=1e-9)
    ids = [f.id for f in kb.findings if evidence.status(f.id) is None]
    values = _question_values(scorer, evidence, base.log_evidence, ids=ids,
                              base_loss=loss)
    for f, value in zip(ids, values, strict=True):
        want = _brute_outcomes(kb, scorer.priors, set(evidence.present), set(evidence.absent),
                               [f])
        outcomes = [(((f, s),), p, post) for s, (p, post) in zip(("present", "absent"), want,
                                                                  strict=True)]
        assert value == pytest.approx(_value(model, loss, outcomes), abs=1e-9)
