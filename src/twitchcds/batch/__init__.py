"""Batch and scale-out: many cases on one machine (process pool) or on a Dask cluster.

:func:`twitchcds.assess_many` (defined here) is the entry point for most callers. The package
holds it and what it runs on: the unit of work, a chunk of cases assessed together
(``_work``: one inference for the chunk's differentials, see
:func:`~twitchcds.pipeline.run_many`), ordered streaming through worker processes
(``_stream``), and the Dask (``_dask``) and JSON-lines (``_jsonl``) front ends. For pandas see
:func:`twitchcds.dataframe.assess_dataframe`.

Every front end streams: cases are read lazily, sent in chunks of ``chunksize`` with at most a
fixed number of chunks in flight, and results come back in input order, so memory stays flat
in the number of cases. A worker process or Dask worker loads the built-in knowledge base once;
a custom knowledge base is pickled once per call (see *Notes*) and unpickled at most once per
worker process.

Examples
--------
>>> from twitchcds.batch import CaseFailure, assess_jsonl
>>> lines = ['{"id": "a", "age": 30}', "", "not json", '{"id": "c", "age": 70}']
>>> for number, result in assess_jsonl(lines):
...     print(number, "failed" if isinstance(result, CaseFailure) else "ok")
1 ok
3 failed
4 ok

Notes
-----
:class:`~twitchcds.knowledge.base.KnowledgeBase` holds :class:`types.MappingProxyType` fields,
which the standard pickler refuses; this package pickles a knowledge base with a private
:class:`pickle.Pickler` whose ``dispatch_table`` turns each proxy into a plain ``dict`` and back,
without registering anything process-wide.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, overload

from twitchcds.assessment import Assessment
from twitchcds.batch._dask import assess_many_dask
from twitchcds.batch._jsonl import assess_jsonl
from twitchcds.batch._stream import _stream
from twitchcds.batch._work import CaseFailure, ErrorMode, _check_batch
from twitchcds.case import Case
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.pipeline import check_options
from twitchcds.typing import Method, Setting

__all__ = [
    "CaseFailure",
    "ErrorMode",
    "assess_jsonl",
    "assess_many",
    "assess_many_dask",
]

@overload
def assess_many(cases: Iterable[Case | Mapping[str, Any]], kb: KnowledgeBase | None = None, *,
                workers: int | None = None, chunksize: int = 64,
                errors: Literal["raise"] = "raise", method: Method = "auto",
                workup: bool = True, explain: bool = True, setting: Setting | None = None,
                intervals: bool = False) -> Iterator[Assessment]: ...


@overload
def assess_many(cases: Iterable[Case | Mapping[str, Any]], kb: KnowledgeBase | None = None, *,
                workers: int | None = None, chunksize: int = 64,
                errors: Literal["return"], method: Method = "auto",
                workup: bool = True, explain: bool = True, setting: Setting | None = None,
                intervals: bool = False) -> Iterator[Assessment | CaseFailure]: ...


def assess_many(cases: Iterable[Case | Mapping[str, Any]], kb: KnowledgeBase | None = None, *,
                workers: int | None = None, chunksize: int = 64,
                errors: ErrorMode = "raise", method: Method = "auto",
                workup: bool = True, explain: bool = True, setting: Setting | None = None,
                intervals: bool = False,
                ) -> Iterator[Assessment] | Iterator[Assessment | CaseFailure]:
    """Assess cases lazily, one :class:`Assessment` per case, in the same order.

    Streaming: cases are read as results are consumed, so memory stays flat in the number of
    cases, with or without worker processes.

    Parameters
    ----------
    cases : iterable of Case or dict
        Read lazily (a generator over a huge file is fine).
    kb : KnowledgeBase, optional
        Defaults to the built-in knowledge base, which each worker process loads once; a custom
        one is pickled to the workers.
    workers : int, optional
        Number of worker processes (:class:`concurrent.futures.ProcessPoolExecutor`); ``None``
        or 1 assesses in this process. Results are identical either way.
    chunksize : int, default 64
        Cases assessed together (:func:`~twitchcds.pipeline.run_many`: one inference for the
        chunk's differentials, and one run of the later stages for cases with the same
        findings, risk factors and setting), in this process or sent to a worker at once; at
        most ``2 * workers`` chunks are in flight. A result is yielded once its chunk is done.
        A case alike one that the same process assessed in an earlier chunk reuses its later
        stages too (this process and each worker keep the assessments of their last 64
        distinct inputs in memory for the run, then drop them).
    errors : {"raise", "return"}, default "raise"
        ``"raise"``: a bad case raises its :class:`~twitchcds.errors.TwitchCDSError` when its
        turn comes (the cases before it have been yielded). ``"return"``: a
        :class:`~twitchcds.batch.CaseFailure` (index, case id, error) is yielded in its place
        and the others go on.
    method, workup, explain, setting
        As for :func:`twitchcds.assess`; checked before the first case is read.
    intervals : bool, default False
        Probability intervals (tens of inferences per case: off here unless asked for).

    Returns
    -------
    iterator of Assessment (or CaseFailure with ``errors="return"``)

    Raises
    ------
    TwitchCDSError
        At once for a bad option; for a bad case when its turn comes (``errors="raise"``).

    Notes
    -----
    For a pandas DataFrame see :func:`twitchcds.dataframe.assess_dataframe`; for a Dask cluster,
    :func:`twitchcds.batch.assess_many_dask`.

    Worker processes send each :class:`Assessment` back pickled (the differential as plain
    numbers): about 0.12 ms per case of transport (0.03 ms to pack and pickle in the worker,
    0.09 ms to unpickle and rebuild in the parent), against about 0.3 ms for a bare assessment
    (work-up and explanations off). On two cores ``workers=2`` gains about 1.3x there, and
    about 1.7x with the work-up on, where each case costs far more than its transport.

    Examples
    --------
    >>> cases = [{"age": 30, "findings": [{"id": "fasciculations", "status": "present"}]},
    ...          {"age": 70, "findings": [{"id": "muscle_weakness", "status": "present"}]}]
    >>> [a.case.age for a in assess_many(cases, workup=False)]
    [30, 70]
    >>> [getattr(r, "index", "ok") for r in assess_many([{"age": 1}, {"age": -1}],
    ...                                                   errors="return", workup=False)]
    ['ok', 1]
    """
    options = check_options(method, workup, explain, setting, intervals)
    _check_batch(workers, chunksize, errors)
    stream: Iterator[Any] = _stream(cases, kb, options, workers=workers, chunksize=chunksize,
                                    errors=errors, parse=False, output="assessment")
    return stream
