"""The chunk-wide six-digit rounding of Scores v1 rows equals ``float(f"{p:.6g}")`` exactly."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from twitchcds import assess
from twitchcds.scores import CaseScores, _six_significant, to_json_many


def reference(values: list[float]) -> list[float]:
    return [float(f"{p:.6g}") for p in values]


def same(values: list[float]) -> None:
    got = _six_significant(np.array(values, dtype=np.float64)).tolist()
    # compare bit patterns: 0.0 and -0.0 differ, and NaN equals itself
    assert [v.hex() for v in got] == [v.hex() for v in reference(values)]


@given(st.lists(st.floats(0.0, 1.0, allow_subnormal=True), max_size=50))
def test_equals_string_path_on_unit_floats(values: list[float]) -> None:
    same(values)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
                max_size=20))
def test_equals_string_path_on_any_float(values: list[float]) -> None:
    same(values)


@st.composite
def near_ties(draw: st.DrawFn) -> float:
    """A decimal with a 5 as seventh significant digit (a tie in decimal), nudged by a few ulps."""
    digits = draw(st.integers(100_000, 999_999))
    exponent = draw(st.integers(-330, -1))
    value = float(f"{digits}5e{exponent - 6}")
    for _ in range(draw(st.integers(0, 3))):
        value = math.nextafter(value, draw(st.sampled_from([0.0, 2.0])))
    return min(value, 1.0)


@given(st.lists(near_ties(), min_size=1, max_size=30))
def test_equals_string_path_near_decimal_ties(values: list[float]) -> None:
    same(values)


@given(st.integers(0, 330), st.integers(-4, 4))
def test_equals_string_path_near_powers_of_ten(power: int, ulps: int) -> None:
    value = 10.0 ** -power
    for _ in range(abs(ulps)):
        value = math.nextafter(value, 2.0 if ulps > 0 else 0.0)
    same([min(value, 1.0)])


def exact_ties() -> list[float]:
    """Binary fractions whose exact decimal has seven significant digits, the last a 5."""
    out = []
    for power in range(1, 40):
        for numerator in range(1, min(2**power, 1 << 12), 2):
            value = numerator / 2**power
            digits = Decimal(value).as_tuple().digits
            if len(digits) == 7 and digits[-1] == 5:
                out.append(value)
    return out


def test_equals_string_path_on_exact_ties() -> None:
    ties = exact_ties()
    assert len(ties) > 10  # e.g. 2**-10 = 0.0009765625
    assert 2.0**-10 in ties
    same(ties)


def test_to_json_many_equals_to_json() -> None:
    rows = [CaseScores.from_assessment(assess(case, workup=False)) for case in (
        {"age": 30},
        {"age": 64, "findings": [{"id": "fasciculations", "status": "present"},
                                 {"id": "muscle_weakness", "status": "present"}]})]
    assert to_json_many(rows) == [row.to_json() for row in rows]
    assert to_json_many([]) == []
