"""Write what ``twitchcds batch --scores`` writes for a fixed input, to compare two versions.

Run:  PYTHONPATH=src python benchmarks/scores_output.py OUT [--cases 4000]

Input: ``--cases`` synthetic cases (``bench_batch.synthetic_cases``), varied random cases
(``bench_assess.random_cases``), the Synthea records of ``tests/data/synthea`` (imported from
FHIR), cases with labs, medications, codes, other settings and history entries, and bad lines
(invalid JSON, duplicate keys, unknown ids, contradictions). Each output line is the Scores v1
JSON, or the failure's JSON (``CaseFailure.to_dict``), prefixed with its line number; run in
one process and with two workers, chunks of 1024 and 7. Prints the output's SHA-256. Output
files of two versions must be byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

import orjson
from bench_assess import random_cases
from bench_batch import synthetic_cases

import twitchcds
from twitchcds.batch import CaseFailure, assess_jsonl
from twitchcds.interop.fhir import case_from_fhir

SYNTHEA = Path(__file__).parent.parent / "tests" / "data" / "synthea"

EXTRA = [
    '{"id": "lab", "age": 60, "labs": [{"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"}]}',
    '{"id": "lab2", "labs": [{"loinc": "17861-6", "value": 6.5, "unit": "mg/dL"}], '
    '"findings": [{"id": "muscle_cramps", "status": "present"}]}',
    '{"id": "meds", "age": 70, "medications": [{"name": "furosemide"}, {"atc": "A02BC01"}], '
    '"findings": [{"id": "muscle_weakness", "status": "present"}]}',
    '{"id": "code", "findings": [{"code": "HP:0002380", "status": "present"}]}',
    '{"id": "hist", "findings": [{"id": "seizure", "status": "present", "current": false}, '
    '{"id": "fasciculations", "status": "present"}], "history": {"duration_days": 400, '
    '"progressive": true, "distribution": "generalized", "rapidly_worsening": true}}',
    '{"id": "clinic", "setting": "neuromuscular-clinic", "age": 55, '
    '"findings": [{"id": "fasciculations", "status": "present"}, '
    '{"id": "muscle_weakness", "status": "present"}, {"id": "muscle_atrophy", '
    '"status": "present"}]}',
    '{"id": "none", "age": 30}',
    "not json",
    '{"id": "dup", "age": 30, "age": 31}',
    '{"id": "unknown", "findings": [{"id": "no_such_finding", "status": "present"}]}',
    '{"id": "contra", "findings": [{"id": "cramps", "status": "present"}, '
    '{"id": "cramps", "status": "absent"}]}',
    '{"age": "44", "sex": "MALE"}',
    '{"id": "nan", "age": NaN}',
    "[1, 2]",
    '{"id": "x"}',
]


def lines() -> list[str]:
    kb = twitchcds.load_knowledge_base()
    out = [json.dumps(c) + "\n" for c in synthetic_cases(ARGS.cases)]
    out += [json.dumps(c) + "\n" for c in random_cases(kb, ARGS.cases // 8)]
    for path in sorted(SYNTHEA.glob("*.json")):
        try:
            case = case_from_fhir(json.loads(path.read_text(encoding="utf-8")), kb=kb).case
        except twitchcds.TwitchCDSError:
            continue
        out.append(json.dumps(case.to_dict()) + "\n")
    out += [line + "\n" for line in EXTRA]
    rng = random.Random(3)
    rng.shuffle(out)
    return out


def main() -> None:
    data = lines()
    digest = hashlib.sha256()
    with ARGS.out.open("wb") as f:
        for workers, chunk in ((None, 1024), (None, 7), (2, 1024)):
            for number, result in assess_jsonl(data, scores=True, chunksize=chunk,
                                               workers=workers):
                text = (orjson.dumps(result.to_dict(), default=repr).decode()
                        if isinstance(result, CaseFailure) else result)
                row = f"{number}\t{text}\n".encode()
                f.write(row)
                digest.update(row)
    print(len(data), "lines", digest.hexdigest())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--cases", type=int, default=4000)
    ARGS = parser.parse_args()
    main()
