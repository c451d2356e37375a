"""Scaling plot for the performance page: time vs k, and cases/s vs batch size.

Run:  python benchmarks/plot_scaling.py [-o docs/explanation/performance_scaling.png]

Left: median time of one posterior on the random 600 x 4000 network (``bench_inference.py``)
and on the QMR-DT-like network (``qmr_like.py``) against the number of present findings ``k``,
with pyAgrum's LazyPropagation (when installed, on the 600 x 4000 network) and the numpy
Quickscore (up to ``k = 12``) on the same cases. Right: cases/s of ``twitchcds batch``'s path
(:func:`twitchcds.batch.assess_jsonl`, work-up off; and with ``--scores`` in chunks of 1024) in
this process, and of ``assess_many`` with its defaults (work-up on), against the number of
cases. Each point is the best of ``--inner``
runs per case (each from scratch), median over ``--repeats`` cases.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib as mpl
import numpy as np
from bench_assess import random_cases
from bench_batch import synthetic_cases
from bench_compare import gum, pyagrum_posteriors, quickscore
from bench_inference import random_network
from bench_table import best_ms, rate
from qmr_like import cases as qmr_cases
from qmr_like import qmr_like

import twitchcds
from twitchcds.batch import assess_jsonl
from twitchcds.inference import infer

mpl.use("Agg")
import matplotlib.pyplot as plt  # after choosing the file backend

KS = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
BATCHES = [10, 100, 1000, 5000]


def times_vs_k(repeats: int, inner: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(0)
    net = random_network(600, 4000, rng)
    priors = rng.uniform(0.001, 0.1, size=600)
    kb = twitchcds.KnowledgeBase.from_node_link(qmr_like())
    qmr = kb.network
    qmr_priors = np.array([c.prior["primary-care"] for c in kb.conditions])
    infer(net, priors, [0], [])
    infer(qmr, qmr_priors, [0], [])
    out: dict[str, list[float]] = {"600x4000": [], "QMR-DT-like": [], "pyAgrum": [],
                                   "Quickscore": []}
    for k in KS:
        ours, agrum, qs = [], [], []
        for _ in range(repeats):
            order = rng.permutation(net.n_findings).tolist()
            pos, neg = sorted(order[:k]), sorted(order[k:k + 20])
            ours.append(best_ms(lambda p=pos, a=neg: infer(net, priors, p, a), inner, net))
            if gum is not None:
                solve, _ = pyagrum_posteriors(net, priors, pos, neg, "lazy")
                agrum.append(best_ms(solve, inner))
            if k <= 12:
                qs.append(best_ms(lambda p=pos, a=neg: quickscore(net, priors, p, a), inner))
        dense = [best_ms(lambda p=p, a=a: infer(qmr, qmr_priors, p, a), inner, qmr)
                 for p, a in qmr_cases(qmr, qmr_priors, k, repeats, seed=k)]
        out["600x4000"].append(statistics.median(ours))
        out["QMR-DT-like"].append(statistics.median(dense))
        out["pyAgrum"].append(statistics.median(agrum) if agrum else float("nan"))
        out["Quickscore"].append(statistics.median(qs) if qs else float("nan"))
    return out


def rates_vs_batch(inner: int) -> dict[str, list[float]]:
    kb = twitchcds.load_knowledge_base()
    lines = [json.dumps(c) + "\n" for c in synthetic_cases(max(BATCHES))]
    varied = random_cases(kb, 200)
    out: dict[str, list[float]] = {"batch (work-up off)": [], "batch --scores": [],
                                   "assess_many defaults": []}
    for n in BATCHES:
        out["batch (work-up off)"].append(rate(
            lambda n=n: sum(1 for _ in assess_jsonl(lines[:n], workup=False, explain=False)),
            inner))
        out["batch --scores"].append(rate(
            lambda n=n: sum(1 for _ in assess_jsonl(lines[:n], scores=True, chunksize=1024)),
            inner))
        few = (varied * (1 + n // len(varied)))[:min(n, 200)]
        out["assess_many defaults"].append(rate(
            lambda few=few: sum(1 for _ in twitchcds.assess_many(few, kb)), inner))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).parent.parent
                        / "docs" / "explanation" / "performance_scaling.png")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--inner", type=int, default=3)
    args = parser.parse_args()
    by_k = times_vs_k(args.repeats, args.inner)
    by_batch = rates_vs_batch(1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for label, style in (("600x4000", "o-"), ("QMR-DT-like", "s-"), ("pyAgrum", "^--"),
                         ("Quickscore", "x:")):
        name = {"600x4000": "twitchcds, 600 x 4000", "QMR-DT-like": "twitchcds, QMR-DT-like",
                "pyAgrum": "pyAgrum LazyPropagation, 600 x 4000",
                "Quickscore": "numpy Quickscore (inexact), 600 x 4000"}[label]
        left.plot(KS, by_k[label], style, label=name)
    left.set(xlabel="present findings k", ylabel="ms per posterior (median)", yscale="log",
             title="Exact posterior vs k")
    left.legend(fontsize=7)
    for label, style in (("batch (work-up off)", "o-"), ("batch --scores", "d-"),
                         ("assess_many defaults", "s-")):
        right.plot(BATCHES, by_batch[label], style, label=label)
    right.set(xlabel="cases in the batch", ylabel="cases/s", xscale="log", yscale="log",
              title="Throughput vs batch size (1 process)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")
    for label, values in {**by_k, **by_batch}.items():
        print(label, " ".join(f"{v:.3g}" for v in values))


if __name__ == "__main__":
    main()
