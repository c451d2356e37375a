"""Cost of inhibitor links: assess() with and without them, by number of inhibited findings.

Run:  python benchmarks/bench_inhibitors.py [--repeat N]

Inhibitor links are exclusion evidence (see docs/explanation/inference.md): an absent inhibited
finding costs nothing more than any absent finding, a present one folds a factor into its
inhibitors' priors. This prints, for cases with ``m`` = 0 to 5 inhibited findings (fasciculations
and cramps present, plus ``m`` of muscle weakness, muscle wasting, EMG denervation, EMG
reinnervation and objective sensory loss, absent, then present), the median ms of a bare
assessment (no work-up, no explanation), with explanations, and full, on the built-in knowledge
base and on the same knowledge base with its inhibitor links removed. (Before exclusion
evidence, ``m`` absent inhibited findings cost a mixture of ``2**m`` inferences: at ``m`` = 5,
bare 0.48 -> 22 ms, full 25 -> 2331 ms.)
"""

from __future__ import annotations

import argparse

import attrs
from bench_assess import median_ms  # the same timing helper as bench_assess.py

import twitchcds

INHIBITED = ("muscle_weakness", "muscle_atrophy", "emg_active_denervation",
             "emg_chronic_reinnervation", "distal_sensory_impairment")


def case(m: int, status: str) -> dict[str, object]:
    findings = [{"id": "fasciculations", "status": "present"},
                {"id": "muscle_cramps", "status": "present"}]
    findings += [{"id": f, "status": status} for f in INHIBITED[:m]]
    return {"age": 35, "sex": "male", "setting": "neuromuscular-clinic", "findings": findings}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    kb = twitchcds.load_knowledge_base()
    plain = attrs.evolve(kb, inhibitors=())
    print(f"knowledge base {kb.version}: {len(kb.inhibitors)} inhibitor links")
    print(f"{'m':>2} {'status':>8} | {'bare ms':>15} | {'explain ms':>15} | {'full ms':>15}")
    print(f"{'':>2} {'':>8} | {'plain':>7} {'inhib':>7} | {'plain':>7} {'inhib':>7} | "
          f"{'plain':>7} {'inhib':>7}")
    runs = [(m, "absent") for m in range(len(INHIBITED) + 1)]
    runs += [(m, "present") for m in range(1, len(INHIBITED) + 1)]
    for m, status in runs:
        payload = twitchcds.Case.from_dict(case(m, status))
        row = []
        for options, repeat in (({"workup": False, "explain": False}, args.repeat),
                                ({"workup": False}, args.repeat),
                                ({}, max(3, args.repeat // 5))):
            for base in (plain, kb):
                twitchcds.assess(payload, base, **options)  # warm the caches
                row.append(median_ms(
                    lambda c=payload, b=base, o=options: twitchcds.assess(c, b, **o), repeat))
        cells = " | ".join(f"{row[i]:7.2f} {row[i + 1]:7.2f}" for i in (0, 2, 4))
        print(f"{m:>2} {status:>8} | {cells}")


if __name__ == "__main__":
    main()
