"""The unit of batch work: a chunk of cases in, one outcome per case out, and what it needs.

A chunk is assessed by :func:`~twitchcds.pipeline.run_many` (or scored by
:func:`~twitchcds.scores.score_many`) in whichever process runs it; a custom knowledge base
travels to worker processes pickled once (see *Notes* in :mod:`twitchcds.batch`), and an
assessment travels back with its differential as plain columns.
"""

from __future__ import annotations

import contextlib
import copyreg
import functools
import gc
import io
import json
import pickle
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal

import attrs
from attrs import frozen

from twitchcds._lru import Lru
from twitchcds._state import builtin_knowledge_base, compiled_model
from twitchcds.assessment import Assessment
from twitchcds.case import Case
from twitchcds.errors import InvalidInputError, TwitchCDSError
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.pipeline import AlikeKey, _as_case, _condition_rows, check_options, run_many
from twitchcds.scores import score_many, to_json_many

__all__ = ["CaseFailure", "ErrorMode"]

ErrorMode = Literal["raise", "return"]
"""What a batch does with a bad case: raise its error when its turn comes, or yield a record."""

Output = Literal["assessment", "remote", "json", "scores", "rows"]
_DEFAULT_CHUNKSIZE = 64


@frozen(eq=False)
class CaseFailure:
    """The record yielded in place of an :class:`Assessment` for a bad case (``errors="return"``).

    Attributes
    ----------
    index : int
        0-based position of the case in the input (blank JSON lines are not counted).
    case_id : str or None
        The case's ``id`` when it could be read.
    error : TwitchCDSError
        The error :func:`twitchcds.assess` raised for this case.

    Examples
    --------
    >>> from twitchcds import assess_many
    >>> [type(r).__name__ for r in assess_many([{"age": 30}, {"age": -1}], errors="return")]
    ['Assessment', 'CaseFailure']
    """

    index: int
    case_id: str | None
    error: TwitchCDSError

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready ``{"index", "case_id", "error": {type, message, path, problems}}``.

        Examples
        --------
        >>> from twitchcds.batch import assess_jsonl
        >>> [(_, failure)] = assess_jsonl(['{"age": "44"}'])
        >>> failure.to_dict()["error"]["problems"]
        [{'path': '$.age', 'message': 'must be a number'}]
        """
        return {
            "index": self.index, "case_id": self.case_id,
            "error": {"type": type(self.error).__name__, "message": str(self.error),
                      "path": self.error.path,
                      "problems": [{"path": p.path, "message": p.message}
                                   for p in self.error.problems]},
        }


# --- pickling a knowledge base ----------------------------------------------------------------

def _mappingproxy(data: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(data)


def _reduce_mappingproxy(proxy: MappingProxyType[str, Any]) -> tuple[Any, ...]:
    return (_mappingproxy, (dict(proxy),))


_DISPATCH = {**copyreg.dispatch_table, MappingProxyType: _reduce_mappingproxy}


def _dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH  # this pickler only: nothing registered process-wide
    pickler.dump(obj)
    return buffer.getvalue()


def _kb_blob(kb: KnowledgeBase | None) -> bytes | None:
    """Pickle ``kb`` for workers; ``None`` (the built-in one) is loaded by each worker itself."""
    if kb is None or kb is builtin_knowledge_base():
        return None
    return _dumps(kb)


@functools.lru_cache(maxsize=4)
def _worker_kb(blob: bytes | None) -> KnowledgeBase:
    """Return the knowledge base of a worker process, unpickled once per distinct blob."""
    if blob is None:
        return builtin_knowledge_base()
    kb: KnowledgeBase = pickle.loads(blob)  # noqa: S301  (our own bytes, made by _kb_blob)
    return kb


# --- the unit of work --------------------------------------------------------------------------

def _case_id(item: Any) -> str | None:
    if isinstance(item, Case):
        return item.id
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except ValueError:
            return None
    if isinstance(item, Mapping) and isinstance(item.get("id"), str):
        return str(item["id"])
    return None


def _case(item: Any, parse: bool) -> Case:
    if not parse:
        return _as_case(item)
    # A trailing newline keeps Case.from_json from reading a line ending in .json as a path.
    return Case.from_json(item if item.endswith("\n") else item + "\n")


def _block(items: list[Any], kb: KnowledgeBase, parse: bool, output: Output,
           options: tuple[tuple[str, Any], ...], *,
           earlier: Lru[AlikeKey, Assessment] | None = None) -> list[tuple[bool, Any]]:
    """Assess a block of items together (:func:`~twitchcds.pipeline.run_many`).

    Returns ``(True, result)`` or ``(False, (error, case id))`` per item, in order.
    ``earlier``: assessments of earlier blocks of the same run (see ``run_many``).
    """
    with _collector_paused():
        return _assess_block(items, kb, parse, output, options, earlier=earlier)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of a block (then restore it).

    A block of cases allocates a few hundred small objects per case, nearly all freed by
    reference counting when the block is done; meanwhile the collector would run every 700
    allocations and traverse them, and now and then every object of the knowledge base too:
    about 15% of ``batch --scores``' time (chunks of 1024). Cyclic garbage made meanwhile
    (e.g. by an exception) is collected after the block. If the collector was off, it stays off.

    Examples
    --------
    >>> import gc
    >>> with _collector_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _assess_block(items: list[Any], kb: KnowledgeBase, parse: bool, output: Output,
                  options: tuple[tuple[str, Any], ...], *,
                  earlier: Lru[AlikeKey, Assessment] | None = None) -> list[tuple[bool, Any]]:
    cases: list[Case] = []
    at: list[int] = []
    out: list[tuple[bool, Any]] = []
    for item in items:
        try:
            cases.append(_case(item, parse))
            at.append(len(out))
            out.append((True, None))
        except TwitchCDSError as exc:
            out.append((False, (exc, _case_id(item))))
    model = compiled_model(kb)
    if output in ("scores", "rows"):  # CaseScores as JSON text or as objects
        opts = dict(options)
        scored = score_many(cases, kb, model, setting=opts["setting"], method=opts["method"])
        rows = [row for row in scored if not isinstance(row, TwitchCDSError)]
        done = iter(to_json_many(rows) if output == "scores" else rows)  # JSON: all at once
        for i, row in zip(at, scored, strict=True):
            out[i] = ((False, (row, _case_id(items[i]))) if isinstance(row, TwitchCDSError)
                      else (True, next(done)))
        return out
    for i, result in zip(at, run_many(cases, kb, model, options, earlier=earlier), strict=True):
        if isinstance(result, TwitchCDSError):
            out[i] = (False, (result, _case_id(items[i])))
        elif output == "json":
            out[i] = (True, result.to_json(indent=None))
        elif output == "remote":  # the parent re-attaches its own knowledge base (_rebuild)
            out[i] = (True, _pack(result))
        else:
            out[i] = (True, result)
    return out


def _pack(result: Assessment) -> dict[str, Any]:
    """``result``'s fields for another process, without the knowledge base.

    The differential goes as plain columns in row order (knowledge-base positions, numbers and
    explanations); :func:`_rebuild` re-attaches each condition's fixed fields from its own
    copy of the knowledge base. Pickling 25 row objects per case cost about as much as
    assessing it, which kept worker processes from paying off.
    """
    fields = {name: getattr(result, name) for name in _PACKED}
    position = compiled_model(result.kb).condition_position
    order, *columns = tuple(zip(*[(position[r.id], r.probability, r.prior, r.base_prior,
                                   r.evidence, r.risk_factors) for r in result.differential],
                                 strict=True)) or ((),) * 6
    fields["differential"] = (order, tuple(columns))
    return fields


_PACKED = tuple(a.name for a in attrs.fields(Assessment) if a.name not in ("kb", "differential"))
"""Fields :func:`_pack` sends as they are."""


def _run_chunk(blob: bytes | None, items: list[Any], parse: bool, output: Output,
               options: tuple[tuple[str, Any], ...], *,
               earlier: Lru[AlikeKey, Assessment] | None = None) -> bytes:
    """Assess a chunk of cases in a worker; a Dask worker keeps no memory of alike cases.

    The outcomes go back pickled as one ``bytes`` object, which the caller unpickles when the
    chunk's turn comes (:func:`_unpickle_chunk`), with the collector paused. Left to the pool,
    a chunk of assessments (about 1,000 objects a case) was unpickled in the pool's result
    thread while the collector ran: each chunk pushed its objects into the oldest generation and
    set off a full collection of everything the caller holds (22 in a run of 2,000 varied
    cases), which took half of the caller's CPU time on a core the workers needed.
    """
    with _collector_paused():  # the outcomes are freed before it resumes: none to traverse
        return _dumps(_block(items, _worker_kb(blob), parse, output, options, earlier=earlier))


ALIKE_MEMORY = 64
"""Distinct inputs whose assessments one run keeps for later chunks' alike cases.

Real records share them a lot (most have no complaint): on 585 Synthea records 16, 64 or 256
give the same speed. 64 varied assessments take about 10 MB, one default chunk's worth. Kept
in memory for the run only: in this process by :func:`~twitchcds.batch._stream._stream`, in a
process-pool worker for the pool's life (one run); Dask workers outlive a run and keep none.
"""

_pool_memory: Lru[AlikeKey, Assessment] | None = None
"""A process-pool worker's memory of this run's alike cases (:func:`_start_pool_worker`)."""


def _start_pool_worker() -> None:
    """Start a process-pool worker with an empty memory of alike cases (the pool's initializer)."""
    global _pool_memory  # noqa: PLW0603  (one per worker process, made when the pool starts)
    _pool_memory = Lru(ALIKE_MEMORY)


def _run_pool_chunk(blob: bytes | None, items: list[Any], parse: bool, output: Output,
                    options: tuple[tuple[str, Any], ...]) -> bytes:
    """:func:`_run_chunk` in a process-pool worker, reusing alike cases of its earlier chunks."""
    return _run_chunk(blob, items, parse, output, options, earlier=_pool_memory)


def _unpickle_chunk(data: bytes) -> list[tuple[bool, Any]]:
    """Unpickle a chunk's outcomes from :func:`_run_chunk`, the collector paused."""
    with _collector_paused():
        outcomes: list[tuple[bool, Any]] = pickle.loads(data)  # noqa: S301  (our own bytes)
    return outcomes


def _rebuild(payload: Any, kb: KnowledgeBase, output: Output) -> Any:
    """Return the worker's result as the caller gets it (an Assessment from :func:`_pack`)."""
    if output != "remote":
        return payload
    rows = _condition_rows(compiled_model(kb), *payload.pop("differential"))
    return Assessment(**payload, differential=tuple(rows), kb=kb)


# --- options ----------------------------------------------------------------------------------

def _batch_options(options: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """:func:`~twitchcds.pipeline.check_options` for the batch functions.

    Intervals cost tens of inferences per case, so they are off here unless asked for.
    """
    return check_options(**{"intervals": False, **options})


def _check_batch(workers: int | None, chunksize: int, errors: str) -> None:
    if workers is not None and (type(workers) is not int or workers < 1):
        raise InvalidInputError("invalid input: workers must be a positive integer or None",
                                path="options.workers", value=workers)
    if type(chunksize) is not int or chunksize < 1:
        raise InvalidInputError("invalid input: chunksize must be a positive integer",
                                path="options.chunksize", value=chunksize)
    if errors not in ("raise", "return"):
        raise InvalidInputError("invalid input: errors must be 'raise' or 'return'",
                                path="options.errors", value=errors)
