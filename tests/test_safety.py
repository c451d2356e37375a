"""Systematic safety: critical values, history entries, scope and the safety catalogue.

The red flags tested here come from systematic sources (critical-limit surveys, NICE NG127,
drug-class guidance), not from the evaluation vignettes: every critical band of every lab is
checked in every unit the lab accepts, whatever else the case holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.conftest import DATA
from twitchcds import KnowledgeBase, TwitchCDSError, assess, load_knowledge_base
from twitchcds.errors import UnitConversionError
from twitchcds.knowledge.model import LabBand, LabRule, RedFlag
from twitchcds.typing import TRIAGE_LEVELS
from twitchcds.units import convert_lab_value

KB = load_knowledge_base()
RANK = {level: i for i, level in enumerate(TRIAGE_LEVELS)}

# Labs the knowledge base reads that have no published critical limit, and why.
NO_CRITICAL_LIMIT = {
    "tsh": "no critical limit in the critical-limit surveys; thyroid danger is clinical",
    "free_t4": "no critical limit in the critical-limit surveys; thyroid storm is clinical",
    "vitamin_b12": "not a critical value; danger is cord involvement (flag b12_with_cord_signs)",
    "hba1c": "a chronic marker with no critical limit",
    "cholinesterase": "flagged below its method-dependent lower limit (low_cholinesterase_result)",
}
# The analytes the safety issue names; each needs a critical band (or an exemption above).
REQUIRED = ("potassium", "magnesium", "calcium", "ionized_calcium", "sodium", "glucose",
            "creatine_kinase", "phosphate", "tsh", "free_t4", "vitamin_b12")
CANDIDATE_UNITS = ("mmol/L", "mg/dL", "meq/L", "umol/L", "mg/L", "g/L", "U/L", "m[IU]/L",
                   "pg/mL", "pmol/L", "ng/dL", "ng/mL", "%", "mm[Hg]", "/min", "{beats}/min",
                   "Cel", "[degF]")


def _lab_flags(kb: KnowledgeBase) -> dict[str, RedFlag]:
    """The highest flag that a lab finding raises on its own (no other finding needed)."""
    flags: dict[str, RedFlag] = {}
    for flag in kb.red_flags:
        if flag.all_of:
            continue
        for finding in flag.any_of:
            if finding not in flags or RANK[flag.level] > RANK[flags[finding].level]:
                flags[finding] = flag
    return flags


LAB_FLAGS = _lab_flags(KB)


def _critical_bands() -> Iterator[tuple[LabRule, LabBand, RedFlag]]:
    for rule in KB.lab_rules:
        for band in rule.bands:
            flag = LAB_FLAGS.get(band.finding)
            if flag is not None and RANK[flag.level] >= RANK["urgent"]:
                yield rule, band, flag


CRITICAL = list(_critical_bands())


def _units(rule: LabRule) -> list[str]:
    """Every candidate unit the rule converts to and from."""
    accepted = []
    for unit in CANDIDATE_UNITS:
        try:
            convert_lab_value(1.0, unit, rule.unit, molar_mass=rule.molar_mass,
                              valence=rule.valence)
        except UnitConversionError:
            continue
        accepted.append(unit)
    return accepted


def _in_unit(rule: LabRule, value: float, unit: str) -> float:
    return convert_lab_value(value, rule.unit, unit, molar_mass=rule.molar_mass,
                             valence=rule.valence)


def test_every_required_lab_has_a_critical_band_or_a_documented_exemption() -> None:
    """Each analyte the safety issue names has a critical red flag, or a reason why not."""
    rules = {rule.id: rule for rule in KB.lab_rules}
    covered = {rule.id for rule, _, _ in CRITICAL}
    for lab in REQUIRED:
        assert lab in rules, f"the knowledge base does not read {lab}"
        assert lab in covered or lab in NO_CRITICAL_LIMIT, f"{lab} has no critical band"
    assert {"potassium", "magnesium", "calcium", "sodium", "glucose",
            "phosphate", "ionized_calcium"} <= {
        rule.id for rule, band, _ in CRITICAL if band.below is not None}


def test_every_critical_band_cites_a_published_source() -> None:
    """A critical limit is never an expert estimate alone."""
    refs = KB.reference_index
    for rule, band, _ in CRITICAL:
        assert any(not refs[r].expert_estimate for r in band.references), (rule.id, band)


@pytest.mark.parametrize(("rule", "band", "flag"), CRITICAL,
                         ids=[f"{r.id}-{b.finding}" for r, b, _ in CRITICAL])
@given(beyond=st.floats(min_value=0.001, max_value=0.5), data=st.data())
def test_critical_value_sets_its_floor_in_every_unit(rule: LabRule, band: LabBand,
                                                     flag: RedFlag, beyond: float,
                                                     data: st.DataObject) -> None:
    """A value past a critical limit triages at least at its flag's level, in every unit,
    whatever else the case holds."""
    cut = band.below if band.below is not None else band.above
    assert cut is not None
    value = cut * (1 - beyond) if band.below is not None else cut * (1 + beyond)
    assume(rule.plausible_min <= value <= rule.plausible_max)
    unit = data.draw(st.sampled_from(_units(rule)))
    others = data.draw(st.lists(st.sampled_from(OTHER_FINDINGS), max_size=4, unique=True))
    statuses = data.draw(st.lists(st.sampled_from(("present", "absent")),
                                  min_size=len(others), max_size=len(others)))
    case = {"labs": [{"loinc": rule.loinc[0], "value": _in_unit(rule, value, unit),
                      "unit": unit}],
            "findings": [{"id": f, "status": s} for f, s in zip(others, statuses, strict=True)]}
    result = assess(case, workup=False, explain=False)
    assert RANK[result.triage.level] >= RANK[flag.level]
    assert flag.id in {r.id for r in result.triage.reasons}


# Findings no lab derives: safe to add to a lab case without contradiction.
OTHER_FINDINGS = sorted(f.id for f in KB.findings if f.kind in {"symptom", "sign"})


def _case_strategy() -> st.SearchStrategy[dict[str, Any]]:
    findings = st.lists(st.tuples(st.sampled_from(OTHER_FINDINGS),
                                  st.sampled_from(("present", "absent"))),
                        min_size=1, max_size=6, unique_by=lambda t: t[0])
    return st.builds(lambda fs, age: {"age": age, "findings": [{"id": f, "status": s}
                                                               for f, s in fs]},
                     findings, st.integers(min_value=18, max_value=90))


@given(case=_case_strategy(),
       history=st.lists(st.sampled_from(sorted(f.id for f in KB.findings)), min_size=1,
                        max_size=5, unique=True))
def test_history_entries_never_change_triage(case: dict[str, Any], history: list[str]) -> None:
    """Entries marked ``current: false`` never raise (or change) the triage level."""
    with_history = {**case, "findings": [*case["findings"],
                                         *({"id": f, "status": "present", "current": False}
                                           for f in history)]}
    before = assess(case, workup=False, explain=False)
    after = assess(with_history, workup=False, explain=False)
    assert after.triage.level == before.triage.level
    assert after.probabilities == before.probabilities
    assert len(after.unused_inputs) == len(before.unused_inputs) + len(history)


def test_a_seizure_years_ago_is_not_an_emergency_now() -> None:
    """A past seizure on the problem list does not fire the seizure flag; a current one does."""
    past = assess({"age": 50, "findings": [{"id": "seizure", "status": "present",
                                            "current": False}]})
    now = assess({"age": 50, "findings": [{"id": "seizure", "status": "present"}]})
    assert past.triage.level == "self-care"
    assert now.triage.level == "emergency"


NON_COMPLAINTS = sorted(f.id for f in KB.findings
                        if not f.complaint and f.kind in {"symptom", "sign"})


@given(present=st.lists(st.sampled_from(NON_COMPLAINTS), max_size=4, unique=True),
       age=st.integers(min_value=0, max_value=110),
       sex=st.sampled_from(("female", "male", "other", "unknown")))
def test_no_complaint_is_out_of_scope(present: list[str], age: int, sex: str) -> None:
    """Without a neuromuscular complaint the scope is ``no-complaint``: no condition advice,
    and triage comes from red flags alone."""
    result = assess({"age": age, "sex": sex,
                     "findings": [{"id": f, "status": "present"} for f in present]})
    assert result.scope.status == "no-complaint"
    assert all(item.condition is None for item in result.advice)
    assert all(reason.kind == "red-flag" for reason in result.triage.reasons)


ORPHANS = sorted(f.id for f in KB.findings
                 if f.id not in KB.caused_findings and f.kind != "history")


@given(orphan=st.sampled_from(ORPHANS), complaint=st.sampled_from(
    sorted(f.id for f in KB.findings if f.complaint and f.kind in {"symptom", "sign"})))
def test_unexplained_findings_are_never_self_care(orphan: str, complaint: str) -> None:
    """A finding no modelled cause explains makes the scope ``unexplained`` and triage at
    least routine, with the finding named."""
    assume(orphan != complaint)
    result = assess({"findings": [{"id": complaint, "status": "present"},
                                  {"id": orphan, "status": "present"}]})
    assert result.scope.status == "unexplained"
    assert orphan in result.scope.findings
    assert RANK[result.triage.level] >= RANK["routine"]
    assert "not explained by the causes twitchcds knows" in result.scope.text


def test_acute_weakness_from_history_is_urgent() -> None:
    """Weakness that began days ago (NICE NG127) is at least urgent; years ago it is not."""
    acute = assess({"findings": [{"id": "muscle_weakness", "status": "present"}],
                    "history": {"weakness_onset_days": 1}})
    chronic = assess({"findings": [{"id": "muscle_weakness", "status": "present"}],
                      "history": {"weakness_onset_days": 400}})
    assert RANK[acute.triage.level] >= RANK["urgent"]
    assert RANK[chronic.triage.level] < RANK["urgent"]

# --- the safety catalogue ----------------------------------------------------------------------

CATALOGUE: list[dict[str, Any]] = json.loads(
    (DATA / "safety_catalogue.json").read_text(encoding="utf-8"))
# written from systemic-emergency guidelines (NEWS2, NICE NG51, Hunter criteria, ...); its own
# checks are in test_safety_systemic.py, its triage test is the one below
SYSTEMIC: list[dict[str, Any]] = json.loads(
    (DATA / "safety_catalogue_systemic.json").read_text(encoding="utf-8"))


def test_catalogue_is_large_and_cited() -> None:
    """The catalogue holds at least 80 cases, each with a cited sentence and a minimum level."""
    assert len(CATALOGUE) >= 80
    assert len({c["id"] for c in CATALOGUE}) == len(CATALOGUE)
    refs = KB.reference_index
    for entry in CATALOGUE:
        assert entry["quote"].strip(), entry["id"]
        assert entry["source"] in refs or entry["source"].startswith("http"), entry["id"]
        assert entry["min_level"] in RANK, entry["id"]


@pytest.mark.parametrize("entry", CATALOGUE + SYSTEMIC,
                         ids=[c["id"] for c in CATALOGUE + SYSTEMIC])
def test_catalogue_case_is_never_under_triaged(entry: dict[str, Any]) -> None:
    """Each guideline-derived case triages at least at the level its cited sentence implies."""
    try:
        result = assess(entry["case"], workup=False)
    except TwitchCDSError as exc:  # pragma: no cover - a failure message, not a branch
        pytest.fail(f"{entry['id']}: {exc}")
    assert RANK[result.triage.level] >= RANK[entry["min_level"]], (
        entry["id"], result.triage.level, entry["min_level"])


# --- regression guard on the team's own vignettes ------------------------------------------------

VIGNETTES = sorted((Path(__file__).parent.parent / "evaluation" / "vignettes").glob("*.json"))


@pytest.mark.parametrize("path", VIGNETTES, ids=[p.stem for p in VIGNETTES])
def test_team_vignette_is_never_under_triaged(path: Path) -> None:
    """No vignette triages below every level its authors accept (scope must not mask a flag)."""
    vignette = json.loads(path.read_text(encoding="utf-8"))
    level = assess(vignette["case"], workup=False).triage.level
    assert RANK[level] >= min(RANK[x] for x in vignette["triage_acceptable"]), (path.stem, level)


@given(case=_case_strategy())
def test_leak_only_bound_never_undercuts_the_exact_value(case: dict[str, Any]) -> None:
    """The posterior bound that lets scope skip an inference is never below the exact value."""
    from twitchcds.case import Case
    from twitchcds.compiled import compile_model
    from twitchcds.evidence import derive_evidence
    from twitchcds.priors import case_priors
    from twitchcds.scope import leak_only, leak_only_bound
    from twitchcds.scoring import Scorer

    evidence = derive_evidence(Case.from_dict(case), KB)
    model = compile_model(KB)
    scorer = Scorer.for_priors(KB, model,
                               case_priors(model, None, evidence.risk_factors).adjusted)
    result = scorer.run(evidence.present, evidence.absent)
    for finding in evidence.present & KB.caused_findings:
        exact = leak_only(scorer, evidence.present, evidence.absent, finding,
                          result.log_evidence)
        bound = leak_only_bound(model, finding, result.probabilities)
        assert exact <= bound + 1e-9, (finding, exact, bound)
