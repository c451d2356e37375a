"""Run the vignette evaluation on the built-in knowledge base and write evaluation/REPORT.md.

Usage::

    python evaluation/run_evaluation.py [--runs 20] [--factor 0.5] [--seed 0] [--json OUT.json]

Prints the Markdown report (metrics by condition group, calibration table, misses, sensitivity of
top-1/top-3 to perturbed link probabilities) and writes it to ``evaluation/REPORT.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from twitchcds import load_knowledge_base
from twitchcds.evaluation import evaluate, load_vignettes, sensitivity

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vignettes", type=Path, default=HERE / "vignettes")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--factor", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    parser.add_argument("--out", type=Path, default=HERE / "REPORT.md")
    args = parser.parse_args()

    kb = load_knowledge_base()
    vignettes = load_vignettes(args.vignettes)
    start = time.perf_counter()
    report = evaluate(vignettes, kb, workup=True, explain=False)
    elapsed = time.perf_counter() - start
    sens = sensitivity(vignettes, kb, factor=args.factor, runs=args.runs, seed=args.seed)
    text = report.to_markdown() + "\n" + sens.to_markdown()
    text += f"\n_Evaluation of {len(vignettes)} vignettes took {elapsed:.1f} s (workup=True)._\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps({"evaluation": report.to_dict(),
                                         "sensitivity": sens.to_dict()}, indent=2),
                             encoding="utf-8")


if __name__ == "__main__":
    main()
