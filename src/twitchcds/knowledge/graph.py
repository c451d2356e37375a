"""The knowledge base as a networkx graph, and its node-link / GraphML exchange formats.

``to_node_link(kb)`` is networkx node-link JSON (``edges="links"``) complete enough to recompute
every score; ``from_node_link(data)`` reads it back to an equal knowledge base, and also accepts a
minimal network (conditions with priors, findings with leaks, ``causes`` links, optional
``inhibits`` links, references). ``canonical_json(kb)`` is the serialisation behind
``kb.sha256``.

Examples
--------
>>> from twitchcds import KnowledgeBase, load_knowledge_base
>>> kb = load_knowledge_base()
>>> KnowledgeBase.from_node_link(kb.to_node_link()) == kb
True
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import cattrs
import networkx as nx
from attrs import fields as attrs_fields
from attrs import has as attrs_has

from twitchcds.errors import KnowledgeBaseError, Problem
from twitchcds.knowledge.model import (
    Advice,
    Condition,
    DecisionPolicy,
    Escalation,
    Finding,
    HistoryRule,
    Inhibitor,
    LabRule,
    Link,
    MedicationClass,
    RedFlag,
    Reference,
    RiskEffect,
    RiskFactor,
    Test,
)

if TYPE_CHECKING:  # the class is passed in (see from_node_link): base imports this module
    from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["canonical_json", "from_node_link", "to_graph", "to_graphml", "to_node_link"]

_converter = cattrs.Converter()


def _plain(obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = _converter.unstructure(obj)
    return data


def _add_core(g: nx.DiGraph, kb: KnowledgeBase) -> None:
    """Add references, conditions, findings and the noisy-OR links."""
    for ref in kb.references:
        attrs = {k: v for k, v in _plain(ref).items() if k != "id" and v not in (None, "")}
        g.add_node(ref.id, kind="reference", **attrs)
    for c in kb.conditions:
        attrs = _plain(c)
        attrs["references"] = attrs.pop("prior_references")
        del attrs["id"]
        g.add_node(c.id, kind="condition", **attrs)
    for f in kb.findings:
        attrs = _plain(f)
        attrs["finding_kind"] = attrs.pop("kind")
        attrs["references"] = attrs.pop("leak_references")
        del attrs["id"]
        g.add_node(f.id, kind="finding", **attrs)
    for lk in kb.links:
        g.add_edge(lk.condition, lk.finding, kind="causes", probability=lk.probability,
                   references=list(lk.references))
    for inh in kb.inhibitors:
        g.add_edge(inh.condition, inh.finding, kind="inhibits", probability=inh.probability,
                   references=list(inh.references))


def _add_workup(g: nx.DiGraph, kb: KnowledgeBase) -> None:
    """Add risk factors, tests and red flags, with their edges."""
    for r in kb.risk_factors:
        attrs = _plain(r)
        attrs["risk_factor_kind"] = attrs.pop("kind")
        effects = attrs.pop("effects")
        del attrs["id"]
        g.add_node(r.id, kind="risk_factor", **attrs)
        for e in effects:
            g.add_edge(r.id, e["condition"], kind="modifies", odds_ratio=e["odds_ratio"],
                       references=e["references"])
    for t in kb.tests:
        attrs = _plain(t)
        del attrs["id"]
        g.add_node(t.id, kind="test", **attrs)
        for finding in t.reveals:
            g.add_edge(t.id, finding, kind="reveals")
    for c in kb.conditions:
        for test in c.confirmed_by:
            g.add_edge(c.id, test, kind="confirmed_by")
    for flag in kb.red_flags:
        attrs = _plain(flag)
        del attrs["id"]
        g.add_node(flag.id, kind="red_flag", **attrs)
        for finding in (*flag.all_of, *flag.any_of):
            g.add_edge(finding, flag.id, kind="triggers")
        for test in flag.tests:
            g.add_edge(flag.id, test, kind="indicates")


def to_graph(kb: KnowledgeBase, *, with_hash: bool = True) -> nx.DiGraph:
    """Build the layered knowledge graph (see :meth:`KnowledgeBase.graph`).

    ``with_hash=False`` leaves out the graph's ``sha256`` attribute (used to compute it).
    """
    g = nx.DiGraph()
    if with_hash:
        g.graph["sha256"] = kb.sha256
    g.graph.update({
        "name": "twitchcds knowledge base", "version": kb.version,
        "decision": _plain(kb.decision),
        "medication_classes": [_plain(m) for m in kb.medication_classes],
        "lab_rules": [_plain(r) for r in kb.lab_rules],
        "history_rules": [_plain(r) for r in kb.history_rules],
        "hpo_release": kb.hpo_release,
        "hpo_present": {k: list(v) for k, v in kb.hpo_present.items()},
        "hpo_absent": {k: list(v) for k, v in kb.hpo_absent.items()},
    })
    _add_core(g, kb)
    _add_workup(g, kb)
    return g


def to_node_link(kb: KnowledgeBase) -> dict[str, Any]:
    """Return node-link JSON data (``edges="links"``) for ``kb``.

    Examples
    --------
    >>> from twitchcds import load_knowledge_base
    >>> data = load_knowledge_base().to_node_link()
    >>> sorted({n["kind"] for n in data["nodes"]})
    ['condition', 'finding', 'red_flag', 'reference', 'risk_factor', 'test']
    """
    data: dict[str, Any] = nx.node_link_data(to_graph(kb), edges="links")
    return data


def _canonical(value: Any) -> Any:
    """Plain JSON values with every number (not booleans) as a float."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    msg = f"cannot serialise {type(value).__name__} canonically"
    raise TypeError(msg)


def canonical_json(kb: KnowledgeBase) -> bytes:
    """Return the canonical serialisation of ``kb``'s content (what ``kb.sha256`` hashes).

    The node-link data of :func:`to_node_link` without the graph's ``sha256`` and ``name``,
    written as UTF-8 JSON with sorted keys and no whitespace; every number is written as the
    shortest repr that round-trips its float value (``1`` and ``1.0`` are the same number, as
    they are the same value when knowledge bases are compared); lists keep their order. The same
    knowledge read from TOML files or from a node-link export therefore serialises identically.

    Examples
    --------
    >>> from twitchcds import load_knowledge_base
    >>> text = canonical_json(load_knowledge_base())
    >>> text[:10]
    b'{"directed'
    """
    data: dict[str, Any] = nx.node_link_data(to_graph(kb, with_hash=False), edges="links")
    data["graph"].pop("name", None)
    return json.dumps(_canonical(data), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def _jsonable_scalar(value: Any) -> Any:
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True)


def to_graphml(kb: KnowledgeBase) -> str:
    """Return GraphML text; nested attributes (lists, mappings) are stored as JSON strings."""
    g = to_graph(kb)
    flat = nx.DiGraph()
    flat.graph.update({k: _jsonable_scalar(v) for k, v in g.graph.items()})
    for node, attrs in g.nodes(data=True):
        flat.add_node(node, **{k: _jsonable_scalar(v) for k, v in attrs.items() if v is not None})
    for u, v, attrs in g.edges(data=True):
        flat.add_edge(u, v, **{k: _jsonable_scalar(x) for k, x in attrs.items() if x is not None})
    buffer = io.BytesIO()
    nx.write_graphml(flat, buffer, encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


# -- reading back ---------------------------------------------------------------------------------

def _node_body(node: dict[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in drop}


def _read_condition(node: dict[str, Any]) -> Condition:
    body = _node_body(node, ("kind", "references"))
    body.setdefault("name", node["id"])
    body.setdefault("category", "neurological")
    body.setdefault("severity", "moderate")
    body["prior_references"] = node.get("references", ())
    body["advice"] = [Advice(**a) for a in body.get("advice", [])]
    body["escalations"] = [Escalation(**e) for e in body.get("escalations", [])]
    return Condition(**body)


def _read_finding(node: dict[str, Any]) -> Finding:
    body = _node_body(node, ("kind", "references", "finding_kind"))
    body.setdefault("name", node["id"])
    body["kind"] = node.get("finding_kind", "sign")
    body["leak_references"] = node.get("references", ())
    return Finding(**body)


def _read_reference(node: dict[str, Any]) -> Reference:
    body = _node_body(node, ("kind",))
    body.setdefault("title", node["id"])
    return Reference(**body)


def _read(node: dict[str, Any], links: list[dict[str, Any]], parts: dict[str, Any]) -> None:
    kind = node.get("kind")
    if kind == "condition":
        parts["conditions"].append(_read_condition(node))
    elif kind == "finding":
        parts["findings"].append(_read_finding(node))
    elif kind == "reference":
        parts["references"].append(_read_reference(node))
    elif kind == "risk_factor":
        body = _node_body(node, ("kind", "risk_factor_kind"))
        effects = [RiskEffect(condition=e["target"], odds_ratio=e["odds_ratio"],
                              references=e["references"])
                   for e in links if e["source"] == node["id"] and e.get("kind") == "modifies"]
        parts["risk_factors"].append(RiskFactor(kind=node["risk_factor_kind"], effects=effects,
                                                **body))
    elif kind == "test":
        parts["tests"].append(Test(**_node_body(node, ("kind",))))
    elif kind == "red_flag":
        parts["red_flags"].append(RedFlag(**_node_body(node, ("kind",))))
    else:
        msg = f"unknown node kind {kind!r}"
        raise ValueError(msg)


_DEFAULT_DECISION = {
    # Used only for minimal networks that bring no decision policy of their own; the built-in
    # knowledge base's policy (meta.toml) carries its references.
    "miss_loss": {"mild": 1.0, "moderate": 4.0, "serious": 19.0, "critical": 49.0},
    "false_alarm_loss": 1.0, "min_value_per_cost": 0.01, "advice_min_probability": 0.15,
    "confirm_min_probability": 0.2,
    "references": ["twitchcds_default_decision_policy"],
}


def from_node_link(data: dict[str, Any], cls: type[KnowledgeBase]) -> KnowledgeBase:
    """Read node-link JSON back into a :class:`KnowledgeBase`.

    ``cls`` is the class, passed in by :meth:`KnowledgeBase.from_node_link` (so this module,
    which the class's methods use, never imports it). Accepts the full export of
    :func:`to_node_link` or a minimal network: condition nodes with ``prior`` and
    ``references``, finding nodes with ``leak`` and ``references``, ``causes`` links (and
    optionally ``inhibits`` links) with ``probability`` and ``references``, and reference nodes.
    Missing names default to the id, a missing condition category to ``neurological`` and
    severity to ``moderate`` (so that triage treats an unknown condition with caution). A number
    that names no reference is accepted (the network scores);
    :func:`twitchcds.knowledge.validation.validate` reports it. Any ``sha256`` in the data is
    ignored: the hash is recomputed from the content.

    Raises
    ------
    KnowledgeBaseError
        Naming the node or link and the problem.
    """
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise KnowledgeBaseError.from_problems([Problem("$.nodes", "node-link data needs 'nodes'")])
    links = data.get("links", data.get("edges", []))
    if not isinstance(links, list):
        raise KnowledgeBaseError.from_problems([Problem("$.links", "must be a list")])
    parts: dict[str, Any] = {k: [] for k in (
        "conditions", "findings", "references", "risk_factors", "tests", "red_flags")}
    problems: list[Problem] = []
    for i, node in enumerate(data["nodes"]):
        try:
            _read(node, links, parts)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            problems.append(Problem(f"$.nodes[{i}]", str(exc), node.get("id") if
                                    isinstance(node, dict) else node))
    read: dict[str, list[Any]] = {"causes": [], "inhibits": []}
    kinds: dict[str, type[Link | Inhibitor]] = {"causes": Link, "inhibits": Inhibitor}
    for i, e in enumerate(links):
        kind = e.get("kind", "causes") if isinstance(e, dict) else None
        if not isinstance(kind, str) or kind not in kinds:
            continue  # risk-factor, test and red-flag edges are read with their nodes
        try:
            read[kind].append(kinds[kind](condition=e["source"], finding=e["target"],
                                          probability=e["probability"],
                                          references=e.get("references", ())))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            problems.append(Problem(f"$.links[{i}]", f"bad {kind} link: {exc}", e))
    graph = data.get("graph", {}) if isinstance(data.get("graph"), dict) else {}
    extra: dict[str, Any]
    try:
        extra = {
            "medication_classes": [_converter.structure(m, MedicationClass)
                                   for m in graph.get("medication_classes", [])],
            "decision": _converter.structure(graph.get("decision", _DEFAULT_DECISION),
                                             DecisionPolicy),
            "lab_rules": [_converter.structure(r, LabRule) for r in graph.get("lab_rules", [])],
            "history_rules": [_converter.structure(r, HistoryRule)
                              for r in graph.get("history_rules", [])],
        }
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        problems.append(Problem("$.graph", f"bad derivation rules: {exc}"))
        extra = {}
    if problems:
        raise KnowledgeBaseError.from_problems(problems)
    if "decision" not in graph:
        parts["references"].append(Reference(
            id="twitchcds_default_decision_policy", title="twitchcds default decision policy",
            expert_estimate=True,
            note="Losses of a missed diagnosis by severity (1, 4, 19, 49: action thresholds 50%, "
                 "20%, 5%, 2%) following the threshold approach; used when a network brings none."))
    try:
        kb = cls(
            version=str(graph.get("version", "custom")),
            links=read["causes"], inhibitors=read["inhibits"],
            hpo_present=graph.get("hpo_present", {}), hpo_absent=graph.get("hpo_absent", {}),
            hpo_release=str(graph.get("hpo_release", "")),
            **parts, **extra,
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise KnowledgeBaseError.from_problems(
            [Problem("$.graph", f"bad HPO map: {exc}")]) from None
    _raise_for_errors(kb)
    return kb


def _raise_for_errors(kb: KnowledgeBase) -> None:
    """Run the semantic checks that apply to any network, minimal ones included.

    Unique ids, known link ends, references, red flags, tests and codes are checked as for the
    TOML files; the built-in knowledge base's own editorial rules (no orphan findings, at least
    three findings per condition) are not imposed on researchers' networks.
    """
    from twitchcds.knowledge.validation import semantic_errors  # noqa: PLC0415

    problems = list(_type_problems(kb))
    if not problems:
        problems = [Problem(issue.path, issue.message) for issue in semantic_errors(kb)]
    if problems:
        raise KnowledgeBaseError.from_problems(problems)


_NAMES = ("id", "condition", "finding")


def _type_problems(kb: KnowledgeBase) -> Iterator[Problem]:
    """Ids and id lists must hold strings (node-link objects are built without type checks)."""
    groups = {"nodes": (*kb.references, *kb.conditions, *kb.findings, *kb.risk_factors,
                        *kb.tests, *kb.red_flags), "links": (*kb.links, *kb.inhibitors)}
    for where, items in groups.items():
        for item in items:
            name = getattr(item, "id", None) or getattr(item, "condition", None)
            yield from _item_type_problems(item, f"$.{where}[{name!r}]")


def _item_type_problems(item: Any, where: str) -> Iterator[Problem]:
    for attribute in attrs_fields(type(item)):
        value = getattr(item, attribute.name)
        path = f"{where}.{attribute.name}"
        if attribute.name in _NAMES and not isinstance(value, str):
            yield Problem(path, "must be a string", value)
        elif isinstance(value, tuple):
            for i, element in enumerate(value):
                if attrs_has(type(element)):
                    yield from _item_type_problems(element, f"{path}[{i}]")
                elif not isinstance(element, str):
                    yield Problem(path, "must be a list of strings", list(value))
                    break
        elif isinstance(value, Mapping) and not all(
                isinstance(k, str) and isinstance(v, str | int | float)
                for k, v in value.items()):
            yield Problem(path, "must map strings to strings or numbers", dict(value))


