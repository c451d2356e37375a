"""Can the work-up's inferences of many cases be solved in one array pass? Measured: not faster.

Run:  python benchmarks/bench_workup_rows.py [--cases 200] [--inner 3]

``assess_many`` solves each case's work-up with batches that share that case's present
findings: the tests' outcomes (:meth:`twitchcds.scoring.Scorer.run_absent_batch`), the questions
(the same) and the improbable outcomes (:meth:`~twitchcds.scoring.Scorer.run_results`). Every
row of those batches is also a plain evidence row (priors, present and absent findings) that
:func:`twitchcds.inference.infer_many` can solve with the rows of every other case, whatever
their present findings: one slot-table pass per number of present findings, no per-case
structure. This script records every row the work-up asks for on varied random cases and on the
published records, then times both:

* **per case**: the work-up's own batches, as ``assess_many`` runs them (their summed time);
* **one pass**: :func:`~twitchcds.inference.infer_many` over all the recorded rows at once.

A row that observes a finding's exclusion evidence without the finding (``shown`` columns) is
recorded without it, so the one-pass side solves slightly simpler rows than the per-case side.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any
from unittest import mock

import numpy as np
from bench_assess import random_cases
from bench_table import published_records

import twitchcds
from twitchcds.compiled import compile_model
from twitchcds.inference import infer_many
from twitchcds.pipeline import _finding_masks
from twitchcds.scoring import Scorer

Rows = list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # priors, present mask, absent mask


def recorded(cases: Sequence[Any], kb: twitchcds.KnowledgeBase) -> tuple[Rows, float]:
    """The work-up's evidence rows over ``cases`` and the seconds its batches took."""
    rows: Rows = []
    spent = [0.0]

    def timed(method: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Scorer, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        return run

    def record(scorer: Scorer, evidence: list[tuple[set[str], set[str]]]) -> None:
        present, absent = _finding_masks(scorer.model, evidence)
        rows.append((np.repeat(scorer.priors[None, :], len(evidence), axis=0), present, absent))

    absent_batch, results = timed(Scorer.run_absent_batch), timed(Scorer.run_results)

    def run_absent_batch(self: Scorer, present: Any, absent: Any, extra: Sequence[str],
                         batch: np.ndarray, **kwargs: Any) -> Any:
        record(self, [(set(present),
                       set(absent) | {f for f, x in zip(extra, row, strict=True) if x})
                      for row in batch[:, :len(extra)].tolist()])
        return absent_batch(self, present, absent, extra, batch, **kwargs)

    def run_results(self: Scorer, present: Any, absent: Any, findings: Sequence[str],
                    shows: np.ndarray) -> Any:
        record(self, [(set(present) | {f for f, s in zip(findings, row, strict=True) if s == 1},
                       set(absent) | {f for f, s in zip(findings, row, strict=True) if s == 0})
                      for row in shows.tolist()])
        return results(self, present, absent, findings, shows)

    with mock.patch.object(Scorer, "run_absent_batch", run_absent_batch), \
            mock.patch.object(Scorer, "run_results", run_results):
        list(twitchcds.assess_many(cases, kb))
    return rows, spent[0]


def compare(name: str, cases: Sequence[Any], kb: twitchcds.KnowledgeBase, inner: int) -> None:
    list(twitchcds.assess_many(cases, kb))  # warm: caches of structures and plans
    runs = [recorded(cases, kb) for _ in range(inner)]
    per_case = min(spent for _, spent in runs)
    rows = runs[-1][0]
    priors, present, absent = (np.concatenate(part) for part in zip(*rows, strict=True))
    network = compile_model(kb).network
    one_pass = np.inf
    for _ in range(inner):
        start = time.perf_counter()
        infer_many(network, priors, present, absent)
        one_pass = min(one_pass, time.perf_counter() - start)
    n = len(cases)
    print(f"| {name:24} | {len(priors) / n:8.0f} | {per_case / n * 1e3:14.2f} | "
          f"{one_pass / n * 1e3:14.2f} | {one_pass / per_case:6.1f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="varied random cases")
    parser.add_argument("--inner", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    kb = twitchcds.load_knowledge_base()
    print("| cases                    | rows/case | per case ms/case | one pass ms/case | "
          "one pass / per case |")
    print("|--------------------------|---------:|---------------:|---------------:|-------:|")
    compare(f"{args.cases} varied", random_cases(kb, args.cases), kb, args.inner)
    compare("88 published records", published_records(), kb, args.inner)


if __name__ == "__main__":
    main()
