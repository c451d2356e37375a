"""Assess on a Dask cluster: :func:`assess_many_dask`, the same results and order as locally."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from twitchcds._state import builtin_knowledge_base
from twitchcds.batch._stream import _BytesFuture, _finish, _Future, _ordered, _Pickled
from twitchcds.batch._work import (
    ErrorMode,
    Output,
    _batch_options,
    _check_batch,
    _kb_blob,
    _run_chunk,
)
from twitchcds.case import Case
from twitchcds.knowledge.base import KnowledgeBase

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["assess_many_dask"]

def _dask_client(client_or_address: Client | str) -> tuple[Any, bool]:
    """Return a client (``Any``: distributed's methods are untyped) and whether we opened it."""
    try:
        from distributed import Client  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = ("assessing on a Dask cluster needs dask.distributed: "
               "pip install 'twitchcds[dask]'")
        raise ImportError(msg) from exc
    if isinstance(client_or_address, str):
        connect: Any = Client
        return connect(client_or_address), True
    return client_or_address, False


def _dask_stream(items: Iterable[Any], client_or_address: Client | str,
                 kb: KnowledgeBase | None, options: tuple[tuple[str, Any], ...], *,
                 chunksize: int,
                 in_flight: int | None, errors: ErrorMode, parse: bool,
                 output: Literal["assessment", "json", "scores"]) -> Iterator[Any]:
    client, owned = _dask_client(client_or_address)
    wire: Output = "remote" if output == "assessment" else output
    try:
        blob = _kb_blob(kb)
        shared = client.scatter(blob, broadcast=True) if blob is not None else None
        limit = in_flight or 2 * sum(client.nthreads().values()) + 2

        def submit(chunk: list[Any]) -> _Future:
            future: _BytesFuture = client.submit(_run_chunk, shared, chunk, parse, wire,
                                                 options, pure=False)
            return _Pickled(future)

        local_kb = builtin_knowledge_base() if kb is None else kb
        ordered = _ordered(items, chunksize, limit, submit)
        try:
            yield from _finish(ordered, local_kb, wire, errors)
        finally:
            ordered.close()  # cancels the tasks in flight while the client is still open
    finally:
        if owned:
            client.close()


def assess_many_dask(cases: Iterable[Case | Mapping[str, Any]], client: Client | str,
                     kb: KnowledgeBase | None = None, *, chunksize: int = 256,
                     in_flight: int | None = None, errors: ErrorMode = "raise",
                     **options: Any) -> Iterator[Any]:
    """Assess cases on a Dask cluster: as :func:`twitchcds.assess_many`, same results and order.

    Parameters
    ----------
    cases : iterable of Case or dict
        Read lazily.
    client : distributed.Client or str
        A connected client, or a scheduler address (``"tcp://host:8786"``) to connect to and
        close afterwards.
    kb : KnowledgeBase, optional
        Defaults to the built-in one (each Dask worker loads its own copy); a custom one is
        scattered to every worker once.
    chunksize : int, default 256
        Cases per Dask task.
    in_flight : int, optional
        Most tasks submitted and not yet consumed; default twice the cluster's threads plus 2,
        which keeps memory flat in the number of cases.
    errors : {"raise", "return"}, default "raise"
        As in :func:`twitchcds.assess_many`.
    **options
        Passed to :func:`twitchcds.assess` (``workup``, ``explain``, ``method``, ``setting``).

    Returns
    -------
    iterator of Assessment (or CaseFailure with ``errors="return"``)

    Raises
    ------
    ImportError
        If dask.distributed is missing (``pip install 'twitchcds[dask]'``).
    TwitchCDSError
        For a bad option at once; for a bad case when its turn comes (``errors="raise"``).

    Examples
    --------
    >>> from distributed import Client  # doctest: +SKIP
    >>> with Client("tcp://scheduler:8786") as client:  # doctest: +SKIP
    ...     results = list(assess_many_dask(cases, client, workup=False))
    """
    checked = _batch_options(options)
    _check_batch(None, chunksize, errors)
    return _dask_stream(cases, client, kb, checked, chunksize=chunksize, in_flight=in_flight,
                        errors=errors, parse=False, output="assessment")
