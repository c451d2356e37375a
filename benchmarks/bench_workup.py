"""What the work-up costs: assess with defaults vs ``workup=False``, in the same run.

Run:  python benchmarks/bench_workup.py [--cases N] [--inner K] [--clock {wall,cpu}]

Prints, with the probability intervals off and on (the default):

* ``assess_many`` with defaults (work-up on) on ``N`` varied random cases of the built-in
  knowledge base (``bench_assess.random_cases``), cases/s, best of ``K`` runs, beside the same
  cases with ``workup=False``;
* ``assess`` with defaults per Synthea record (``tests/data/synthea``, imported from FHIR), the
  median over records of the best of ``K`` runs, in ms, beside ``workup=False``.

The machine may be shared: compare numbers of one run, not across runs. ``--clock cpu`` times
with this process's CPU time (``time.process_time``) instead of the wall clock, which other
processes on a busy machine disturb less.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_assess import random_cases

import twitchcds
from twitchcds.interop.fhir import case_from_fhir

SYNTHEA = Path(__file__).parent.parent / "tests" / "data" / "synthea"


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def best_s(fn: Callable[[], Any], inner: int, clock: Callable[[], float]) -> float:
    """Best of ``inner`` runs of ``fn``, in seconds of ``clock``."""
    best = float("inf")
    for _ in range(inner):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def synthea_cases(kb: twitchcds.KnowledgeBase) -> list[twitchcds.Case]:
    """The Synthea records the FHIR importer accepts, as cases."""
    out = []
    for path in sorted(SYNTHEA.glob("*.json")):
        try:
            out.append(case_from_fhir(json.loads(path.read_text(encoding="utf-8")), kb=kb).case)
        except twitchcds.TwitchCDSError:
            continue
    return out


def measure(kb: twitchcds.KnowledgeBase, varied: list[dict[str, Any]],
            records: list[twitchcds.Case], inner: int, clock: Callable[[], float],
            **options: Any) -> tuple[float, float]:
    """Cases/s of ``assess_many`` on ``varied`` and p50 ms of ``assess`` per record."""
    seconds = best_s(lambda: sum(1 for _ in twitchcds.assess_many(varied, kb, **options)),
                     inner, clock)
    per = [1e3 * best_s(lambda c=c: twitchcds.assess(c, kb, **options), inner, clock)
           for c in records]
    return len(varied) / seconds, statistics.median(per)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--inner", type=int, default=3)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    kb = twitchcds.load_knowledge_base()
    varied = random_cases(kb, args.cases)
    records = synthea_cases(kb)
    twitchcds.assess(records[0], kb)  # warm the caches
    print(f"{args.cases} varied cases, {len(records)} Synthea records, best of {args.inner} "
          f"({args.clock} clock)")
    print(f"{'intervals':>9} {'work-up':>7} {'assess_many cases/s':>20} {'Synthea p50 ms':>15}")
    for intervals in (False, True):
        for workup in (True, False):
            rate, p50 = measure(kb, varied, records, args.inner, CLOCKS[args.clock],
                                intervals=intervals, workup=workup)
            print(f"{intervals!s:>9} {workup!s:>7} {rate:20.1f} {p50:15.2f}")


if __name__ == "__main__":
    main()
