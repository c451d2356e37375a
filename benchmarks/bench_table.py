"""One table for the performance issue: every row beside its reference, measured in the same run.

Run:  python benchmarks/bench_table.py [--quick] [--json OUT.json] [--synthea DIR]

Rows (each ``ours`` and ``reference`` are timed on the same cases, in this process, best of
``--inner`` runs per case, median over cases; ratios are ``reference / ours``):

* **exactness**: largest absolute posterior difference from brute-force enumeration (16
  conditions x 60 findings, inhibitor links included, k = 2-12 present), from pyAgrum's junction
  tree (600 x 4000, k = 10) and from the plain frontier sum (QMR-DT-like, k = 10).
* **posterior 600x4000, k = 5 / 10 / 20**: :func:`twitchcds.inference.infer` from scratch (the
  structure cache dropped) vs the numpy Quickscore (k = 5) and pyAgrum's LazyPropagation and
  ShaferShenoy (k = 10, 20), from ``bench_compare.py``.
* **QMR-DT-like, k = 10**: the dense network of ``qmr_like.py`` (up to 48 parents per finding),
  evidence sampled from a few active conditions; reference: the plain frontier sum (reductions
  and the full-table method off), the method the library had before the table kernels.
* **batch**: ``twitchcds batch``'s path (:func:`twitchcds.batch.assess_jsonl`, work-up,
  explanations and intervals off) on random built-in-KB cases, with ``--workers`` processes and
  in this process, writing full Assessment v1 lines and (``--scores``) Scores v1 rows
  (differential, scope and triage) in chunks of 64 and 1024; reference: one ``assess`` call per
  case in a loop.
* **assess_many, defaults** (work-up on): cases/s on varied random cases (reference: the same
  cases with ``workup=False``), and on five times as many with ``--workers`` processes
  (reference: the same cases in this process); records/s on Synthea records imported from FHIR
  (``tests/data/synthea``, or ``--synthea`` the ``R4/SYNTHEA`` folder of
  github.com/smart-on-fhir/generated-sample-data; reference: one ``assess`` per record), where
  many records share their findings and risk factors; and the median time of ``assess`` with
  defaults per Synthea record (reference: ``workup=False``).
* **published records** (work-up on): the 88 cases of the frozen sets in ``evaluation/frozen/``,
  written from published case reports, read as ``evaluation/run_frozen.py`` reads them (inputs
  the library refuses as unknown dropped). Symptomatic patients with up to 16 positive findings,
  so the work-up's components are far larger than in the varied or Synthea cases: cases/s with
  ``assess_many``'s defaults (reference: ``workup=False``), and the median per record of
  ``assess`` with those options (intervals off) and with its own defaults (intervals on).

pyAgrum is optional (``pip install -e ".[bench]"`` or ``pip install pyagrum``); without it those
references print ``-``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_assess import random_cases
from bench_batch import synthetic_cases
from bench_compare import gum, pyagrum_posteriors, quickscore
from bench_inference import random_network
from qmr_like import cases as qmr_cases
from qmr_like import qmr_like

import twitchcds
from twitchcds.batch import assess_jsonl
from twitchcds.inference import DEFAULT_BUDGET, NoisyOrNetwork, _run, infer
from twitchcds.inference._brute import brute_force
from twitchcds.inference._structure import _CACHES
from twitchcds.interop.fhir import case_from_fhir

ROOT = Path(__file__).parent.parent
SYNTHEA = ROOT / "tests" / "data" / "synthea"
PUBLISHED = sorted((ROOT / "evaluation" / "frozen").glob("published-*.json"))
Row = dict[str, Any]


def best_ms(fn: Callable[[], Any], inner: int, net: NoisyOrNetwork | None = None) -> float:
    """Best of ``inner`` runs in ms; each from scratch (``net``'s structure cache dropped)."""
    best = float("inf")
    for _ in range(inner):
        if net is not None:
            _CACHES.pop(net, None)
        start = time.perf_counter()
        fn()
        best = min(best, 1e3 * (time.perf_counter() - start))
    return best


def plain(net: NoisyOrNetwork, priors: np.ndarray, pos: list[int], neg: list[int]) -> Any:
    """The plain frontier sum: every reduction and the full-table method off."""
    return _run(net, priors, np.array(pos, dtype=np.intp), np.array(neg, dtype=np.intp),
                method="exact", budget=DEFAULT_BUDGET, collapse=False, tables=False)


def exactness(rng: np.random.Generator, repeats: int) -> float:
    """Largest error vs brute force on small random networks with inhibitor links."""
    worst = 0.0
    for _ in range(repeats):
        base = random_network(16, 60, rng)
        links = [(int(c), f, float(p)) for f in range(base.n_findings)
                 for c, p in zip(*base.parents(f), strict=True)]
        inhibitors = [(int(rng.integers(16)), int(f), float(rng.uniform(0.1, 0.9)))
                      for f in rng.choice(60, size=6, replace=False)]
        net = NoisyOrNetwork.from_arrays(base.condition_ids, base.finding_ids, base.leaks,
                                         links, inhibitors)
        priors = rng.uniform(0.001, 0.2, size=16)
        k = int(rng.integers(2, 13))
        order = rng.permutation(60).tolist()
        pos, neg = sorted(order[:k]), sorted(order[k:k + 10])
        truth = brute_force(net, priors, pos, neg)[0]
        worst = max(worst, float(np.abs(infer(net, priors, pos, neg).probabilities
                                        - truth).max()))
    return worst


def posterior_rows(rng: np.random.Generator, repeats: int, inner: int) -> tuple[list[Row], float]:
    """600 x 4000 rows (k = 5, 10, 20) and the largest error vs pyAgrum."""
    net = random_network(600, 4000, rng)
    priors = rng.uniform(0.001, 0.1, size=600)
    infer(net, priors, [0], [])
    rows, worst = [], 0.0
    for k in (5, 10, 20):
        ours, qs, lazy, shafer = [], [], [], []
        for _ in range(repeats):
            order = rng.permutation(net.n_findings).tolist()
            pos, neg = sorted(order[:k]), sorted(order[k:k + 20])
            ours.append(best_ms(lambda p=pos, a=neg: infer(net, priors, p, a), inner, net))
            if k == 5:
                qs.append(best_ms(lambda p=pos, a=neg: quickscore(net, priors, p, a), inner))
            if gum is not None and k > 5:
                for engine, out in (("lazy", lazy), ("shafer", shafer)):
                    solve, _ = pyagrum_posteriors(net, priors, pos, neg, engine)
                    out.append(best_ms(solve, inner))
                    if k == 10 and engine == "lazy":
                        worst = max(worst, float(np.abs(
                            solve() - infer(net, priors, pos, neg).probabilities).max()))
        med = statistics.median(ours)
        if k == 5:
            rows.append(_row("posterior 600x4000, k=5", med, "ms", statistics.median(qs),
                             "numpy Quickscore (float64)"))
        else:
            for name, ref in (("LazyPropagation", lazy), ("ShaferShenoy", shafer)):
                rows.append(_row(f"posterior 600x4000, k={k}", med, "ms",
                                 statistics.median(ref) if ref else None, f"pyAgrum {name}"))
    return rows, worst


def qmr_row(repeats: int, inner: int) -> tuple[list[Row], float]:
    """QMR-DT-like k = 10: ours vs the plain frontier sum, and their largest difference."""
    kb = twitchcds.KnowledgeBase.from_node_link(qmr_like())
    net = kb.network
    priors = np.array([c.prior["primary-care"] for c in kb.conditions])
    infer(net, priors, [0], [])
    ours, ref, worst = [], [], 0.0
    for pos, neg in qmr_cases(net, priors, 10, repeats):
        ours.append(best_ms(lambda p=pos, a=neg: infer(net, priors, p, a), inner, net))
        ref.append(best_ms(lambda p=pos, a=neg: plain(net, priors, p, a), inner, net))
        worst = max(worst, float(np.abs(infer(net, priors, pos, neg).probabilities
                                        - plain(net, priors, pos, neg).probabilities).max()))
    return [_row("QMR-DT-like (<= 48 parents), k=10", statistics.median(ours), "ms",
                 statistics.median(ref), "plain frontier sum")], worst


def rate(fn: Callable[[], int], inner: int) -> float:
    """Best cases/s over ``inner`` runs of ``fn`` (which returns how many cases it did)."""
    best = 0.0
    for _ in range(inner):
        start = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def batch_rows(n: int, workers: int, inner: int) -> list[Row]:
    cases = list(synthetic_cases(n))
    lines = [json.dumps(c) + "\n" for c in cases]
    kb = twitchcds.load_knowledge_base()
    options = {"workup": False, "explain": False, "intervals": False}
    loop = rate(lambda: sum(1 for c in cases[: n // 4]
                            if twitchcds.assess(c, kb, **options)), inner)
    one = rate(lambda: sum(1 for _ in assess_jsonl(lines, **options)), inner)
    many = rate(lambda: sum(1 for _ in assess_jsonl(lines, workers=workers, **options)), inner)
    rows = [_row(f"batch, {n} random cases, 1 process", one, "cases/s", loop,
                 "assess() per case"),
            _row(f"batch, {n} random cases, {workers} workers", many, "cases/s", loop,
                 "assess() per case")]
    for size in (64, 1024):
        one = rate(lambda size=size: sum(1 for _ in assess_jsonl(lines, scores=True,
                                                                  chunksize=size)), inner)
        many = rate(lambda size=size: sum(1 for _ in assess_jsonl(
            lines, scores=True, chunksize=size, workers=workers)), inner)
        rows += [_row(f"batch --scores --chunksize {size}, 1 process", one, "cases/s", loop,
                      "assess() per case"),
                 _row(f"batch --scores --chunksize {size}, {workers} workers", many, "cases/s",
                      loop, "assess() per case")]
    return rows


def assess_rows(n: int, inner: int, synthea: Path, workers: int) -> list[Row]:
    kb = twitchcds.load_knowledge_base()
    varied = random_cases(kb, n)
    full = rate(lambda: sum(1 for _ in twitchcds.assess_many(varied, kb)), inner)
    bare = rate(lambda: sum(1 for _ in twitchcds.assess_many(varied, kb, workup=False)), inner)
    more = random_cases(kb, 5 * n, seed=2)  # enough for worker processes to pay off
    alone = rate(lambda: sum(1 for _ in twitchcds.assess_many(more, kb)), inner)
    pooled = rate(lambda: sum(1 for _ in twitchcds.assess_many(more, kb, workers=workers)),
                  inner)
    records = []
    for path in sorted(synthea.glob("*.json")):
        try:
            records.append(case_from_fhir(json.loads(path.read_text(encoding="utf-8")),
                                          kb=kb).case)
        except twitchcds.TwitchCDSError:
            continue
    population = rate(lambda: sum(1 for _ in twitchcds.assess_many(records, kb)), inner)
    one_by_one = rate(lambda: sum(1 for c in records if twitchcds.assess(c, kb)), inner)
    per = [best_ms(lambda c=c: twitchcds.assess(c, kb), inner) for c in records]
    per_bare = [best_ms(lambda c=c: twitchcds.assess(c, kb, workup=False), inner)
                for c in records]
    return [_row(f"assess_many defaults, {n} varied cases", full, "cases/s", bare,
                 "same, workup=False"),
            _row(f"assess_many, {5 * n} varied, {workers} workers", pooled, "cases/s", alone,
                 "same, 1 process"),
            _row(f"assess_many defaults, {len(records)} Synthea records", population,
                 "cases/s", one_by_one, "assess() per record"),
            _row(f"assess defaults, p50 of {len(records)} Synthea records", statistics.median(per),
                 "ms", statistics.median(per_bare), "same, workup=False")]


def published_records() -> list[twitchcds.Case]:
    """The frozen published cases, read leniently as ``evaluation/run_frozen.py`` does."""
    spec = importlib.util.spec_from_file_location("run_frozen",
                                                  ROOT / "evaluation" / "run_frozen.py")
    assert spec is not None
    assert spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    return [runner.lenient_assess(item["case"])[0].case
            for path in PUBLISHED for item in json.loads(path.read_text(encoding="utf-8"))]


def published_rows(inner: int) -> list[Row]:
    kb = twitchcds.load_knowledge_base()
    records = published_records()
    many = rate(lambda: sum(1 for _ in twitchcds.assess_many(records, kb)), inner)
    bare = rate(lambda: sum(1 for _ in twitchcds.assess_many(records, kb, workup=False)), inner)
    batch_options = [best_ms(lambda c=c: twitchcds.assess(c, kb, intervals=False), inner)
                     for c in records]
    batch_bare = [best_ms(lambda c=c: twitchcds.assess(c, kb, intervals=False, workup=False),
                          inner) for c in records]
    defaults = [best_ms(lambda c=c: twitchcds.assess(c, kb), inner) for c in records]
    n = len(records)
    return [_row(f"assess_many defaults, {n} published records", many, "cases/s", bare,
                 "same, workup=False"),
            _row(f"p50 of {n} published records, intervals off", statistics.median(batch_options),
                 "ms", statistics.median(batch_bare), "same, workup=False"),
            _row(f"p50 of {n} published records, assess defaults", statistics.median(defaults),
                 "ms", statistics.median(batch_options), "same, intervals off")]


def _row(what: str, ours: float, unit: str, ref: float | None, reference: str) -> Row:
    return {"what": what, "ours": ours, "unit": unit, "reference": reference, "ref": ref}


def _ratio(row: Row) -> str:
    if row["ref"] is None:
        return "-"
    faster = row["ref"] / row["ours"] if row["unit"] == "ms" else row["ours"] / row["ref"]
    return f"{faster:.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases (a smoke run)")
    parser.add_argument("--inner", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--synthea", type=Path, default=SYNTHEA,
                        help="folder of FHIR R4 patient Bundles (default: tests/data/synthea)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    repeats = 5 if args.quick else 20
    exact_brute = exactness(rng, 10 if args.quick else 60)
    rows, exact_agrum = posterior_rows(rng, repeats, args.inner)
    qmr, exact_plain = qmr_row(repeats, args.inner)
    rows += qmr
    rows += batch_rows(1000 if args.quick else 10_000, args.workers, 1)
    rows += assess_rows(30 if args.quick else 200, args.inner, args.synthea, args.workers)
    rows += published_rows(args.inner)
    print(f"exactness: max |error| vs brute force {exact_brute:.1e} (with inhibitor links), "
          f"vs pyAgrum {exact_agrum:.1e}, vs plain frontier sum (QMR-like) {exact_plain:.1e}")
    print(f"| {'what':42} | {'twitchcds':>14} | {'reference':>14} | {'':>6} | reference |")
    print(f"|{'-' * 44}|{'-' * 16}:|{'-' * 16}:|{'-' * 7}:|-----------|")
    for row in rows:
        ref = "-" if row["ref"] is None else f"{row['ref']:,.2f} {row['unit']}"
        print(f"| {row['what']:42} | {row['ours']:>10,.2f} {row['unit']:>3} | {ref:>14} | "
              f"{_ratio(row):>6} | {row['reference']} |")
    if args.json:
        args.json.write_text(json.dumps({"exactness": [exact_brute, exact_agrum, exact_plain],
                                         "rows": rows}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
