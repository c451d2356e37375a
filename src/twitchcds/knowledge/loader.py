"""Load a knowledge base from its TOML data files.

The built-in knowledge base lives in ``twitchcds/knowledge/data/`` and is read with
:mod:`importlib.resources`; a directory of the same layout can be loaded instead. Its ``version``
comes from ``meta.toml``; its ``sha256`` is computed from its content (see
:attr:`KnowledgeBase.sha256 <twitchcds.KnowledgeBase.sha256>`), so the same knowledge read from
these files or from a node-link export has the same hash.

Layout (one concept per file; every number beside the ids of its references)::

    meta.toml          version, description, [decision] losses behind test values
    references.toml    [references.<id>]       authors, title, year, doi/url, or expert + note
    conditions.toml    [conditions.<id>]       name, category, severity, prior, codes, advice ...
    findings.toml      [findings.<id>]         name, kind, leak, codes, question
    links.toml         [links.<condition>]     <finding> = {probability, references}
                       [inhibits.<condition>]  <finding> = {probability, references}
    risk_factors.toml  [risk_factors.<id>]     kind, match fields, effects (condition, odds ratio)
    medications.toml   [medication_classes.<id>]  names, atc_prefixes, rxnorm
    tests.toml         [tests.<id>]            reveals, cost, invasiveness, turnaround_days, codes
    red_flags.toml     [red_flags.<id>]        text, level, all_of, any_of
    ranges.toml        [rules], [links], ...   (optional) ranges behind each number
    derivations.toml   [labs.<id>] and [[history]]  lab bands and history thresholds
    hpo_map.tsv        generated: HPO term -> KB findings (scripts/generate_hpo_map.py)

Examples
--------
>>> from twitchcds.knowledge.loader import load_knowledge_base
>>> kb = load_knowledge_base()
>>> len(kb.sha256)
64
"""

from __future__ import annotations

import csv
import io
import math
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.v import format_exception

from twitchcds.errors import KnowledgeBaseError, Problem
from twitchcds.knowledge.base import KnowledgeBase
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
from twitchcds.knowledge.ranges import check_ranges, parse_ranges

__all__ = ["DATA_FILES", "builtin_knowledge_base", "load_knowledge_base", "read_sources"]

DATA_FILES = (
    "meta.toml", "references.toml", "conditions.toml", "findings.toml", "links.toml",
    "risk_factors.toml", "medications.toml", "tests.toml", "red_flags.toml", "derivations.toml",
)
OPTIONAL_FILES = ("hpo_map.tsv", "ranges.toml")

_converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


def _strict_scalar(kind: type) -> Callable[[Any, type], Any]:
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}

    def structure(value: Any, _: type) -> Any:
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok and not math.isfinite(value):
                # TOML spells nan and inf; a NaN threshold silently makes a finding impossible.
                msg = f"must be a finite number, got {value!r}"
                raise ValueError(msg)
        if not ok:
            msg = f"must be {names[kind]}, got {value!r}"
            raise ValueError(msg)
        return float(value) if kind is float else value

    return structure


for _kind in (float, int, str, bool):
    _converter.register_structure_hook(_kind, _strict_scalar(_kind))


def _strings(value: Any, _: type) -> tuple[str, ...]:
    """Structure a list of strings; a bare string is refused (it would split into letters)."""
    if not isinstance(value, list | tuple):
        msg = f"must be a list of strings, got {value!r}"
        raise ValueError(msg)  # cattrs reports a ValueError as an invalid value
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        msg = f"must be a list of strings, got {bad[0]!r} in it"
        raise ValueError(msg)
    return tuple(value)


_converter.register_structure_hook_func(lambda kind: kind == tuple[str, ...], _strings)


def read_sources(path: str | Path | None = None) -> dict[str, bytes]:
    """Read the raw bytes of every knowledge-base file, by file name.

    Parameters
    ----------
    path : str or Path, optional
        A directory laid out like the built-in one; ``None`` reads the built-in data.

    Raises
    ------
    KnowledgeBaseError
        If the directory or a required file is missing.
    """
    root: Traversable | Path
    if path is None:
        root = resources.files("twitchcds.knowledge").joinpath("data")
    else:
        root = Path(path)
        if not root.is_dir():
            raise KnowledgeBaseError(
                f"invalid knowledge base: {path}: not a directory", path=str(path), value=str(path),
            )
    sources: dict[str, bytes] = {}
    missing = []
    for name in (*DATA_FILES, *OPTIONAL_FILES):
        item = root.joinpath(name)
        if item.is_file():
            sources[name] = item.read_bytes()
        elif name in DATA_FILES:
            missing.append(Problem(name, "required knowledge-base file is missing"))
    if missing:
        raise KnowledgeBaseError.from_problems(missing)
    return sources


def _format_exception(exc: BaseException, kind: type | None) -> str:
    """Say what was wrong: a validator's own message rather than cattrs' bare "invalid value"."""
    if isinstance(exc, ValueError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return format_exception(exc, kind)


def _error_problems(exc: BaseException, where: str) -> Iterator[Problem]:
    """Flatten a cattrs validation error into problems located at ``where``."""
    for message in cattrs.transform_error(exc, path=where, format_exception=_format_exception):
        location, _, text = message.rpartition(" @ ")
        yield Problem(text or where, location or message)


def _structure_table(
    data: dict[str, Any], file: str, table: str, cls: type, problems: list[Problem],
) -> list[Any]:
    """Structure ``[table.<id>]`` entries into ``cls`` objects with ``id`` injected."""
    section = data.get(table, {})
    if not isinstance(section, dict):
        problems.append(Problem(f"{file}:{table}", "must be a table"))
        return []
    out = []
    for key, body in section.items():
        where = f"{file}:{table}.{key}"
        if not isinstance(body, dict):
            problems.append(Problem(where, "must be a table"))
            continue
        if "id" in body:
            problems.append(Problem(f"{where}.id", "the id is the table key; do not repeat it"))
            continue
        out.extend(_structure_one({"id": key, **body}, cls, where, problems))
    return out


def _structure_one(body: Any, cls: type, where: str, problems: list[Problem]) -> list[Any]:
    try:
        return [_converter.structure(body, cls)]
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        problems.extend(_error_problems(exc, where))
    except (ValueError, TypeError) as exc:  # attrs validators on the finished object
        problems.append(Problem(where, str(exc)))
    return []


def _links(data: dict[str, Any], problems: list[Problem], table: str = "links",
           cls: type[Link | Inhibitor] = Link) -> list[Any]:
    """Read ``[<table>.<condition>]`` sections of ``<finding> = {probability, references}``."""
    out: list[Any] = []
    section = data.get(table, {})
    if not isinstance(section, dict):
        problems.append(Problem(f"links.toml:{table}", "must be a table"))
        return out
    for condition, entries in section.items():
        if not isinstance(entries, dict):
            problems.append(Problem(f"links.toml:{table}.{condition}", "must be a table"))
            continue
        for finding, body in entries.items():
            where = f"links.toml:{table}.{condition}.{finding}"
            if not isinstance(body, dict):
                problems.append(Problem(where, "must be {probability = ..., references = [...]}"))
                continue
            out.extend(_structure_one(
                {"condition": condition, "finding": finding, **body}, cls, where, problems,
            ))
    return out


def _history_rules(data: dict[str, Any], problems: list[Problem]) -> list[HistoryRule]:
    out: list[HistoryRule] = []
    rules = data.get("history", [])
    if not isinstance(rules, list):
        problems.append(Problem("derivations.toml:history",
                                "must be an array of tables ([[history]])"))
        return out
    for i, body in enumerate(rules):
        where = f"derivations.toml:history[{i}]"
        if not isinstance(body, dict):
            problems.append(Problem(where, "must be a table"))
            continue
        out.extend(_structure_one(body, HistoryRule, where, problems))
    return out


def _hpo_map(text: str, problems: list[Problem]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Parse ``hpo_map.tsv``: ``# release: ...`` header, then term, direction, findings, label."""
    present: dict[str, tuple[str, ...]] = {}
    absent: dict[str, tuple[str, ...]] = {}
    release = ""
    lines = text.splitlines()
    body = []
    for line in lines:
        if line.startswith("# release:"):
            release = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#"):
            body.append(line)
    for number, row in enumerate(csv.reader(io.StringIO("\n".join(body)), delimiter="\t"), 1):
        if len(row) < 3 or row[1] not in {"present", "absent"}:
            problems.append(Problem(f"hpo_map.tsv:row {number}", "expected term, direction, ids"))
            continue
        target = present if row[1] == "present" else absent
        target[row[0]] = tuple(row[2].split(","))
    return present, absent, release


def _parse(sources: Mapping[str, bytes], problems: list[Problem]) -> dict[str, dict[str, Any]]:
    parsed: dict[str, dict[str, Any]] = {}
    for name, raw in sources.items():
        if not name.endswith(".toml"):
            continue
        try:
            parsed[name] = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problems.append(Problem(name, f"not UTF-8: {exc}"))
        except tomllib.TOMLDecodeError as exc:
            problems.append(Problem(name, f"TOML syntax error: {exc}"))
        except RecursionError:
            problems.append(Problem(name, "TOML syntax error: nested too deeply"))
    return parsed


def build_knowledge_base(sources: Mapping[str, bytes]) -> KnowledgeBase:
    """Build a :class:`KnowledgeBase` from raw file bytes (see :func:`read_sources`).

    Raises
    ------
    KnowledgeBaseError
        Listing every structural problem with ``file:key.path``.
    """
    problems: list[Problem] = []
    parsed = _parse(sources, problems)
    if problems:
        raise KnowledgeBaseError.from_problems(problems)
    meta = parsed["meta.toml"]
    version = meta.get("version")
    if not isinstance(version, str):
        problems.append(Problem("meta.toml:version", "must be a string", version))
    decision: list[DecisionPolicy] = []
    if isinstance(meta.get("decision"), dict):
        decision = _structure_one(meta["decision"], DecisionPolicy, "meta.toml:decision", problems)
    else:
        problems.append(Problem("meta.toml:decision", "a [decision] table is required",
                                meta.get("decision")))
    derivations = parsed["derivations.toml"]
    present: dict[str, Any] = {}
    absent: dict[str, Any] = {}
    release = ""
    if "hpo_map.tsv" in sources:
        try:
            text = sources["hpo_map.tsv"].decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem("hpo_map.tsv", f"not UTF-8: {exc}"))
            text = ""
        present, absent, release = _hpo_map(text, problems)
    parts = {
        "references": _structure_table(
            parsed["references.toml"], "references.toml", "references", Reference, problems),
        "conditions": _structure_table(
            parsed["conditions.toml"], "conditions.toml", "conditions", Condition, problems),
        "findings": _structure_table(
            parsed["findings.toml"], "findings.toml", "findings", Finding, problems),
        "links": _links(parsed["links.toml"], problems),
        "inhibitors": _links(parsed["links.toml"], problems, "inhibits", Inhibitor),
        "risk_factors": _structure_table(
            parsed["risk_factors.toml"], "risk_factors.toml", "risk_factors", RiskFactor, problems),
        "medication_classes": _structure_table(
            parsed["medications.toml"], "medications.toml", "medication_classes",
            MedicationClass, problems),
        "tests": _structure_table(parsed["tests.toml"], "tests.toml", "tests", Test, problems),
        "red_flags": _structure_table(
            parsed["red_flags.toml"], "red_flags.toml", "red_flags", RedFlag, problems),
        "lab_rules": _structure_table(
            derivations, "derivations.toml", "labs", LabRule, problems),
        "history_rules": _history_rules(derivations, problems),
    }
    ranges = parse_ranges(parsed.get("ranges.toml"), problems)
    if problems:
        raise KnowledgeBaseError.from_problems(problems)
    kb = KnowledgeBase(
        version=str(version), decision=decision[0],
        hpo_present=present, hpo_absent=absent, hpo_release=release, ranges=ranges, **parts,
    )
    problems = check_ranges(kb)
    if problems:
        raise KnowledgeBaseError.from_problems(problems)
    return kb


def load_knowledge_base(path: str | Path | None = None, *, validate: bool = True) -> KnowledgeBase:
    """Load the built-in knowledge base, or one from a directory.

    Parameters
    ----------
    path : str or Path, optional
        Directory with the files listed in this module's docstring; ``None`` for the built-in one
        (cached: loading it twice returns the same object).
    validate : bool, default True
        Also run the semantic checks of :func:`twitchcds.knowledge.validation.validate` and raise
        on any error-level problem (unknown ids in links, numbers without references, ...).

    Returns
    -------
    KnowledgeBase

    Raises
    ------
    KnowledgeBaseError
        Every problem found, each with ``file:key`` path.

    Examples
    --------
    >>> kb = load_knowledge_base()
    >>> kb is load_knowledge_base()
    True
    >>> load_knowledge_base("/nonexistent")
    Traceback (most recent call last):
    ...
    twitchcds.errors.KnowledgeBaseError: invalid knowledge base: /nonexistent: not a directory
    """
    if path is None and validate:
        return builtin_knowledge_base()
    kb = build_knowledge_base(read_sources(path))
    if validate:
        from twitchcds.knowledge.validation import raise_for_errors  # noqa: PLC0415

        raise_for_errors(kb)
    return kb


_builtin_lock = threading.Lock()
_builtin: KnowledgeBase | None = None


def builtin_knowledge_base() -> KnowledgeBase:
    """Return the built-in knowledge base, loading and validating it on first use.

    One of the library's two process-wide caches (the other is :mod:`twitchcds._state`); the
    knowledge base is immutable, and the lock only keeps threads racing on first use from
    loading it twice.

    Examples
    --------
    >>> builtin_knowledge_base() is load_knowledge_base()
    True
    """
    global _builtin  # noqa: PLW0603  (the built-in knowledge base is loaded once per process)
    if _builtin is None:
        with _builtin_lock:
            if _builtin is None:
                from twitchcds.knowledge.validation import raise_for_errors  # noqa: PLC0415

                loaded = load_knowledge_base(None, validate=False)
                raise_for_errors(loaded)  # cache only a knowledge base that passed validation
                _builtin = loaded
    return _builtin
