"""Frozen evaluation sets are never edited after their first run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

FROZEN = Path(__file__).parent.parent / "evaluation" / "frozen"
SUMS = dict(reversed(line.split(maxsplit=1)) for line in
            (FROZEN / "SHA256SUMS").read_text(encoding="utf-8").splitlines() if line.strip())


def test_every_frozen_file_is_listed() -> None:
    """Each case file in evaluation/frozen has its checksum recorded."""
    assert {p.name for p in FROZEN.glob("*.json")} == set(SUMS)


@pytest.mark.parametrize("name", sorted(SUMS))
def test_frozen_file_is_unchanged(name: str) -> None:
    """A frozen set's bytes match the checksum taken when it was frozen."""
    digest = hashlib.sha256((FROZEN / name).read_bytes()).hexdigest()
    assert digest == SUMS[name], f"{name} was edited after it was frozen"


@pytest.mark.parametrize("name", sorted(SUMS))
def test_frozen_cases_are_well_formed(name: str) -> None:
    """Each frozen case names its source, diagnosis and acceptable triage levels."""
    cases = json.loads((FROZEN / name).read_text(encoding="utf-8"))
    assert len(cases) >= 40
    assert len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        assert case["source"].get("doi") or case["source"].get("url"), case["id"]
        assert case["triage"] in case["triage_acceptable"], case["id"]
        assert case["diagnosis"], case["id"]
