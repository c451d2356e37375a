"""What worker processes cost the caller: CPU a case, and the caller's garbage collections.

Run:  python benchmarks/bench_pool.py [--cases 2000] [--workers 2] [--seed 2]

``assess_many(..., workers=N)`` on varied random cases with the full work-up, then the same in
one process. For each it prints cases/s (wall clock), the CPU time a case of the calling process
and of its worker processes, and how many collections of each generation the caller's cyclic
garbage collector ran (and how much CPU they took), counted with :data:`gc.callbacks`.

Two workers on two cores can at best double one process; what the caller spends on each case
(receiving, unpickling and rebuilding its assessment) comes out of that. Full collections in
the caller traverse everything it holds, the knowledge base included, so a handful of them cost
more than all the unpickling.

Last, the ceiling: as many independent processes as workers, each assessing its share of the
cases in one process (no pool, nothing sent back), started together; their cases/s together
is what the machine's cores give with no transport at all.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import resource
import time
from collections import Counter
from typing import Any

from bench_assess import random_cases

import twitchcds


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measure(kb: twitchcds.KnowledgeBase, cases: list[dict[str, Any]],
            workers: int) -> dict[str, Any]:
    runs: Counter[int] = Counter()
    spent: Counter[int] = Counter()
    started = [0.0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            runs[info["generation"]] += 1
            spent[info["generation"]] += time.process_time() - started[0]

    mine, theirs = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    gc.callbacks.append(count)
    try:
        start = time.perf_counter()
        done = sum(1 for _ in twitchcds.assess_many(cases, kb, workers=workers))
        wall = time.perf_counter() - start
    finally:
        gc.callbacks.remove(count)
    return {"rate": done / wall,
            "caller": (cpu(resource.RUSAGE_SELF) - mine) / done * 1000,
            "workers": (cpu(resource.RUSAGE_CHILDREN) - theirs) / done * 1000,
            "collections": {g: (runs[g], spent[g] * 1000) for g in sorted(runs)}}


def _share(cases: list[dict[str, Any]], start: Any, done: Any) -> None:
    kb = twitchcds.load_knowledge_base()
    list(twitchcds.assess_many(cases[:50], kb))  # warm, like the caller
    start.wait()
    count = sum(1 for _ in twitchcds.assess_many(cases, kb))
    done.put((count, time.time()))


def independent(cases: list[dict[str, Any]], processes: int) -> float:
    """Cases/s of ``processes`` independent processes, each on its share, started together."""
    context = multiprocessing.get_context("spawn")
    start, done = context.Barrier(processes + 1), context.Queue()
    jobs = [context.Process(target=_share, args=(cases[i::processes], start, done))
            for i in range(processes)]
    for job in jobs:
        job.start()
    start.wait()
    began = time.time()
    finished = [done.get() for _ in jobs]
    for job in jobs:
        job.join()
    return sum(n for n, _ in finished) / (max(t for _, t in finished) - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    kb = twitchcds.load_knowledge_base()
    cases = random_cases(kb, args.cases, seed=args.seed)
    list(twitchcds.assess_many(cases[:50], kb))  # warm: compiled model, caches
    for workers in (args.workers, 1):
        got = measure(kb, cases, workers)
        collections = ", ".join(f"gen {g}: {n} ({ms:.0f} ms)"
                                for g, (n, ms) in got["collections"].items()) or "none"
        print(f"{workers} worker(s): {got['rate']:.0f} cases/s; CPU a case: caller "
              f"{got['caller']:.2f} ms, workers {got['workers']:.2f} ms; caller's collections: "
              f"{collections}")
    print(f"{args.workers} independent processes, no pool: "
          f"{independent(cases, args.workers):.0f} cases/s together")


if __name__ == "__main__":
    main()
