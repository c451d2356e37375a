"""Run the vignette evaluation on the built-in knowledge base and write evaluation/REPORT.md.

Usage::

    python evaluation/run_evaluation.py [--runs 20] [--factor 0.5] [--seed 0] [--json OUT.json]

Prints the Markdown report (metrics by condition group, calibration table, misses, sensitivity of
top-1/top-3 to perturbed link probabilities) and writes it to ``evaluation/REPORT.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from twitchcds import load_knowledge_base
from twitchcds.evaluation import evaluate, load_vignettes, sensitivity

HERE = Path(__file__).resolve().parent


FROZEN = HERE / "frozen"
RESULTS = HERE / "results"
_ROWS = (("triage acceptable", "triage_acceptable", "pct"), ("under-triaged", "under_triaged", "n"),
         ("triage exact", "triage_exact", "pct"), ("top-1", "top1", "pct"),
         ("top-3", "top3", "pct"), ("key test in first two", "key_test_first_two", "pct"),
         ("Brier", "brier", "num"), ("inputs the knowledge base could not place", "inputs_dropped",
                                     "n"))


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    return {"pct": f"{value:.0%}", "num": f"{value:.3f}", "n": str(value)}[kind]


def scope_section(vignettes: Any, kb: Any) -> str:
    """Scope of each vignette and the largest leak-only posterior (the unexplained measure)."""
    from twitchcds import assess  # noqa: PLC0415
    from twitchcds.compiled import compile_model  # noqa: PLC0415
    from twitchcds.evidence import derive_evidence  # noqa: PLC0415
    from twitchcds.priors import case_priors  # noqa: PLC0415
    from twitchcds.scope import UNEXPLAINED_THRESHOLD, leak_only  # noqa: PLC0415
    from twitchcds.scoring import Scorer  # noqa: PLC0415

    model = compile_model(kb)
    counts: dict[str, int] = {}
    worst = (0.0, "-", "-")
    for v in vignettes:
        status = assess(v.case, kb, workup=False).scope.status
        counts[status] = counts.get(status, 0) + 1
        ev = derive_evidence(v.case, kb)
        priors = case_priors(model, v.case.setting, ev.risk_factors)
        scorer = Scorer.for_priors(kb, model, priors.adjusted)
        result = scorer.run(ev.present, ev.absent)
        for f in ev.present:
            if f in kb.caused_findings and kb.finding_index[f].kind != "history":
                value = leak_only(scorer, ev.present, ev.absent, f, result.log_evidence)
                worst = max(worst, (value, v.id, f))
    lines = ["## Scope (DESIGN 6a)", "",
             "| status | vignettes |", "|---|---|",
             *(f"| {k} | {n} |" for k, n in sorted(counts.items())), "",
             f"Largest leak-only posterior of a present finding on these vignettes: "
             f"{worst[0]:.2f} ({worst[1]}, {worst[2]}); threshold {UNEXPLAINED_THRESHOLD}.", ""]
    return "\n".join(lines)


def frozen_section() -> str:
    """Each frozen published-case set: every stored baseline (earlier code) beside now."""
    sys.path.insert(0, str(HERE))
    from run_frozen import score  # noqa: PLC0415

    out = ["## Frozen published-case sets", "",
           "Written from published case reports before the knowledge-base changes they judge, "
           "frozen (checksums in `evaluation/frozen/SHA256SUMS`) and never edited; scored by "
           "`evaluation/run_frozen.py`, which drops inputs the knowledge base cannot place. "
           "Each set is reported on its own; a baseline column is the stored score of the "
           "knowledge base it names (`evaluation/results/`).", ""]
    for path in sorted(FROZEN.glob("*.json")):
        cases = json.loads(path.read_text(encoding="utf-8"))
        now = score(cases)
        befores = sorted(RESULTS.glob(f"{path.stem}.before-*.json"))
        stored = [json.loads(b.read_text(encoding="utf-8")) for b in befores]
        labels = [b.stem.split(".before-")[1] for b in befores]
        out += [f"### {path.name} ({len(cases)} cases)", "",
                "| metric | " + " | ".join(f"before ({label})" for label in labels) + " | now |",
                "|---|" + "---|" * (len(labels) + 1)]
        for name, key, kind in _ROWS:
            olds = "".join(f"{_fmt(s['summary'][key], kind)} | " for s in stored)
            out.append(f"| {name} | {olds}{_fmt(now['summary'][key], kind)} |")
        out += ["", "Calibration of the top probability (now):", "",
                "| bin | count | mean predicted | observed top-1 |", "|---|---|---|---|"]
        for b in range(5):
            low, high = b / 5, (b + 1) / 5
            inside = [r for r in now["rows"] if low <= r["top_probability"] < high
                      or (b == 4 and r["top_probability"] == 1.0)]
            if inside:
                mean = sum(r["top_probability"] for r in inside) / len(inside)
                seen = sum(r["top1"] for r in inside) / len(inside)
                out.append(f"| {low:.1f}-{high:.1f} | {len(inside)} | {mean:.3f} | {seen:.3f} |")
            else:
                out.append(f"| {low:.1f}-{high:.1f} | 0 | - | - |")
        scope = ", ".join(f"{k} {n}" for k, n in sorted(now["summary"]["scope"].items()))
        under = [f"{r['id']} ({r['got']}; expected {r['expected']})"
                 for r in now["rows"] if r["under"]]
        out += ["", f"Scope now: {scope}.", "",
                "Still under-triaged: " + ("; ".join(under) if under else "none") + ".", ""]
    return "\n".join(out)


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
    text += "\n" + scope_section(vignettes, kb) + "\n" + frozen_section()
    print(text)
    args.out.write_text(text, encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps({"evaluation": report.to_dict(),
                                         "sensitivity": sens.to_dict()}, indent=2),
                             encoding="utf-8")


if __name__ == "__main__":
    main()
