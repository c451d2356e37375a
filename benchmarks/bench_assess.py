"""Time assess() on the example cases with and without work-up (tests and questions).

Run:  python benchmarks/bench_assess.py [--repeat N]
Prints one row per case: positive findings, method, median ms without / with work-up, and the
number of inference calls implied by the work-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import twitchcds

CASES = sorted((Path(__file__).parent.parent / "examples" / "cases").glob("*.json"))


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    kb = twitchcds.load_knowledge_base()
    twitchcds.assess(twitchcds.Case.from_json(CASES[0]), kb)  # warm the caches
    print(f"knowledge base {kb.version}: {len(kb.conditions)} conditions, "
          f"{len(kb.findings)} findings, {len(kb.links)} links")
    print(f"{'case':32} {'k+':>3} {'method':>7} {'bare ms':>8} {'explain ms':>10} {'full ms':>8}")
    for path in CASES:
        case = twitchcds.Case.from_json(path)
        result = twitchcds.assess(case, kb)
        bare = median_ms(lambda c=case: twitchcds.assess(c, kb, workup=False, explain=False),
                         args.repeat)
        explained = median_ms(lambda c=case: twitchcds.assess(c, kb, workup=False), args.repeat)
        full = median_ms(lambda c=case: twitchcds.assess(c, kb), args.repeat)
        print(f"{path.stem:32} {result.positive_findings:>3} {result.method:>7} {bare:8.2f} "
              f"{explained:10.2f} {full:8.2f}")
    cases = [twitchcds.Case.from_json(p) for p in CASES] * 200
    start = time.perf_counter()
    count = sum(1 for _ in twitchcds.assess_many(cases, kb, workup=False, explain=False))
    rate = count / (time.perf_counter() - start)
    print(f"assess_many without work-up or explanation: {rate:,.0f} assessments/s")


if __name__ == "__main__":
    main()
