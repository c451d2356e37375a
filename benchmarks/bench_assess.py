"""Time assess() on the example cases with and without work-up (tests and questions).

Run:  python benchmarks/bench_assess.py [--repeat N] [--check]

Prints one row per example case: positive findings, method, median ms bare (no work-up, no
explanation), with explanations, and full (with work-up); then ``assess_many`` rates on the
example cases and on varied random cases (2-6 present and 0-8 absent findings, random age and
sex), without and with work-up. ``--check`` also measures how far the batched work-up
(:func:`twitchcds.outcomes.batched_outcomes`) is from one inference per outcome, relative to each
outcome's cancellation factor (the basis of ``outcomes.BATCH_ROUNDING``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import twitchcds
from twitchcds.compiled import compile_model
from twitchcds.evidence import derive_evidence
from twitchcds.outcomes import (
    _joint_batch,
    batched_outcomes,
    enumerate_outcomes,
    possible_results,
)
from twitchcds.priors import case_priors
from twitchcds.scoring import Scorer

CASES = sorted((Path(__file__).parent.parent / "examples" / "cases").glob("*.json"))


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def random_cases(kb: twitchcds.KnowledgeBase, n: int, seed: int = 1) -> list[dict[str, Any]]:
    """Varied valid cases: 2-6 present and 0-8 absent findings (no lab-derived ones)."""
    rng = random.Random(seed)
    ids = [f.id for f in kb.findings if f.question is not None]
    out: list[dict[str, Any]] = []
    while len(out) < n:
        k, a = rng.randint(2, 6), rng.randint(0, 8)
        chosen = rng.sample(ids, k + a)
        case = {"age": rng.randint(18, 85), "sex": rng.choice(["male", "female"]),
                "findings": [{"id": f, "status": "present"} for f in chosen[:k]]
                + [{"id": f, "status": "absent"} for f in chosen[k:]]}
        try:
            twitchcds.assess(case, kb, workup=False, explain=False)
        except twitchcds.TwitchCDSError:
            continue
        out.append(case)
    return out


def rate(cases: list[Any], kb: twitchcds.KnowledgeBase, **options: Any) -> float:
    start = time.perf_counter()
    count = sum(1 for _ in twitchcds.assess_many(cases, kb, **options))
    return count / (time.perf_counter() - start)


def check(kb: twitchcds.KnowledgeBase, cases: list[Any]) -> None:
    """Largest error of batched outcome posteriors / probabilities vs one inference each."""
    worst_ratio, worst_post, worst_prob, n = 0.0, 0.0, 0.0, 0
    for payload in cases:
        case = twitchcds.Case.from_dict(payload) if isinstance(payload, dict) else payload
        evidence = derive_evidence(case, kb)
        model = compile_model(kb)
        priors = case_priors(model, case.setting, evidence.risk_factors)
        scorer = Scorer.for_priors(kb, model, priors.adjusted)
        base = scorer.run(evidence.present, evidence.absent)
        for test in kb.tests:
            unknown = [f for f in test.reveals if evidence.status(f) is None][:6]
            if not unknown:
                continue
            fast = batched_outcomes(scorer, evidence, unknown, base.log_evidence) or []
            slow = enumerate_outcomes(scorer, evidence, unknown, base.log_evidence)
            results = possible_results(kb, evidence, unknown)
            joint = _joint_batch(scorer, evidence, [(unknown, results)], base.log_evidence)
            assert joint is not None
            factors = joint.scale / np.maximum(joint.probability, 1e-300)
            for (_, p1, post1), (_, p2, post2), kappa in zip(fast, slow, factors, strict=True):
                err = float(np.abs(post1 - post2).max())
                worst_ratio = max(worst_ratio, err / kappa)
                worst_post = max(worst_post, err)
                worst_prob = max(worst_prob, abs(p1 - p2))
                n += 1
    print(f"batched work-up vs one inference per outcome ({n} outcomes): max posterior error "
          f"{worst_post:.1e}, max probability error {worst_prob:.1e}, max error / cancellation "
          f"factor {worst_ratio:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--check", action="store_true")
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
        full = median_ms(lambda c=case: twitchcds.assess(c, kb), max(3, args.repeat // 5))
        print(f"{path.stem:32} {result.positive_findings:>3} {result.method:>7} {bare:8.2f} "
              f"{explained:10.2f} {full:8.2f}")
    examples = [twitchcds.Case.from_json(p) for p in CASES]
    varied = random_cases(kb, 300)
    print(f"assess_many, example cases, no work-up or explanation: "
          f"{rate(examples * 200, kb, workup=False, explain=False):,.0f} assessments/s")
    print(f"assess_many, 300 varied cases, no work-up or explanation: "
          f"{rate(varied, kb, workup=False, explain=False):,.0f} assessments/s")
    print(f"assess_many, 300 varied cases, explanation, no work-up: "
          f"{rate(varied, kb, workup=False):,.0f} assessments/s")
    print(f"assess_many, 60 varied cases, full (work-up and explanation): "
          f"{rate(varied[:60], kb):,.1f} assessments/s")
    if args.check:
        check(kb, examples + varied[:20])


if __name__ == "__main__":
    main()
