"""Scores v1: many cases' differential, scope and triage equal the full assessment's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twitchcds import Case, TwitchCDSError, assess, load_knowledge_base
from twitchcds.batch import CaseFailure, assess_jsonl
from twitchcds.cli import main
from twitchcds.compiled import compile_model
from twitchcds.errors import InvalidInputError
from twitchcds.scores import CaseScores, score_many

from .strategies import kb_cases

KB = load_knowledge_base()
MODEL = compile_model(KB)


@settings(max_examples=40)
@given(st.lists(kb_cases(KB, max_findings=12), min_size=1, max_size=8))
def test_scores_equal_the_full_assessment(cases: list[dict[str, Any]]) -> None:
    """Each row holds assess()'s posteriors (1e-12), order, scope, triage level and reasons."""
    parsed = [Case.from_dict(c) for c in cases]
    for case, row in zip(parsed, score_many(parsed, KB, MODEL), strict=True):
        if isinstance(row, TwitchCDSError):  # assess() says the same about the case
            with pytest.raises(type(row)):
                assess(case, KB, workup=False, explain=False, intervals=False)
            continue
        full = CaseScores.from_assessment(assess(case, KB, workup=False, explain=False,
                                                 intervals=False))
        assert [c for c, _ in row.differential] == [c for c, _ in full.differential]
        assert max(abs(p - full.probabilities[c]) for c, p in row.differential) <= 1e-12
        assert (row.scope, row.triage, row.reasons) == (full.scope, full.triage, full.reasons)
        assert (row.case_id, row.setting, row.method) == (full.case_id, full.setting,
                                                         full.method)


def test_chunking_does_not_change_a_row() -> None:
    """A case's row is the same alone, in a chunk of two and in a chunk of many."""
    lines = [json.dumps({"id": str(i), "age": 20 + i, "findings": [
        {"id": f.id, "status": "present"} for f in KB.findings[i:i + 1 + i % 5]]})
        for i in range(30)]
    rows = [dict(assess_jsonl(lines, scores=True, chunksize=size)) for size in (1, 2, 64)]
    assert rows[0] == rows[1] == rows[2]


def test_rows_validate_against_the_schema() -> None:
    pytest.importorskip("jsonschema")
    from twitchcds.schemas import validate_scores_dict

    lines = [json.dumps({"id": "a", "findings": [{"id": "fasciculations",
                                                   "status": "present"}]}),
             json.dumps({"labs": [{"loinc": "2823-3", "value": 2.1, "unit": "mmol/L"}]})]
    for _, text in assess_jsonl(lines, scores=True):
        assert isinstance(text, str)
        validate_scores_dict(json.loads(text))


def test_bad_lines_fail_alone() -> None:
    out = list(assess_jsonl(['{"age": 30}', '{"age": "x"}', "not json"], scores=True))
    assert [type(r).__name__ for _, r in out] == ["str", "CaseFailure", "CaseFailure"]
    assert isinstance(out[1][1], CaseFailure)
    assert out[1][1].error.path == "$.age"


@pytest.mark.parametrize("option", ["workup", "explain", "intervals"])
def test_parts_a_row_cannot_hold_are_refused(option: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        assess_jsonl(['{"age": 30}'], scores=True, **{option: True})
    assert info.value.path == f"options.{option}"


def test_cli_writes_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": "a", "age": 30}\n{"id": "b", "age": -4}\n', encoding="utf-8")
    code = main(["batch", str(cases), "--scores", "--chunksize", "8", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1
    [line] = out.splitlines()
    assert json.loads(line)["case_id"] == "a"
    assert "line 2" in err
    assert main(["batch", str(cases), "--scores", "--workup"]) == 2


@pytest.mark.parametrize(("options", "path"), [({"setting": "ward"}, "options.setting"),
                                               ({"method": "fast"}, "options.method")])
def test_bad_options_are_refused_before_any_case(options: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        score_many([Case.from_dict({"age": 30})], KB, MODEL, **options)
    assert info.value.path == path
