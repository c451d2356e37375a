"""Many evidence rows at once: ``infer_many`` against one ``infer`` per row, same rows.

Run:  python benchmarks/bench_many.py [--rows 4000]

Rows are the built-in knowledge base's evidence for the batch benchmark's synthetic cases
(``bench_batch.synthetic_cases``: five random findings present or absent, a caffeine intake),
and, for each number of present findings k = 1..9, as many rows with k random present findings.
Prints microseconds per row for both and their largest posterior difference.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_batch import synthetic_cases

import twitchcds
from twitchcds._state import compiled_model
from twitchcds.evidence import derive_evidence
from twitchcds.inference import infer, infer_many
from twitchcds.priors import case_priors


def per_row(fn, rows: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / rows * 1e6


def compare(label: str, net, priors, present, absent) -> None:
    rows = priors.shape[0]
    many = infer_many(net, priors, present, absent)
    t_many = per_row(lambda: infer_many(net, priors, present, absent), rows)
    singles = []

    def one_by_one() -> None:
        singles.clear()
        singles.extend(infer(net, priors[r], np.flatnonzero(present[r]).tolist(),
                             np.flatnonzero(absent[r]).tolist()).probabilities
                       for r in range(rows))

    t_one = per_row(one_by_one, rows)
    diff = float(np.abs(many.probabilities - np.array(singles)).max())
    print(f"{label:34} {t_many:8.1f} us/row  {t_one:8.1f} us/row  {t_one / t_many:5.1f}x  "
          f"max diff {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    args = parser.parse_args()
    kb = twitchcds.load_knowledge_base()
    model = compiled_model(kb)
    net = model.network
    position = model.finding_position
    evidences = [derive_evidence(twitchcds.Case.from_dict(c), kb)
                 for c in synthetic_cases(args.rows)]
    priors = np.array([case_priors(model, None, e.risk_factors).adjusted for e in evidences])
    present = np.zeros((len(evidences), net.n_findings), dtype=bool)
    absent = np.zeros_like(present)
    for r, e in enumerate(evidences):
        present[r, [position[f] for f in e.present]] = True
        absent[r, [position[f] for f in e.absent]] = True
    print(f"{'rows':34} {'infer_many':>14}  {'infer per row':>14}")
    compare(f"batch cases ({args.rows})", net, priors, present, absent)
    rng = np.random.default_rng(0)
    n = max(args.rows // 8, 50)
    for k in range(1, 10):
        pos = np.zeros((n, net.n_findings), dtype=bool)
        for r in range(n):
            pos[r, rng.choice(net.n_findings, k, replace=False)] = True
        compare(f"k = {k} ({n} rows)", net, priors[:n], pos, np.zeros_like(pos))


if __name__ == "__main__":
    main()
