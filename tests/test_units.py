"""Lab unit conversion: known clinical factors, round trips, and errors that name the path."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import LAB_UNITS
from twitchcds.errors import UnitConversionError
from twitchcds.units import convert_lab_value, normalise_unit

K, MG, CA, B12, GLUCOSE = 39.098, 24.305, 40.078, 1355.4, 180.16

KNOWN = [
    # columns: id, value, unit, to_unit, molar_mass, valence, expected
    ("potassium-meq-is-mmol", 4.0, "mEq/L", "mmol/L", K, 1, 4.0),
    ("potassium-mg-dl", 15.64, "mg/dL", "mmol/L", K, 1, 4.0),
    ("magnesium-mmol-to-meq", 1.0, "mmol/L", "meq/L", MG, 2, 2.0),
    ("magnesium-mmol-to-mg-dl", 1.0, "mmol/L", "mg/dL", MG, 2, 2.43),
    ("magnesium-mg-dl-to-meq", 2.43, "mg/dL", "mEq/L", MG, 2, 2.0),
    ("calcium-mmol-to-meq", 1.0, "mmol/L", "mEq/L", CA, 2, 2.0),
    ("calcium-mmol-to-mg-dl", 1.0, "mmol/L", "mg/dL", CA, 2, 4.008),
    ("calcium-mg-dl-to-mmol", 9.5, "mg/dL", "mmol/L", CA, 2, 2.370),
    ("b12-pg-ml-to-pmol", 100.0, "pg/mL", "pmol/L", B12, None, 73.8),
    ("b12-ng-l-to-pmol", 300.0, "ng/L", "pmol/L", B12, None, 221.3),
    ("glucose-mg-dl-to-mmol", 100.0, "mg/dL", "mmol/L", GLUCOSE, None, 100 / 18.016),
    ("glucose-mmol-to-mg-dl", 5.5, "mmol/L", "mg/dL", GLUCOSE, None, 5.5 * 18.016),
    ("creatinine-umol", 88.4, "umol/L", "mg/dL", 113.12, None, 1.0),
    ("tsh-brackets-to-bare", 2.5, "m[IU]/L", "mIU/L", None, None, 2.5),
    ("tsh-milli-per-l-to-micro-per-ml", 2.5, "m[IU]/L", "u[IU]/mL", None, None, 2.5),
    ("iu-per-l-to-milli", 0.004, "[IU]/L", "m[IU]/L", None, None, 4.0),
    ("mass-g-dl-to-g-l", 1.4, "g/dL", "g/L", None, None, 14.0),
    ("mass-mg-l-to-mg-dl", 10.0, "mg/L", "mg/dL", None, None, 1.0),
    ("mass-ng-ml-to-ng-dl", 1.2, "ng/mL", "ng/dL", None, None, 120.0),
    ("enzyme-u-per-l", 150.0, "U/L", "U/L", None, None, 150.0),
    ("hba1c-percent", 5.4, "%", "%", None, None, 5.4),
    ("hba1c-ifcc", 48.0, "mmol/mol", "mmol/mol", None, None, 48.0),
    ("micro-sign", 1.0, "µmol/L", "umol/L", None, None, 1.0),
    ("lowercase-litre", 1.0, "mmol/l", "mmol/L", None, None, 1.0),
    ("chloride-negative-valence", 100.0, "meq/L", "mmol/L", 35.45, -1, 100.0),
]


@pytest.mark.parametrize(("value", "unit", "to_unit", "molar_mass", "valence", "expected"),
                         [r[1:] for r in KNOWN], ids=[r[0] for r in KNOWN])
def test_known_conversions(value: float, unit: str, to_unit: str, molar_mass: float | None,
                           valence: int | None, expected: float) -> None:
    """Clinical conversion factors are reproduced to three significant figures."""
    got = convert_lab_value(value, unit, to_unit, molar_mass=molar_mass, valence=valence)
    assert got == pytest.approx(expected, rel=2e-3)


def test_same_unit_returns_the_value_unchanged() -> None:
    """Converting to the same unit (however spelled) returns the value exactly."""
    assert convert_lab_value(0.1, "mEq/L", "meq/L") == 0.1
    assert convert_lab_value(3, "mmol/L", "mmol/L") == 3.0


@pytest.mark.parametrize(("unit", "canonical"), [
    ("mmol/L", "mmol/L"), ("mEq/L", "meq/L"), ("meq/L", "meq/L"), ("mIU/L", "m[IU]/L"),
    ("m[IU]/L", "m[IU]/L"), ("uIU/mL", "u[IU]/mL"), ("IU/L", "[IU]/L"), ("µmol/l", "umol/L"),
    ("mg/dl", "mg/dL"), ("%", "%"), ("mmol/mol", "mmol/mol"), ("U/L", "U/L"),
    ("mg.dL-1", "mg.dL-1"),
])
def test_normalise_unit_gives_the_canonical_ucum_spelling(unit: str, canonical: str) -> None:
    """Accepted spellings normalise to one UCUM spelling."""
    assert normalise_unit(unit) == canonical


@pytest.mark.parametrize("unit", LAB_UNITS)
def test_every_documented_unit_is_accepted(unit: str) -> None:
    """Every UCUM spelling the library documents is understood."""
    assert normalise_unit(unit)


BAD = [
    # columns: id, value, unit, to_unit, keyword arguments, words the message must contain
    ("mass-is-not-a-concentration", 1.0, "kg", "mmol/L", {"molar_mass": K}, ["'kg'", "mmol/L"]),
    ("unknown-unit", 1.0, "furlongs", "mmol/L", {}, ["'furlongs'", "mmol/L"]),
    ("not-ucum-syntax", 1.0, "mmol**2", "mmol/L", {}, ["'mmol**2'", "UCUM"]),
    ("uppercase-is-not-ucum", 1.0, "MMOL/L", "mmol/L", {}, ["'MMOL/L'"]),
    ("empty-unit", 1.0, "", "mmol/L", {}, ["''"]),
    ("unit-not-a-string", 1.0, 7, "mmol/L", {}, ["7", "mmol/L"]),
    ("unknown-target", 1.0, "mmol/L", "bar", {}, ["'mmol/L'", "bar", "target"]),
    ("mass-needs-molar-mass", 1.0, "mg/dL", "mmol/L", {}, ["molar mass"]),
    ("equivalents-need-valence", 1.0, "mEq/L", "mmol/L", {}, ["valence"]),
    ("iu-is-not-enzyme-units", 1.0, "[IU]/L", "U/L", {}, ["international-unit"]),
    ("iu-is-not-mass", 1.0, "m[IU]/L", "mg/L", {"molar_mass": 1.0}, ["'m[IU]/L'"]),
    ("percent-is-not-ifcc", 5.4, "%", "mmol/mol", {}, ["percentage"]),
    ("ifcc-is-not-percent", 48.0, "mmol/mol", "%", {}, ["percentage"]),
    ("enzyme-is-not-amount", 1.0, "U/L", "mmol/L", {}, ["catalytic"]),
    ("value-not-a-number", "2.9", "mmol/L", "mg/dL", {"molar_mass": K}, ["not a number"]),
    ("value-bool", True, "mmol/L", "mmol/L", {}, ["not a number"]),
    ("value-nan", float("nan"), "mmol/L", "mg/dL", {"molar_mass": K}, ["not finite"]),
    ("value-huge-int", 10**400, "mmol/L", "mmol/L", {}, ["not finite"]),
    ("result-overflows", 1e308, "g/L", "pg/mL", {}, ["not finite"]),
]


@pytest.mark.parametrize(("value", "unit", "to_unit", "kwargs", "words"),
                         [r[1:] for r in BAD], ids=[r[0] for r in BAD])
def test_bad_conversion_names_unit_target_and_path(value: Any, unit: Any, to_unit: str,
                                                   kwargs: dict[str, Any],
                                                   words: list[str]) -> None:
    """An impossible conversion raises UnitConversionError naming the unit, target and path."""
    path = "$.labs[3].unit"
    with pytest.raises(UnitConversionError) as info:
        convert_lab_value(value, unit, to_unit, path=path, **kwargs)
    message = str(info.value)
    assert f"@ {path}" in message
    assert to_unit in message
    for word in words:
        assert word in message
    assert info.value.path == path
    assert [p.path for p in info.value.problems] == [path]


def test_message_matches_the_documented_form() -> None:
    """The message starts 'cannot convert unit 'kg' to mmol/L @ <path>'."""
    with pytest.raises(UnitConversionError,
                       match=r"^cannot convert unit 'kg' to mmol/L @ \$\.labs\[0\]\.unit"):
        convert_lab_value(1.0, "kg", "mmol/L", path="$.labs[0].unit")


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"molar_mass": 0.0}, "molar_mass"), ({"molar_mass": -3.0}, "molar_mass"),
    ({"molar_mass": float("inf")}, "molar_mass"), ({"molar_mass": True}, "molar_mass"),
    ({"valence": 0}, "valence"), ({"valence": 1.5}, "valence"), ({"valence": True}, "valence"),
])
def test_bad_analyte_constants_are_rejected(kwargs: dict[str, Any], name: str) -> None:
    """A molar mass that is not positive and finite, or a valence not a non-zero int, fails."""
    with pytest.raises(UnitConversionError, match=name):
        convert_lab_value(1.0, "mmol/L", "mg/dL", **kwargs)


def test_normalise_unit_error_names_the_path() -> None:
    """An unknown unit given to normalise_unit is reported at the given path."""
    with pytest.raises(UnitConversionError, match=r"'mmol per L' @ \$\.labs\[0\]\.unit") as info:
        normalise_unit("mmol per L", path="$.labs[0].unit")
    assert info.value.problems[0].path == "$.labs[0].unit"


def test_conversion_is_silent(caplog: pytest.LogCaptureFixture,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """Converting prints nothing and logs nothing (warnings are errors in this suite)."""
    with caplog.at_level(logging.DEBUG):
        convert_lab_value(2.43, "mg/dL", "mEq/L", molar_mass=MG, valence=2)
        normalise_unit("u[IU]/mL")
    assert caplog.records == []
    assert capsys.readouterr() == ("", "")


FAMILIES = {
    "amount": ["mmol/L", "umol/L", "pmol/L", "meq/L", "mEq/L"],
    "mass": ["mg/dL", "mg/L", "g/dL", "g/L", "pg/mL", "ng/dL", "ng/mL"],
    "iu": ["m[IU]/L", "mIU/L", "u[IU]/mL", "[IU]/L"],
}
_CONVERTIBLE = st.sampled_from(FAMILIES["amount"] + FAMILIES["mass"])


@given(value=st.floats(1e-6, 1e6), unit=_CONVERTIBLE, to_unit=_CONVERTIBLE,
       molar_mass=st.floats(1.0, 1e5), valence=st.sampled_from([-3, -2, -1, 1, 2, 3]))
def test_amount_and_mass_round_trip(value: float, unit: str, to_unit: str, molar_mass: float,
                                    valence: int) -> None:
    """Converting a -> b -> a between mass, amount and equivalent units returns the value."""
    there = convert_lab_value(value, unit, to_unit, molar_mass=molar_mass, valence=valence)
    back = convert_lab_value(there, to_unit, unit, molar_mass=molar_mass, valence=valence)
    assert back == pytest.approx(value, rel=1e-9)


@given(value=st.floats(1e-6, 1e6), unit=st.sampled_from(FAMILIES["iu"]),
       to_unit=st.sampled_from(FAMILIES["iu"]))
def test_international_units_round_trip(value: float, unit: str, to_unit: str) -> None:
    """Converting a -> b -> a between international-unit concentrations returns the value."""
    back = convert_lab_value(convert_lab_value(value, unit, to_unit), to_unit, unit)
    assert back == pytest.approx(value, rel=1e-9)


@given(value=st.floats(1e-3, 1e3), molar_mass=st.floats(1.0, 1e4))
def test_mass_to_amount_scales_by_molar_mass(value: float, molar_mass: float) -> None:
    """mg/L divided by the molar mass (g/mol) is mmol/L."""
    got = convert_lab_value(value, "mg/L", "mmol/L", molar_mass=molar_mass)
    assert got == pytest.approx(value / molar_mass, rel=1e-12)


def test_first_use_from_many_threads_shares_one_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads converting at once on a cold start all get the right answer from one registry."""
    from concurrent.futures import ThreadPoolExecutor

    from twitchcds import units

    monkeypatch.setattr(units, "_REGISTRY", [])
    units._parse_text.cache_clear()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(
                lambda i: convert_lab_value(float(i), "mg/dL", "mmol/L", molar_mass=GLUCOSE),
                range(64)))
        assert results == pytest.approx([i / 18.016 for i in range(64)], rel=1e-3)
        assert len(units._REGISTRY) == 1
    finally:
        units._parse_text.cache_clear()
