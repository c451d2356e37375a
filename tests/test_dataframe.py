"""pandas front end: the column convention, round trips and assess_dataframe."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twitchcds import Case, InvalidCaseError, InvalidInputError, assess, load_knowledge_base
from twitchcds.dataframe import assess_dataframe, cases_from_dataframe, cases_to_dataframe
from twitchcds.scores import score_many

pd = pytest.importorskip("pandas")

FINDINGS = [f.id for f in load_knowledge_base().findings]


@st.composite
def valid_cases(draw: st.DrawFn) -> Case:
    """Valid Case v1 cases over built-in findings, history items, labs and medications."""
    ids = draw(st.lists(st.sampled_from(FINDINGS), max_size=4, unique=True))
    data: dict[str, Any] = {
        "age": draw(st.integers(0, 100) | st.floats(0, 100)),
        "findings": [{"id": i, "status": draw(st.sampled_from(["present", "absent"]))}
                     for i in ids],
    }
    if draw(st.booleans()):
        data["history"] = {"sleep_hours_per_night": draw(st.floats(0, 24)),
                           "progressive": draw(st.booleans())}
    if draw(st.booleans()):
        data["labs"] = [{"loinc": "2823-3", "value": draw(st.floats(1.5, 7)), "unit": "mmol/L"},
                        {"loinc": "2345-7", "value": draw(st.floats(2, 30)), "unit": "mmol/L"}]
    if draw(st.booleans()):
        data["medications"] = [{"name": "omeprazole"}]
    if draw(st.booleans()):
        data["findings"].append({"code": "HP:0002380", "status": "present"})
    return Case.from_dict(data)


def normal(case: Case) -> dict[str, Any]:
    """A case's dictionary with its lists sorted (a row has no order among its columns)."""
    data = case.to_dict()
    for key in ("findings", "labs"):
        if key in data:
            data[key] = sorted(data[key], key=repr)
    return data


@given(st.lists(valid_cases(), min_size=1, max_size=5))
def test_cases_round_trip_through_a_dataframe(cases: list[Case]) -> None:
    """Cases written with cases_to_dataframe read back as the same cases."""
    back = [Case.from_dict(c) for c in cases_from_dataframe(cases_to_dataframe(cases))]
    assert [normal(c) for c in back] == [normal(c) for c in cases]


def test_dataframe_results_equal_assess_row_by_row() -> None:
    """Each output row holds the posteriors (to 1e-12), top condition, triage and method of
    assess()."""
    df = pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "age": [27, 68, 27, 45],
        "sex": ["female", "male", "female", None],
        "fasciculations": [True, True, True, pd.NA],
        "muscle_weakness": [False, True, False, None],
        "HP:0002380": [None, None, None, True],
        "history.caffeine_mg_per_day": [600.0, None, 600.0, None],
        "lab:2823-3": [None, 2.7, None, None],
        "medications": [None, ["omeprazole"], None, []],
    }, index=[10, 11, 12, 13])
    out = assess_dataframe(df, workup=False)
    assert list(out.index) == [10, 11, 12, 13]
    for (_, row), case in zip(out.iterrows(), cases_from_dataframe(df), strict=True):
        result = assess(case, workup=False)
        # the batch path solves all rows at once: equal to the one-case path to 1e-12
        assert {k[2:]: v for k, v in row.items() if k.startswith("p_")} == pytest.approx(
            result.probabilities, rel=0, abs=1e-12)
        assert (row["top_condition"], row["triage"], row["method"]) == (
            result.differential[0].id, result.triage.level, result.method)


def test_identical_rows_are_assessed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows that differ only in id share one assessment."""
    import twitchcds.batch._work

    calls: list[Any] = []

    def counting(cases: Any, *args: Any, **options: Any) -> Any:
        calls.extend(cases)
        return score_many(cases, *args, **options)

    monkeypatch.setattr(twitchcds.batch._work, "score_many", counting)
    df = pd.DataFrame({"id": ["a", "b", "c"], "age": [40, 40, 41], "tremor": [True, True, True]})
    out = assess_dataframe(df, workup=False)
    assert len(calls) == 2
    assert out.iloc[0].equals(out.iloc[1])


def test_lab_columns_take_the_canonical_or_the_named_unit() -> None:
    """lab:<LOINC> is in the analyte's canonical unit; lab:<LOINC>[unit] converts from unit."""
    df = pd.DataFrame({"lab:2345-7": [40.0], "lab:2823-3[meq/L]": [2.8]})
    [case] = cases_from_dataframe(df)
    assert case["labs"] == [{"loinc": "2345-7", "value": 40.0, "unit": "mg/dL"},
                            {"loinc": "2823-3", "value": 2.8, "unit": "meq/L"}]
    out = assess_dataframe(df, workup=False)
    assert out.loc[0, "p_hypokalemia"] == pytest.approx(assess(case).probabilities["hypokalemia"])


def test_unknown_columns_are_named_at_once() -> None:
    """Every column outside the convention is named in one InvalidInputError."""
    df = pd.DataFrame({"age": [30], "name": ["x"], "lab:2823-3x": [1.0], "history.colour": [1]})
    with pytest.raises(InvalidInputError) as info:
        assess_dataframe(df)
    assert [p.path for p in info.value.problems] == [
        "columns['name']", "columns['lab:2823-3x']", "columns['history.colour']"]


@pytest.mark.parametrize(("cell", "path"), [(1, "$[1].tremor"), ("yes", "$[1].tremor")])
def test_finding_cells_must_be_booleans(cell: Any, path: str) -> None:
    """A finding cell other than True, False or missing is an error at its row and column."""
    df = pd.DataFrame({"age": [30, 31], "tremor": [True, cell]})
    with pytest.raises(InvalidCaseError) as info:
        assess_dataframe(df, workup=False)
    assert info.value.path == path


def test_bad_rows_get_an_error_column() -> None:
    """With errors='return' bad rows hold missing values and their message; the rest are scored."""
    df = pd.DataFrame({"age": [30, -1, 30, 500], "medications": [None, None, "aspirin", None]})
    out = assess_dataframe(df, workup=False, errors="return")
    assert out["error"].isna().tolist() == [True, False, False, False]
    assert out["p_hypokalemia"].isna().tolist() == [False, True, True, True]
    assert "$.age" in out.loc[1, "error"]
    assert "$[2].medications" in out.loc[2, "error"]
    with pytest.raises(InvalidCaseError, match=r"\$\.age"):
        assess_dataframe(df, workup=False)
