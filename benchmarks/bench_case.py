"""Time ``Case.from_dict`` on a simple and a rich Case v1 payload (best of N, µs per case).

Usage: ``python benchmarks/bench_case.py [--repeat 15] [--number 2000] [--profile]``.
The simple payload is shaped like ``bench_batch.synthetic_cases`` (age, sex, five findings by
id, caffeine); the rich one adds labs with units, medications and several history items.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import timeit

from twitchcds import Case

SIMPLE = {
    "id": "case-1", "age": 52, "sex": "female",
    "findings": [
        {"id": "fasciculations", "status": "present"},
        {"id": "muscle_cramps", "status": "absent"},
        {"id": "muscle_weakness", "status": "absent"},
        {"id": "muscle_atrophy", "status": "present"},
        {"id": "hyperreflexia", "status": "absent"},
    ],
    "history": {"caffeine_mg_per_day": 500},
}

RICH = {
    "id": "case-rich", "age": 63, "sex": "male", "setting": "primary-care",
    "findings": [
        {"id": "fasciculations", "status": "present"},
        {"id": "muscle_cramps", "status": "present"},
        {"code": "HP:0001324", "status": "absent"},
        {"id": "muscle_atrophy", "status": "absent"},
        {"code": "SNOMEDCT:26544005", "status": "absent"},
        {"id": "paresthesia", "status": "present"},
    ],
    "history": {
        "duration_days": 45, "progressive": False, "distribution": "multifocal",
        "caffeine_mg_per_day": 600, "sleep_hours_per_night": 5.5,
        "recent_strenuous_exercise": True, "alcohol_units_per_week": 10,
    },
    "medications": [
        {"name": "omeprazole", "rxnorm": "7646", "atc": "A02BC01"},
        {"name": "salbutamol"},
        {"atc": "C03CA01"},
    ],
    "labs": [
        {"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"},
        {"loinc": "19123-9", "value": 1.4, "unit": "mg/dL"},
        {"loinc": "17861-6", "value": 9.1, "unit": "mg/dL"},
        {"loinc": "2132-9", "value": 310, "unit": "pg/mL"},
    ],
}


def best_us(payload: dict[str, object], repeat: int, number: int) -> float:
    timer = timeit.Timer(lambda: Case.from_dict(payload))
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="cProfile the simple case")
    args = parser.parse_args()
    for payload in (SIMPLE, RICH):
        Case.from_dict(payload)  # warm caches (unit registry)
    for label, payload in (("simple", SIMPLE), ("rich", RICH)):
        print(f"{label:8} {best_us(payload, args.repeat, args.number):8.1f} µs/case")
    if args.profile:
        for payload in (SIMPLE, RICH):
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.number):
                Case.from_dict(payload)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
