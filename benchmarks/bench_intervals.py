"""Time the probability intervals (twitchcds.intervals) per assessment.

Run:  python benchmarks/bench_intervals.py [--repeat N] [--random N]

For each example case and for varied random cases (2-6 present, 0-8 absent findings): median ms
of assess() with the work-up and explanations, with intervals off and on (the default), and of
the interval step alone at 16, 32 (the default) and 64 draws; then how much the 90% interval of
the leading condition moves between 32 and 256 draws (the percentile estimate's own noise).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from bench_assess import CASES, median_ms, random_cases

import twitchcds
from twitchcds._state import compiled_model
from twitchcds.evidence import derive_evidence
from twitchcds.intervals import probability_intervals
from twitchcds.priors import case_priors


def interval_args(case: object, kb: twitchcds.KnowledgeBase) -> tuple[object, ...]:
    result = twitchcds.assess(case, kb, intervals=False, workup=False, explain=False)
    evidence = derive_evidence(result.case, kb)
    priors = case_priors(compiled_model(kb), result.case.setting, evidence.risk_factors)
    point = np.array([result.probabilities[c.id] for c in kb.conditions])
    return kb, priors.adjusted, priors.setting, evidence.present, evidence.absent, point


def step_ms(call: tuple[object, ...], draws: int, repeat: int) -> float:
    kb, pri, setting, present, absent, point = call
    return median_ms(lambda: probability_intervals(compiled_model(kb), pri, setting, present,
                                                   absent, point=point, draws=draws), repeat)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--random", type=int, default=20)
    args = parser.parse_args()
    kb = twitchcds.load_knowledge_base()
    cases = [(p.stem, twitchcds.Case.from_json(p)) for p in CASES]
    cases += [(f"random-{i}", c) for i, c in enumerate(random_cases(kb, args.random))]
    print(f"{'case':28} {'off ms':>8} {'on ms':>8} {'x16':>7} {'x32':>7} {'x64':>7} "
          f"{'width32':>8} {'width256':>8}")
    ratios, extra, rows = [], [], []
    for name, case in cases:
        off = median_ms(lambda c=case: twitchcds.assess(c, kb, intervals=False), args.repeat)
        on = median_ms(lambda c=case: twitchcds.assess(c, kb), args.repeat)
        kb_, pri, setting, present, absent, point = interval_args(case, kb)
        step = {n: step_ms(interval_args(case, kb), n, args.repeat) for n in (16, 32, 64)}
        top = kb.conditions[int(np.argmax(point))].id
        widths = []
        for n in (32, 256):
            low, high = probability_intervals(compiled_model(kb_), pri, setting, present, absent,
                                              point=point,
                                              draws=n).interval(top)
            widths.append(high - low)
        ratios.append(on / off)
        extra.append(on - off)
        rows.append(abs(widths[0] - widths[1]))
        print(f"{name[:28]:28} {off:8.1f} {on:8.1f} {step[16]:7.1f} {step[32]:7.1f} "
              f"{step[64]:7.1f} {widths[0]:8.3f} {widths[1]:8.3f}")
    print(f"\nmedian extra time of intervals per assessment: {statistics.median(extra):.1f} ms "
          f"(x{statistics.median(ratios):.2f} of assess with work-up); "
          f"median |width(32) - width(256)| of the leading condition: "
          f"{statistics.median(rows):.3f}")


if __name__ == "__main__":
    main()
