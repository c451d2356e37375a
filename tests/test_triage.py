"""Triage on the built-in knowledge base: red flags are floors no probability can lower."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from twitchcds import KnowledgeBase, assess, load_knowledge_base
from twitchcds.advice import advise
from twitchcds.compiled import compile_model
from twitchcds.triage import level_rank, triage

KB = load_knowledge_base()
MODEL = compile_model(KB)
ASKABLE = sorted(f.id for f in KB.findings if f.kind in {"symptom", "sign"})


def _flag_findings(kb: KnowledgeBase, flag_id: str) -> list[str]:
    """Finding ids (and comorbidity/exposure risk factors) that fire the flag."""
    flag = next(f for f in kb.red_flags if f.id == flag_id)
    return [x for x in (*flag.all_of, *flag.any_of[:1]) if not _is_medication(kb, x)]


def _is_medication(kb: KnowledgeBase, ident: str) -> bool:
    rf = kb.risk_factor_index.get(ident)
    return rf is not None and rf.kind == "medication"


def _flag_medications(kb: KnowledgeBase, flag_id: str) -> list[dict[str, str]]:
    """A medication (by generic name) for each medicine risk factor the flag needs."""
    flag = next(f for f in kb.red_flags if f.id == flag_id)
    out = []
    for ident in (*flag.all_of, *flag.any_of[:1]):
        if _is_medication(kb, ident):
            cls = kb.medication_class_index[str(kb.risk_factor_index[ident].medication_class)]
            out.append({"name": cls.names[0]})
    return out


@settings(max_examples=60)
@given(flag=st.sampled_from([f.id for f in KB.red_flags]),
       extra=st.dictionaries(st.sampled_from(ASKABLE), st.sampled_from(["present", "absent"]),
                             max_size=8),
       age=st.integers(16, 90))
def test_red_flag_is_a_floor(flag: str, extra: dict[str, str], age: int) -> None:
    """Whatever else is present or absent, a fired red flag's level is the minimum triage."""
    required = _flag_findings(KB, flag)
    findings: list[dict[str, Any]] = [{"id": f, "status": "present"} for f in required]
    findings += [{"id": f, "status": s} for f, s in extra.items() if f not in required]
    result = assess({"age": age, "findings": findings,
                     "medications": _flag_medications(KB, flag)}, KB, workup=False, explain=False)
    level = next(f.level for f in KB.red_flags if f.id == flag)
    assert level_rank(result.triage.level) >= level_rank(level)
    assert flag in {r.id for r in result.triage.reasons}


def test_emergency_flags_force_emergency() -> None:
    """Any emergency red flag makes the triage emergency, however benign the rest looks."""
    emergency = [f for f in KB.red_flags if f.level == "emergency"]
    assert emergency, "the built-in knowledge base should have emergency red flags"
    benign = [{"id": "muscle_weakness", "status": "absent"},
              {"id": "muscle_atrophy", "status": "absent"}]
    for flag in emergency:
        findings = [{"id": f, "status": "present"} for f in _flag_findings(KB, flag.id)]
        findings += [b for b in benign if b["id"] not in {f["id"] for f in findings}]
        result = assess({"age": 25, "findings": findings, "history": {"sleep_hours_per_night": 8},
                         "medications": _flag_medications(KB, flag.id)}, KB, workup=False)
        assert result.triage.level == "emergency", flag.id


@given(present=st.sets(st.sampled_from(sorted(KB.finding_index))),
       more=st.sets(st.sampled_from(sorted(KB.finding_index))),
       probs=st.lists(st.floats(0, 1), min_size=len(KB.conditions),
                      max_size=len(KB.conditions)),
       bumps=st.lists(st.floats(0, 1), min_size=len(KB.conditions),
                      max_size=len(KB.conditions)))
def test_triage_is_monotone(present: set[str], more: set[str], probs: list[float],
                            bumps: list[float]) -> None:
    """More present findings and higher posteriors never lower the triage level."""
    ids = [c.id for c in KB.conditions]
    low = triage(MODEL, frozenset(present), dict(zip(ids, probs, strict=True)))
    high_probs = [min(1.0, p + b) for p, b in zip(probs, bumps, strict=True)]
    high = triage(MODEL, frozenset(present | more), dict(zip(ids, high_probs, strict=True)))
    assert level_rank(high.level) >= level_rank(low.level)


def test_medicine_flags_need_the_medicine() -> None:
    """A flag that combines a medicine with symptoms fires only when the medicine is taken, and is
    only offered in the safety net to patients who take it."""
    case: dict[str, Any] = {"age": 70, "findings": [{"id": "muscle_weakness", "status": "present"}]}
    without = assess(case, KB, workup=False, explain=False)
    assert "weakness_on_thiazide" not in {r.id for r in without.triage.reasons}
    assert not any("thiazide" in a.text for a in without.advice)
    with_drug = assess({**case, "medications": [{"name": "hydrochlorothiazide"}]}, KB,
                       workup=False, explain=False)
    assert "weakness_on_thiazide" in {r.id for r in with_drug.triage.reasons}
    assert level_rank(with_drug.triage.level) >= level_rank("urgent")
    on_lithium = assess({"age": 40, "findings": [{"id": "fasciculations", "status": "present"}],
                         "medications": [{"name": "lithium carbonate"}]}, KB,
                        workup=False, explain=False)
    assert any("lithium" in a.text for a in on_lithium.advice if a.kind == "safety-net")


@settings(max_examples=40)
@given(present=st.sets(st.sampled_from(sorted(KB.finding_index)), max_size=6))
def test_safety_net_lists_only_noticeable_flags(present: set[str]) -> None:
    """The safety net never asks the person to watch for a lab result or a medicine they do not
    take: each listed flag can still fire through symptoms or signs alone."""
    probs = {c.id: 0.1 for c in KB.conditions}
    items = advise(MODEL, probs, frozenset(present))
    texts = {i.text for i in items if i.kind == "safety-net"}
    measured = {"lab", "test"}
    for flag in KB.red_flags:
        if not any(t.endswith(flag.text) for t in texts):
            continue
        for ident in flag.all_of:
            finding = KB.finding_index.get(ident)
            assert ident in present or (finding is not None and finding.kind not in measured)
        if flag.any_of:
            assert any(KB.finding_index.get(x) is not None
                       and KB.finding_index[x].kind not in measured for x in flag.any_of)


@settings(max_examples=40)
@given(present=st.sets(st.sampled_from(sorted(KB.finding_index)), max_size=4),
       leading=st.sampled_from(sorted(KB.condition_index)))
def test_safety_net_puts_flags_about_this_person_first(present: set[str], leading: str) -> None:
    """A safety-net flag naming nothing present and no finding of a likely condition is never
    listed before one that does (so a twitching case is not told to watch for shock first)."""
    probs = {c.id: 0.0 for c in KB.conditions} | {leading: 0.9}
    items = advise(MODEL, probs, frozenset(present))
    near = set(present) | {lk.finding for lk in KB.links if lk.condition == leading}
    by_text = {f"Seek care ({f.level}) if this develops: {f.text}": f for f in KB.red_flags}
    related = [not near.isdisjoint({*by_text[i.text].all_of, *by_text[i.text].any_of})
               for i in items if i.kind == "safety-net" and i.condition is None]
    assert related == sorted(related, reverse=True)


_NAMES = sorted({n for f in KB.red_flags for n in (*f.all_of, *f.any_of)}
                | {f.id for f in KB.findings})


@settings(max_examples=200)
@given(st.frozensets(st.sampled_from(_NAMES), max_size=12))
def test_fired_red_flags_equal_a_scan_of_every_flag(present: frozenset[str]) -> None:
    """The index of flags by the ids they name finds exactly the flags a full scan finds."""
    from twitchcds.triage import fired_red_flags

    scan = tuple(f for f in KB.red_flags if set(f.all_of) <= present
                 and (not f.any_of or not present.isdisjoint(f.any_of)))
    assert fired_red_flags(MODEL, present) == scan
