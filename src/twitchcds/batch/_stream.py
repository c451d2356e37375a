"""Ordered, bounded streaming of chunks: in this process or in a pool of worker processes.

Chunks are submitted lazily with at most a fixed number in flight and their outcomes come back in
input order, so memory stays flat in the number of cases.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, Literal, Protocol

from twitchcds._lru import Lru
from twitchcds._state import builtin_knowledge_base
from twitchcds.assessment import Assessment
from twitchcds.batch._work import (
    ALIKE_MEMORY,
    CaseFailure,
    ErrorMode,
    Output,
    _block,
    _kb_blob,
    _rebuild,
    _run_pool_chunk,
    _start_pool_worker,
    _unpickle_chunk,
)
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.pipeline import AlikeKey


class _Future(Protocol):
    def result(self) -> list[tuple[bool, Any]]: ...
    def cancel(self) -> Any: ...


class _BytesFuture(Protocol):
    def result(self) -> bytes: ...
    def cancel(self) -> Any: ...


class _Pickled:
    """A worker's future whose result comes pickled as one ``bytes`` object (``_unpickle_chunk``).

    Unpickled when the chunk's turn comes, in the caller's thread, with the collector paused.
    """

    def __init__(self, future: _BytesFuture) -> None:
        self._future = future

    def result(self) -> list[tuple[bool, Any]]:
        return _unpickle_chunk(self._future.result())

    def cancel(self) -> Any:
        return self._future.cancel()


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _ordered(items: Iterable[Any], size: int, in_flight: int,
             submit: Callable[[list[Any]], _Future]) -> Generator[tuple[bool, Any], None, None]:
    """Submit chunks lazily, at most ``in_flight`` at once; yield outcomes in input order."""
    pending: deque[_Future] = deque()
    try:
        for chunk in _chunks(items, size):
            pending.append(submit(chunk))
            if len(pending) >= in_flight:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _finish(outcomes: Iterable[tuple[bool, Any]], kb: KnowledgeBase, output: Output,
            errors: ErrorMode) -> Iterator[Any]:
    for index, (ok, payload) in enumerate(outcomes):
        if ok:
            yield _rebuild(payload, kb, output)
            continue
        error, case_id = payload
        if errors == "raise":
            raise error
        yield CaseFailure(index, case_id, error)


def _stream(items: Iterable[Any], kb: KnowledgeBase | None,
            options: tuple[tuple[str, Any], ...], *,
            workers: int | None, chunksize: int, errors: ErrorMode, parse: bool,
            output: Literal["assessment", "json", "scores", "rows"]) -> Iterator[Any]:
    """Assess ``items`` in order: in this process, or in a pool of ``workers`` processes."""
    local_kb = builtin_knowledge_base() if kb is None else kb
    if workers is None or workers == 1:
        earlier: Lru[AlikeKey, Assessment] = Lru(ALIKE_MEMORY)  # this run only, then dropped
        outcomes = (outcome for chunk in _chunks(items, chunksize)
                    for outcome in _block(chunk, local_kb, parse, output, options,
                                          earlier=earlier))
        yield from _finish(outcomes, local_kb, output, errors)
        return
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    wire: Output = "remote" if output == "assessment" else output
    blob = _kb_blob(kb)
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_pool_worker) as pool:
        def submit(chunk: list[Any]) -> _Future:
            return _Pickled(pool.submit(_run_pool_chunk, blob, chunk, parse, wire, options))

        ordered = _ordered(items, chunksize, 2 * workers, submit)
        try:
            yield from _finish(ordered, local_kb, wire, errors)
        finally:
            ordered.close()  # cancels the chunks in flight, now rather than at garbage collection
            pool.shutdown(wait=True, cancel_futures=True)
