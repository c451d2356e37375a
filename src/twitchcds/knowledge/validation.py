"""Semantic checks of a knowledge base: ids, references, codes, reachability.

Structural problems (wrong types, unknown keys, probabilities outside (0, 1), numbers without a
reference list) are caught when the files are loaded; this module checks what spans objects.

Examples
--------
>>> from twitchcds import load_knowledge_base
>>> from twitchcds.knowledge.validation import validate
>>> [issue for issue in validate(load_knowledge_base()) if issue.severity == "error"]
[]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Literal

from attrs import fields, frozen

from twitchcds.errors import KnowledgeBaseError, Problem
from twitchcds.knowledge.model import (
    CODE_PATTERN,
    Condition,
    Finding,
    HistoryRule,
    LabRule,
    RedFlag,
    Reference,
    RiskFactor,
    Test,
)
from twitchcds.typing import SETTINGS

if TYPE_CHECKING:  # annotations only: graph validates through this module, and base uses graph
    from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["Issue", "citation_summary", "hpo_coverage", "raise_for_errors", "validate"]

ICD10CM_PATTERN = re.compile(r"^[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?$")
SNOMED_ID_PATTERN = re.compile(r"^\d{6,18}$")
LOINC_PATTERN = re.compile(r"^\d{1,7}-\d$")
ATC_PATTERN = re.compile(r"^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$")
MIN_FINDINGS_PER_CONDITION = 3


@frozen
class Issue:
    """One validation finding: ``error`` blocks loading, ``warning`` is reported only."""

    severity: Literal["error", "warning"]
    path: str
    message: str

    def __str__(self) -> str:
        """Return ``severity path: message``."""
        return f"{self.severity} {self.path}: {self.message}"


def _history_field_names() -> frozenset[str]:
    from twitchcds.case import History  # noqa: PLC0415  (knowledge must not import case eagerly)

    return frozenset(a.name for a in fields(History))


def _duplicates(kb: KnowledgeBase) -> Iterator[Issue]:
    groups: dict[str, tuple[Reference | Condition | Finding | RiskFactor | Test | RedFlag, ...]] = {
        "references.toml": kb.references, "conditions.toml": kb.conditions,
        "findings.toml": kb.findings, "risk_factors.toml": kb.risk_factors,
        "tests.toml": kb.tests, "red_flags.toml": kb.red_flags,
    }
    owner: dict[str, str] = {}
    for file, items in groups.items():
        for item in items:
            if item.id in owner:
                yield Issue("error", f"{file}:{item.id}",
                            f"id already used in {owner[item.id]}; graph node ids must be unique")
            owner.setdefault(item.id, file)
    seen: Counter[tuple[str, str]] = Counter((lk.condition, lk.finding) for lk in kb.links)
    for (condition, finding), count in seen.items():
        if count > 1:
            yield Issue("error", f"links.toml:links.{condition}.{finding}", "duplicate link")
    blocked: Counter[tuple[str, str]] = Counter((i.condition, i.finding) for i in kb.inhibitors)
    for (condition, finding), count in blocked.items():
        where = f"links.toml:inhibits.{condition}.{finding}"
        if count > 1:
            yield Issue("error", where, "duplicate inhibitor link")
        if (condition, finding) in seen:
            yield Issue("error", where, "a condition cannot both cause and inhibit a finding")


def _references(kb: KnowledgeBase) -> Iterator[Issue]:  # noqa: PLR0912  (one loop per object kind)
    known = kb.reference_index
    cited: list[tuple[str, tuple[str, ...]]] = [("meta.toml:decision", kb.decision.references)]
    for c in kb.conditions:
        cited.append((f"conditions.toml:conditions.{c.id}.prior_references", c.prior_references))
        for i, a in enumerate(c.advice):
            cited.append((f"conditions.toml:conditions.{c.id}.advice[{i}]", a.references))
        for i, esc in enumerate(c.escalations):
            cited.append((f"conditions.toml:conditions.{c.id}.escalations[{i}]", esc.references))
    for f in kb.findings:
        cited.append((f"findings.toml:findings.{f.id}.leak_references", f.leak_references))
    for lk in kb.links:
        cited.append((f"links.toml:links.{lk.condition}.{lk.finding}", lk.references))
    for inh in kb.inhibitors:
        cited.append((f"links.toml:inhibits.{inh.condition}.{inh.finding}", inh.references))
    for r in kb.risk_factors:
        for i, e in enumerate(r.effects):
            cited.append((f"risk_factors.toml:risk_factors.{r.id}.effects[{i}]", e.references))
    for t in kb.tests:
        cited.append((f"tests.toml:tests.{t.id}.cost_references", t.cost_references))
    for flag in kb.red_flags:
        cited.append((f"red_flags.toml:red_flags.{flag.id}.references", flag.references))
    for lab in kb.lab_rules:
        for i, band in enumerate(lab.bands):
            cited.append((f"derivations.toml:labs.{lab.id}.bands[{i}]", band.references))
    for i, rule in enumerate(kb.history_rules):
        cited.append((f"derivations.toml:history[{i}]", rule.references))
    for m in kb.medication_classes:
        cited.append((f"medications.toml:medication_classes.{m.id}.references", m.references))
    used: set[str] = set()
    for path, refs in cited:
        for ref in refs:
            used.add(ref)
            if ref not in known:
                yield Issue("error", path, f"unknown reference {ref!r}")
    for source in kb.references:
        if source.expert_estimate and not source.note.strip():
            yield Issue("error", f"references.toml:references.{source.id}.note",
                        "an expert estimate must give its reasoning in 'note'")
        if not source.expert_estimate and not (source.doi or source.url):
            yield Issue("error", f"references.toml:references.{source.id}",
                        "a published reference needs a doi or url")
        if source.id not in used:
            yield Issue("warning", f"references.toml:references.{source.id}",
                        "reference never cited")


def _ids(kb: KnowledgeBase) -> Iterator[Issue]:  # noqa: PLR0912  (one loop per object kind)
    conditions, findings = kb.condition_index, kb.finding_index
    for section, links in (("links", kb.links), ("inhibits", kb.inhibitors)):
        for lk in links:
            where = f"links.toml:{section}.{lk.condition}.{lk.finding}"
            if lk.condition not in conditions:
                yield Issue("error", where, f"unknown condition {lk.condition!r}")
            if lk.finding not in findings:
                yield Issue("error", where, f"unknown finding {lk.finding!r}")
    for c in kb.conditions:
        for test_id in c.confirmed_by:
            if test_id not in kb.test_index:
                yield Issue("error", f"conditions.toml:conditions.{c.id}.confirmed_by",
                            f"unknown test {test_id!r}")
    for t in kb.tests:
        for f in t.reveals:
            if f not in findings:
                yield Issue("error", f"tests.toml:tests.{t.id}.reveals", f"unknown finding {f!r}")
    for flag in kb.red_flags:
        where = f"red_flags.toml:red_flags.{flag.id}"
        if not flag.all_of and not flag.any_of:
            yield Issue("error", where, "needs all_of or any_of")
        for f in (*flag.all_of, *flag.any_of):
            if f not in findings and f not in kb.risk_factor_index:
                yield Issue("error", where, f"unknown finding or risk factor {f!r}")
        for test_id in flag.tests:
            if test_id not in kb.test_index:
                yield Issue("error", f"{where}.tests", f"unknown test {test_id!r}")
    for table in (kb.hpo_present, kb.hpo_absent):
        for term, targets in table.items():
            for target in targets:
                if target not in findings and target not in kb.risk_factor_index:
                    yield Issue("error", f"hpo_map.tsv:{term}", f"unknown finding {target!r}")


def _risk_factors(kb: KnowledgeBase) -> Iterator[Issue]:
    history_fields = _history_field_names()
    for r in kb.risk_factors:
        where = f"risk_factors.toml:risk_factors.{r.id}"
        for e in r.effects:
            if e.condition not in kb.condition_index:
                yield Issue("error", f"{where}.effects", f"unknown condition {e.condition!r}")
        if r.kind == "medication" and r.medication_class not in kb.medication_class_index:
            yield Issue("error", f"{where}.medication_class",
                        f"unknown medication class {r.medication_class!r}")
        if r.kind in {"history", "family-history"} and r.history_field not in history_fields:
            yield Issue("error", f"{where}.history_field",
                        f"unknown history field {r.history_field!r}")
        if r.kind == "age" and r.age_min is None and r.age_max is None:
            yield Issue("error", where, "an age risk factor needs age_min and/or age_max")
        if r.kind == "age" and r.age_min is not None and r.age_max is not None \
                and not r.age_min < r.age_max:
            yield Issue("error", where, "age_min must be below age_max (no age would match)")
        if r.kind == "sex" and r.sex not in {"female", "male"}:
            yield Issue("error", f"{where}.sex", "must be 'female' or 'male'")


def _lab_rule(lab: LabRule, loinc_owner: dict[str, str]) -> Iterator[Issue]:
    from twitchcds.errors import UnitConversionError  # noqa: PLC0415
    from twitchcds.units import normalise_unit  # noqa: PLC0415  (pint is imported lazily)

    where = f"derivations.toml:labs.{lab.id}"
    try:
        normalise_unit(lab.unit)
    except UnitConversionError as exc:
        yield Issue("error", f"{where}.unit",
                    f"unknown unit {lab.unit!r}: {exc.problems[0].message}")
    if lab.molar_mass is not None and lab.molar_mass <= 0:
        yield Issue("error", f"{where}.molar_mass", "must be a positive number of g/mol")
    if lab.valence == 0:
        yield Issue("error", f"{where}.valence", "must not be zero")
    if not lab.plausible_min < lab.plausible_max:
        yield Issue("error", where, "plausible_min must be below plausible_max")
    for i, band in enumerate(lab.bands):
        cut = band.below if band.below is not None else band.above
        if cut is not None and not lab.plausible_min < cut < lab.plausible_max:
            # Every accepted value would fall on one side: the finding could never be present
            # (or never absent), whatever the patient's result.
            yield Issue("error", f"{where}.bands[{i}]",
                        f"threshold {cut:g} is outside the plausible range "
                        f"{lab.plausible_min:g}-{lab.plausible_max:g} {lab.unit}")
    for code in lab.loinc:
        if code in loinc_owner:
            yield Issue("error", f"{where}.loinc",
                        f"LOINC {code!r} is already used by labs.{loinc_owner[code]}")
        loinc_owner.setdefault(code, lab.id)


def _history_kinds() -> dict[str, str]:
    """Kind of each history field: ``number``, ``flag`` or ``choice``."""
    import typing  # noqa: PLC0415

    from twitchcds.case import History  # noqa: PLC0415

    kinds: dict[str, str] = {}
    for name, hint in typing.get_type_hints(History).items():
        args = typing.get_args(hint)
        kinds[name] = "flag" if bool in args else "number" if float in args else "choice"
    return kinds


_CRITERIA = {"number": ("at_least", "below"), "flag": ("equals",), "choice": ("one_of",)}


def _history_rule(rule: HistoryRule, where: str, kinds: dict[str, str]) -> Iterator[Issue]:
    given = [name for name in ("at_least", "below", "equals", "one_of")
             if getattr(rule, name) not in (None, ())]
    if len(given) != 1:
        yield Issue("error", where, "give exactly one of 'at_least', 'below', 'equals' or "
                                    f"'one_of' (got {', '.join(given) or 'none'})")
        return
    kind = kinds.get(rule.field)
    if kind is not None and given[0] not in _CRITERIA[kind]:
        expected = " or ".join(repr(c) for c in _CRITERIA[kind])
        yield Issue("error", where, f"history field {rule.field!r} is a {kind}: use {expected}, "
                                    f"not {given[0]!r}")


def _rules(kb: KnowledgeBase) -> Iterator[Issue]:
    findings = kb.finding_index
    loinc_owner: dict[str, str] = {}
    for lab in kb.lab_rules:
        for i, band in enumerate(lab.bands):
            where = f"derivations.toml:labs.{lab.id}.bands[{i}]"
            if band.finding not in findings:
                yield Issue("error", where, f"unknown finding {band.finding!r}")
            if (band.below is None) == (band.above is None):
                yield Issue("error", where, "give exactly one of 'below' or 'above'")
        for code in lab.loinc:
            if not LOINC_PATTERN.match(code):
                yield Issue("error", f"derivations.toml:labs.{lab.id}.loinc",
                            f"malformed LOINC {code!r}")
        yield from _lab_rule(lab, loinc_owner)
    kinds = _history_kinds()
    for i, rule in enumerate(kb.history_rules):
        where = f"derivations.toml:history[{i}]"
        if rule.finding not in findings:
            yield Issue("error", where, f"unknown finding {rule.finding!r}")
        for name, ids in (("unless_absent", (rule.unless_absent,) if rule.unless_absent else ()),
                          ("only_with", rule.only_with)):
            for ident in ids:
                if ident not in findings:
                    yield Issue("error", f"{where}.{name}", f"unknown finding {ident!r}")
        if rule.field not in kinds:
            yield Issue("error", where, f"unknown history field {rule.field!r}")
        yield from _history_rule(rule, where, kinds)


def _codes(kb: KnowledgeBase) -> Iterator[Issue]:  # noqa: PLR0912  (one loop per code system)
    owner: dict[str, str] = {}
    items: tuple[Finding | RiskFactor, ...] = (*kb.findings, *kb.risk_factors)
    for item in items:
        where = (f"findings.toml:findings.{item.id}.codes" if isinstance(item, Finding)
                 else f"risk_factors.toml:risk_factors.{item.id}.codes")
        for code in item.codes:
            if not CODE_PATTERN.match(code):
                yield Issue("error", where, f"malformed code {code!r}")
            elif code in owner and owner[code] != item.id:
                # A case naming this code would silently count for the first item only.
                yield Issue("error", where, f"code {code!r} is already the code of "
                                            f"{owner[code]!r}")
            owner.setdefault(code, item.id)
    for f in kb.findings:
        for code in f.implied_by:
            if not code.startswith("HP:") or not CODE_PATTERN.match(code):
                yield Issue("error", f"findings.toml:findings.{f.id}.implied_by",
                            f"implied_by takes HPO terms, got {code!r}")
    for table in (kb.hpo_present, kb.hpo_absent):
        for term in table:
            if not CODE_PATTERN.match(term):
                yield Issue("error", f"hpo_map.tsv:{term}", f"malformed HPO term {term!r}")
    for c in kb.conditions:
        where = f"conditions.toml:conditions.{c.id}.codes"
        icd = c.codes.get("icd10cm")
        if icd is not None and not ICD10CM_PATTERN.match(icd):
            yield Issue("error", where, f"malformed ICD-10-CM code {icd!r}")
        snomed = c.codes.get("snomedct")
        if snomed is not None and not SNOMED_ID_PATTERN.match(snomed):
            yield Issue("error", where, f"malformed SNOMED CT id {snomed!r}")
    for m in kb.medication_classes:
        for code in m.atc_prefixes:
            if not ATC_PATTERN.match(code):
                yield Issue("error", f"medications.toml:medication_classes.{m.id}",
                            f"malformed ATC code {code!r}")


def _uncited(kb: KnowledgeBase) -> Iterator[Issue]:
    """Numbers of the noisy-OR model that name no reference (allowed in a user's network)."""
    numbers: list[tuple[str, tuple[str, ...]]] = [
        *((f"conditions.toml:conditions.{c.id}.prior_references", c.prior_references)
          for c in kb.conditions),
        *((f"findings.toml:findings.{f.id}.leak_references", f.leak_references)
          for f in kb.findings),
        *((f"links.toml:links.{lk.condition}.{lk.finding}", lk.references) for lk in kb.links),
        *((f"links.toml:inhibits.{i.condition}.{i.finding}", i.references)
          for i in kb.inhibitors),
    ]
    for path, refs in numbers:
        if not refs:
            yield Issue("error", path, "number cites no reference (name a published source or "
                                       "an expert estimate with its reasoning)")


def _structure(kb: KnowledgeBase) -> Iterator[Issue]:
    linked: Counter[str] = Counter(lk.finding for lk in kb.links)
    per_condition: Counter[str] = Counter(lk.condition for lk in kb.links)
    flagged = {f for flag in kb.red_flags for f in (*flag.all_of, *flag.any_of)}
    for f in kb.findings:
        # A finding no modelled cause explains may still be a red flag (a critical value, a
        # sign of respiratory failure): it triages, and scope reports it as unexplained.
        if not linked[f.id] and f.id not in flagged:
            yield Issue("error", f"findings.toml:findings.{f.id}",
                        "orphan finding: no condition links to it and no red flag names it")
    for c in kb.conditions:
        if per_condition[c.id] < MIN_FINDINGS_PER_CONDITION:
            yield Issue("error", f"conditions.toml:conditions.{c.id}",
                        f"unreachable: linked to {per_condition[c.id]} findings, "
                        f"needs at least {MIN_FINDINGS_PER_CONDITION}")
        for setting in SETTINGS:
            if setting not in c.prior:
                yield Issue("warning", f"conditions.toml:conditions.{c.id}.prior",
                            f"no prior for setting {setting!r}; the default setting's is used")


def validate(kb: KnowledgeBase) -> list[Issue]:
    """Return every semantic problem of ``kb`` (errors first, then warnings).

    Checks: unique ids across node kinds; links, inhibitor links, risk factors, tests, red
    flags, lab and history rules name known objects; no condition both causes and inhibits one
    finding; every cited reference exists; every prior, leak, link and inhibitor names a
    reference; expert estimates give reasoning; codes are well formed; no orphan findings (a
    finding no condition links to must be named by a red flag); every condition reaches at least
    three findings. (Probabilities outside their range are refused when the objects are built,
    naming the field.)

    A researcher's own network read by :meth:`KnowledgeBase.from_node_link
    <twitchcds.KnowledgeBase.from_node_link>` may leave numbers uncited and still score; this
    function reports each such number, as it reports the other editorial rules.

    Examples
    --------
    >>> from twitchcds import KnowledgeBase
    >>> kb = KnowledgeBase.from_node_link({"nodes": [
    ...     {"id": "flu", "kind": "condition", "prior": {"primary-care": 0.1}},
    ...     {"id": "fever", "kind": "finding", "leak": 0.01}],
    ...   "links": [{"source": "flu", "target": "fever", "kind": "causes", "probability": 0.8}]})
    >>> for issue in validate(kb):
    ...     if "cites no reference" in issue.message:
    ...         print(issue.path)
    conditions.toml:conditions.flu.prior_references
    findings.toml:findings.fever.leak_references
    links.toml:links.flu.fever
    """
    issues = [*_duplicates(kb), *_references(kb), *_ids(kb), *_risk_factors(kb), *_rules(kb),
              *_codes(kb), *_uncited(kb), *_structure(kb)]
    return sorted(issues, key=lambda i: i.severity != "error")


def semantic_errors(kb: KnowledgeBase) -> list[Issue]:
    """Return the error-level issues that make any network unusable (no editorial rules).

    Used for networks read from node-link data, which may be minimal (see
    :func:`twitchcds.knowledge.graph.from_node_link`).
    """
    issues = [*_duplicates(kb), *_references(kb), *_ids(kb), *_risk_factors(kb), *_rules(kb),
              *_codes(kb)]
    return [i for i in issues if i.severity == "error"]


def raise_for_errors(kb: KnowledgeBase) -> None:
    """Raise :class:`KnowledgeBaseError` listing every error-level issue of ``kb``."""
    errors = [Problem(i.path, i.message) for i in validate(kb) if i.severity == "error"]
    if errors:
        raise KnowledgeBaseError.from_problems(errors)


def citation_summary(kb: KnowledgeBase) -> dict[str, int]:
    """Count the knowledge base's numbers by what backs them.

    Returns ``{"numbers": n, "published": p, "expert_estimate": e, "uncited": u}``: a number
    counts as published when at least one of its references is not an expert estimate, as
    uncited when it names no reference, and as an expert estimate otherwise.
    """
    refs = kb.reference_index

    def published(ids: Iterable[str]) -> bool:
        return any(r in refs and not refs[r].expert_estimate for r in ids)

    groups: list[tuple[str, ...]] = []
    groups += [c.prior_references for c in kb.conditions for _ in c.prior]
    groups += [f.leak_references for f in kb.findings]
    groups += [lk.references for lk in kb.links]
    groups += [i.references for i in kb.inhibitors]
    groups += [e.references for r in kb.risk_factors for e in r.effects]
    groups += [t.cost_references for t in kb.tests]
    groups += [b.references for lab in kb.lab_rules for b in lab.bands]
    groups += [rule.references for rule in kb.history_rules]
    groups += [e.references for c in kb.conditions for e in c.escalations]
    n_published = sum(published(g) for g in groups)
    n_uncited = sum(not g for g in groups)
    return {"numbers": len(groups), "published": n_published,
            "expert_estimate": len(groups) - n_published - n_uncited, "uncited": n_uncited}


def hpo_coverage(kb: KnowledgeBase) -> dict[str, int]:
    """Count the findings that carry an HPO code, over all findings and over phenotype findings.

    Returns ``{"findings": n, "coded": c, "phenotype": p, "phenotype_coded": pc}``. Phenotype
    findings are those a record can name only by a phenotype term: every finding except those
    a derivation rule computes from a Case input coded outside HPO (a lab band, whose input is a
    LOINC value, or a history rule, whose input is a history field) and genotype results (the
    findings of the ``genetic_*`` tests). A derived finding may still carry an HPO code (a low
    potassium is also "Hypokalemia") and then counts in ``coded``; a severity band such as a
    critical potassium has no HPO term of the same meaning and is reached through its lab value.
    """
    derived = {b.finding for lab in kb.lab_rules for b in lab.bands}
    derived |= {rule.finding for rule in kb.history_rules}
    derived |= {f for t in kb.tests if t.id.startswith("genetic_") for f in t.reveals}

    def coded(finding_codes: Iterable[str]) -> bool:
        return any(c.startswith("HP:") for c in finding_codes)

    phenotype = [f for f in kb.findings if f.id not in derived]
    return {"findings": len(kb.findings), "coded": sum(coded(f.codes) for f in kb.findings),
            "phenotype": len(phenotype), "phenotype_coded": sum(coded(f.codes) for f in phenotype)}
