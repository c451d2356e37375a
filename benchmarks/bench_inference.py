"""Time exact inference on random noisy-OR networks and check it against brute force.

Run ``python benchmarks/bench_inference.py [--repeats N]``. Networks have 1-8 parents per
finding; each case draws ``k`` present findings (every finding has a parent) and 20 absent
ones. Brute force checks every case on networks small enough to enumerate (16 conditions); on
larger networks the error column compares against the plain frontier sum (private-parent
collapse and the full-table method off), a slow but trusted exact path, when that is feasible,
else it shows ``-``. Timings include everything ``infer`` does (validation, folding, building
the structure of a present set never seen before, solving). ``benchmarks/bench_compare.py``
puts these numbers beside a numpy Quickscore and pyAgrum's junction tree.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from twitchcds.inference import DEFAULT_BUDGET, NoisyOrNetwork, _run, infer
from twitchcds.inference._brute import brute_force

SIZES = [(16, 60), (30, 120), (200, 1000), (600, 4000)]
KS = [5, 10, 20]


def random_network(n_c: int, n_f: int, rng: np.random.Generator) -> NoisyOrNetwork:
    """Random bipartite noisy-OR network with 1-8 parents per finding (links 0.05-0.95)."""
    links = []
    for f in range(n_f):
        n_par = int(rng.integers(1, min(8, n_c) + 1))
        for c in rng.choice(n_c, size=n_par, replace=False).tolist():
            links.append((c, f, float(rng.uniform(0.05, 0.95))))
    leaks = rng.uniform(1e-4, 0.05, size=n_f)
    return NoisyOrNetwork.from_arrays([f"c{i}" for i in range(n_c)],
                                      [f"f{i}" for i in range(n_f)], leaks, links)


def run(repeats: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    print(f"{'method':<18}{'size':>11}{'k':>4}{'median ms':>11}{'max ms':>9}"
          f"{'log2 cost':>10}{'max error':>11}")
    for n_c, n_f in SIZES:
        net = random_network(n_c, n_f, rng)
        priors = rng.uniform(0.001, 0.1, size=n_c)
        for k in KS:
            times, errors, widths, methods = [], [], [], set()
            for _ in range(repeats):
                order = rng.permutation(n_f).tolist()
                present, absent = sorted(order[:k]), sorted(order[k:k + 20])
                start = time.perf_counter()
                result = infer(net, priors, present, absent)
                times.append(1e3 * (time.perf_counter() - start))
                methods.add(result.method)
                widths.append(np.log2(max(result.estimated_cost, 1.0)))
                if n_c <= 16:
                    truth = brute_force(net, priors, present, absent)[0]
                    errors.append(float(np.abs(result.probabilities - truth).max()))
                elif result.method == "exact" and result.estimated_cost < DEFAULT_BUDGET / 8:
                    plain = _run(net, priors, np.array(present), np.array(absent),
                                 method="auto", budget=DEFAULT_BUDGET, collapse=False,
                                 tables=False)
                    if plain.method == "exact":
                        errors.append(float(np.abs(result.probabilities
                                                   - plain.probabilities).max()))
            err = f"{max(errors):.1e}" if errors else "-"
            print(f"{'/'.join(sorted(methods)):<18}{f'{n_c}x{n_f}':>11}{k:>4}"
                  f"{statistics.median(times):>11.3f}{max(times):>9.2f}"
                  f"{max(widths):>10.1f}{err:>11}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run(args.repeats, args.seed)
