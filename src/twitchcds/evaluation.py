"""Measure the knowledge base against cited clinical vignettes.

A *vignette* is a paraphrased published case (case report, case series or review vignette) stored
as JSON: a Case v1 object, the final diagnosis (condition ids), diagnoses a clinician would also
accept as the top answer, the triage level a clinician would assign at that presentation, and the
key next test. :func:`load_vignettes` reads a folder of them, :func:`evaluate` runs
:func:`twitchcds.assess` on each and scores the differential, the triage and the work-up, overall
and by condition group, and :func:`sensitivity` repeats the evaluation on knowledge bases whose
link probabilities were randomly perturbed.

Examples
--------
>>> from twitchcds.evaluation import Vignette, evaluate
>>> from twitchcds import Case
>>> v = Vignette.from_dict({
...     "id": "hypokalemia_demo",
...     "source": {"title": "demo", "url": "https://example.org", "note": "illustration"},
...     "case": {"labs": [{"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"}],
...              "findings": [{"id": "muscle_cramps", "status": "present"}]},
...     "diagnosis": ["hypokalemia"], "triage": "soon",
...     "triage_acceptable": ["soon", "urgent"], "key_test": None})
>>> report = evaluate([v], workup=False)
>>> report.overall.n, report.overall.top1
(1, 1.0)
>>> report.to_dict()["overall"]["top3"]
1.0

Notes
-----
Metrics (per group and overall):

* *top-1*: the first condition of the differential is one of ``diagnosis``; *lenient top-1*: it
  is in ``diagnosis`` or ``acceptable``; *top-3*: some ``diagnosis`` id is among the first three.
* *triage*: exact (assigned level equals ``triage``), acceptable (assigned level is in
  ``triage_acceptable``), under-triage (assigned level below every acceptable level), over-triage
  (above every acceptable level).
* *key test hit*: ``key_test`` is among the first two recommended tests (only vignettes with a
  key test; needs ``workup=True``).
* *Brier score* of the top probability, the outcome being top-1 correctness:
  ``mean((p_top - correct) ** 2)``; a reliability table bins the top probability and compares
  the mean prediction with the observed top-1 frequency in each bin.

A vignette whose assessment raises is recorded as a *crash* (and counts as a miss).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from attrs import field, frozen

from twitchcds.case import Case
from twitchcds.errors import InvalidInputError, TwitchCDSError
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.pipeline import assess
from twitchcds.typing import CATEGORIES, TRIAGE_LEVELS

__all__ = [
    "EvaluationReport",
    "GroupMetrics",
    "ReliabilityBin",
    "SensitivityReport",
    "Source",
    "Vignette",
    "VignetteResult",
    "evaluate",
    "load_vignettes",
    "sensitivity",
]

_VIGNETTE_KEYS = frozenset({"id", "source", "case", "diagnosis", "acceptable", "triage",
                            "triage_acceptable", "key_test", "notes"})
_SOURCE_KEYS = frozenset({"authors", "title", "year", "doi", "url", "note"})
_REQUIRED = ("id", "source", "case", "diagnosis", "triage")


def _tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@frozen
class Source:
    """Where a vignette comes from: a published case the vignette paraphrases.

    A ``doi`` or ``url`` is required; ``title`` and ``authors`` are left out when the page seen did
    not show them (``note`` then says what the source is).
    """

    title: str | None = None
    authors: str | None = None
    year: int | None = None
    doi: str | None = None
    url: str | None = None
    note: str | None = None


@frozen
class Vignette:
    """One cited clinical vignette with its reference answers.

    ``triage_acceptable`` always contains ``triage`` (it is added when missing).
    """

    id: str
    source: Source
    case: Case
    diagnosis: tuple[str, ...] = field(converter=_tuple)
    triage: str
    acceptable: tuple[str, ...] = field(converter=_tuple, default=())
    triage_acceptable: tuple[str, ...] = field(converter=_tuple, default=())
    key_test: str | None = None
    notes: str = ""
    path: str = ""

    def __attrs_post_init__(self) -> None:
        """Make sure the exact triage level is one of the acceptable ones."""
        if self.triage not in self.triage_acceptable:
            object.__setattr__(self, "triage_acceptable",
                               (*self.triage_acceptable, self.triage))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str = "") -> Vignette:
        """Build a vignette from its JSON object; errors name ``path`` and the field.

        Raises
        ------
        InvalidInputError
            Missing or unknown keys, wrong types, unknown triage level, invalid case.
        """
        where = path or "<vignette>"

        def fail(key: str, message: str, value: Any = None) -> InvalidInputError:
            return InvalidInputError(f"invalid input: {where}: {key}: {message}",
                                     path=f"{where}:{key}", value=value)

        if not isinstance(data, Mapping):
            raise fail("$", "a vignette must be a JSON object", type(data).__name__)
        for key in _REQUIRED:
            if key not in data:
                raise fail(key, "required field is missing")
        unknown = sorted(set(data) - _VIGNETTE_KEYS)
        if unknown:
            raise fail(unknown[0], "unknown field", unknown[0])
        vid = data["id"]
        if not isinstance(vid, str) or not vid:
            raise fail("id", "must be a non-empty string", vid)
        source = _source(data["source"], fail)
        ids = _id_lists(data, fail)
        key_test = data.get("key_test")
        if key_test is not None and not isinstance(key_test, str):
            raise fail("key_test", "must be a test id or null", key_test)
        notes = data.get("notes", "")
        if not isinstance(notes, str):
            raise fail("notes", "must be a string", notes)
        try:
            case = Case.from_dict(data["case"])
        except TwitchCDSError as err:
            raise InvalidInputError(f"invalid input: {where}: case: {err}",
                                    path=f"{where}:case{err.path.lstrip('$')}",
                                    value=err.value) from err
        return cls(id=vid, source=source, case=case, diagnosis=ids["diagnosis"],
                   acceptable=ids["acceptable"], triage=data["triage"],
                   triage_acceptable=ids["triage_acceptable"], key_test=key_test, notes=notes,
                   path=path)


def _id_lists(data: Mapping[str, Any], fail: Any) -> dict[str, tuple[str, ...]]:
    ids: dict[str, tuple[str, ...]] = {}
    for key in ("diagnosis", "acceptable", "triage_acceptable"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "must be a list of strings", value)
        ids[key] = tuple(value)
    if not ids["diagnosis"]:
        raise fail("diagnosis", "must name at least one condition id", [])
    for key, levels in (("triage", (data["triage"],)),
                        ("triage_acceptable", ids["triage_acceptable"])):
        for level in levels:
            if level not in TRIAGE_LEVELS:
                raise fail(key, f"unknown triage level; known: {', '.join(TRIAGE_LEVELS)}",
                           level)
    return ids


def _source(value: Any, fail: Any) -> Source:
    if not isinstance(value, Mapping):
        raise fail("source", "must be an object", value)
    unknown = sorted(set(value) - _SOURCE_KEYS)
    if unknown:
        raise fail(f"source.{unknown[0]}", "unknown field", unknown[0])
    title = value.get("title")
    if title is not None and (not isinstance(title, str) or not title):
        raise fail("source.title", "must be a non-empty string", title)
    if "year" in value and (isinstance(value["year"], bool)
                            or not isinstance(value["year"], int)):
        raise fail("source.year", "must be an integer", value["year"])
    for key in ("authors", "doi", "url", "note"):
        if key in value and not isinstance(value[key], str):
            raise fail(f"source.{key}", "must be a string", value[key])
    if "doi" not in value and "url" not in value:
        raise fail("source", "needs a doi or a url", None)
    return Source(title=title, authors=value.get("authors"), year=value.get("year"),
                  doi=value.get("doi"), url=value.get("url"), note=value.get("note"))


def load_vignettes(directory: str | Path) -> tuple[Vignette, ...]:
    """Load every ``*.json`` vignette in ``directory``, sorted by file name.

    Parameters
    ----------
    directory : str or Path
        A folder such as ``evaluation/vignettes``.

    Returns
    -------
    tuple of Vignette

    Raises
    ------
    InvalidInputError
        A file is not valid JSON or breaks the vignette format (the message names the file and
        the field); two files share an id; the folder holds no vignette.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise InvalidInputError(f"invalid input: {folder}: not a directory", path=str(folder),
                                value=str(folder))
    out: list[Vignette] = []
    seen: dict[str, str] = {}
    for file in sorted(folder.glob("*.json")):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"invalid input: {file.name}: not valid JSON: {err.msg} "
                                    f"(line {err.lineno})", path=f"{file.name}:$",
                                    value=None) from err
        vignette = Vignette.from_dict(data, path=file.name)
        if vignette.id in seen:
            raise InvalidInputError(f"invalid input: {file.name}: id: duplicate of "
                                    f"{seen[vignette.id]}", path=f"{file.name}:id",
                                    value=vignette.id)
        seen[vignette.id] = file.name
        out.append(vignette)
    if not out:
        raise InvalidInputError(f"invalid input: {folder}: no *.json vignettes",
                                path=str(folder), value=str(folder))
    return tuple(out)


@frozen
class VignetteResult:
    """How the assessment of one vignette compares with its reference answers."""

    id: str
    group: str
    expected: tuple[str, ...]
    acceptable: tuple[str, ...]
    top3: tuple[str, ...]
    top_probability: float
    top1: bool
    top1_lenient: bool
    in_top3: bool
    triage_got: str
    triage_expected: str
    triage_acceptable: tuple[str, ...]
    key_test: str | None
    tests_got: tuple[str, ...]
    error: str | None = None

    @property
    def crashed(self) -> bool:
        """Whether the assessment raised."""
        return self.error is not None

    @property
    def triage_exact(self) -> bool:
        """Assigned triage level equals the expected one."""
        return self.triage_got == self.triage_expected

    @property
    def triage_ok(self) -> bool:
        """Assigned triage level is one of the acceptable ones."""
        return self.triage_got in self.triage_acceptable

    @property
    def under_triage(self) -> bool:
        """Assigned triage level is below every acceptable level."""
        if self.crashed:
            return False
        rank = TRIAGE_LEVELS.index(self.triage_got)
        return all(rank < TRIAGE_LEVELS.index(a)
                   for a in self.triage_acceptable)

    @property
    def over_triage(self) -> bool:
        """Assigned triage level is above every acceptable level."""
        if self.crashed:
            return False
        rank = TRIAGE_LEVELS.index(self.triage_got)
        return all(rank > TRIAGE_LEVELS.index(a)
                   for a in self.triage_acceptable)

    @property
    def key_test_hit(self) -> bool | None:
        """``key_test`` among the first two recommended tests (None without a key test)."""
        if self.key_test is None:
            return None
        return self.key_test in self.tests_got[:2]

    @property
    def miss(self) -> bool:
        """Top-1 wrong (strict), triage not acceptable, or a crash."""
        return self.crashed or not self.top1 or not self.triage_ok


@frozen
class ReliabilityBin:
    """One bin of a reliability (calibration) table of the top probability."""

    low: float
    high: float
    count: int
    mean_predicted: float
    observed: float


@frozen
class GroupMetrics:
    """Metrics over a set of vignette results (a condition group, or all of them)."""

    group: str
    n: int
    crashes: int
    top1: float
    top1_lenient: float
    top3: float
    triage_exact: float
    triage_acceptable: float
    under_triage: float
    over_triage: float
    key_test_n: int
    key_test_hits: float
    brier: float
    reliability: tuple[ReliabilityBin, ...]

    @classmethod
    def from_results(cls, group: str, results: Sequence[VignetteResult],
                     bins: int = 5) -> GroupMetrics:
        """Compute the metrics of ``results``; rates are ``nan`` for an empty set."""
        n = len(results)

        def rate(values: Sequence[bool]) -> float:
            return sum(values) / len(values) if values else math.nan

        keyed = [r.key_test_hit for r in results if r.key_test_hit is not None]
        return cls(
            group=group, n=n, crashes=sum(r.crashed for r in results),
            top1=rate([r.top1 for r in results]),
            top1_lenient=rate([r.top1_lenient for r in results]),
            top3=rate([r.in_top3 for r in results]),
            triage_exact=rate([r.triage_exact for r in results]),
            triage_acceptable=rate([r.triage_ok for r in results]),
            under_triage=rate([r.under_triage for r in results]),
            over_triage=rate([r.over_triage for r in results]),
            key_test_n=len(keyed), key_test_hits=rate(keyed),
            brier=brier_score([r.top_probability for r in results], [r.top1 for r in results]),
            reliability=reliability_table([r.top_probability for r in results],
                                          [r.top1 for r in results], bins),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``nan`` becomes ``None``)."""
        data = attrs.asdict(self, recurse=True)
        return _clean(data)  # type: ignore[no-any-return]


def brier_score(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float:
    """Mean squared difference between predicted probability and outcome (0 or 1).

    Examples
    --------
    >>> brier_score([0.8, 0.4], [True, False])
    0.1
    """
    if not probabilities:
        return math.nan
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(outcomes, dtype=np.float64)
    return round(float(np.mean((p - y) ** 2)), 12)


def reliability_table(probabilities: Sequence[float], outcomes: Sequence[bool],
                      bins: int = 5) -> tuple[ReliabilityBin, ...]:
    """Bin predictions into ``bins`` equal-width bins over [0, 1]; empty bins are kept.

    Examples
    --------
    >>> table = reliability_table([0.1, 0.9, 0.95], [False, True, False], bins=2)
    >>> [(b.count, b.mean_predicted, b.observed) for b in table]
    [(1, 0.1, 0.0), (2, 0.925, 0.5)]
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(outcomes, dtype=np.float64)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        out.append(ReliabilityBin(
            low=float(edges[b]), high=float(edges[b + 1]), count=count,
            mean_predicted=round(float(p[mask].mean()), 12) if count else math.nan,
            observed=round(float(y[mask].mean()), 12) if count else math.nan))
    return tuple(out)


@frozen
class EvaluationReport:
    """The result of :func:`evaluate`: per-vignette results and metrics by group."""

    results: tuple[VignetteResult, ...]
    overall: GroupMetrics
    groups: tuple[GroupMetrics, ...]
    kb_version: str
    kb_sha256: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def misses(self) -> tuple[VignetteResult, ...]:
        """Vignettes with a wrong top-1, an unacceptable triage level, or a crash."""
        return tuple(r for r in self.results if r.miss)

    @property
    def crashes(self) -> tuple[VignetteResult, ...]:
        """Vignettes whose assessment raised."""
        return tuple(r for r in self.results if r.crashed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the whole report."""
        return _clean({  # type: ignore[no-any-return]
            "knowledge_base": {"version": self.kb_version, "sha256": self.kb_sha256},
            "options": dict(self.options),
            "overall": self.overall.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "results": [{
                "id": r.id, "group": r.group, "expected": list(r.expected),
                "acceptable": list(r.acceptable), "top3": list(r.top3),
                "top_probability": r.top_probability, "top1": r.top1,
                "top1_lenient": r.top1_lenient, "in_top3": r.in_top3,
                "triage_got": r.triage_got, "triage_expected": r.triage_expected,
                "triage_acceptable": list(r.triage_acceptable),
                "under_triage": r.under_triage, "over_triage": r.over_triage,
                "key_test": r.key_test, "tests_got": list(r.tests_got),
                "key_test_hit": r.key_test_hit, "error": r.error,
            } for r in self.results],
        })

    def to_markdown(self) -> str:
        """Render the report as Markdown tables."""
        lines = [
            "# twitchcds evaluation report", "",
            f"Knowledge base {self.kb_version} (sha256 {self.kb_sha256[:12]}...), "
            f"{self.overall.n} vignettes, {self.overall.crashes} crashes.", "",
            "## Metrics by condition group", "",
            "| group | n | top-1 | top-1 lenient | top-3 | triage exact | triage ok | under | "
            "over | key test (n) | Brier |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for g in (*self.groups, self.overall):
            name = f"**{g.group}**" if g is self.overall else g.group
            lines.append(
                f"| {name} | {g.n} | {_pct(g.top1)} | {_pct(g.top1_lenient)} | {_pct(g.top3)} | "
                f"{_pct(g.triage_exact)} | {_pct(g.triage_acceptable)} | "
                f"{_pct(g.under_triage)} | {_pct(g.over_triage)} | "
                f"{_pct(g.key_test_hits)} ({g.key_test_n}) | {_num(g.brier)} |")
        lines += ["", "## Calibration of the top probability (all vignettes)", "",
                  "| bin | count | mean predicted | observed top-1 |", "|---|---|---|---|"]
        for b in self.overall.reliability:
            lines.append(f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {_num(b.mean_predicted)} | "
                         f"{_num(b.observed)} |")
        lines += ["", "## Misses", ""]
        if not self.misses:
            lines.append("None.")
        else:
            lines += ["| vignette | expected | got top-3 (top p) | triage got / expected |",
                      "|---|---|---|---|"]
            for r in self.misses:
                got = r.error or ", ".join(r.top3)
                lines.append(f"| {r.id} | {', '.join(r.expected)} | {got} "
                             f"({_num(r.top_probability)}) | {r.triage_got} / "
                             f"{r.triage_expected} |")
        return "\n".join(lines) + "\n"


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.0f}%"


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _group_of(vignette: Vignette, kb: KnowledgeBase) -> str:
    condition = kb.condition_index.get(vignette.diagnosis[0])
    return condition.category if condition is not None else "unknown"


def _check_ids(vignettes: Sequence[Vignette], kb: KnowledgeBase) -> None:
    tests = set(kb.test_index)
    for v in vignettes:
        where = v.path or v.id
        for key, ids in (("diagnosis", v.diagnosis), ("acceptable", v.acceptable)):
            for cid in ids:
                if cid not in kb.condition_index:
                    raise InvalidInputError(f"invalid input: {where}: {key}: unknown condition "
                                            f"id {cid!r}", path=f"{where}:{key}", value=cid)
        if v.key_test is not None and v.key_test not in tests:
            raise InvalidInputError(f"invalid input: {where}: key_test: unknown test id "
                                    f"{v.key_test!r}", path=f"{where}:key_test",
                                    value=v.key_test)


def score_vignette(vignette: Vignette, kb: KnowledgeBase,
                   **assess_options: Any) -> VignetteResult:
    """Assess one vignette and compare the result with its reference answers.

    An exception raised by the assessment is recorded in ``error`` (a crash), not propagated.
    """
    group = _group_of(vignette, kb)
    try:
        result = assess(vignette.case, kb, **assess_options)
    except Exception as err:  # a crash is a finding of the evaluation, not a reason to stop
        return VignetteResult(
            id=vignette.id, group=group, expected=vignette.diagnosis,
            acceptable=vignette.acceptable, top3=(), top_probability=0.0, top1=False,
            top1_lenient=False, in_top3=False, triage_got="", triage_expected=vignette.triage,
            triage_acceptable=vignette.triage_acceptable, key_test=vignette.key_test,
            tests_got=(), error=f"{type(err).__name__}: {err}")
    top3 = tuple(row.id for row in result.differential[:3])
    expected = set(vignette.diagnosis)
    return VignetteResult(
        id=vignette.id, group=group, expected=vignette.diagnosis,
        acceptable=vignette.acceptable, top3=top3,
        top_probability=float(result.differential[0].probability),
        top1=top3[0] in expected, top1_lenient=top3[0] in expected | set(vignette.acceptable),
        in_top3=bool(expected & set(top3)), triage_got=result.triage.level,
        triage_expected=vignette.triage, triage_acceptable=vignette.triage_acceptable,
        key_test=vignette.key_test, tests_got=tuple(t.id for t in result.tests))


def evaluate(vignettes: Iterable[Vignette], kb: KnowledgeBase | None = None, *, bins: int = 5,
             **assess_options: Any) -> EvaluationReport:
    """Assess every vignette and score differential, triage and work-up by condition group.

    Parameters
    ----------
    vignettes : iterable of Vignette
        For example ``load_vignettes("evaluation/vignettes")``.
    kb : KnowledgeBase, optional
        Defaults to the built-in knowledge base.
    bins : int
        Number of equal-width bins of the reliability table.
    **assess_options
        Passed to :func:`twitchcds.assess` (``workup=True`` is needed for key-test hits).

    Returns
    -------
    EvaluationReport

    Raises
    ------
    InvalidInputError
        A vignette names a condition or test id the knowledge base does not have.
    """
    from twitchcds._state import builtin_knowledge_base  # noqa: PLC0415  (lazy load)

    kb = builtin_knowledge_base() if kb is None else kb
    items = tuple(vignettes)
    _check_ids(items, kb)
    results = tuple(score_vignette(v, kb, **assess_options) for v in items)
    groups = tuple(
        GroupMetrics.from_results(cat, [r for r in results if r.group == cat], bins)
        for cat in (*CATEGORIES, "unknown") if any(r.group == cat for r in results))
    return EvaluationReport(results=results,
                            overall=GroupMetrics.from_results("overall", results, bins),
                            groups=groups, kb_version=kb.version, kb_sha256=kb.sha256,
                            options=tuple(sorted(assess_options.items())))


@frozen
class SensitivityReport:
    """How robust the top-1 / top-3 rates are to perturbed link probabilities."""

    factor: float
    runs: int
    seed: int
    baseline_top1: float
    baseline_top3: float
    top1: tuple[float, ...]
    top3: tuple[float, ...]
    unchanged_top1: tuple[float, ...]

    @property
    def mean_top1(self) -> float:
        """Mean top-1 rate over the perturbed runs."""
        return float(np.mean(self.top1))

    @property
    def min_top1(self) -> float:
        """Worst top-1 rate over the perturbed runs."""
        return float(np.min(self.top1))

    @property
    def mean_top3(self) -> float:
        """Mean top-3 rate over the perturbed runs."""
        return float(np.mean(self.top3))

    @property
    def min_top3(self) -> float:
        """Worst top-3 rate over the perturbed runs."""
        return float(np.min(self.top3))

    @property
    def mean_unchanged(self) -> float:
        """Mean share of vignettes whose top-1 condition equals the unperturbed one."""
        return float(np.mean(self.unchanged_top1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "factor": self.factor, "runs": self.runs, "seed": self.seed,
            "baseline": {"top1": self.baseline_top1, "top3": self.baseline_top3},
            "top1": {"mean": self.mean_top1, "min": self.min_top1},
            "top3": {"mean": self.mean_top3, "min": self.min_top3},
            "unchanged_top1": {"mean": self.mean_unchanged,
                               "min": float(np.min(self.unchanged_top1))},
        }

    def to_markdown(self) -> str:
        """Render the summary as a Markdown table."""
        return "\n".join([
            f"## Sensitivity (links x U[{1 - self.factor:g}, {1 + self.factor:g}], "
            f"{self.runs} runs, seed {self.seed})", "",
            "| metric | baseline | mean | min |", "|---|---|---|---|",
            f"| top-1 | {_pct(self.baseline_top1)} | {_pct(self.mean_top1)} | "
            f"{_pct(self.min_top1)} |",
            f"| top-3 | {_pct(self.baseline_top3)} | {_pct(self.mean_top3)} | "
            f"{_pct(self.min_top3)} |",
            f"| top-1 unchanged | 100% | {_pct(self.mean_unchanged)} | "
            f"{_pct(float(np.min(self.unchanged_top1)))} |", ""])


def perturb_links(kb: KnowledgeBase, rng: np.random.Generator,
                  factor: float = 0.5) -> KnowledgeBase:
    """Return a copy of ``kb`` with every link probability times U[1-factor, 1+factor].

    Probabilities are clipped to [0.001, 0.999]; the copy recompiles its network.
    """
    scale = rng.uniform(1.0 - factor, 1.0 + factor, size=len(kb.links))
    links = tuple(attrs.evolve(link, probability=float(np.clip(link.probability * s,
                                                                0.001, 0.999)))
                  for link, s in zip(kb.links, scale, strict=True))
    return attrs.evolve(kb, links=links)


def sensitivity(vignettes: Iterable[Vignette], kb: KnowledgeBase | None = None,
                factor: float = 0.5, runs: int = 20, seed: int = 0,
                **assess_options: Any) -> SensitivityReport:
    """Re-run the differential on ``runs`` knowledge bases with perturbed link probabilities.

    Parameters
    ----------
    vignettes : iterable of Vignette
    kb : KnowledgeBase, optional
        Defaults to the built-in knowledge base.
    factor : float
        Each link probability is multiplied by a uniform draw in ``[1 - factor, 1 + factor]``
        and clipped to ``[0.001, 0.999]``.
    runs : int
        Number of perturbed knowledge bases.
    seed : int
        Seed of :func:`numpy.random.default_rng` (results are reproducible).
    **assess_options
        Passed to :func:`twitchcds.assess`; ``workup`` and ``explain`` default to False here
        (only the differential is scored).

    Returns
    -------
    SensitivityReport
    """
    from twitchcds._state import builtin_knowledge_base  # noqa: PLC0415

    if not 0.0 <= factor < 1.0:
        raise InvalidInputError("invalid input: factor must be in [0, 1)", path="factor",
                                value=factor)
    if runs < 1:
        raise InvalidInputError("invalid input: runs must be at least 1", path="runs",
                                value=runs)
    kb = builtin_knowledge_base() if kb is None else kb
    options = {"workup": False, "explain": False, **assess_options}
    items = tuple(vignettes)
    if not items:
        raise InvalidInputError("invalid input: no vignettes", path="vignettes", value=0)
    _check_ids(items, kb)
    base = [score_vignette(v, kb, **options) for v in items]
    rng = np.random.default_rng(seed)
    top1: list[float] = []
    top3: list[float] = []
    unchanged: list[float] = []
    for _ in range(runs):
        perturbed = perturb_links(kb, rng, factor)
        res = [score_vignette(v, perturbed, **options) for v in items]
        top1.append(sum(r.top1 for r in res) / len(res))
        top3.append(sum(r.in_top3 for r in res) / len(res))
        unchanged.append(sum(bool(r.top3) and bool(b.top3) and r.top3[0] == b.top3[0]
                             for r, b in zip(res, base, strict=True)) / len(res))
    return SensitivityReport(
        factor=factor, runs=runs, seed=seed,
        baseline_top1=sum(b.top1 for b in base) / len(base),
        baseline_top3=sum(b.in_top3 for b in base) / len(base),
        top1=tuple(top1), top3=tuple(top3), unchanged_top1=tuple(unchanged))
