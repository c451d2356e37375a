"""A knowledge base compiled once into what the pipeline stages read.

:func:`compile_model` derives, from one :class:`~twitchcds.knowledge.base.KnowledgeBase`,
everything the stages after evidence need in a form ready to use: the noisy-OR network, index
maps, base priors per setting, risk-factor effects by condition position, the fixed fields of
each differential row, the red-flag matcher, the escalating conditions, the safety-net plan and
the work-up's loss table. The result is an immutable :class:`CompiledModel`; each stage takes it
(or the :class:`~twitchcds.scoring.Scorer` built on it), beside the knowledge base where it needs
the knowledge base's own objects, as an explicit argument and looks nothing up anywhere else.
The model does not refer to the knowledge base, so caching it never keeps one alive.

Compiling is a pure function of the knowledge base and costs about a millisecond; the public
entry points (:func:`twitchcds.assess`, :func:`twitchcds.assess_many`, ...) compile a knowledge
base once and reuse the model (``twitchcds._state.compiled_model``).

Examples
--------
>>> from twitchcds import load_knowledge_base
>>> kb = load_knowledge_base()
>>> model = compile_model(kb)
>>> model.condition_position["hypokalemia"] == [c.id for c in kb.conditions].index("hypokalemia")
True
>>> len(model.setting_priors["primary-care"]) == len(kb.conditions)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.inference import NoisyOrNetwork
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.model import Condition, RedFlag, RiskEffect
from twitchcds.knowledge.ranges import ParameterBounds, parameter_bounds
from twitchcds.typing import SETTINGS, TRIAGE_LEVELS

__all__ = ["CompiledModel", "ConditionFields", "RedFlagPattern", "RiskEffectAt", "SafetyNetEntry",
           "compile_model"]

RedFlagPattern = tuple[RedFlag, frozenset[str], frozenset[str]]
"""A red flag with its ``all_of`` and ``any_of`` ids as sets: it fires when every ``all_of`` id
and, if any are named, one ``any_of`` id is present."""

_MEASURED = frozenset({"lab", "test"})  # finding kinds known only from a result


@frozen
class ConditionFields:
    """The fixed fields of a condition's differential row (codes sorted by system)."""

    id: str
    name: str
    category: str
    severity: str
    codes: tuple[tuple[str, str], ...]


@frozen
class RiskEffectAt:
    """A risk factor's effect on the condition at ``position``, with its log odds ratio."""

    position: int
    log_odds_ratio: float
    effect: RiskEffect


@frozen
class SafetyNetEntry:
    """A red flag as a reason to come back, and what a person would need to notice it.

    ``in_hand`` are the ids only a result or a medicine could show (they must be present for
    the flag to be noticeable); ``noticeable_any`` says whether some ``any_of`` id (or none
    needed) could be noticed by the person; ``text`` is the advice shown.
    """

    flag: RedFlag
    in_hand: frozenset[str]
    noticeable_any: bool
    text: str


@frozen(eq=False)
class CompiledModel:
    """Everything the pipeline stages derive from one knowledge base, computed once.

    Attributes
    ----------
    network : NoisyOrNetwork
        The noisy-OR network (``kb.network``), arrays aligned with ``kb.conditions`` and
        ``kb.findings``.
    condition_position, finding_position : Mapping[str, int]
        Index of each condition / finding in those arrays.
    setting_priors : Mapping[str, tuple[float, ...]]
        Each setting's base priors (a condition without a prior for the setting uses its
        ``primary-care`` prior).
    risk_effects : Mapping[str, tuple[RiskEffectAt, ...]]
        Each risk factor's effects, in knowledge-base order.
    conditions : tuple of Condition
        The conditions, in knowledge-base order.
    rows : tuple of ConditionFields
        Fixed fields of each condition's differential row, in knowledge-base order.
    id_rank : ndarray of int
        Each condition's place in alphabetical order of ids: how ties in a ranking are broken
        (:func:`twitchcds.inference.rank_order`).
    red_flags : tuple of RedFlagPattern
        The red-flag matcher: ``(flag, all_of, any_of)`` in knowledge-base order.
    red_flags_naming : Mapping[str, tuple[int, ...]]
        For each finding or risk factor id, the positions in ``red_flags`` of the flags whose
        pattern names it (a flag can only fire when something it names is present).
    escalating : tuple of Condition
        Conditions with probability escalations, in knowledge-base order.
    safety_net : tuple of SafetyNetEntry
        Every red flag as a safety-net item, most urgent first.
    miss_loss : ndarray
        Loss of missing each condition (by severity), for the work-up's expected loss.
    false_alarm_loss : float
        Loss of acting on a condition that is absent.
    inhibited : frozenset of str
        Findings with inhibitor links.
    complaints : frozenset of str
        Findings that put a presentation in scope (:mod:`twitchcds.scope`): complaint findings
        and the results of the knowledge base's disease-specific tests.
    history_findings : frozenset of str
        Findings of kind ``history`` (they describe; they never need explaining).
    advice_min_probability : float
        Posterior from which a condition's advice is given.
    bounds : ParameterBounds
        The ranges of the priors, links and leaks as arrays (for probability intervals).
    """

    network: NoisyOrNetwork
    condition_position: Mapping[str, int]
    finding_position: Mapping[str, int]
    setting_priors: Mapping[str, tuple[float, ...]]
    risk_effects: Mapping[str, tuple[RiskEffectAt, ...]]
    conditions: tuple[Condition, ...]
    rows: tuple[ConditionFields, ...]
    id_rank: npt.NDArray[np.intp]
    red_flags: tuple[RedFlagPattern, ...]
    red_flags_naming: Mapping[str, tuple[int, ...]]
    escalating: tuple[Condition, ...]
    safety_net: tuple[SafetyNetEntry, ...]
    miss_loss: npt.NDArray[np.float64]
    false_alarm_loss: float
    inhibited: frozenset[str]
    complaints: frozenset[str]
    history_findings: frozenset[str]
    advice_min_probability: float
    bounds: ParameterBounds

    def base_priors(self, setting: str) -> tuple[float, ...]:
        """Return the base priors of ``setting`` (``primary-care`` ones for an unknown setting).

        Examples
        --------
        >>> from twitchcds import load_knowledge_base
        >>> model = compile_model(load_knowledge_base())
        >>> model.base_priors("primary-care") == model.setting_priors["primary-care"]
        True
        """
        found = self.setting_priors.get(setting)
        return self.setting_priors[SETTINGS[0]] if found is None else found


def _readonly(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.flags.writeable = False
    return array


def _naming(flags: tuple[RedFlag, ...]) -> Mapping[str, tuple[int, ...]]:
    naming: dict[str, list[int]] = {}
    for i, flag in enumerate(flags):
        for name in {*flag.all_of, *flag.any_of}:
            naming.setdefault(name, []).append(i)
    return MappingProxyType({name: tuple(at) for name, at in naming.items()})


def _setting_priors(kb: KnowledgeBase, setting: str) -> tuple[float, ...]:
    return tuple(c.prior.get(setting, c.prior[SETTINGS[0]]) for c in kb.conditions)


def _observable(kb: KnowledgeBase, ident: str) -> bool:
    finding = kb.finding_index.get(ident)
    return finding is not None and finding.kind not in _MEASURED


def _safety_net(kb: KnowledgeBase) -> tuple[SafetyNetEntry, ...]:
    ordered = sorted(kb.red_flags, key=lambda f: (-TRIAGE_LEVELS.index(f.level), f.id))
    return tuple(SafetyNetEntry(flag, frozenset(x for x in flag.all_of if not _observable(kb, x)),
                                not flag.any_of or any(_observable(kb, x) for x in flag.any_of),
                                f"Seek care ({flag.level}) if this develops: {flag.text}")
                 for flag in ordered)


def compile_model(kb: KnowledgeBase) -> CompiledModel:
    """Compile ``kb`` into a :class:`CompiledModel` (a pure function of ``kb``).

    Parameters
    ----------
    kb : KnowledgeBase
        A knowledge base that passed validation (ids it refers to exist).

    Returns
    -------
    CompiledModel

    Examples
    --------
    >>> from twitchcds import load_knowledge_base
    >>> kb = load_knowledge_base()
    >>> model = compile_model(kb)
    >>> [flag.id for flag, _, _ in model.red_flags] == [f.id for f in kb.red_flags]
    True
    """
    condition_position = MappingProxyType({c.id: i for i, c in enumerate(kb.conditions)})
    effects = {rf.id: tuple(RiskEffectAt(condition_position[e.condition],
                                         math.log(e.odds_ratio), e)
                            for e in rf.effects)
               for rf in kb.risk_factors}
    miss = _readonly(np.array([kb.decision.miss_loss[c.severity] for c in kb.conditions],
                              dtype=np.float64))
    return CompiledModel(
        network=kb.network,
        condition_position=condition_position,
        finding_position=kb.finding_position,
        setting_priors=MappingProxyType({s: _setting_priors(kb, s) for s in SETTINGS}),
        risk_effects=MappingProxyType(effects),
        conditions=kb.conditions,
        rows=tuple(ConditionFields(c.id, c.name, c.category, c.severity,
                                   tuple(sorted(c.codes.items())))
                   for c in kb.conditions),
        id_rank=_readonly(np.argsort(np.argsort([c.id for c in kb.conditions]))),
        red_flags=tuple((f, frozenset(f.all_of), frozenset(f.any_of)) for f in kb.red_flags),
        red_flags_naming=_naming(kb.red_flags),
        escalating=tuple(c for c in kb.conditions if c.escalations),
        safety_net=_safety_net(kb),
        miss_loss=miss,
        false_alarm_loss=kb.decision.false_alarm_loss,
        inhibited=frozenset(i.finding for i in kb.inhibitors),
        complaints=frozenset(f.id for f in kb.findings if f.complaint or (
            f.kind == "test" and f.id in {r for test in kb.tests for r in test.reveals})),
        history_findings=frozenset(f.id for f in kb.findings if f.kind == "history"),
        advice_min_probability=kb.decision.advice_min_probability,
        bounds=parameter_bounds(kb),
    )
