"""CPU time per row of each stage of ``twitchcds batch --scores``, in one process.

Run:  PYTHONPATH=src python benchmarks/bench_scores_stages.py [--cases 4096] [--chunk 1024]

Synthetic cases (``bench_batch.synthetic_cases``) as JSON lines, in chunks; each stage is timed
alone with ``time.process_time`` (best of ``--repeat`` runs, the cyclic garbage collector off,
as :mod:`twitchcds.batch` runs a chunk), then the whole path (:func:`assess_jsonl`) as it runs.
Stages: reading and validating each line into a Case; evidence derivation; the two exact
inferences (differentials, scope checks: ``pipeline.solve_many``); ranking and triage
(``score_many`` minus ``solve_cases``); writing the Scores v1 lines. CPU time, not wall time,
so that other processes on the machine disturb it less.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from typing import Any

from bench_batch import synthetic_cases

from twitchcds import Case
from twitchcds._state import builtin_knowledge_base, compiled_model
from twitchcds.batch import assess_jsonl
from twitchcds.evidence import derive_evidence
from twitchcds.pipeline import solve_cases, solve_many
from twitchcds.priors import case_priors
from twitchcds.scores import score_many, to_json_many


def cpu_us(fn: Callable[[], Any], n: int, repeat: int, *, collect: bool = False) -> float:
    """Best CPU time of ``repeat`` runs of ``fn``, in microseconds per row."""
    best = float("inf")
    for _ in range(repeat):
        if not collect:
            gc.disable()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
        gc.enable()
    return 1e6 * best / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n, size, repeat = args.cases, args.chunk, args.repeat
    kb = builtin_knowledge_base()
    model = compiled_model(kb)
    lines = [json.dumps(c) + "\n" for c in synthetic_cases(n)]
    chunks = [lines[i:i + size] for i in range(0, n, size)]
    cases = [[Case.from_json(line) for line in chunk] for chunk in chunks]
    evidence = [[derive_evidence(c, kb) for c in chunk] for chunk in cases]
    priors = [[case_priors(model, c.setting, e.risk_factors) for c, e in zip(cs, es, strict=True)]
              for cs, es in zip(cases, evidence, strict=True)]
    rows = [score_many(chunk, kb, model) for chunk in cases]
    stages = {
        "read + validate": cpu_us(lambda: [[Case.from_json(line) for line in chunk]
                                           for chunk in chunks], n, repeat),
        "evidence": cpu_us(lambda: [[derive_evidence(c, kb) for c in chunk] for chunk in cases],
                           n, repeat),
        "inferences + scope": cpu_us(lambda: [solve_many(kb, model, e, p, "auto") for e, p in
                                              zip(evidence, priors, strict=True)], n, repeat),
    }
    solved = cpu_us(lambda: [solve_cases(chunk, kb, model, None, "auto") for chunk in cases],
                    n, repeat)
    scored = cpu_us(lambda: [score_many(chunk, kb, model) for chunk in cases], n, repeat)
    stages["rank + triage"] = scored - solved
    stages["write"] = cpu_us(lambda: [to_json_many(chunk) for chunk in rows], n, repeat)
    stages["whole path (assess_jsonl)"] = cpu_us(
        lambda: sum(1 for _ in assess_jsonl(lines, scores=True, chunksize=size)), n, repeat,
        collect=True)
    print(f"{n} synthetic cases, chunks of {size}: CPU us per row, best of {repeat}")
    for name, value in stages.items():
        print(f"  {name:28} {value:7.1f}")


if __name__ == "__main__":
    main()
