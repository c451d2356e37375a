"""The inference rows of ``bench_table.py`` on their own, with an optional profile.

Run:  python benchmarks/bench_small_k.py [--repeats 5] [--inner 3] [--profile k5|qmr]

Prints the rows "posterior 600x4000, k = 5 / 10 / 20" (against the numpy Quickscore and
pyAgrum) and "QMR-DT-like, k = 10" (against the plain frontier sum) exactly as
``bench_table.py`` measures them (the same functions, cases and seeds), without the batch and
assessment rows, so that a change to the inference engine can be measured in a minute. To
compare two versions of the library in the same session, run this script twice with
``PYTHONPATH`` pointing at each version's ``src`` (the references are re-measured each time).

``--profile k5`` or ``--profile qmr`` instead runs ``cProfile`` over many from-scratch
inferences of that row's cases and prints the top functions by internal time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from typing import Any

import numpy as np
from bench_inference import random_network
from bench_table import exactness, posterior_rows, qmr_row
from qmr_like import cases as qmr_cases
from qmr_like import qmr_like

import twitchcds
from twitchcds.inference import infer
from twitchcds.inference._structure import _CACHES


def _print(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        ref = "-" if row["ref"] is None else f"{row['ref']:.3f}"
        ratio = "-" if row["ref"] is None else f"{row['ref'] / row['ours']:.1f}x"
        print(f"{row['what']:38} {row['ours']:8.3f} ms  ref {ref:>8} ms  {ratio:>6}  "
              f"{row['reference']}")


def profile(which: str, runs: int) -> None:
    """cProfile of ``runs`` from-scratch inferences on the cases of one row."""
    rng = np.random.default_rng(0)
    if which == "k5":
        net = random_network(600, 4000, rng)
        priors = rng.uniform(0.001, 0.1, size=600)
        cases = []
        for _ in range(20):
            order = rng.permutation(net.n_findings).tolist()
            cases.append((sorted(order[:5]), sorted(order[5:25])))
    else:
        kb = twitchcds.KnowledgeBase.from_node_link(qmr_like())
        net = kb.network
        priors = np.array([c.prior["primary-care"] for c in kb.conditions])
        cases = qmr_cases(net, priors, 10, 5)
    infer(net, priors, [0], [])
    prof = cProfile.Profile()
    prof.enable()
    for i in range(runs):
        _CACHES.pop(net, None)
        pos, neg = cases[i % len(cases)]
        infer(net, priors, pos, neg)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="cases per row")
    parser.add_argument("--inner", type=int, default=3, help="runs per case (best kept)")
    parser.add_argument("--profile", choices=("k5", "qmr"))
    parser.add_argument("--runs", type=int, default=2000, help="inferences to profile")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.runs)
        return
    rng = np.random.default_rng(0)
    brute = exactness(rng, 10)  # the same draws as bench_table.py --quick before its rows
    rows, vs_agrum = posterior_rows(rng, args.repeats, args.inner)
    qmr, vs_plain = qmr_row(args.repeats, args.inner)
    print(f"exactness: vs brute force {brute:.1e}, vs pyAgrum {vs_agrum:.1e}, "
          f"vs plain frontier sum {vs_plain:.1e}")
    _print(rows + qmr)


if __name__ == "__main__":
    main()
