"""Score a frozen case set (a JSON list of vignette-shaped cases) as a real input would be.

The frozen sets in ``evaluation/frozen/`` are written from published case reports in the
vocabulary of the reports (HPO codes, LOINC labs, medicine names), before any knowledge-base
change they are used to judge, and never edited afterwards. A knowledge base cannot place every
term of a real report, so this runner reads each case as an integrator reading a record would:
it drops the inputs the library refuses as unknown (an HPO code it cannot place, a LOINC code it
does not read) and counts them, instead of failing the case. Only the public API is used, so the
same script scores any version of twitchcds (e.g. the code before a change, for a before/after).

Usage::

    python evaluation/run_frozen.py evaluation/frozen/published-2026-12-06.json [--json OUT]

Metrics (each case once):

- triage acceptable: the level is one of the case's ``triage_acceptable``; under-triaged: below
  all of them; exact: equal to ``triage``.
- top-1 / top-3: a ``diagnosis`` id is first / among the first three of the differential
  (a diagnosis the knowledge base does not model counts as a miss);
- key test in the first two recommended tests (cases with a ``key_test``);
- Brier: mean over the knowledge base's conditions of (p - y)^2, y = 1 for the diagnoses;
- calibration (in ``evaluation/REPORT.md``): the top probability against how often the top
  condition is a diagnosis, in five equal bins.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import twitchcds

LEVELS = ("self-care", "routine", "soon", "urgent", "emergency")


def _drop(payload: dict[str, Any], path: str) -> bool:
    """Remove the list entry a problem path points into (``$.findings[3].code`` etc.)."""
    for key in ("findings", "labs", "medications"):
        prefix = f"$.{key}["
        if path.startswith(prefix):
            index = int(path[len(prefix):path.index("]", len(prefix))])
            items = payload.get(key, [])
            if 0 <= index < len(items):
                items[index] = None
                return True
    if path.startswith("$.history."):
        name = path[len("$.history."):].split(".", maxsplit=1)[0]
        return payload.get("history", {}).pop(name, None) is not None
    if path.startswith("$.") and path.count(".") == 1 and "[" not in path:
        return payload.pop(path[2:], None) is not None
    return False


def lenient_assess(case: dict[str, Any]) -> tuple[Any, list[str]]:
    """Assess ``case``, dropping inputs refused as unknown; return (assessment, dropped paths)."""
    payload = json.loads(json.dumps(case))
    dropped: list[str] = []
    for _ in range(50):
        try:
            return twitchcds.assess(payload), dropped
        except twitchcds.TwitchCDSError as exc:
            problems = getattr(exc, "problems", ())
            progress = False
            for problem in problems or [exc]:
                path = getattr(problem, "path", "")
                if _drop(payload, path):
                    dropped.append(f"{path}: {getattr(problem, 'value', '')}")
                    progress = True
            for key in ("findings", "labs", "medications"):
                if key in payload:
                    payload[key] = [x for x in payload[key] if x is not None]
            if not progress:
                raise
    raise RuntimeError("could not make the case acceptable")


def score(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Return per-case rows and summary metrics."""
    rows = []
    for case in cases:
        result, dropped = lenient_assess(case["case"])
        ranked = [r.id for r in result.differential]
        diagnosis = set(case["diagnosis"])
        level = result.triage.level
        acceptable = case["triage_acceptable"]
        tests = [t.id for t in result.tests]
        probs = {r.id: r.probability for r in result.differential}
        brier = sum((p - (c in diagnosis)) ** 2 for c, p in probs.items()) / len(probs)
        scope = getattr(result, "scope", None)
        rows.append({
            "id": case["id"], "expected": case["triage"], "got": level,
            "acceptable": level in acceptable,
            "under": LEVELS.index(level) < min(LEVELS.index(x) for x in acceptable),
            "exact": level == case["triage"],
            "top1": ranked[0] in diagnosis, "top3": bool(diagnosis & set(ranked[:3])),
            "modelled": bool(diagnosis & set(ranked)),
            "key_test": None if not case.get("key_test") else case["key_test"] in tests[:2],
            "brier": brier, "dropped": len(dropped), "dropped_paths": dropped,
            "scope": None if scope is None else scope.status,
            "top": ranked[:3], "top_probability": result.differential[0].probability,
        })
    n = len(rows)
    keyed = [r for r in rows if r["key_test"] is not None]
    summary = {
        "cases": n,
        "triage_acceptable": sum(r["acceptable"] for r in rows) / n,
        "under_triaged": sum(r["under"] for r in rows),
        "triage_exact": sum(r["exact"] for r in rows) / n,
        "top1": sum(r["top1"] for r in rows) / n,
        "top3": sum(r["top3"] for r in rows) / n,
        "diagnosis_modelled": sum(r["modelled"] for r in rows),
        "key_test_first_two": (sum(bool(r["key_test"]) for r in keyed) / len(keyed)
                               if keyed else None),
        "brier": sum(r["brier"] for r in rows) / n,
        "inputs_dropped": sum(r["dropped"] for r in rows),
        "scope": dict(Counter(str(r["scope"]) for r in rows)),
    }
    return {"summary": summary, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", type=Path)
    parser.add_argument("--json", type=Path, help="write rows and summary here")
    args = parser.parse_args(argv)
    cases = json.loads(args.cases.read_text(encoding="utf-8"))
    out = score(cases)
    s = out["summary"]
    print(f"twitchcds {twitchcds.__version__}, knowledge base "
          f"{twitchcds.load_knowledge_base().version}: {s['cases']} cases from {args.cases}")
    for key, value in s.items():
        print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
    print("under-triaged:", [(r["id"], r["got"], r["expected"]) for r in out["rows"] if r["under"]])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
