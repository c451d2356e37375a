"""Knowledge-base coverage summaries: HPO codes on findings and the phenotype denominator."""

from __future__ import annotations

import pytest

import twitchcds
from twitchcds.cli import main
from twitchcds.knowledge.validation import hpo_coverage


@pytest.fixture(scope="module")
def kb() -> twitchcds.KnowledgeBase:
    return twitchcds.load_knowledge_base()


def test_hpo_coverage_counts_are_consistent(kb: twitchcds.KnowledgeBase) -> None:
    """Coded findings are counted once; phenotype findings are a subset of all findings."""
    cov = hpo_coverage(kb)
    assert cov["findings"] == len(kb.findings)
    assert 0 <= cov["phenotype_coded"] <= cov["phenotype"] <= cov["findings"]
    assert cov["phenotype_coded"] <= cov["coded"] <= cov["findings"]


def test_derived_findings_leave_the_phenotype_denominator(kb: twitchcds.KnowledgeBase) -> None:
    """Lab severity bands, history items and genotype results are not phenotype findings."""
    cov = hpo_coverage(kb)
    for_sure = {"critical_low_potassium", "very_high_ck", "high_caffeine_intake", "smn1_deletion"}
    assert for_sure <= {f.id for f in kb.findings}
    lab = {b.finding for rule in kb.lab_rules for b in rule.bands}
    history = {rule.finding for rule in kb.history_rules}
    genetic = {"smn1_deletion", "ar_cag_expansion"}
    assert for_sure <= lab | history | genetic
    assert cov["phenotype"] == len(kb.findings) - len(lab | history | genetic)


def test_builtin_phenotype_findings_are_mostly_coded(kb: twitchcds.KnowledgeBase) -> None:
    """At least 90% of the built-in knowledge base's phenotype findings carry an HPO code."""
    cov = hpo_coverage(kb)
    assert cov["phenotype_coded"] / cov["phenotype"] >= 0.9


def test_kb_validate_prints_hpo_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    """kb validate reports the raw HPO share and the share over phenotype findings."""
    assert main(["kb", "validate"]) == 0
    out = capsys.readouterr().out
    assert "HPO codes on" in out
    assert "of phenotype findings" in out
