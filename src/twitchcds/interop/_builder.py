"""Build a Case v1 dictionary from an external document, keeping track of where each item came from.

Importers (FHIR, Phenopackets) feed items to a :class:`CaseBuilder` with their origin (JSON path
in the input document). The builder checks each item against the knowledge base (items it cannot
place are skipped and reported), keeps only the most recent of repeated results, builds the
:class:`~twitchcds.case.Case` with :meth:`~twitchcds.case.Case.from_dict`, derives the evidence once
so that a returned case always assesses, and reports any problem at the input document's paths
(``$.entry[3].resource.valueQuantity.code``) rather than at the case's (``$.labs[0].unit``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

import attrs
from attrs import frozen

from twitchcds._validate import DURATION_DAYS, MAX_ITEMS
from twitchcds.case import Case
from twitchcds.errors import (
    ContradictionError,
    InvalidInputError,
    Problem,
    TwitchCDSError,
    UnitConversionError,
)
from twitchcds.evidence import derive_evidence
from twitchcds.interop._conflicts import Candidate, facts_of, resolve
from twitchcds.interop._lab_codes import EXTRA_LOINC
from twitchcds.interop._report import (
    Conflict,
    HistoryItem,
    ImportResult,
    SkippedResource,
    UsedResource,
)
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.model import LabRule
from twitchcds.typing import Status
from twitchcds.units import convert_lab_value

__all__ = ["WEAKNESS_FINDINGS", "CaseBuilder", "NothingToAssessError", "Origin", "parse_when"]

WEAKNESS_FINDINGS: Final = frozenset({"muscle_weakness", "proximal_weakness", "distal_weakness"})
"""Findings whose earliest dated onset in a record gives ``history.weakness_onset_days``."""

_CASE_PATH: Final = re.compile(r"\$\.(?:findings|labs|medications)\[[0-9]+\]|\$\.(?:age|sex)\b")


class NothingToAssessError(InvalidInputError):
    """Raised when nothing in a record can be used by the knowledge base (path ``$``).

    The CDS Hooks service answers such a request with no cards rather than an error.
    """

    prefix = "nothing to assess"


@frozen
class Origin:
    """Where an item came from: resource type and id, JSON path, field paths, and its date.

    ``fields`` maps a case field (``value``, ``unit``, ``status``) to its path below ``path``.
    ``when`` orders repeated sources; ``onset`` is when the finding began, if the source says
    (a Condition's ``onset[x]`` or ``recordedDate``, an Observation's effective start).
    """

    resource_type: str
    id: str | None
    path: str
    fields: Mapping[str, str] = {}
    when: datetime | None = None
    onset: datetime | None = None


def parse_when(text: Any) -> datetime | None:
    """Parse a FHIR date/dateTime/instant (partial dates allowed) for ordering; ``None`` if not.

    Examples
    --------
    >>> parse_when("2024-03").isoformat()
    '2024-03-01T00:00:00+00:00'
    >>> parse_when("2024-03-05T10:00:00Z").hour, parse_when("soon")
    (10, None)
    """
    if not isinstance(text, str):
        return None
    padded = text + "-01-01"[len(text) - 4:] if len(text) in {4, 7} else text
    try:
        parsed = datetime.fromisoformat(padded.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _newest_first(origin: Origin, order: int) -> tuple[float, int]:
    stamp = origin.when.timestamp() if origin.when else -math.inf
    return (-stamp, -order)


class CaseBuilder:
    """Collect case items with their origins; check them against ``kb``; build the case."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.scalars: dict[str, tuple[Any, Origin]] = {}
        self.findings: list[tuple[str, Status, Origin]] = []
        self.labs: list[tuple[dict[str, Any], LabRule, Origin]] = []
        self.medications: list[tuple[dict[str, str], Origin]] = []
        self.skipped: list[SkippedResource] = []
        self.problems: list[tuple[type[TwitchCDSError], Problem]] = []
        self.conflicts: list[Conflict] = []
        self.history: list[HistoryItem] = []
        self.past_findings: list[tuple[str, Status, Origin, int]] = []
        self.given_history: dict[str, Any] = {}
        self.notes: list[str] = []
        self.deceased = False
        self.used_notes: dict[str, str] = {}
        self.facts_cache: dict[str, dict[str, Status]] = {}

    def past(self, origin: Origin, reason: str, finding: tuple[str, Status] | None = None,
             ) -> None:
        """Record an entry read as history (past, not current).

        With ``finding`` (a code the knowledge base can place, and its status) the entry also
        goes into the case as a history entry (``"current": false``); without, it is only
        reported (a lab result, a code nothing places).
        """
        self.history.append(HistoryItem(origin.resource_type, origin.id, origin.path, reason))
        if finding is not None:
            code, status = finding
            self.past_findings.append((code, status, origin, len(self.history) - 1))

    def skip(self, origin: Origin, reason: str) -> None:
        """Record an item that carries nothing the knowledge base can use."""
        self.skipped.append(SkippedResource(origin.resource_type, origin.id, origin.path, reason))

    def problem(self, path: str, message: str, value: Any = None,
                kind: type[TwitchCDSError] = InvalidInputError) -> None:
        """Record a malformed item (raised, with all others, by :meth:`build`)."""
        self.problems.append((kind, Problem(path, message, value)))

    def scalar(self, key: str, value: Any, origin: Origin) -> None:
        """Set ``age`` or ``sex``."""
        self.scalars[key] = (value, origin)

    def placeable(self, code: str, status: Status) -> str | None:
        """Return why the knowledge base cannot use ``code`` with ``status``, or ``None``."""
        kb = self.kb
        direct = kb.code_index.get(code)
        if direct is not None and direct in kb.risk_factor_index:
            return None if status == "present" else "an absent risk factor changes nothing"
        if status == "present" and (direct or code in kb.hpo_present):
            return None
        if status == "absent" and (direct or code in kb.hpo_absent):
            return None
        if status == "absent" and code in kb.hpo_present:
            return f"absent {code} says nothing about its ancestor findings"
        return f"code {code} cannot be placed under any finding of the knowledge base"

    def finding(self, code: str, status: Status, origin: Origin) -> bool:
        """Add a finding code if the knowledge base can place it (else skip); return if added."""
        reason = self.placeable(code, status)
        if reason is not None:
            self.skip(origin, reason)
            return False
        self.findings.append((code, status, origin))
        return True

    def lab_rule(self, loinc: str) -> LabRule | None:
        """Return the knowledge base's rule for a LOINC code, if any (extra codes included)."""
        resolved = self.resolve_loinc(loinc)
        return resolved[1] if resolved else None

    def resolve_loinc(self, loinc: str) -> tuple[str, LabRule] | None:
        """Return ``(canonical LOINC, rule)`` for a rule's own code or an extra code mapped to it.

        Extra codes (``knowledge/data/lab_codes.toml``) are read as the canonical code of the
        rule they map to, when the knowledge base in use has that rule.
        """
        rule = next((r for r in self.kb.lab_rules if loinc in r.loinc), None)
        if rule is not None:
            return loinc, rule
        extra = EXTRA_LOINC.get(loinc)
        if extra is None:
            return None
        rule = next((r for r in self.kb.lab_rules if extra.canonical in r.loinc), None)
        return (extra.canonical, rule) if rule is not None else None

    def lab(self, loinc: str, value: float, unit: str, origin: Origin) -> None:
        """Add a lab result; the unit must convert and the value be plausible (else a problem)."""
        resolved = self.resolve_loinc(loinc)
        if resolved is None:
            self.skip(origin, f"LOINC {loinc} is not used by the knowledge base")
            return
        canonical, rule = resolved
        if canonical != loinc:
            self.used_notes[origin.path] = (f"LOINC {loinc} ({EXTRA_LOINC[loinc].name}) read as "
                                            f"{canonical}")
            loinc = canonical
        unit_path = origin.path + origin.fields.get("unit", "")
        try:
            converted = convert_lab_value(value, unit, rule.unit, molar_mass=rule.molar_mass,
                                          valence=rule.valence, path=unit_path)
        except UnitConversionError as exc:
            self.problems.extend((UnitConversionError, p) for p in exc.problems)
            return
        if not rule.plausible_min <= converted <= rule.plausible_max:
            self.problem(origin.path + origin.fields.get("value", ""),
                         f"implausible {rule.name} value {converted:g} {rule.unit} (possible "
                         f"range {rule.plausible_min:g}-{rule.plausible_max:g})", value)
            return
        self.labs.append(({"loinc": loinc, "value": value, "unit": unit}, rule, origin))

    def medication(self, entry: dict[str, str], origin: Origin) -> None:
        """Add a medication (``rxnorm``/``atc``/``name``) if a medication class knows it."""
        name = entry.get("name", "")
        for cls in self.kb.medication_classes:
            if (name in cls.names or entry.get("rxnorm") in cls.rxnorm
                    or any(entry.get("atc", "").startswith(p) for p in cls.atc_prefixes)):
                self.medications.append((entry, origin))
                return
        self.skip(origin, "medication is in no medication class of the knowledge base")

    def _dedupe(self) -> tuple[list[tuple[str, Status, Origin]], list[tuple[dict[str, Any],
                                                                            Origin]]]:
        """Keep the newest of repeated codes and of repeated results for one analyte."""
        findings: list[tuple[str, Status, Origin]] = []
        by_code: dict[str, list[tuple[int, str, Status, Origin]]] = {}
        for i, (code, status, origin) in enumerate(self.findings):
            by_code.setdefault(code, []).append((i, code, status, origin))
        for rows in by_code.values():
            rows.sort(key=lambda r: _newest_first(r[3], r[0]))
            keep = rows[0]
            kept = [keep]
            for row in rows[1:]:
                if row[2] == keep[2]:
                    self.skip(row[3], f"{row[1]} is already {row[2]} at {keep[3].path}")
                elif keep[3].when and row[3].when and keep[3].when > row[3].when:
                    self.skip(row[3], f"superseded by the more recent {keep[3].path}")
                else:
                    kept.append(row)  # undated conflict: resolved by _resolve
            findings.extend((c, s, o) for _, c, s, o in kept)
        findings.sort(key=self.findings.index)
        labs: list[tuple[dict[str, Any], Origin]] = []
        newest: dict[str, Origin] = {}
        for i, (_, rule, origin) in sorted(enumerate(self.labs),
                                           key=lambda r: _newest_first(r[1][2], r[0])):
            first = newest.setdefault(rule.id, origin)
            if first is not origin and first.when and (origin.when is None
                                                       or first.when > origin.when):
                self.skip(origin, f"superseded by the more recent {rule.name} at {first.path}")
            else:
                labs.append((self.labs[i][0], origin))
        labs.sort(key=lambda r: [o for _, _, o in self.labs].index(r[1]))
        return findings, labs

    def _resolve(self, findings: list[tuple[str, Status, Origin]],
                 labs: list[tuple[dict[str, Any], Origin]],
                 ) -> tuple[list[tuple[str, Status, Origin]], list[tuple[dict[str, Any], Origin]]]:
        """Resolve sources that disagree (see ``_conflicts``); report each conflict."""
        candidates = [Candidate("findings", i, facts_of(
            self.kb, {"findings": [{"code": c, "status": s}]}, self.facts_cache), o)
            for i, (c, s, o) in enumerate(findings)]
        candidates += [Candidate("labs", i, facts_of(self.kb, {"labs": [e]}, self.facts_cache),
                                 o) for i, (e, o) in enumerate(labs)]
        alive, conflicts = resolve(candidates, lambda c, why: self.skip(c.origin, why))
        self.conflicts.extend(conflicts)
        keep = {(c.kind, c.index) for c in alive}
        return ([f for i, f in enumerate(findings) if ("findings", i) in keep],
                [lab for i, lab in enumerate(labs) if ("labs", i) in keep])

    def _past(self, room: int) -> tuple[list[tuple[str, Status, Origin, int]],
                                        dict[int, str]]:
        """Choose the history entries that go into the case; say why each other one does not.

        Case v1 allows one history entry per code: of repeated codes the newest is kept. At most
        ``room`` entries fit (the case's item limit); the newest are kept.
        """
        kept: dict[str, tuple[int, tuple[str, Status, Origin, int]]] = {}
        why: dict[int, str] = {}
        order = sorted(enumerate(self.past_findings), key=lambda r: _newest_first(r[1][2], r[0]))
        for i, row in order:
            first = kept.setdefault(row[0], (i, row))
            if first[1] is not row:
                why[row[3]] = f"{row[0]} is already history at {first[1][2].path}"
        chosen = sorted(kept.values(), key=lambda r: _newest_first(r[1][2], r[0]))
        for _, row in chosen[max(room, 0):]:
            why[row[3]] = f"left out of the case: more than {MAX_ITEMS} findings"
        rows = sorted(chosen[:max(room, 0)])
        return [row for _, row in rows], why

    def _tempo(self, findings: list[tuple[str, Status, Origin]], as_of: date | None,
               ) -> tuple[float | None, list[str]]:
        """Return ``weakness_onset_days`` from the earliest dated current weakness, and notes."""
        if as_of is None or "weakness_onset_days" in self.given_history:
            return None, []
        notes: list[str] = []
        earliest: Origin | None = None
        for code, status, origin in findings:
            if status != "present" or origin.onset is None:
                continue
            facts = facts_of(self.kb, {"findings": [{"code": code, "status": "present"}]},
                             self.facts_cache)
            if not any(facts.get(f) == "present" for f in WEAKNESS_FINDINGS):
                continue
            if origin.onset.date() > as_of:
                notes.append(f"weakness onset {origin.onset:%Y-%m-%d} at {origin.path} is after "
                             f"{as_of.isoformat()}: not used for history.weakness_onset_days")
            elif earliest is None or earliest.onset is None or origin.onset < earliest.onset:
                earliest = origin
        if earliest is None or earliest.onset is None:
            return None, notes
        days = min((as_of - earliest.onset.date()).days, int(DURATION_DAYS[1]))
        notes.append(f"history.weakness_onset_days = {days}: the earliest onset of current "
                     f"weakness in the record ({earliest.resource_type} at {earliest.path}, "
                     f"{earliest.onset:%Y-%m-%d}) is {days} days before {as_of.isoformat()}")
        return days, notes

    def _assemble(self, findings: list[tuple[str, Status, Origin]],
                  past: list[tuple[str, Status, Origin, int]],
                  labs: list[tuple[dict[str, Any], Origin]], *, case_id: str | None,
                  setting: str | None, used: list[UsedResource] | None,
                  history: Mapping[str, Any],
                  ) -> tuple[dict[str, Any], dict[str, Origin], list[UsedResource]]:
        data: dict[str, Any] = {}
        where: dict[str, Origin] = {}
        used_rows = list(used or ())
        if case_id is not None:
            data["id"] = case_id
        if setting is not None:
            data["setting"] = setting
        for key, (value, origin) in self.scalars.items():
            data[key] = value
            where[f"$.{key}"] = origin
            used_rows.append(_used(origin, key))
        for name, items in (("findings", [({"code": c, "status": s}, o) for c, s, o in findings]),
                            ("labs", labs), ("medications", self.medications)):
            if items:
                data[name] = [item for item, _ in items]
            for i, (_, origin) in enumerate(items):
                where[f"$.{name}[{i}]"] = origin
                used_rows.append(_used(origin, f"{name}[{i}]",
                                       self.used_notes.get(origin.path, "")))
        for i, (code, status, origin, _) in enumerate(past, start=len(findings)):
            # history entries (current: false) follow the current findings; the report's
            # history row names each (not a used row: they are never evidence)
            data.setdefault("findings", []).append({"code": code, "status": status,
                                                    "current": False})
            where[f"$.findings[{i}]"] = origin
        if history:
            data["history"] = dict(history)
        return data, where, used_rows

    def build(self, *, case_id: str | None = None, setting: str | None = None,
              used: list[UsedResource] | None = None, as_of: date | None = None,
              ) -> ImportResult:
        """Build and check the case; raise every problem at once, at input-document paths.

        Sources that disagree about a finding are resolved and reported, never refused. History
        entries that name a finding go into the case with ``"current": false``. With ``as_of``,
        the earliest dated onset of a current weakness finding gives
        ``history.weakness_onset_days`` (unless :attr:`given_history` has one).

        Raises
        ------
        InvalidInputError, UnitConversionError
            Malformed items, unconvertible units or implausible values.
        NothingToAssessError
            Nothing in the input can be used by the knowledge base.
        """
        if self.problems:
            _raise(self.problems)
        findings, labs = self._resolve(*self._dedupe())
        past, left_out = self._past(MAX_ITEMS - len(findings))
        for _ in range(len(findings) + len(labs) + 1):
            days, tempo_notes = self._tempo(findings, as_of)
            history = dict(self.given_history)
            if days is not None:
                history["weakness_onset_days"] = days
            data, where, used_rows = self._assemble(findings, past, labs, case_id=case_id,
                                                    setting=setting, used=used, history=history)
            if not where.keys() - {f"$.findings[{i}]" for i in range(len(findings),
                                                                      len(findings) + len(past))}:
                raise NothingToAssessError.from_problems([Problem(
                    "$", f"nothing in the input can be used by the knowledge base "
                         f"({len(self.skipped)} items skipped)")])
            try:
                case = Case.from_dict(data)
                derive_evidence(case, self.kb)
            except ContradictionError as exc:
                # what the pairwise rule cannot see (e.g. severe low K present, low K absent):
                # leave out the item each problem names, report it, and build again
                dropped = self._drop_named(exc, where, findings, labs)
                findings = [f for f in findings if f[2].path not in dropped]
                labs = [lab for lab in labs if lab[1].path not in dropped]
                if not dropped:  # pragma: no cover - every contradiction names a case item
                    raise _translate(exc, where) from None
                continue
            except TwitchCDSError as exc:
                raise _translate(exc, where) from None
            return ImportResult(case, tuple(used_rows), tuple(self.skipped),
                                tuple(self.conflicts), self._history_rows(past, len(findings),
                                                                          left_out),
                                (*self.notes, *tempo_notes), self.deceased)
        raise AssertionError("unreachable")  # pragma: no cover - each round drops an item

    def _history_rows(self, past: list[tuple[str, Status, Origin, int]], start: int,
                      left_out: Mapping[int, str]) -> tuple[HistoryItem, ...]:
        """Return the report's history rows, each with its case item or why it has none."""
        rows = list(self.history)
        for i, (_, _, _, row) in enumerate(past, start=start):
            rows[row] = attrs.evolve(rows[row], target=f"findings[{i}]")
        for row, why in left_out.items():
            rows[row] = attrs.evolve(rows[row], reason=f"{rows[row].reason}; {why}")
        return tuple(rows)

    def _drop_named(self, exc: ContradictionError, where: Mapping[str, Origin],
                    findings: list[tuple[str, Status, Origin]],
                    labs: list[tuple[dict[str, Any], Origin]]) -> set[str]:
        dropped: set[str] = set()
        for p in exc.problems:
            match = _CASE_PATH.match(p.path)
            origin = where.get(match.group(0)) if match else None
            other = _CASE_PATH.search(p.message)
            kept = where.get(other.group(0)) if other else None
            if origin is None or origin.path in dropped:
                continue
            finding = str(p.value) if isinstance(p.value, str) else "?"
            said = [*re.findall(r"\b(present|absent)\b", p.message), "present", "absent"]
            rule = "cannot hold together with the kept source (knowledge-base constraint)"
            self.conflicts.append(Conflict(finding, kept.path if kept else "", origin.path,
                                           said[1], said[0], rule))
            self.skip(origin, f"conflicts with {kept.path if kept else 'another source'} about "
                              f"{finding}: {rule}")
            dropped.add(origin.path)
        return dropped


def _used(origin: Origin, target: str, note: str = "") -> UsedResource:
    return UsedResource(origin.resource_type, origin.id, origin.path, target, note)


def _raise(problems: list[tuple[type[TwitchCDSError], Problem]]) -> None:
    kinds = {kind for kind, _ in problems}
    cls = kinds.pop() if len(kinds) == 1 else InvalidInputError
    raise cls.from_problems([p for _, p in problems])


def _translate(exc: TwitchCDSError, where: Mapping[str, Origin]) -> TwitchCDSError:
    """Re-express a case error at the input document's paths (same error class)."""

    def source(match: re.Match[str]) -> str:
        origin = where.get(match.group(0))
        return origin.path if origin else match.group(0)

    problems = []
    for p in exc.problems:
        match = _CASE_PATH.match(p.path)
        origin = where.get(match.group(0)) if match else None
        path = p.path
        if match and origin:
            rest = p.path[match.end():].lstrip(".")
            name = rest.split(".")[0].split("[")[0] or match.group(0).rsplit(".", 1)[1]
            path = origin.path + origin.fields.get(name, "")
        message = _CASE_PATH.sub(source, p.message)
        problems.append(attrs.evolve(p, path=path, message=message))
    return type(exc).from_problems(problems)
