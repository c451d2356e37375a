"""pandas front end: one case per DataFrame row in, one assessment per row out.

Column convention (every column optional; any other column is an error, so select yours first):

- ``id``: the case id (text); echoed nowhere in scoring.
- ``age``, ``sex``, ``setting``: as in Case v1 (DESIGN §5).
- ``<finding id>``, a knowledge-base finding id such as ``muscle_weakness``: ``True`` = present,
  ``False`` = absent, missing (``NA``, ``None``, ``NaN``) = unknown.
- ``HP:<7 digits>`` or ``SNOMEDCT:<digits>``: a finding by code, same cells (the HPO true-path
  rule applies as in Case v1).
- ``history.<field>``: a Case v1 history field, e.g. ``history.caffeine_mg_per_day``.
- ``lab:<LOINC>``: a lab value in the analyte's canonical unit, the knowledge base's
  ``LabRule.unit`` (mmol/L for potassium ``2823-3``, mg/dL for glucose ``2345-7``, ...).
- ``lab:<LOINC>[<UCUM unit>]``: a lab value in the unit named, e.g. ``lab:2345-7[mmol/L]``.
- ``medications``: a list of names or of Case v1 medication objects (missing = none).

Missing cells say nothing, so a row is the Case v1 object holding its non-missing cells; numpy
scalars become Python ones, and types are otherwise as strict as in Case v1 (a finding cell must
be a boolean, an age a number).

Examples
--------
>>> import pandas as pd
>>> from twitchcds.dataframe import assess_dataframe
>>> df = pd.DataFrame({"age": [27, 68], "fasciculations": [True, True],
...                    "muscle_weakness": [False, True],
...                    "history.caffeine_mg_per_day": [600, None]})
>>> out = assess_dataframe(df, workup=False)
>>> list(out.columns[-3:])
['top_condition', 'triage', 'method']
>>> out["p_amyotrophic_lateral_sclerosis"].is_monotonic_increasing
True
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from twitchcds._state import builtin_knowledge_base
from twitchcds.batch._stream import _stream
from twitchcds.batch._work import CaseFailure, _batch_options, _check_batch
from twitchcds.case import Case, History
from twitchcds.errors import InvalidCaseError, InvalidInputError, Problem, TwitchCDSError
from twitchcds.knowledge.base import KnowledgeBase

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["assess_dataframe", "cases_from_dataframe", "cases_to_dataframe"]

_SCALARS = ("id", "age", "sex", "setting")
_CHUNK = 256
"""Distinct cases scored together (one inference for their differentials)."""
_HISTORY = frozenset(a.name for a in attrs.fields(History))
_CODE = re.compile(r"^(HP:\d{7}|SNOMEDCT:\d{6,18})$")
_LAB = re.compile(r"^lab:(?P<loinc>[0-9]{1,7}-[0-9])(?:\[(?P<unit>[^\]]+)\])?$")


def _pandas() -> Any:
    """Import pandas, or say which extra installs it."""
    try:
        import pandas as pd  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = "DataFrame support needs pandas: pip install 'twitchcds[pandas]'"
        raise ImportError(msg) from exc
    return pd


def _missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return type(value).__name__ in {"NAType", "NaTType"}


def _python(value: Any) -> Any:
    """Turn a numpy scalar into the Python one (``numpy.int64(3)`` -> ``3``)."""
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy":
        return item()
    return value


# A column's role: ("scalar", name) | ("finding", "id" or "code", value) | ("history", field)
# | ("lab", loinc, unit) | ("medications",)
_Role = tuple[str, ...]


def _roles(columns: Iterable[Hashable], kb: KnowledgeBase) -> list[_Role]:
    canonical = {loinc: rule.unit for rule in kb.lab_rules for loinc in rule.loinc}
    roles: list[_Role] = []
    problems: list[Problem] = []
    for column in columns:
        name = column if isinstance(column, str) else ""
        lab = _LAB.fullmatch(name)
        if name in _SCALARS:
            roles.append(("scalar", name))
        elif name == "medications":
            roles.append(("medications",))
        elif name in kb.finding_index:
            roles.append(("finding", "id", name))
        elif _CODE.fullmatch(name):
            roles.append(("finding", "code", name))
        elif name.startswith("history.") and name[8:] in _HISTORY:
            roles.append(("history", name[8:]))
        elif lab and (lab["unit"] or lab["loinc"] in canonical):
            roles.append(("lab", lab["loinc"], lab["unit"] or canonical[lab["loinc"]]))
        else:
            problems.append(Problem(f"columns[{column!r}]", "is not a twitchcds column (id, age, "
                                    "sex, setting, a finding id or code, history.<field>, "
                                    "lab:<LOINC>[unit], medications)"))
    if problems:
        raise InvalidInputError.from_problems(problems)
    return roles


def _row_case(roles: list[_Role], row: Iterable[Any], number: int) -> dict[str, Any]:
    case: dict[str, Any] = {}
    findings: list[dict[str, str]] = []
    history: dict[str, Any] = {}
    labs: list[dict[str, Any]] = []
    for role, cell in zip(roles, row, strict=True):
        if role[0] == "medications":
            medications = _medications(cell, number)
            if medications:
                case["medications"] = medications
            continue
        value = _python(cell)
        if _missing(value):
            continue
        if role[0] == "scalar":
            case[role[1]] = value
        elif role[0] == "finding":
            if not isinstance(value, bool):
                raise InvalidCaseError.from_problems([Problem(
                    f"$[{number}].{role[2]}", "must be true, false or missing", value)])
            findings.append({role[1]: role[2], "status": "present" if value else "absent"})
        elif role[0] == "history":
            history[role[1]] = value
        else:
            labs.append({"loinc": role[1], "value": value, "unit": role[2]})
    parts: dict[str, Any] = {"findings": findings, "history": history, "labs": labs}
    return case | {key: items for key, items in parts.items() if items}


def _medications(cell: Any, number: int) -> list[Any]:
    if isinstance(cell, list | tuple):
        return [{"name": m} if isinstance(m, str) else m for m in cell]
    if _missing(cell):
        return []
    raise InvalidCaseError.from_problems([Problem(
        f"$[{number}].medications", "must be a list of names or objects", cell)])


def cases_from_dataframe(df: pd.DataFrame,
                         kb: KnowledgeBase | None = None) -> Iterator[dict[str, Any]]:
    """Read a DataFrame (module docstring's column convention) as Case v1 dictionaries.

    Parameters
    ----------
    df : pandas.DataFrame
    kb : KnowledgeBase, optional
        Names the finding columns and the labs' canonical units; default the built-in one.

    Returns
    -------
    iterator of dict
        One Case v1 dictionary per row, in row order (not yet validated: see :class:`Case`).

    Raises
    ------
    InvalidInputError
        At once, naming every column that follows no convention.
    InvalidCaseError
        When a row's turn comes, for a finding cell that is not a boolean.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a"], "age": [41], "lab:2823-3": [2.9]})
    >>> next(cases_from_dataframe(df))
    {'id': 'a', 'age': 41, 'labs': [{'loinc': '2823-3', 'value': 2.9, 'unit': 'mmol/L'}]}
    """
    roles = _roles(df.columns, builtin_knowledge_base() if kb is None else kb)
    return (_row_case(roles, row, number)
            for number, row in enumerate(df.itertuples(index=False, name=None)))


def cases_to_dataframe(cases: Iterable[Case | Mapping[str, Any]]) -> pd.DataFrame:
    """Write cases as a DataFrame in the module docstring's convention (inverse of the reader).

    Labs get explicit-unit columns (``lab:2823-3[mmol/L]``); findings named by code get code
    columns. A case with two labs of the same LOINC and unit cannot be one row.

    Examples
    --------
    >>> df = cases_to_dataframe([{"age": 30, "findings": [{"id": "tremor", "status": "absent"}]}])
    >>> df.to_dict("records")
    [{'age': 30, 'tremor': False}]
    >>> [Case.from_dict(c) for c in cases_from_dataframe(df)][0].findings[0].status
    'absent'
    """
    pandas = _pandas()
    rows: list[dict[str, Any]] = []
    for number, item in enumerate(cases):
        data = item.to_dict() if isinstance(item, Case) else dict(item)
        row = {k: data[k] for k in _SCALARS if k in data}
        for finding in data.get("findings", ()):
            row[finding.get("id") or finding["code"]] = finding["status"] == "present"
        for key, value in data.get("history", {}).items():
            row[f"history.{key}"] = value
        for lab in data.get("labs", ()):
            column = f"lab:{lab['loinc']}[{lab['unit']}]"
            if column in row:
                raise InvalidInputError(f"invalid input: case {number} has two labs in {column}",
                                        path=f"$[{number}].labs", value=column)
            row[column] = lab["value"]
        if data.get("medications"):
            row["medications"] = list(data["medications"])
        rows.append(row)
    frame: pd.DataFrame = pandas.DataFrame.from_records(rows)
    return frame


def assess_dataframe(df: pd.DataFrame, kb: KnowledgeBase | None = None, *,
                     workers: int | None = None, errors: Literal["raise", "return"] = "raise",
                     **options: Any) -> pd.DataFrame:
    """Assess every row of a DataFrame; one output row per input row, same index.

    Rows whose cases are identical (apart from ``id``) are assessed once and the result shared,
    so a population with many repeated presentations costs only its distinct ones.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns as in the module docstring.
    kb : KnowledgeBase, optional
        Defaults to the built-in one.
    workers : int, optional
        Worker processes for the distinct cases (as in :func:`twitchcds.assess_many`).
    errors : {"raise", "return"}, default "raise"
        ``"raise"``: the first bad row's error (by row order) is raised and nothing is returned.
        ``"return"``: bad rows get missing values and the message in an ``error`` column.
    **options
        As for :func:`twitchcds.assess`: ``method`` and ``setting`` apply; ``workup``,
        ``explain`` and ``intervals`` are checked and have no effect, as the outputs do not use
        them (rows are scored by :func:`twitchcds.scores.score_many`: the same posteriors,
        scope and triage as :func:`twitchcds.assess`, to 1e-12).

    Returns
    -------
    pandas.DataFrame
        ``p_<condition id>`` (posterior, float, one column per condition in knowledge-base
        order), ``top_condition`` (id of the most probable condition), ``triage`` (level),
        ``method`` (``exact`` or ``approximate``), and with ``errors="return"`` ``error``.

    Raises
    ------
    InvalidInputError
        At once, for columns outside the convention or a bad option.
    TwitchCDSError
        With ``errors="raise"``, for the first bad row (its path starts ``$[row position]`` for
        cell-type problems, else is the Case v1 path).

    Examples
    --------
    >>> import pandas as pd
    >>> out = assess_dataframe(pd.DataFrame({"age": [30, -1]}), errors="return", workup=False)
    >>> out["triage"].isna().tolist(), out["error"].notna().tolist()
    ([False, True], [False, True])
    """
    pandas = _pandas()
    import numpy as np  # noqa: PLC0415

    checked = _batch_options(options)
    _check_batch(workers, 1, errors)
    kb = builtin_knowledge_base() if kb is None else kb
    roles = _roles(df.columns, kb)
    distinct: dict[str, int] = {}
    unique_cases: list[dict[str, Any]] = []
    slot = np.empty(len(df), dtype=np.intp)
    row_errors: dict[int, TwitchCDSError] = {}
    for position, row in enumerate(df.itertuples(index=False, name=None)):
        try:
            case = _row_case(roles, row, position)
        except TwitchCDSError as exc:
            row_errors[position] = exc
            slot[position] = -1
            continue
        case.pop("id", None)
        key = json.dumps(case, sort_keys=True, default=repr)
        index = distinct.setdefault(key, len(distinct))
        slot[position] = index
        if index == len(unique_cases):
            unique_cases.append(case)
    conditions = [c.id for c in kb.conditions]
    probs = np.full((len(unique_cases) + 1, len(conditions)), np.nan)  # last row: failures
    labels = np.full((len(unique_cases) + 1, 3), None, dtype=object)
    unique_errors: dict[int, TwitchCDSError] = {}
    results = _stream(unique_cases, kb, checked, workers=workers, chunksize=_CHUNK,
                      errors="return", parse=False, output="rows")
    for i, result in enumerate(results):
        if isinstance(result, CaseFailure):
            unique_errors[i] = result.error
            continue
        by_id = result.probabilities
        probs[i] = [by_id[c] for c in conditions]
        labels[i] = (result.differential[0][0], result.triage, result.method)
    for row_position in np.flatnonzero(slot >= 0).tolist():
        if int(slot[row_position]) in unique_errors:
            row_errors[row_position] = unique_errors[int(slot[row_position])]
    if errors == "raise" and row_errors:
        raise row_errors[min(row_errors)]
    slot[list(row_errors)] = len(unique_cases)
    columns: dict[str, Any] = {f"p_{c}": probs[slot, j] for j, c in enumerate(conditions)}
    for j, name in enumerate(("top_condition", "triage", "method")):
        columns[name] = pandas.array(labels[slot, j], dtype="string")
    if errors == "return":
        messages = np.full(len(df), None, dtype=object)
        for position, error in row_errors.items():
            messages[position] = str(error)
        columns["error"] = pandas.array(messages, dtype="string")
    out: pd.DataFrame = pandas.DataFrame(columns, index=df.index)
    return out
