"""Assess JSON lines (one Case v1 object per line): what ``twitchcds batch`` runs."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from twitchcds.batch._dask import _dask_stream
from twitchcds.batch._stream import _stream
from twitchcds.batch._work import (
    _DEFAULT_CHUNKSIZE,
    CaseFailure,
    _batch_options,
    _check_batch,
)
from twitchcds.errors import InvalidInputError
from twitchcds.knowledge.base import KnowledgeBase

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["assess_jsonl"]

def _numbered(lines: Iterable[str], numbers: deque[int]) -> Iterator[str]:
    for number, line in enumerate(lines, 1):
        if line.strip():
            numbers.append(number)
            yield line


def assess_jsonl(lines: Iterable[str], kb: KnowledgeBase | None = None, *,
                 workers: int | None = None, dask: Client | str | None = None,
                 chunksize: int = _DEFAULT_CHUNKSIZE, scores: bool = False, **options: Any,
                 ) -> Iterator[tuple[int, str | CaseFailure]]:
    """Assess JSON lines (one Case v1 object per line): ``(line number, Assessment JSON)`` pairs.

    What ``twitchcds batch`` runs. Blank lines are skipped; a bad line (invalid JSON or an
    invalid case) yields a :class:`CaseFailure` in its place and the others go on. Parsing and
    JSON encoding happen in the workers too. Each chunk's differentials are solved together
    (:func:`~twitchcds.pipeline.run_many`), so larger chunks run faster per case.

    Parameters
    ----------
    lines : iterable of str
        E.g. an open text file; read lazily.
    kb : KnowledgeBase, optional
        Defaults to the built-in one.
    workers : int, optional
        Processes to use (default: this one).
    dask : distributed.Client or str, optional
        Run on this Dask cluster instead (``workers`` is then ignored).
    chunksize : int, default 64
        Lines per task.
    scores : bool, default False
        Write Scores v1 rows (:class:`~twitchcds.scores.CaseScores`: differential, scope and
        triage) instead of full assessments; ``workup``, ``explain`` and ``intervals`` are then
        off, and asking for one is an error (its results have no place in a row).
    **options
        Passed to :func:`twitchcds.assess`.

    Returns
    -------
    iterator of (int, str or CaseFailure)
        1-based line number and compact Assessment v1 (or Scores v1) JSON, in input order.

    Raises
    ------
    InvalidInputError
        At once, for a bad option.

    Examples
    --------
    >>> [(n, text[:12]) for n, text in assess_jsonl(['{"id": "x", "age": 40}'], workup=False)]
    [(1, '{"case_id":"')]
    >>> import json
    >>> [(n, json.loads(text)["triage"]["level"]) for n, text in assess_jsonl(['{"age": 40}'],
    ...                                                                        scores=True)]
    [(1, 'self-care')]
    """
    if type(scores) is not bool:
        raise InvalidInputError("invalid input: scores must be true or false",
                                path="options.scores", value=scores)
    checked = _batch_options({"workup": False, "explain": False, **options} if scores
                             else options)
    _check_batch(workers, chunksize, "return")
    output: Literal["json", "scores"] = "scores" if scores else "json"
    if scores:
        for name, value in checked:
            if name in ("workup", "explain", "intervals") and value:
                raise InvalidInputError(f"invalid input: {name} must be off with scores "
                                        "(a Scores v1 row has no place for it)",
                                        path=f"options.{name}", value=value)
    numbers: deque[int] = deque()
    items = _numbered(lines, numbers)
    if dask is not None:
        results = _dask_stream(items, dask, kb, checked, chunksize=chunksize, in_flight=None,
                               errors="return", parse=True, output=output)
    else:
        results = _stream(items, kb, checked, workers=workers, chunksize=chunksize,
                          errors="return", parse=True, output=output)
    # ``numbers`` holds only the lines read and not yet answered: bounded by the chunks in flight.
    return ((numbers.popleft(), result) for result in results)
