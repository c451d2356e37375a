"""Run the CDS Hooks service and the FHIR import on Synthea patient bundles.

Run:  python benchmarks/bench_synthea.py [DIR] [--on-date latest|today|YYYY-MM-DD] [--list]

``DIR`` holds FHIR R4 patient Bundles (default: the trimmed corpus in ``tests/data/synthea``;
give the ``R4/SYNTHEA`` folder of github.com/smart-on-fhir/generated-sample-data to run the
whole sample). Each record is opened as a chart: a ``patient-view`` request whose prefetch holds
the Patient and search Bundles of its Observations, Conditions and MedicationRequests /
MedicationStatements / Medications, answered by :func:`twitchcds.interop.cds_hooks.handle_request`.
The chart is opened on ``--on-date``: ``latest`` (default) is the date of the newest dated
resource in the record (Synthea records end at the date they were generated), ``today`` is
today.

Prints: records read and refused (by error class), lab Observations of analytes the knowledge
base reads (potassium, magnesium, calcium, TSH, free T4, CK, B12, glucose in serum, plasma or
blood, HbA1c, cholinesterase; recognised by display name, not by code) and the share recognised
by the importer (used, or set aside as superseded or as history), cards per 100 charts and on
which records (file stem, indicator, summary), the triage distribution, and the latency of one
request (median, p95).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import twitchcds
from twitchcds.errors import TwitchCDSError
from twitchcds.interop import ImportResult
from twitchcds.interop.cds_hooks import handle_request
from twitchcds.interop.fhir import case_from_fhir

DEFAULT = Path(__file__).parent.parent / "tests" / "data" / "synthea"
PREFETCH_TYPES = {"observations": {"Observation"}, "conditions": {"Condition"},
                  "medications": {"MedicationRequest", "MedicationStatement", "Medication"}}
ANALYTE = re.compile(r"potassium|magnesium|calcium|thyrotropin|\btsh\b|thyroxine|creatine kinase"
                     r"|cobalamin|vitamin b12|glucose|hemoglobin a1c|cholinesterase", re.I)
NOT_BLOOD = re.compile(r"urine|csf|cerebral|stool|tolerance|\bpost\b|challenge|ionized", re.I)
NOT_READ = re.compile(r"is not used by the knowledge base")


def known_analyte(obs: dict[str, Any]) -> bool:
    """A lab Observation of an analyte the knowledge base reads, recognised by its name."""
    if "valueQuantity" not in obs:
        return False
    names = [obs.get("code", {}).get("text", "")]
    names += [c.get("display", "") for c in obs.get("code", {}).get("coding", [])]
    text = " ".join(n for n in names if n)
    return bool(ANALYTE.search(text)) and not NOT_BLOOD.search(text)


def newest_date(bundle: dict[str, Any]) -> date:
    best = ""
    for entry in bundle.get("entry", []):
        r = entry["resource"]
        for key in ("effectiveDateTime", "issued", "recordedDate", "onsetDateTime",
                    "authoredOn", "deceasedDateTime"):
            value = r.get(key)
            if isinstance(value, str) and value[:10] > best:
                best = value[:10]
    return date.fromisoformat(best) if best else date.today()


def request_for(bundle: dict[str, Any], name: str) -> dict[str, Any]:
    entries = [e for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]
    patient = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Patient")
    prefetch: dict[str, Any] = {"patient": patient}
    for key, kinds in PREFETCH_TYPES.items():
        found = [{k: v for k, v in e.items() if k != "request"} for e in entries
                 if e["resource"]["resourceType"] in kinds]
        prefetch[key] = ({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                          "entry": found} if found else None)
    return {"hook": "patient-view", "hookInstance": f"bench-{name}",
            "context": {"userId": "Practitioner/bench", "patientId": patient["id"]},
            "prefetch": prefetch}


def main() -> None:  # noqa: PLR0915  (one linear report; splitting it hides the flow)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, nargs="?", default=DEFAULT)
    parser.add_argument("--on-date", default="latest")
    parser.add_argument("--list", action="store_true", help="list every card")
    args = parser.parse_args()
    kb = twitchcds.load_knowledge_base()
    refused: collections.Counter[str] = collections.Counter()
    refusals: list[str] = []
    triage: collections.Counter[str] = collections.Counter()
    indicators: collections.Counter[str] = collections.Counter()
    carded: list[str] = []
    latencies: list[float] = []
    labs_known = labs_read = charts = read = cards_total = 0
    for path in sorted(args.dir.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        if not any(e.get("resource", {}).get("resourceType") == "Patient"
                   for e in bundle.get("entry", [])):
            continue
        charts += 1
        on = (newest_date(bundle) if args.on_date == "latest" else date.today()
              if args.on_date == "today" else date.fromisoformat(args.on_date))
        request = request_for(bundle, path.stem)
        start = time.perf_counter()
        try:
            answer = handle_request(request, kb, on_date=on)
        except TwitchCDSError as exc:
            latencies.append(time.perf_counter() - start)
            refused[type(exc).__name__] += 1
            refusals.append(f"{path.stem[:40]}: {type(exc).__name__}: {str(exc)[:150]}")
            continue
        latencies.append(time.perf_counter() - start)
        read += 1
        for card in answer["cards"]:
            cards_total += 1
            indicators[card["indicator"]] += 1
            carded.append(f"{path.stem[:40]}: {card['indicator']}: {card['summary']}")
        trimmed = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": e["resource"]} for e in bundle["entry"]
            if e["resource"]["resourceType"] in {"Patient", *set().union(
                *PREFETCH_TYPES.values())}]}
        imported: ImportResult = case_from_fhir(trimmed, kb=kb, on_date=on)
        result = twitchcds.assess(imported.case, kb)
        triage[result.triage.level] += 1
        skipped = {s.path: s.reason for s in imported.skipped}
        for i, entry in enumerate(trimmed["entry"]):
            if entry["resource"]["resourceType"] == "Observation" and known_analyte(
                    entry["resource"]):
                labs_known += 1
                reason = skipped.get(f"$.entry[{i}].resource")
                labs_read += reason is None or not NOT_READ.search(reason)
    print(f"corpus: {args.dir} ({charts} patient records), charts opened on: {args.on_date}")
    print(f"records read: {read}, refused: {sum(refused.values())} {dict(refused)}")
    for line in refusals[:10]:
        print(f"  refused {line}")
    share = labs_read / labs_known if labs_known else 0.0
    print(f"known-analyte lab Observations: {labs_known}, read: {labs_read} ({share:.1%})")
    per100 = 100 * cards_total / charts if charts else 0.0
    print(f"cards: {cards_total} on {len(carded)} charts = {per100:.1f} per 100 charts "
          f"{dict(indicators)}")
    for line in carded if args.list else carded[:10]:
        print(f"  card {line}")
    order = ["self-care", "routine", "soon", "urgent", "emergency"]
    print("triage: " + ", ".join(f"{k} {triage[k]}" for k in order))
    if latencies:
        ms = sorted(x * 1000 for x in latencies)
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        print(f"latency per request: median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
