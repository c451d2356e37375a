"""Trim Synthea FHIR R4 patient bundles to what twitchcds reads, for tests/data/synthea.

Run:  python benchmarks/trim_synthea.py SRC_DIR OUT_DIR [--count 24]

``SRC_DIR`` holds the ``R4/SYNTHEA`` bundles of github.com/smart-on-fhir/generated-sample-data
(Apache-2.0). Each bundle keeps its Patient, Condition, Observation, MedicationRequest,
MedicationStatement and Medication entries (``fullUrl`` and ``request`` kept, so references by
``urn:uuid`` still resolve) and drops the rest (Claim, ExplanationOfBenefit, Encounter, ...),
the narrative ``text`` and the Patient's name, address, telecom and identifiers. Written as
compact JSON, one file per patient, named by the patient's uuid.

The selection is deterministic (files sorted by name): records with a seizure or epilepsy
entry, records with prediabetes and an HbA1c, records of deceased patients, then the first
others, up to ``--count``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

KEEP = {"Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement",
        "Medication"}
PATIENT_DROP = {"text", "name", "address", "telecom", "identifier", "extension"}
SEIZURE = {"84757009", "128613002", "703151001"}


def trim(bundle: dict[str, Any]) -> dict[str, Any]:
    entries = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        if resource.get("resourceType") not in KEEP:
            continue
        drop = PATIENT_DROP if resource["resourceType"] == "Patient" else {"text"}
        resource = {k: v for k, v in resource.items() if k not in drop}
        entries.append({**{k: v for k, v in entry.items() if k != "resource"},
                        "resource": resource})
    return {"resourceType": "Bundle", "type": bundle.get("type", "collection"), "entry": entries}


def kinds(bundle: dict[str, Any]) -> set[str]:
    out = set()
    for entry in bundle["entry"]:
        r = entry["resource"]
        codes = {c.get("code") for c in r.get("code", {}).get("coding", [])}
        if r["resourceType"] == "Condition" and codes & SEIZURE:
            out.add("seizure")
        if r["resourceType"] == "Condition" and "15777000" in codes:
            out.add("prediabetes")
        if r["resourceType"] == "Patient" and "deceasedDateTime" in r:
            out.add("deceased")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=24)
    args = parser.parse_args()
    quota = {"seizure": 6, "prediabetes": 6, "deceased": 4}
    chosen: list[tuple[str, dict[str, Any]]] = []
    others: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(args.src.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        if not any(e["resource"]["resourceType"] == "Patient" for e in bundle.get("entry", [])):
            continue  # hospital / practitioner bundles
        small = trim(bundle)
        tags = kinds(small)
        want = next((t for t in sorted(tags) if quota.get(t, 0) > 0), None)
        if want is not None:
            quota[want] -= 1
            chosen.append((path.name, small))
        elif len(others) < args.count:
            others.append((path.name, small))
    chosen += others[:max(0, args.count - len(chosen))]
    args.out.mkdir(parents=True, exist_ok=True)
    for _, small in chosen:
        pid = next(e["resource"]["id"] for e in small["entry"]
                   if e["resource"]["resourceType"] == "Patient")
        (args.out / f"{pid}.json").write_text(json.dumps(small, separators=(",", ":")) + "\n",
                                              encoding="utf-8")
    print(f"wrote {len(chosen)} bundles to {args.out}")


if __name__ == "__main__":
    main()
