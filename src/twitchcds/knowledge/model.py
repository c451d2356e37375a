"""Domain objects of the knowledge base: frozen attrs classes that validate themselves.

The model is a layered graph (DESIGN section 2)::

    risk factor --(odds ratio)--> condition --(noisy-OR link)--> finding <--(reveals)-- test
                                                   finding --> red flag --> triage level

Every number carries the ids of the references that back it.

Examples
--------
>>> c = Condition(id="caffeine_excess", name="Caffeine excess", category="lifestyle",
...               severity="mild", prior={"primary-care": 0.2, "neuromuscular-clinic": 0.05},
...               prior_references=("expert",))
>>> c.prior["primary-care"]
0.2
>>> Link(condition="a", finding="b", probability=1.5, references=("r",))
Traceback (most recent call last):
...
ValueError: probability must be in (0, 1), got 1.5
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import attrs
from attrs import Attribute, field, frozen

from twitchcds.typing import (
    CATEGORIES,
    SETTINGS,
    SEVERITIES,
    TRIAGE_LEVELS,
    Category,
    Severity,
    TriageLevel,
)

__all__ = [
    "Advice",
    "Condition",
    "DecisionPolicy",
    "Escalation",
    "Finding",
    "FindingKind",
    "HistoryRule",
    "Inhibitor",
    "LabBand",
    "LabRule",
    "Link",
    "MedicationClass",
    "RedFlag",
    "Reference",
    "RiskEffect",
    "RiskFactor",
    "RiskFactorKind",
    "Test",
]

FindingKind: TypeAlias = Literal["symptom", "sign", "history", "lab", "test"]
RiskFactorKind: TypeAlias = Literal[
    "age", "sex", "medication", "history", "comorbidity", "exposure", "family-history",
]
FINDING_KINDS: tuple[FindingKind, ...] = ("symptom", "sign", "history", "lab", "test")
RISK_FACTOR_KINDS: tuple[RiskFactorKind, ...] = (
    "age", "sex", "medication", "history", "comorbidity", "exposure", "family-history",
)

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
HPO_PATTERN = re.compile(r"^HP:\d{7}$")
SNOMED_PATTERN = re.compile(r"^SNOMEDCT:\d{6,18}$")
CODE_PATTERN = re.compile(r"^(HP:\d{7}|SNOMEDCT:\d{6,18})$")


def _freeze_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


def _check_id(_: Any, attribute: Attribute[str], value: str) -> None:
    if not ID_PATTERN.match(value):
        msg = f"{attribute.name} must be snake_case ([a-z][a-z0-9_]*), got {value!r}"
        raise ValueError(msg)


def _open_probability(_: Any, attribute: Attribute[float], value: float) -> None:
    if not (isinstance(value, float | int) and 0.0 < value < 1.0):
        msg = f"{attribute.name} must be in (0, 1), got {value!r}"
        raise ValueError(msg)


def _positive_finite(_: Any, attribute: Attribute[float], value: float) -> None:
    if not (isinstance(value, float | int) and math.isfinite(value) and value > 0):
        msg = f"{attribute.name} must be a positive finite number, got {value!r}"
        raise ValueError(msg)


def _one_of(options: tuple[str, ...]) -> Any:
    def check(_: Any, attribute: Attribute[str], value: str) -> None:
        if value not in options:
            msg = f"{attribute.name} must be one of {', '.join(options)}; got {value!r}"
            raise ValueError(msg)

    return check


def _cited(_: Any, attribute: Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
    if not value:
        msg = f"{attribute.name} must name at least one reference"
        raise ValueError(msg)


@frozen
class Reference:
    """A source backing numbers in the knowledge base, or an explicit expert estimate.

    An expert estimate has ``expert_estimate=True`` and a ``note`` giving its reasoning; it must
    never be presented as a published figure.
    """

    id: str = field(validator=_check_id)
    title: str
    year: int | None = None
    authors: str = ""
    doi: str | None = None
    url: str | None = None
    expert_estimate: bool = False
    note: str = ""


@frozen
class Advice:
    """One management step for a condition (self-care, medicine review, or safety net)."""

    text: str
    references: tuple[str, ...] = field(converter=_tuple, validator=_cited)
    kind: Literal["self-care", "clinical", "safety-net"] = "self-care"


@frozen
class Escalation:
    """Raise triage to ``level`` when the condition's posterior reaches ``min_probability``."""

    min_probability: float = field(validator=_open_probability)
    level: TriageLevel = field(validator=_one_of(TRIAGE_LEVELS))
    references: tuple[str, ...] = field(converter=_tuple, validator=_cited)


def _check_priors(_: Any, attribute: Attribute[Any], value: Mapping[str, float]) -> None:
    for setting, p in value.items():
        if setting not in SETTINGS:
            msg = f"{attribute.name}: unknown setting {setting!r}"
            raise ValueError(msg)
        if not (isinstance(p, float | int) and 0.0 < p < 1.0):
            msg = f"{attribute.name}[{setting}] must be in (0, 1), got {p!r}"
            raise ValueError(msg)
    if SETTINGS[0] not in value:
        msg = f"{attribute.name} must give the default setting {SETTINGS[0]!r}"
        raise ValueError(msg)


@frozen
class Condition:
    """A candidate cause of twitching, with its prior per care setting."""

    id: str = field(validator=_check_id)
    name: str
    category: Category = field(validator=_one_of(CATEGORIES))
    severity: Severity = field(validator=_one_of(SEVERITIES))
    prior: Mapping[str, float] = field(converter=_freeze_mapping, validator=_check_priors)
    prior_references: tuple[str, ...] = field(converter=_tuple)
    """References backing the priors (an empty tuple is reported by validation, not refused)."""
    codes: Mapping[str, str] = field(factory=dict, converter=_freeze_mapping)
    description: str = ""
    advice: tuple[Advice, ...] = field(factory=tuple, converter=_tuple)
    escalations: tuple[Escalation, ...] = field(factory=tuple, converter=_tuple)
    confirmed_by: tuple[str, ...] = field(factory=tuple, converter=_tuple)
    """Tests that establish or exclude the condition; indicated once it is likely enough."""


@frozen
class Finding:
    """A symptom, sign, history item, derived lab result or test result.

    ``leak`` is the probability that the finding is present when none of the modelled causes is.
    ``codes`` are CURIEs (``HP:0002380``, ``SNOMEDCT:82470000``); ``question`` is how to ask about
    it (``None`` for findings only a lab or test can reveal). ``complaint`` marks the index
    findings of the knowledge base's scope: a neuromuscular complaint a person presents with
    (twitching, cramps, weakness, ...); a case without one is out of scope (DESIGN §6a).
    ``implied_by`` are HPO terms whose presence (or a descendant's) implies this finding while
    their absence says nothing about it (e.g. "Tetraparesis" implies muscle weakness, but no
    tetraparesis does not mean no weakness); they reach cases through ``hpo_map.tsv``.
    """

    id: str = field(validator=_check_id)
    name: str
    kind: FindingKind = field(validator=_one_of(FINDING_KINDS))
    leak: float = field(validator=_open_probability)
    leak_references: tuple[str, ...] = field(converter=_tuple)
    """References backing the leak (an empty tuple is reported by validation, not refused)."""
    codes: tuple[str, ...] = field(factory=tuple, converter=_tuple)
    question: str | None = None
    description: str = ""
    complaint: bool = False
    implied_by: tuple[str, ...] = field(factory=tuple, converter=_tuple)


@frozen
class Link:
    """Noisy-OR link: P(finding present | only this condition present).

    ``references`` may be empty (a researcher's own network); validation reports it.
    """

    condition: str
    finding: str
    probability: float = field(validator=_open_probability)
    references: tuple[str, ...] = field(factory=tuple, converter=_tuple)


@frozen
class Inhibitor:
    """Inhibitor link: ``finding``, when present, is evidence against ``condition``.

    Exclusion evidence (Pearl's virtual evidence): the link is an evidence node ``o`` with
    parent ``condition`` only, ``P(o = 1 | condition absent) = 1`` and ``P(o = 1 | condition
    present) = 1 - probability``, observed exactly when ``finding`` is observed present. A
    present finding therefore multiplies the condition's odds by ``1 - probability``; an absent
    or unknown one leaves ``o`` unobserved and has no effect through this link. ``finding``
    itself stays an ordinary noisy-OR finding of its causes, so a condition cannot both cause
    and inhibit one finding. Used for syndromes defined by a finding's absence (benign
    fasciculation syndrome has no weakness, wasting or denervation) and for findings that argue
    against a disease (objective sensory loss in motor neuron disease). Inference stays exact
    (see :func:`twitchcds.inference.infer`).

    Examples
    --------
    >>> Inhibitor(condition="benign_fasciculation_syndrome", finding="muscle_atrophy",
    ...           probability=0.95, references=("blexrud1993",)).probability
    0.95
    """

    condition: str
    finding: str
    probability: float = field(validator=_open_probability)
    references: tuple[str, ...] = field(factory=tuple, converter=_tuple)


@frozen
class RiskEffect:
    """Multiply the odds of ``condition`` by ``odds_ratio`` when the risk factor holds."""

    condition: str
    odds_ratio: float = field(validator=_positive_finite)
    references: tuple[str, ...] = field(converter=_tuple, validator=_cited)


@frozen
class RiskFactor:
    """Something about the person that changes the prior odds of conditions.

    How it is recognised in a case depends on ``kind``:

    - ``age``: ``age_min <= age < age_max`` (either bound may be absent);
    - ``sex``: the case's sex equals ``sex``;
    - ``medication``: a medication belongs to ``medication_class``;
    - ``history`` / ``family-history``: the case's ``history[history_field]`` is ``true``;
    - ``comorbidity`` / ``exposure``: the case lists this risk factor (by id or one of ``codes``)
      as present in its findings.
    """

    id: str = field(validator=_check_id)
    name: str
    kind: RiskFactorKind = field(validator=_one_of(RISK_FACTOR_KINDS))
    effects: tuple[RiskEffect, ...] = field(converter=_tuple)
    age_min: float | None = None
    age_max: float | None = None
    sex: str | None = None
    medication_class: str | None = None
    history_field: str | None = None
    codes: tuple[str, ...] = field(factory=tuple, converter=_tuple)
    question: str | None = None


@frozen
class MedicationClass:
    """A group of drugs recognised by name, ATC prefix or RxNorm ingredient code."""

    id: str = field(validator=_check_id)
    name: str
    names: tuple[str, ...] = field(factory=tuple, converter=_tuple)
    atc_prefixes: tuple[str, ...] = field(factory=tuple, converter=_tuple)
    rxnorm: tuple[str, ...] = field(factory=tuple, converter=_tuple)
    references: tuple[str, ...] = field(factory=tuple, converter=_tuple)


@frozen
class Test:
    """A diagnostic test: the findings it reveals, its relative cost and burden.

    A test's sensitivity and specificity live on the links from conditions to the findings it
    reveals (P(result | condition)) and on those findings' leaks (false-positive rate).
    """

    __test__ = False  # not a pytest test class

    id: str = field(validator=_check_id)
    name: str
    reveals: tuple[str, ...] = field(converter=_tuple)
    cost: float = field(validator=_positive_finite)
    cost_references: tuple[str, ...] = field(converter=_tuple, validator=_cited)
    invasiveness: Literal["none", "minimal", "moderate"] = "minimal"
    turnaround_days: float = 1.0
    codes: Mapping[str, str] = field(factory=dict, converter=_freeze_mapping)
    description: str = ""


@frozen
class RedFlag:
    """A finding pattern that forces at least ``level`` whatever the probabilities.

    Fires when every id in ``all_of`` is present and at least one in ``any_of`` is present (an
    empty ``any_of`` is satisfied). Ids are findings or risk factors (a medicine, an exposure):
    some dangers lie in the combination, such as muscle weakness while taking a diuretic. ``tests``
    are the tests the cited guideline calls for when the flag fires (e.g. needle EMG for twitching
    with weakness); they are recommended whatever their value of information, ahead of the tests
    ranked by value.
    """

    id: str = field(validator=_check_id)
    text: str
    level: TriageLevel = field(validator=_one_of(TRIAGE_LEVELS))
    references: tuple[str, ...] = field(converter=_tuple, validator=_cited)
    all_of: tuple[str, ...] = field(factory=tuple, converter=_tuple)
    any_of: tuple[str, ...] = field(factory=tuple, converter=_tuple)
    advice: str = ""
    tests: tuple[str, ...] = field(factory=tuple, converter=_tuple)


@frozen
class LabBand:
    """A lab threshold for one finding.

    ``finding`` is present when the value is below ``below`` (or above ``above``), in the rule's
    unit, and absent otherwise.
    """

    finding: str
    references: tuple[str, ...] = field(converter=_tuple, validator=_cited)
    below: float | None = None
    above: float | None = None


@frozen
class LabRule:
    """How one analyte's results become findings: LOINC codes, canonical UCUM unit, bands.

    ``molar_mass`` (g/mol) and ``valence`` let mass and equivalent units convert to mmol/L.
    ``plausible`` bounds reject impossible values (e.g. potassium 50 mmol/L) as input errors.
    """

    id: str = field(validator=_check_id)
    name: str
    loinc: tuple[str, ...] = field(converter=_tuple)
    unit: str
    bands: tuple[LabBand, ...] = field(converter=_tuple)
    plausible_min: float = 0.0
    plausible_max: float = math.inf
    molar_mass: float | None = None
    valence: int | None = None


@frozen
class HistoryRule:
    """How one history field becomes a finding.

    Numeric fields: ``finding`` present when ``value >= at_least`` (or ``< below``), else absent.
    Boolean fields: present when the value equals ``equals``, absent otherwise.
    Text fields (``distribution``): present when the value is in ``one_of``, absent otherwise.
    ``unless_absent`` names the finding the history describes: when the case reports it absent,
    the derived finding is absent whatever the value (twitching that is absent cannot be
    persistent, focal or painful; the history then describes other symptoms, such as cramps).
    ``only_with`` restricts the rule to cases where one of these findings is reported present
    (a duration dates weakness only when weakness is present); otherwise it derives nothing.
    """

    field: str
    finding: str
    references: tuple[str, ...] = attrs.field(converter=_tuple, validator=_cited)
    at_least: float | None = None
    below: float | None = None
    equals: bool | None = None
    one_of: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple)
    unless_absent: str | None = None
    only_with: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple)


def _check_losses(_: Any, attribute: Attribute[Any], value: Mapping[str, float]) -> None:
    if set(value) != set(SEVERITIES):
        msg = f"{attribute.name} must give a loss for each severity {', '.join(SEVERITIES)}"
        raise ValueError(msg)
    for severity, loss in value.items():
        _positive_finite(None, attribute, loss)
        del severity


@frozen
class DecisionPolicy:
    """Losses behind test and question values (threshold approach to clinical decisions).

    For each condition the decision is whether to act on it (work it up, treat, refer). Missing a
    condition that is present costs ``miss_loss[severity]``; acting on one that is absent costs
    ``false_alarm_loss``. The expected loss at posterior ``p`` is
    ``min(miss_loss * p, false_alarm_loss * (1 - p))``, so the action threshold is
    ``false_alarm_loss / (false_alarm_loss + miss_loss)``. A test is recommended when its expected
    reduction of the summed loss is at least ``min_value_per_cost`` per unit of relative cost, or
    when it confirms (``Condition.confirmed_by``) a condition whose posterior reaches
    ``confirm_min_probability``.
    """

    miss_loss: Mapping[str, float] = field(converter=_freeze_mapping, validator=_check_losses)
    false_alarm_loss: float = field(validator=_positive_finite)
    min_value_per_cost: float = field(validator=_positive_finite)
    advice_min_probability: float = field(validator=_open_probability)
    references: tuple[str, ...] = field(converter=_tuple, validator=_cited)
    confirm_min_probability: float = field(default=0.2, validator=_open_probability)
