"""The example cases in examples/cases behave as a clinician would expect (issue: core engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from twitchcds import Case, assess
from twitchcds.triage import level_rank

CASES = Path(__file__).parent.parent / "examples" / "cases"


def _assess(name: str):  # type: ignore[no-untyped-def]
    return assess(Case.from_json(CASES / f"{name}.json"))


def test_benign_caffeine_case() -> None:
    """Focal twitching, heavy caffeine, short sleep: lifestyle cause first, low triage, no EMG."""
    result = _assess("benign_caffeine")
    assert result.differential[0].category in {"benign", "lifestyle"}
    assert result.triage.level in {"self-care", "routine"}
    assert "emg" not in {t.id for t in result.tests}


def test_progressive_weakness_case() -> None:
    """Progressive twitching with weakness, atrophy and brisk reflexes: ALS, urgent, EMG first."""
    result = _assess("als_progressive")
    assert "amyotrophic_lateral_sclerosis" in [r.id for r in result.differential[:3]]
    assert level_rank(result.triage.level) >= level_rank("urgent")
    assert result.tests[0].id == "emg"


def test_low_potassium_case() -> None:
    """Potassium 2.6 mmol/L with cramps and twitching puts hypokalemia first."""
    result = _assess("hypokalemia_cramps")
    assert result.differential[0].id == "hypokalemia"


@pytest.mark.parametrize("path", sorted(CASES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_case_assesses(path: Path) -> None:
    """Every example case file loads, assesses, and round-trips through Case.to_dict."""
    case = Case.from_json(path)
    assert Case.from_dict(case.to_dict()) == case
    assert assess(case).to_dict()["case_id"] == case.id
