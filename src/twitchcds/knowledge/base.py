"""The :class:`KnowledgeBase`: every object of the model, indexed, plus its graph view.

Examples
--------
>>> from twitchcds import load_knowledge_base
>>> kb = load_knowledge_base()
>>> "amyotrophic_lateral_sclerosis" in kb.condition_index
True
>>> kb.graph().nodes["emg"]["kind"]
'test'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import networkx as nx
from attrs import field, frozen

from twitchcds.knowledge.model import (
    Condition,
    DecisionPolicy,
    Finding,
    HistoryRule,
    Inhibitor,
    LabRule,
    Link,
    MedicationClass,
    RedFlag,
    Reference,
    RiskFactor,
    Test,
)
from twitchcds.knowledge.ranges import DEFAULT_RANGES, ParameterRanges

if TYPE_CHECKING:
    from twitchcds.inference import NoisyOrNetwork

__all__ = ["KnowledgeBase"]


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


def _freeze_map(value: Mapping[str, Any]) -> Mapping[str, tuple[str, ...]]:
    """Freeze an HPO map: every key a term id, every value a sequence of KB ids (strings)."""
    out = {}
    for key, targets in value.items():
        if not isinstance(key, str) or isinstance(targets, str | bytes):
            msg = f"HPO map entry {key!r} must map a term id to a list of ids"
            raise TypeError(msg)
        frozen_targets = tuple(targets)
        if not all(isinstance(t, str) for t in frozen_targets):
            msg = f"HPO map entry {key!r} must map to ids (strings), got {frozen_targets!r}"
            raise TypeError(msg)
        out[key] = frozen_targets
    return MappingProxyType(out)


def _index(items: tuple[Any, ...]) -> Mapping[str, Any]:
    return MappingProxyType({item.id: item for item in items})


@frozen
class KnowledgeBase:
    """An immutable knowledge base.

    Collections are tuples in file order (which fixes the order of conditions in arrays);
    ``*_index`` properties map ids to objects. ``hpo_present`` maps an HPO term to the nearest KB
    findings it implies (true-path rule, upwards); ``hpo_absent`` maps an HPO term to every KB
    finding it rules out when absent (the term itself and its descendants).
    """

    version: str
    decision: DecisionPolicy
    references: tuple[Reference, ...] = field(converter=_tuple)
    conditions: tuple[Condition, ...] = field(converter=_tuple)
    findings: tuple[Finding, ...] = field(converter=_tuple)
    links: tuple[Link, ...] = field(converter=_tuple)
    inhibitors: tuple[Inhibitor, ...] = field(factory=tuple, converter=_tuple)
    """Inhibitor links: evidence against a condition (see :class:`~.model.Inhibitor`)."""
    risk_factors: tuple[RiskFactor, ...] = field(factory=tuple, converter=_tuple)
    medication_classes: tuple[MedicationClass, ...] = field(factory=tuple, converter=_tuple)
    tests: tuple[Test, ...] = field(factory=tuple, converter=_tuple)
    red_flags: tuple[RedFlag, ...] = field(factory=tuple, converter=_tuple)
    lab_rules: tuple[LabRule, ...] = field(factory=tuple, converter=_tuple)
    history_rules: tuple[HistoryRule, ...] = field(factory=tuple, converter=_tuple)
    hpo_present: Mapping[str, tuple[str, ...]] = field(factory=dict, converter=_freeze_map)
    hpo_absent: Mapping[str, tuple[str, ...]] = field(factory=dict, converter=_freeze_map)
    hpo_release: str = ""
    ranges: ParameterRanges = field(default=DEFAULT_RANGES, eq=False, repr=False)
    """How uncertain each number is (``ranges.toml``; see :mod:`twitchcds.knowledge.ranges`)."""

    @cached_property
    def sha256(self) -> str:
        """Identity of the content: sha256 of :meth:`canonical_json`.

        Depends on what the knowledge base holds, not on where it was read from: the same
        knowledge loaded from TOML files or from its node-link export has the same hash, while
        comments and layout of the files do not count and any changed number does.

        Examples
        --------
        >>> from twitchcds import KnowledgeBase, load_knowledge_base
        >>> kb = load_knowledge_base()
        >>> KnowledgeBase.from_node_link(kb.to_node_link()).sha256 == kb.sha256
        True
        """
        import hashlib  # noqa: PLC0415  (only needed once per knowledge base)

        return hashlib.sha256(self.canonical_json()).hexdigest()

    def canonical_json(self) -> bytes:
        """Return the canonical serialisation that ``sha256`` hashes.

        The node-link data of :meth:`to_node_link` without its ``sha256`` and ``name``, as
        UTF-8 JSON with sorted keys, no whitespace, and every number written as the shortest
        round-tripping repr of a float (so ``1`` and ``1.0`` are one number, as they are one
        value when the knowledge base is compared); lists keep their order.
        """
        from twitchcds.knowledge.graph import canonical_json  # noqa: PLC0415

        return canonical_json(self)

    @cached_property
    def inhibitor_index(self) -> Mapping[tuple[str, str], Inhibitor]:
        """Inhibitor links by ``(condition, finding)``."""
        return MappingProxyType({(i.condition, i.finding): i for i in self.inhibitors})

    @cached_property
    def reference_index(self) -> Mapping[str, Reference]:
        """References by id."""
        return _index(self.references)

    @cached_property
    def condition_index(self) -> Mapping[str, Condition]:
        """Conditions by id."""
        return _index(self.conditions)

    @cached_property
    def finding_index(self) -> Mapping[str, Finding]:
        """Findings by id."""
        return _index(self.findings)

    @cached_property
    def risk_factor_index(self) -> Mapping[str, RiskFactor]:
        """Risk factors by id."""
        return _index(self.risk_factors)

    @cached_property
    def test_index(self) -> Mapping[str, Test]:
        """Tests by id."""
        return _index(self.tests)

    @cached_property
    def medication_class_index(self) -> Mapping[str, MedicationClass]:
        """Medication classes by id."""
        return _index(self.medication_classes)

    @cached_property
    def finding_position(self) -> Mapping[str, int]:
        """Index of each finding in ``findings`` (and in the compiled network's arrays)."""
        return MappingProxyType({f.id: i for i, f in enumerate(self.findings)})

    @cached_property
    def caused_findings(self) -> frozenset[str]:
        """Findings that at least one condition links to (the others only have their leak)."""
        return frozenset(lk.finding for lk in self.links)

    @cached_property
    def link_index(self) -> Mapping[tuple[str, str], Link]:
        """Links by ``(condition, finding)``."""
        return MappingProxyType({(lk.condition, lk.finding): lk for lk in self.links})

    @cached_property
    def code_index(self) -> Mapping[str, str]:
        """Finding or risk-factor id for every code a KB item declares (``HP:...``)."""
        out: dict[str, str] = {}
        items: tuple[Finding | RiskFactor, ...] = (*self.findings, *self.risk_factors)
        for item in items:
            for code in item.codes:
                out.setdefault(code, item.id)
        return MappingProxyType(out)

    @cached_property
    def lab_constraints(self) -> tuple[tuple[str, str, bool], ...]:
        """Logical links between findings derived from one lab value.

        ``(a, b, implies)`` triples: with ``implies`` true, ``a`` present forces ``b`` present
        (potassium below 2.5 is also below 3.5); otherwise ``a`` and ``b`` cannot both be present
        (below the lower limit and above the upper one). The noisy-OR model treats these findings
        as conditionally independent; the evidence stage refuses inputs that break these links
        and the work-up drops test outcomes that would.
        """
        out: list[tuple[str, str, bool]] = []
        for rule in self.lab_rules:
            lows = sorted((b for b in rule.bands if b.below is not None),
                          key=lambda b: b.below or 0.0)
            highs = sorted((b for b in rule.bands if b.above is not None),
                           key=lambda b: -(b.above or 0.0))
            out += [(x.finding, y.finding, True) for i, x in enumerate(lows) for y in lows[i + 1:]]
            out += [(x.finding, y.finding, True)
                    for i, x in enumerate(highs) for y in highs[i + 1:]]
            out += [(x.finding, y.finding, False) for x in lows for y in highs
                    if (x.below or 0.0) <= (y.above or 0.0)]
        return tuple(out)

    @cached_property
    def lab_constraints_of(self) -> Mapping[str, tuple[tuple[str, str, bool], ...]]:
        """:attr:`lab_constraints` by their first finding (the one shown present).

        Examples
        --------
        >>> from twitchcds import load_knowledge_base
        >>> kb = load_knowledge_base()
        >>> all(c[0] == a for a, cs in kb.lab_constraints_of.items() for c in cs)
        True
        """
        out: dict[str, list[tuple[str, str, bool]]] = {}
        for constraint in self.lab_constraints:
            out.setdefault(constraint[0], []).append(constraint)
        return MappingProxyType({a: tuple(cs) for a, cs in out.items()})

    @cached_property
    def revealed_by(self) -> Mapping[str, tuple[str, ...]]:
        """Test ids that reveal each finding."""
        out: dict[str, list[str]] = {}
        for test in self.tests:
            for finding in test.reveals:
                out.setdefault(finding, []).append(test.id)
        return MappingProxyType({k: tuple(v) for k, v in out.items()})

    def graph(self) -> nx.DiGraph:
        """Return the knowledge graph as a new :class:`networkx.DiGraph`.

        Node attribute ``kind`` is one of ``condition``, ``finding``, ``risk_factor``, ``test``,
        ``red_flag``, ``reference``; edge attribute ``kind`` is ``causes`` (condition -> finding),
        ``inhibits`` (condition -> finding, evidence against the condition), ``modifies`` (risk
        factor -> condition), ``reveals`` (test -> finding), ``triggers`` (finding -> red flag)
        or ``cites`` (item -> reference).
        """
        from twitchcds.knowledge.graph import to_graph  # noqa: PLC0415  (graph imports base)

        return to_graph(self)

    def _repr_html_(self) -> str:
        """Show version, size and conditions by category in a notebook."""
        from twitchcds._display import knowledge_base_html  # noqa: PLC0415  (notebooks only)

        return knowledge_base_html(self)

    def to_node_link(self) -> dict[str, Any]:
        """Return networkx node-link JSON data (see ``knowledge.graph.to_node_link``)."""
        from twitchcds.knowledge.graph import to_node_link  # noqa: PLC0415

        return to_node_link(self)

    @classmethod
    def from_node_link(cls, data: dict[str, Any]) -> KnowledgeBase:
        """Inverse of :meth:`to_node_link`; also reads minimal networks of one's own.

        Examples
        --------
        >>> data = {"nodes": [
        ...     {"id": "r", "kind": "reference", "title": "My study", "doi": "10.1/x"},
        ...     {"id": "flu", "kind": "condition", "prior": {"primary-care": 0.1},
        ...      "references": ["r"]},
        ...     {"id": "fever", "kind": "finding", "leak": 0.01, "references": ["r"]}],
        ...   "links": [{"source": "flu", "target": "fever", "kind": "causes",
        ...              "probability": 0.8, "references": ["r"]}]}
        >>> kb = KnowledgeBase.from_node_link(data)
        >>> round(kb.posterior(["fever"])["flu"], 4)
        0.8991
        """
        from twitchcds.knowledge.graph import from_node_link  # noqa: PLC0415

        return from_node_link(data, cls)

    def posterior(self, present: Iterable[str], absent: Iterable[str] = ()) -> dict[str, float]:
        """Shortcut for :func:`twitchcds.posterior` on this knowledge base."""
        from twitchcds.inference import posterior  # noqa: PLC0415

        return posterior(self, present, absent)

    @cached_property
    def network(self) -> NoisyOrNetwork:
        """The compiled noisy-OR network (built once per knowledge base)."""
        from twitchcds.inference import compile_network  # noqa: PLC0415

        return compile_network(self)
