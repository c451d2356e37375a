"""Dask front end: assess_many_dask and ``batch --dask`` against a local cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from twitchcds import KnowledgeBase, assess_many
from twitchcds.batch import CaseFailure, assess_many_dask
from twitchcds.cli import main

distributed = pytest.importorskip("distributed")

CASES: list[dict[str, Any]] = [
    {"id": str(i), "age": 5 * i, "findings": [{"id": f, "status": "present"}]}
    for i, f in enumerate(["fasciculations", "muscle_weakness", "muscle_cramps", "tremor"] * 5)
]
CASES[3] = {"age": "old"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A two-worker in-process Dask cluster."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as local:
        yield local


def comparable(results: Any) -> list[dict[str, Any]]:
    """Assessments and failures as plain data."""
    return [r.to_dict() if not isinstance(r, CaseFailure) else {"failed": r.index}
            for r in results]


def test_dask_equals_local_run(cluster: Any) -> None:
    """assess_many_dask gives the local run's results, in order, with failures in place."""
    with distributed.Client(cluster) as client:
        remote = assess_many_dask(CASES, client, chunksize=3, errors="return", workup=False)
        assert comparable(remote) == comparable(
            assess_many(CASES, errors="return", workup=False))


def test_dask_with_custom_knowledge_base_and_address(cluster: Any,
                                                     mini_kb: KnowledgeBase) -> None:
    """A scheduler address and a custom knowledge base give the local run's results."""
    cases = [{"age": age} for age in range(0, 90, 9)]
    remote = list(assess_many_dask(cases, cluster.scheduler_address, mini_kb, chunksize=2,
                                   workup=False))
    assert comparable(remote) == comparable(assess_many(cases, mini_kb, workup=False))
    assert all(r.kb is mini_kb for r in remote)


def test_dask_raises_bad_case_in_turn(cluster: Any) -> None:
    """By default a bad case raises its error after the earlier cases were yielded."""
    with distributed.Client(cluster) as client:
        results = assess_many_dask(CASES, client, chunksize=2, workup=False)
        assert [next(results).case_id for _ in range(3)] == ["0", "1", "2"]
        with pytest.raises(ValueError, match=r"\$\.age"):
            next(results)


def test_batch_cli_on_dask(cluster: Any, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """batch --dask writes the same lines as a local batch and reports the bad line."""
    source = tmp_path / "cases.jsonl"
    source.write_text("\n".join(json.dumps(c) for c in CASES) + "\n")
    assert main(["batch", str(source)]) == 1
    local = capsys.readouterr()
    assert main(["batch", str(source), "--dask", cluster.scheduler_address]) == 1
    remote = capsys.readouterr()
    assert remote.out == local.out
    assert remote.err == local.err
    assert remote.err.startswith("line 4:")


@pytest.mark.slow
def test_dask_worker_processes_equal_local_run(mini_kb: KnowledgeBase) -> None:
    """With worker processes (everything pickled) Dask still gives the local run's results."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as local:
        for kb in (None, mini_kb):
            cases = CASES if kb is None else [{"age": age} for age in range(0, 90, 9)]
            remote = assess_many_dask(cases, local.scheduler_address, kb, chunksize=4,
                                      errors="return", workup=False)
            assert comparable(remote) == comparable(
                assess_many(cases, kb, errors="return", workup=False))


def test_dask_scores_equal_local_scores(cluster: Any) -> None:
    """JSON lines scored on the cluster (``batch --dask --scores``) equal the local rows."""
    from twitchcds.batch import assess_jsonl

    lines = [json.dumps(case) for case in CASES]
    remote = list(assess_jsonl(lines, dask=cluster.scheduler_address, scores=True,
                               chunksize=4))
    local = list(assess_jsonl(lines, scores=True, chunksize=4))
    assert [(n, r if isinstance(r, str) else r.index) for n, r in remote] == [
        (n, r if isinstance(r, str) else r.index) for n, r in local]
    assert sum(isinstance(r, CaseFailure) for _, r in remote) == 1
