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
from datetime import UTC, datetime
from typing import Any, Final

import attrs
from attrs import frozen

from twitchcds.case import Case
from twitchcds.errors import InvalidInputError, Problem, TwitchCDSError, UnitConversionError
from twitchcds.evidence import derive_evidence
from twitchcds.interop._report import ImportResult, SkippedResource, UsedResource
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.model import LabRule
from twitchcds.typing import Status
from twitchcds.units import convert_lab_value

__all__ = ["CaseBuilder", "Origin", "parse_when"]

_CASE_PATH: Final = re.compile(r"\$\.(?:findings|labs|medications)\[[0-9]+\]|\$\.(?:age|sex)\b")


@frozen
class Origin:
    """Where an item came from: resource type and id, JSON path, field paths, and its date.

    ``fields`` maps a case field (``value``, ``unit``, ``status``) to its path below ``path``.
    """

    resource_type: str
    id: str | None
    path: str
    fields: Mapping[str, str] = {}
    when: datetime | None = None


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
        """Return the knowledge base's rule for a LOINC code, if any."""
        return next((r for r in self.kb.lab_rules if loinc in r.loinc), None)

    def lab(self, loinc: str, value: float, unit: str, origin: Origin) -> None:
        """Add a lab result; the unit must convert and the value be plausible (else a problem)."""
        rule = self.lab_rule(loinc)
        if rule is None:
            self.skip(origin, f"LOINC {loinc} is not used by the knowledge base")
            return
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
                    kept.append(row)  # undated conflict: Case.from_dict reports it
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

    def build(self, *, case_id: str | None = None, setting: str | None = None,
              used: list[UsedResource] | None = None) -> ImportResult:
        """Build and check the case; raise every problem at once, at input-document paths.

        Raises
        ------
        InvalidInputError, UnitConversionError, ContradictionError
            Malformed items, unconvertible units, implausible values or contradictions.
        """
        if self.problems:
            _raise(self.problems)
        findings, labs = self._dedupe()
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
                used_rows.append(_used(origin, f"{name}[{i}]"))
        if not where:
            raise InvalidInputError.from_problems([Problem(
                "$", f"nothing in the input can be used by the knowledge base "
                     f"({len(self.skipped)} items skipped)")])
        try:
            case = Case.from_dict(data)
            derive_evidence(case, self.kb)
        except TwitchCDSError as exc:
            raise _translate(exc, where) from None
        return ImportResult(case, tuple(used_rows), tuple(self.skipped))


def _used(origin: Origin, target: str) -> UsedResource:
    return UsedResource(origin.resource_type, origin.id, origin.path, target)


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
