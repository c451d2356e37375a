"""Throughput and memory of batch assessment: sequential, worker processes, Dask LocalCluster.

Run:  python benchmarks/bench_batch.py [--cases 4000] [--rss-cases 100000] [--workers 2]
      [--skip-dask] [--skip-rss]

Prints cases/s for assess_many (in this process, and with worker processes), for the
JSON-lines path that ``twitchcds batch`` runs, and for a Dask LocalCluster of worker processes;
then runs ``twitchcds batch`` on ``--rss-cases`` synthetic lines (and on a tenth as many, to show
memory stays flat) and reports the peak resident memory of the whole process tree (the CLI and
its workers, sampled from /proc every 0.1 s) and of its largest process (getrusage).
Work-up and explanations are off, as in ``twitchcds batch``'s default. Synthetic cases:
age, sex, 5 random findings present or absent, a caffeine intake.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import twitchcds
from twitchcds.batch import assess_jsonl, assess_many_dask

OPTIONS = {"workup": False, "explain": False}


def synthetic_cases(n: int, seed: int = 0):
    kb = twitchcds.load_knowledge_base()
    derived = {r.finding for r in kb.history_rules} | {
        b.finding for rule in kb.lab_rules for b in rule.bands}
    findings = [f.id for f in kb.findings if f.id not in derived]  # no contradictions
    rng = random.Random(seed)
    for i in range(n):
        yield {
            "id": f"case-{i}", "age": rng.randint(1, 95), "sex": rng.choice(["female", "male"]),
            "findings": [{"id": f, "status": rng.choice(["present", "absent"])}
                         for f in rng.sample(findings, 5)],
            "history": {"caffeine_mg_per_day": rng.randint(0, 900)},
        }


def rate(label: str, run, n: int) -> None:
    start = time.perf_counter()
    count = sum(1 for _ in run())
    elapsed = time.perf_counter() - start
    assert count == n, (count, n)
    print(f"{label:44} {n / elapsed:8.0f} cases/s  ({elapsed:.1f} s)", flush=True)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(x) for x in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure_cli(path: Path, workers: int) -> tuple[float, int, int]:
    """Run `twitchcds batch` in a fresh helper; return seconds, peak tree KiB, largest KiB."""
    helper = [sys.executable, __file__, "--_child", str(path), str(workers)]
    out = subprocess.run(helper, check=True, capture_output=True, text=True).stdout
    seconds, tree, largest = out.split()
    return float(seconds), int(tree), int(largest)


def _child(path: str, workers: str) -> None:
    cmd = [sys.executable, "-m", "twitchcds", "batch", path, "-o", "/dev/null", "--no-progress",
           "--workers", workers]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(_rss_kib(p) for p in [proc.pid, *_children(proc.pid)]))
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"batch exited {proc.returncode}")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    print(elapsed, peak, largest)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=4000)
    parser.add_argument("--rss-cases", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        _child(*args._child)
        return
    n, w = args.cases, args.workers
    cases = list(synthetic_cases(n))
    lines = [json.dumps(c) + "\n" for c in cases]
    twitchcds.assess(cases[0], **OPTIONS)  # load and compile the knowledge base
    print(f"{n} synthetic cases, work-up and explanations off")
    rate("assess_many, this process", lambda: twitchcds.assess_many(cases, **OPTIONS), n)
    rate(f"assess_many, workers={w}",
         lambda: twitchcds.assess_many(cases, workers=w, **OPTIONS), n)
    rate("JSON lines (batch CLI path), this process", lambda: assess_jsonl(lines, **OPTIONS), n)
    rate(f"JSON lines (batch CLI path), workers={w}",
         lambda: assess_jsonl(lines, workers=w, **OPTIONS), n)
    if not args.skip_dask:
        from distributed import Client, LocalCluster  # noqa: PLC0415  (optional)

        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            rate(f"assess_many_dask, LocalCluster {w} processes",
                 lambda: assess_many_dask(cases, client, **OPTIONS), n)
            rate(f"JSON lines on Dask, LocalCluster {w} processes",
                 lambda: assess_jsonl(lines, dask=client, **OPTIONS), n)
    if args.skip_rss:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for size in (args.rss_cases // 10, args.rss_cases):
            path = Path(tmp) / f"cases-{size}.jsonl"
            with path.open("w", encoding="utf-8") as f:
                f.writelines(json.dumps(c) + "\n" for c in synthetic_cases(size, seed=1))
            for workers in (1, w):
                seconds, tree, largest = measure_cli(path, workers)
                print(f"twitchcds batch {size:>7} cases --workers {workers}: {size / seconds:6.0f}"
                      f" cases/s, peak RSS {tree / 1024:6.0f} MiB all processes, "
                      f"{largest / 1024:6.0f} MiB largest process", flush=True)


if __name__ == "__main__":
    main()
