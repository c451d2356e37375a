"""Evidence derivation: turn a :class:`~twitchcds.case.Case` into findings and risk factors.

Findings named by id or code, history values, lab results and medications all become
``present``/``absent`` findings of the knowledge base (or active risk factors). Every derived or
mapped finding is reported with what it came from; any problem (unknown id or code, unknown LOINC,
unconvertible unit, implausible value, contradiction) is collected and raised at once.

Examples
--------
>>> from twitchcds import Case, load_knowledge_base
>>> from twitchcds.evidence import derive_evidence
>>> case = Case.from_dict({"labs": [{"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"}]})
>>> ev = derive_evidence(case, load_knowledge_base())
>>> "low_potassium" in ev.present
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from attrs import evolve, frozen

from twitchcds.case import Case, FindingInput, LabResult, Medication
from twitchcds.errors import (
    ContradictionError,
    InvalidCaseError,
    Problem,
    TwitchCDSError,
    UnitConversionError,
    UnknownCodeError,
)
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.model import HistoryRule, LabRule, RiskFactor
from twitchcds.typing import Status
from twitchcds.units import convert_lab_value

__all__ = ["DerivedFinding", "Evidence", "UnusedInput", "derive_evidence"]


@frozen
class DerivedFinding:
    """A finding the case implies, with the input it came from (``source``, a JSON path + why)."""

    finding: str
    status: Status
    source: str


@frozen
class UnusedInput:
    """An input the knowledge base could not use (e.g. an absent HPO descendant), and why."""

    path: str
    reason: str


@frozen
class Evidence:
    """Findings and risk factors of a case, in knowledge-base terms.

    ``derived`` lists every finding that did not come verbatim from ``$.findings[i].id``.
    """

    present: frozenset[str]
    absent: frozenset[str]
    risk_factors: tuple[str, ...]
    derived: tuple[DerivedFinding, ...]
    unused: tuple[UnusedInput, ...] = ()

    def status(self, finding: str) -> Status | None:
        """Return ``present``, ``absent`` or ``None`` (not observed)."""
        if finding in self.present:
            return "present"
        if finding in self.absent:
            return "absent"
        return None


@frozen
class _Fact:
    finding: str
    status: Status
    path: str
    source: str
    derived: bool


class _Collector:
    """Gather facts, active risk factors and problems while walking the case."""

    def __init__(self) -> None:
        self.facts: list[_Fact] = []
        self.risk_factors: dict[str, None] = {}
        self.unused: list[UnusedInput] = []
        self.problems: list[tuple[type[TwitchCDSError], Problem]] = []

    def fact(self, finding: str, status: Status, path: str, source: str, *,
             derived: bool = True) -> None:
        self.facts.append(_Fact(finding, status, path, source, derived))

    def problem(self, kind: type[TwitchCDSError], path: str, message: str, value: Any) -> None:
        self.problems.append((kind, Problem(path, message, value)))


def _history_entry(kb: KnowledgeBase, item: FindingInput, path: str, out: _Collector) -> None:
    """Place a history entry (``current: false``) and report it; it is never evidence."""
    probe = _Collector()
    _finding_input(kb, evolve(item, current=None), path, probe)
    out.problems.extend(probe.problems)
    if probe.problems:
        return
    named = sorted({f.finding for f in probe.facts} | set(probe.risk_factors))
    what = ", ".join(named) if named else "nothing the knowledge base uses"
    out.unused.append(UnusedInput(path, f"history entry (current: false; {item.status}: {what}): "
                                        "not current, so not used as evidence or for red "
                                        "flags"))


def _finding_input(kb: KnowledgeBase, item: FindingInput, path: str, out: _Collector) -> None:
    if not item.is_current:
        _history_entry(kb, item, path, out)
        return
    if item.id is not None:
        if item.id in kb.finding_index:
            out.fact(item.id, item.status, f"{path}.id", item.id, derived=False)
        elif item.id in kb.risk_factor_index and kb.risk_factor_index[item.id].kind in {
                "comorbidity", "exposure"}:
            if item.status == "present":
                out.risk_factors[item.id] = None
        else:
            out.problem(UnknownCodeError, f"{path}.id", "unknown finding id", item.id)
        return
    code = item.code
    assert code is not None  # noqa: S101  (Case guarantees exactly one of id/code)
    _finding_code(kb, code, item.status, f"{path}.code", out)


def _finding_code(kb: KnowledgeBase, code: str, status: Status, path: str,
                  out: _Collector) -> None:
    direct = kb.code_index.get(code)
    if direct is not None and direct in kb.risk_factor_index:
        if status == "present":
            out.risk_factors[direct] = None
        return
    if status == "present":
        targets = (direct,) if direct is not None else kb.hpo_present.get(code, ())
        how = "code of this finding" if direct is not None else "HPO is-a: descendant of"
    else:
        targets = kb.hpo_absent.get(code, (direct,) if direct is not None else ())
        how = "absent code rules out this finding and its HPO descendants"
    if not targets:
        if status == "absent" and code in kb.hpo_present:
            out.unused.append(UnusedInput(path, "an absent descendant says nothing about its "
                                                "ancestor finding"))
            return
        out.problem(UnknownCodeError, path, "code cannot be placed under any finding", code)
        return
    for target in targets:
        if target in kb.risk_factor_index:
            if status == "present":
                out.risk_factors[target] = None
            continue
        out.fact(target, status, path, f"{code} ({how} {target})")


def _history(kb: KnowledgeBase, case: Case, out: _Collector) -> None:
    reported_absent = {f.finding for f in out.facts if f.status == "absent"}
    reported_present = {f.finding for f in out.facts if f.status == "present"}
    for rule in kb.history_rules:
        value = getattr(case.history, rule.field, None)
        if value is None or (rule.only_with and reported_present.isdisjoint(rule.only_with)):
            continue
        source = f"history.{rule.field} = {value!r}"
        if rule.unless_absent is not None and rule.unless_absent in reported_absent:
            out.fact(rule.finding, "absent", f"$.history.{rule.field}",
                     f"{source}, but {rule.unless_absent} is reported absent")
            continue
        out.fact(rule.finding, _history_status(rule, value), f"$.history.{rule.field}", source)


def _history_status(rule: HistoryRule, value: Any) -> Status:
    if rule.one_of:
        hit = value in rule.one_of
    elif rule.equals is not None:
        hit = value is rule.equals
    elif rule.at_least is not None:
        hit = value >= rule.at_least
    else:
        hit = rule.below is not None and value < rule.below
    return "present" if hit else "absent"


def _lab_rule(kb: KnowledgeBase, loinc: str) -> LabRule | None:
    for rule in kb.lab_rules:
        if loinc in rule.loinc:
            return rule
    return None


def _lab(kb: KnowledgeBase, lab: LabResult, path: str, out: _Collector) -> None:
    rule = _lab_rule(kb, lab.loinc)
    if rule is None:
        out.problem(UnknownCodeError, f"{path}.loinc", "LOINC code not used by the knowledge base",
                    lab.loinc)
        return
    try:
        value = convert_lab_value(lab.value, lab.unit, rule.unit, molar_mass=rule.molar_mass,
                                  valence=rule.valence, path=f"{path}.unit")
    except UnitConversionError as exc:
        out.problems.extend((UnitConversionError, p) for p in exc.problems)
        return
    if not (math.isfinite(value) and rule.plausible_min <= value <= rule.plausible_max):
        out.problem(InvalidCaseError, f"{path}.value",
                    f"implausible {rule.name} value {value:g} {rule.unit} (possible range "
                    f"{rule.plausible_min:g}-{rule.plausible_max:g})", lab.value)
        return
    shown = f"{rule.name} {lab.value:g} {lab.unit}"
    if lab.unit != rule.unit:
        shown += f" = {value:.3g} {rule.unit}"
    for band in rule.bands:
        if band.below is not None:
            hit, cut = value < band.below, f"< {band.below:g}"
        else:
            hit, cut = value > (band.above or 0.0), f"> {band.above:g}"
        out.fact(band.finding, "present" if hit else "absent", f"{path}",
                 f"{shown} ({'' if hit else 'not '}{cut} {rule.unit})")


def _medication_classes(kb: KnowledgeBase, med: Medication) -> Iterator[str]:
    name = (med.name or "").strip().lower()
    for cls in kb.medication_classes:
        if (name and name in cls.names) or (med.rxnorm and med.rxnorm in cls.rxnorm) or (
                med.atc and any(med.atc.startswith(p) for p in cls.atc_prefixes)):
            yield cls.id


_FROM_FINDINGS = frozenset({"comorbidity", "exposure"})
"""Risk factor kinds only a finding entry activates (:func:`_finding_input`), never a case field."""


def _risk_factor_active(rf: RiskFactor, case: Case, classes: set[str]) -> bool:
    if rf.kind == "age":
        return case.age is not None and (rf.age_min is None or case.age >= rf.age_min) and (
            rf.age_max is None or case.age < rf.age_max)
    if rf.kind == "sex":
        return case.sex is not None and case.sex == rf.sex
    if rf.kind == "medication":
        return rf.medication_class in classes
    if rf.kind in {"history", "family-history"} and rf.history_field:
        return getattr(case.history, rf.history_field, None) is True
    return False


def _merge(out: _Collector) -> tuple[dict[str, Status], list[DerivedFinding]]:
    status: dict[str, Status] = {}
    first_path: dict[str, str] = {}
    derived: list[DerivedFinding] = []
    for fact in out.facts:
        seen = status.get(fact.finding)
        if seen is not None and seen != fact.status:
            out.problem(ContradictionError, fact.path,
                        f"finding {fact.finding!r} is {fact.status} here but {seen} at "
                        f"{first_path[fact.finding]}", fact.finding)
            continue
        status[fact.finding] = fact.status
        first_path.setdefault(fact.finding, fact.path)
        if fact.derived:
            derived.append(DerivedFinding(fact.finding, fact.status, fact.source))
    return status, derived


def _check_lab_logic(kb: KnowledgeBase, status: dict[str, Status], out: _Collector) -> None:
    """Refuse statuses that no single lab value could produce (e.g. severe low K, but not low)."""
    if not any(s == "present" and f in kb.lab_constraints_of for f, s in status.items()):
        return  # no link starts at a present finding
    where: dict[str, str] = {}
    for a, b, implies in kb.lab_constraints:
        if status.get(a) != "present" or status.get(b) != ("absent" if implies else "present"):
            continue
        where = where or {f.finding: f.path for f in out.facts}  # only for a problem
        if implies:
            out.problem(ContradictionError, where[b],
                        f"{b!r} cannot be absent while {a!r} is present ({where[a]})", b)
        else:
            out.problem(ContradictionError, where[b],
                        f"{b!r} and {a!r} ({where[a]}) cannot both be present", b)


def _raise(problems: list[tuple[type[TwitchCDSError], Problem]]) -> None:
    kinds = {kind for kind, _ in problems}
    cls = kinds.pop() if len(kinds) == 1 else InvalidCaseError
    raise cls.from_problems([p for _, p in problems])


def derive_evidence(case: Case, kb: KnowledgeBase) -> Evidence:
    """Derive knowledge-base findings and active risk factors from ``case``.

    Parameters
    ----------
    case : Case
        A validated case.
    kb : KnowledgeBase
        Supplies finding ids, codes, the HPO map, lab and history rules and medication classes.

    Returns
    -------
    Evidence

    Raises
    ------
    UnknownCodeError, UnitConversionError, ContradictionError, InvalidCaseError
        With every problem found (a single kind raises that class, a mix raises
        :class:`InvalidCaseError`).
    """
    out = _Collector()
    for i, item in enumerate(case.findings):
        _finding_input(kb, item, f"$.findings[{i}]", out)
    _history(kb, case, out)
    for i, lab in enumerate(case.labs):
        _lab(kb, lab, f"$.labs[{i}]", out)
    classes: set[str] = set()
    for i, med in enumerate(case.medications):
        found = set(_medication_classes(kb, med))
        if not found:
            out.unused.append(UnusedInput(f"$.medications[{i}]",
                                          "not in any medication class of the knowledge base"))
        classes |= found
    for rf in kb.risk_factors:
        if rf.kind not in _FROM_FINDINGS and _risk_factor_active(rf, case, classes):
            out.risk_factors[rf.id] = None
    status, derived = _merge(out)
    _check_lab_logic(kb, status, out)
    if out.problems:
        _raise(out.problems)
    return Evidence(
        present=frozenset(f for f, s in status.items() if s == "present"),
        absent=frozenset(f for f, s in status.items() if s == "absent"),
        risk_factors=tuple(rf.id for rf in kb.risk_factors if rf.id in out.risk_factors),
        derived=tuple(derived), unused=tuple(out.unused),
    )
