"""Knowledge base: loading, validation, graph export and node-link round trips."""

from __future__ import annotations

import io
import json
from pathlib import Path

import networkx as nx
import pytest

from tests.conftest import copy_mini_kb, edit_text
from twitchcds import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from twitchcds.knowledge.graph import to_graphml
from twitchcds.knowledge.loader import build_knowledge_base, read_sources
from twitchcds.knowledge.validation import citation_summary, validate


def test_mini_kb_loads_with_all_parts(mini_kb: KnowledgeBase) -> None:
    """The fixture knowledge base loads every file of the format."""
    assert [c.id for c in mini_kb.conditions] == ["benign_twitch", "low_k", "motor_neuron"]
    assert len(mini_kb.links) == 10
    assert mini_kb.lab_rules[0].loinc == ("2823-3",)
    assert mini_kb.history_rules[0].finding == "high_caffeine"
    assert mini_kb.hpo_present["HP:0003484"] == ("weakness",)
    assert mini_kb.hpo_release == "test"
    assert mini_kb.decision.miss_loss["critical"] == 49.0


def test_sha256_follows_the_content_not_the_layout(tmp_path: Path) -> None:
    """Comments and spacing leave the sha256 unchanged; one changed number changes it."""
    directory = copy_mini_kb(tmp_path)
    before = load_knowledge_base(directory).sha256
    edit_text(directory / "links.toml", "[links.benign_twitch]",
              "# a comment\n[links.benign_twitch]  ")
    assert load_knowledge_base(directory).sha256 == before
    edit_text(directory / "links.toml", "probability = 0.9,", "probability = 0.91,")
    assert load_knowledge_base(directory).sha256 != before


def test_sha256_is_the_same_from_toml_and_node_link(mini_kb: KnowledgeBase,
                                                     kb: KnowledgeBase) -> None:
    """The same knowledge read from TOML or from its node-link JSON has the same sha256."""
    for base in (mini_kb, kb):
        back = KnowledgeBase.from_node_link(json.loads(json.dumps(base.to_node_link())))
        assert back.sha256 == base.sha256
        assert back.canonical_json() == base.canonical_json()
        assert len(base.sha256) == 64


def test_sha256_changes_with_any_number_of_a_node_link_network(mini_kb: KnowledgeBase) -> None:
    """Editing a leak or a link of an export changes its sha256; 1 and 1.0 hash alike."""
    data = json.loads(json.dumps(mini_kb.to_node_link()))
    hashes = {KnowledgeBase.from_node_link(data).sha256}
    finding = next(n for n in data["nodes"] if n["kind"] == "finding")
    finding["leak"] += 0.001
    hashes.add(KnowledgeBase.from_node_link(data).sha256)
    data["links"][0]["probability"] /= 2
    hashes.add(KnowledgeBase.from_node_link(data).sha256)
    assert len(hashes) == 3
    cost = next(n for n in data["nodes"] if n["kind"] == "test")
    as_float = KnowledgeBase.from_node_link(data).sha256
    cost["cost"] = int(cost["cost"]) if float(cost["cost"]).is_integer() else cost["cost"]
    assert KnowledgeBase.from_node_link(data).sha256 == as_float


STRUCTURAL_ERRORS = [
    ("leak-not-number", "findings.toml", "leak = 0.05", 'leak = "0.05"',
     "findings.toml:findings.twitching"),
    ("unknown-key", "findings.toml", "leak = 0.05", "leak = 0.05\ncolour = 1",
     "findings.toml:findings.twitching"),
    ("probability-one", "links.toml", "probability = 0.9, references = [\"test_expert\"]",
     "probability = 1.0, references = [\"test_expert\"]",
     "links.toml:links.benign_twitch.twitching"),
    ("no-references", "links.toml", "probability = 0.9, references = [\"test_expert\"]",
     "probability = 0.9, references = []", "links.toml:links.benign_twitch.twitching"),
    ("bad-category", "conditions.toml", 'category = "benign"', 'category = "harmless"',
     "conditions.toml:conditions.benign_twitch"),
    ("toml-syntax", "tests.toml", "[tests.emg]", "[tests.emg", "tests.toml"),
    ("bad-level", "red_flags.toml", 'level = "soon"', 'level = "later"',
     "red_flags.toml:red_flags.weakness_with_twitching"),
]


@pytest.mark.parametrize(("case_id", "file", "old", "new", "path"), STRUCTURAL_ERRORS,
                         ids=[row[0] for row in STRUCTURAL_ERRORS])
def test_malformed_file_names_file_and_key(tmp_path: Path, case_id: str, file: str, old: str,
                                           new: str, path: str) -> None:
    """A malformed knowledge-base file raises KnowledgeBaseError naming the file and key."""
    del case_id
    directory = copy_mini_kb(tmp_path)
    edit_text(directory / file, old, new)
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(directory)
    assert any(p.path.startswith(path) for p in info.value.problems), info.value.problems


SEMANTIC_ERRORS = [
    ("unknown-reference", "links.toml", 'low_potassium = { probability = 0.98, references = '
     '["test_source"] }', 'low_potassium = { probability = 0.98, references = ["nope"] }',
     "unknown reference"),
    ("unknown-finding-in-link", "links.toml", "emg_denervation = {", "emg_denervatio = {",
     "unknown finding"),
    ("orphan-finding", "findings.toml", "[findings.emg_denervation]",
     '[findings.lonely]\nname = "x"\nkind = "sign"\nleak = 0.1\nleak_references = ["test_expert"]'
     "\n\n[findings.emg_denervation]", "orphan finding"),
    ("unreachable-condition", "links.toml", "high_caffeine = { probability = 0.4, references = "
     '["test_expert"] }', "", "unreachable"),
    ("unknown-red-flag-finding", "red_flags.toml", '"weakness"]', '"weaknes"]', "unknown finding"),
    ("malformed-code", "findings.toml", 'codes = ["HP:0002380"]', 'codes = ["HP:12"]',
     "malformed code"),
    ("malformed-icd", "conditions.toml", 'icd10cm = "R25.3"', 'icd10cm = "twitch"',
     "malformed ICD-10-CM"),
    ("duplicate-node-id", "references.toml", "[references.test_expert]",
     '[references.low_k]\ntitle = "x"\ndoi = "10.1/x"\n\n[references.test_expert]',
     "graph node ids must be unique"),
    ("expert-without-note", "references.toml",
     'note = "Round numbers chosen to make test expectations easy to reason about."', 'note = ""',
     "must give its reasoning"),
    ("unknown-history-field", "derivations.toml", 'field = "caffeine_mg_per_day"',
     'field = "coffee"', "unknown history field"),
    ("unknown-medication-class", "risk_factors.toml", 'medication_class = "diuretics"',
     'medication_class = "diuretic"', "unknown medication class"),
]


@pytest.mark.parametrize(("case_id", "file", "old", "new", "message"), SEMANTIC_ERRORS,
                         ids=[row[0] for row in SEMANTIC_ERRORS])
def test_validation_reports_semantic_errors(tmp_path: Path, case_id: str, file: str, old: str,
                                            new: str, message: str) -> None:
    """Validation reports cross-object errors, and loading with validation refuses them."""
    del case_id
    directory = copy_mini_kb(tmp_path)
    edit_text(directory / file, old, new)
    kb = build_knowledge_base(read_sources(directory))
    errors = [i for i in validate(kb) if i.severity == "error"]
    assert any(message in i.message for i in errors), errors
    with pytest.raises(KnowledgeBaseError):
        load_knowledge_base(directory)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A directory without a required file names the missing file."""
    directory = copy_mini_kb(tmp_path)
    (directory / "links.toml").unlink()
    with pytest.raises(KnowledgeBaseError, match=r"links\.toml"):
        load_knowledge_base(directory)


def test_builtin_kb_is_valid_and_complete(kb: KnowledgeBase) -> None:
    """The built-in knowledge base has no validation errors and every fixed id of DESIGN §7."""
    assert [i for i in validate(kb) if i.severity == "error"] == []
    fixed_conditions = {
        "benign_fasciculation_syndrome", "cramp_fasciculation_syndrome", "stress_anxiety",
        "caffeine_excess", "fatigue_overexertion", "sleep_deprivation", "dehydration",
        "hypokalemia", "hypomagnesemia", "hypocalcemia", "hyperthyroidism",
        "vitamin_b12_deficiency", "medication_induced", "organophosphate_poisoning",
        "amyotrophic_lateral_sclerosis", "progressive_muscular_atrophy", "peripheral_neuropathy",
        "radiculopathy", "multiple_sclerosis", "multifocal_motor_neuropathy",
        "spinal_muscular_atrophy", "kennedy_disease", "isaacs_syndrome", "post_polio_syndrome"}
    fixed_tests = {"emg", "nerve_conduction_study", "electrolyte_panel", "thyroid_function",
                   "creatine_kinase", "vitamin_b12", "glucose_hba1c", "mri_brain", "mri_spine",
                   "cholinesterase_activity", "genetic_smn1", "genetic_ar_cag"}
    assert fixed_conditions <= set(kb.condition_index)
    assert fixed_tests <= set(kb.test_index)


def test_citation_summary_counts_every_number(mini_kb: KnowledgeBase) -> None:
    """Every number is counted once, as published or expert estimate."""
    summary = citation_summary(mini_kb)
    assert summary["numbers"] == summary["published"] + summary["expert_estimate"]
    # 5 priors + 6 leaks + 10 links + 3 risk effects + 2 test costs + 1 lab band + 1 history
    # rule + 1 escalation
    assert summary["numbers"] == 29


def test_node_link_round_trip(mini_kb: KnowledgeBase) -> None:
    """from_node_link(to_node_link(kb)) gives back an equal knowledge base, through JSON text."""
    text = json.dumps(mini_kb.to_node_link())
    assert KnowledgeBase.from_node_link(json.loads(text)) == mini_kb


def test_builtin_node_link_round_trip_recomputes_scores(kb: KnowledgeBase) -> None:
    """The built-in knowledge base survives export and import, and scores identically."""
    back = KnowledgeBase.from_node_link(json.loads(json.dumps(kb.to_node_link())))
    assert back == kb
    present = ["fasciculations", "muscle_weakness"]
    assert back.posterior(present, ["muscle_atrophy"]) == kb.posterior(present, ["muscle_atrophy"])


def test_edited_export_gets_its_own_hash(mini_kb: KnowledgeBase) -> None:
    """An edited node-link export does not claim the hash of the knowledge base it came from."""
    data = mini_kb.to_node_link()
    same = KnowledgeBase.from_node_link(json.loads(json.dumps(data)))
    for node in data["nodes"]:
        if node["id"] == "low_k":
            node["prior"] = {"primary-care": 0.5}
    edited = KnowledgeBase.from_node_link(data)
    assert edited != mini_kb
    assert edited.sha256 != same.sha256
    assert same.sha256 == KnowledgeBase.from_node_link(mini_kb.to_node_link()).sha256


def test_node_link_has_the_contract_shape(mini_kb: KnowledgeBase) -> None:
    """Export nodes and links carry the attributes DESIGN §4 names."""
    data = mini_kb.to_node_link()
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["low_k"]["kind"] == "condition"
    assert nodes["low_k"]["prior"] == {"primary-care": 0.05}
    assert nodes["low_k"]["references"] == ["test_source"]
    assert nodes["twitching"]["leak"] == 0.05
    assert nodes["twitching"]["codes"] == ["HP:0002380"]
    assert nodes["test_expert"]["expert_estimate"] is True
    causes = [e for e in data["links"] if e["kind"] == "causes"]
    assert len(causes) == len(mini_kb.links)
    assert {"source", "target", "probability", "references"} <= set(causes[0])


def test_minimal_network_scores(mini_kb: KnowledgeBase) -> None:
    """A minimal node-link network (conditions, findings, causes, references) can be scored."""
    data = {"nodes": [
        {"id": "r", "kind": "reference", "title": "A study", "doi": "10.1/x"},
        {"id": "a", "kind": "condition", "prior": {"primary-care": 0.2}, "references": ["r"]},
        {"id": "b", "kind": "condition", "prior": {"primary-care": 0.1}, "references": ["r"]},
        {"id": "f", "kind": "finding", "leak": 0.01, "references": ["r"]}],
        "links": [{"source": "a", "target": "f", "kind": "causes", "probability": 0.5,
                   "references": ["r"]},
                  {"source": "b", "target": "f", "kind": "causes", "probability": 0.9,
                   "references": ["r"]}]}
    kb = KnowledgeBase.from_node_link(data)
    post = kb.posterior(["f"])
    # brute force by hand over the four configurations
    like = {(0, 0): 0.01, (1, 0): 1 - 0.99 * 0.5, (0, 1): 1 - 0.99 * 0.1,
            (1, 1): 1 - 0.99 * 0.5 * 0.1}
    prior = {(a, b): (0.2 if a else 0.8) * (0.1 if b else 0.9) for a in (0, 1) for b in (0, 1)}
    z = sum(like[k] * prior[k] for k in like)
    assert post["a"] == pytest.approx(sum(like[k] * prior[k] for k in like if k[0]) / z, abs=1e-12)
    assert post["b"] == pytest.approx(sum(like[k] * prior[k] for k in like if k[1]) / z, abs=1e-12)
    del mini_kb


def test_bad_node_link_is_a_library_error() -> None:
    """Malformed node-link data raises KnowledgeBaseError naming the node."""
    with pytest.raises(KnowledgeBaseError, match=r"nodes\[0\]"):
        KnowledgeBase.from_node_link({"nodes": [{"id": "x", "kind": "condition"}], "links": []})
    with pytest.raises(KnowledgeBaseError):
        KnowledgeBase.from_node_link({"links": []})


def test_graphml_export_reads_back_with_networkx(mini_kb: KnowledgeBase) -> None:
    """GraphML export is readable by networkx with the same nodes and edges as the graph."""
    text = to_graphml(mini_kb)
    graph = nx.read_graphml(io.BytesIO(text.encode()))
    expected = mini_kb.graph()
    assert set(graph.nodes) == set(expected.nodes)
    assert graph.number_of_edges() == expected.number_of_edges()


@pytest.mark.parametrize("hpo_map", [{"HP:0002380": [["fasciculations"]]},
                                     {"HP:0002380": "fasciculations"},
                                     {"HP:0002380": [1]}])
def test_node_link_with_malformed_hpo_map_is_refused(mini_kb: KnowledgeBase,
                                                     hpo_map: dict[str, object]) -> None:
    """An HPO map whose targets are not lists of ids is a KnowledgeBaseError, not a crash."""
    data = json.loads(json.dumps(mini_kb.to_node_link()))
    data["graph"]["hpo_present"] = hpo_map
    with pytest.raises(KnowledgeBaseError, match="HPO map"):
        KnowledgeBase.from_node_link(data)
