"""Batch assessment: assess_many (order, errors, worker processes), JSON lines and the batch CLI."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import twitchcds
from twitchcds import (
    Assessment,
    Case,
    KnowledgeBase,
    TwitchCDSError,
    assess,
    assess_many,
    load_knowledge_base,
    pipeline,
)
from twitchcds.batch import CaseFailure, _work, assess_jsonl
from twitchcds.batch._work import _dumps
from twitchcds.cli import main
from twitchcds.evidence import derive_evidence

MINI = Path(__file__).parent / "data" / "mini_kb"
FINDINGS = [f.id for f in load_knowledge_base().findings]


@st.composite
def kb_cases(draw: st.DrawFn, max_findings: int = 4) -> dict[str, Any]:
    """Case v1 dictionaries naming built-in findings; some are invalid (age out of range)."""
    ids = draw(st.lists(st.sampled_from(FINDINGS), max_size=max_findings, unique=True))
    case: dict[str, Any] = {
        "age": draw(st.integers(-5, 100)),
        "findings": [{"id": i, "status": draw(st.sampled_from(["present", "absent"]))}
                     for i in ids],
    }
    if draw(st.booleans()):
        case["sex"] = draw(st.sampled_from(["female", "male"]))
    if draw(st.booleans()):
        case["id"] = draw(st.text("abc", min_size=1, max_size=3))
    return case


def expected(case: Any, kb: KnowledgeBase | None = None, **options: Any) -> dict[str, Any]:
    """What assess() says about one case, or the error it raises, as comparable data.

    The batch functions leave the probability intervals out unless asked, so this does too.
    """
    try:
        return assess(case, kb, **{"intervals": False, **options}).to_dict()
    except TwitchCDSError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


def comparable(result: Any) -> dict[str, Any]:
    """An assess_many result as the same comparable data as expected()."""
    if isinstance(result, CaseFailure):
        return {"error": type(result.error).__name__, "message": str(result.error)}
    data: dict[str, Any] = result.to_dict()
    return data


@given(st.lists(kb_cases(), max_size=8))
def test_results_follow_input_order(cases: list[dict[str, Any]]) -> None:
    """assess_many yields, in input order, what assess says about each case one by one."""
    results = assess_many(cases, workup=False, errors="return")
    assert [comparable(r) for r in results] == [expected(c, workup=False) for c in cases]


def test_workers_give_the_sequential_results() -> None:
    """With two worker processes and small chunks the results equal the sequential ones."""
    cases = [{"id": str(i), "age": i, "findings": [{"id": FINDINGS[i % len(FINDINGS)],
                                                    "status": "present"}]} for i in range(40)]
    cases[7] = {"age": 200}
    parallel = assess_many(cases, workup=False, errors="return", workers=2, chunksize=3)
    assert [comparable(r) for r in parallel] == [expected(c, workup=False) for c in cases]


def test_worker_differentials_are_the_local_rows_exactly() -> None:
    """The compact transport of the differential rebuilds every row field for field (exact
    floats, codes, explanations and risk-factor adjustments), with the caller's KB."""
    cases = [{"age": 20 + 9 * i, "sex": "male" if i % 2 else "female",
              "findings": [{"id": FINDINGS[i % len(FINDINGS)], "status": "present"},
                           {"id": FINDINGS[(i + 1) % len(FINDINGS)], "status": "absent"}],
              "history": {"caffeine_mg_per_day": 100 * i}} for i in range(12)]
    local = list(assess_many(cases, workup=False))
    remote = list(assess_many(cases, workup=False, workers=2, chunksize=5))
    assert [r.differential for r in remote] == [r.differential for r in local]
    assert any(row.risk_factors for r in local for row in r.differential)
    assert any(row.evidence for r in local for row in r.differential)
    assert all(r.kb is local[0].kb for r in remote)


def test_workers_use_a_custom_knowledge_base(mini_kb: KnowledgeBase) -> None:
    """A custom knowledge base reaches the worker processes and scores as it does locally."""
    cases = [{"age": age} for age in range(0, 100, 7)]
    results = list(assess_many(cases, mini_kb, workers=2, chunksize=4, workup=False))
    assert [r.to_dict() for r in results] == [expected(c, mini_kb, workup=False) for c in cases]
    assert all(r.kb is mini_kb for r in results)


@pytest.mark.parametrize("workers", [None, 2])
def test_bad_case_raises_when_its_turn_comes(workers: int | None) -> None:
    """By default a bad case raises its own error after the cases before it were yielded."""
    results = assess_many([{"age": 30}, {"age": "44"}, {"age": 50}], workup=False,
                          workers=workers)
    assert next(results).case.age == 30
    with pytest.raises(twitchcds.InvalidCaseError, match=r"\$\.age") as info:
        next(results)
    assert info.value.path == "$.age"


@pytest.mark.parametrize(("options", "path"), [
    ({"workers": 0}, "options.workers"),
    ({"workers": 1.5}, "options.workers"),
    ({"chunksize": 0}, "options.chunksize"),
    ({"errors": "ignore"}, "options.errors"),
    ({"workup": "no"}, "options.workup"),
    ({"method": "fast"}, "options.method"),
])
def test_bad_options_fail_before_any_case(options: dict[str, Any], path: str) -> None:
    """A bad option value raises InvalidInputError at the call, before any case is read."""
    def cases() -> Any:
        raise AssertionError  # pragma: no cover - must never be iterated
        yield

    with pytest.raises(twitchcds.InvalidInputError) as info:
        assess_many(cases(), **options)
    assert info.value.path == path


def test_case_failure_record_is_json_ready() -> None:
    """A CaseFailure gives the input position, case id and every problem as JSON data."""
    [_, failure] = assess_many([{"age": 1}, {"id": "x", "age": "1", "sex": "MALE"}],
                               errors="return", workup=False)
    assert isinstance(failure, CaseFailure)
    data = failure.to_dict()
    assert (data["index"], data["case_id"], data["error"]["type"]) == (1, "x", "InvalidCaseError")
    assert [p["path"] for p in data["error"]["problems"]] == ["$.age", "$.sex"]
    json.dumps(data)


def test_knowledge_base_pickles_with_the_batch_pickler(mini_kb: KnowledgeBase) -> None:
    """The batch pickler carries a knowledge base (mapping proxies included) to an equal one."""
    copy = pickle.loads(_dumps(mini_kb))  # noqa: S301
    assert copy == mini_kb
    assert copy.posterior(["weakness"]) == mini_kb.posterior(["weakness"])


def test_jsonl_numbers_lines_and_skips_blank_ones() -> None:
    """assess_jsonl pairs each result with its 1-based line number; blank lines are skipped."""
    lines = ['{"age": 30}\n', "\n", "{oops\n", "x.json", '{"id": "d", "age": 40}']
    results = list(assess_jsonl(lines, workup=False))
    assert [n for n, _ in results] == [1, 3, 4, 5]
    assert [isinstance(r, CaseFailure) for _, r in results] == [False, True, True, False]
    assert json.loads(str(results[-1][1]))["case_id"] == "d"


def write_lines(path: Path, lines: list[str]) -> Path:
    """Write a JSON-lines file and return its path."""
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("workers", ["1", "2"])
def test_batch_cli_reports_bad_lines_and_goes_on(tmp_path: Path, workers: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """batch writes good lines in order, names each bad line's number on stderr, and exits 1."""
    good = [{"id": str(i), "age": 20 + i} for i in range(6)]
    lines = [json.dumps(c) for c in good]
    lines[2:2] = ["{not json", "", json.dumps({"age": 30, "colour": "red"})]
    source = write_lines(tmp_path / "cases.jsonl", lines)
    target = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(target), "--workers", workers]) == 1
    out = [json.loads(x) for x in target.read_text().splitlines()]
    assert out == [expected(c, workup=False, explain=False) for c in good]
    err = capsys.readouterr().err.splitlines()
    assert [e.split(":")[0] for e in err] == ["line 3", "line 5"]
    assert "$.colour" in err[1]


def test_batch_cli_exits_0_when_all_lines_pass(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """batch exits 0, prints to stdout and says nothing on stderr when every line is good."""
    source = write_lines(tmp_path / "cases.jsonl", ['{"age": 30}', '{"age": 60}'])
    assert main(["batch", str(source), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err == ""


def test_batch_cli_workup_flag_adds_tests(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """batch leaves out the work-up unless --workup is given."""
    source = write_lines(tmp_path / "cases.jsonl", ['{"age": 60, "findings": [{"id": '
                                                    '"weakness", "status": "present"}]}'])
    main(["--kb", str(MINI), "batch", str(source)])
    assert json.loads(capsys.readouterr().out)["tests"] == []
    main(["--kb", str(MINI), "batch", str(source), "--workup", "--explain"])
    data = json.loads(capsys.readouterr().out)
    assert data["tests"]
    assert data["differential"][0]["evidence"]


@pytest.mark.parametrize("argv", [["--workers", "0"], ["--workers", "2", "--dask", "tcp://x:1"]])
def test_batch_cli_rejects_bad_arguments(tmp_path: Path, argv: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """batch exits 2 with one line on stderr for a bad --workers or --dask combination."""
    source = write_lines(tmp_path / "cases.jsonl", ['{"age": 30}'])
    assert main(["batch", str(source), *argv]) == 2
    assert capsys.readouterr().err.count("\n") == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_batch_cli_progress_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """On a terminal batch draws a progress bar on stderr, and --no-progress turns it off."""
    pytest.importorskip("tqdm")
    source = write_lines(tmp_path / "cases.jsonl", ['{"age": 30}', '{"age": -3}'])
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["batch", str(source)]) == 1
    shown = terminal.getvalue()
    assert "2/2" in shown
    assert "line 2:" in shown
    quiet = _Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    main(["batch", str(source), "--no-progress"])
    assert quiet.getvalue().startswith("line 2:")
    assert len(capsys.readouterr().out.splitlines()) == 2


@settings(max_examples=20)
@given(st.lists(kb_cases(max_findings=8), min_size=1, max_size=6))
def test_many_case_work_up_equals_one_case_work_up(cases: list[dict[str, Any]]) -> None:
    """With the work-up on (its inferences partly solved for the whole chunk), assess_many
    ranks the same tests and questions as assess, values to 1e-9."""
    for case, result in zip(cases, assess_many(cases, errors="return"), strict=True):
        try:
            one = assess(case, intervals=False)
        except TwitchCDSError:
            assert isinstance(result, CaseFailure)
            continue
        assert isinstance(result, Assessment)
        assert [t.id for t in result.all_tests] == [t.id for t in one.all_tests]
        assert [t.recommended for t in result.all_tests] == [t.recommended
                                                           for t in one.all_tests]
        assert [q.finding for q in result.questions] == [q.finding for q in one.questions]
        assert all(abs(a.value - b.value) <= 1e-9
                   for a, b in zip(result.all_tests, one.all_tests, strict=True))
        assert all(abs(a.value - b.value) <= 1e-9
                   for a, b in zip(result.questions, one.questions, strict=True))


@settings(max_examples=60)
@given(st.lists(kb_cases(max_findings=12), min_size=1, max_size=12))
@example([{"age": 0, "findings": [  # an unlinked finding's rounding noise near p = 0.9994
    {"id": f, "status": "present"}
    for f in ("fasciculations", "gait_disturbance", "ataxia", "optic_neuritis", "agitation")]}])
def test_many_case_path_equals_one_case_path(cases: list[dict[str, Any]]) -> None:
    """assess_many's shared inference gives every posterior of assess to 1e-12, same order,
    and the same explanations (weights to 1e-6 relative: a log-odds difference amplifies the
    posterior's).

    Up to 12 findings per case, so rows on both sides of the slot table's limit are covered.
    """
    for case, result in zip(cases, assess_many(cases, workup=False, errors="return"),
                            strict=True):
        try:
            one = assess(case, workup=False, intervals=False)
        except TwitchCDSError:
            assert isinstance(result, CaseFailure)
            continue
        assert isinstance(result, Assessment)
        ours = {r.id: r.probability for r in result.differential}
        assert max(abs(ours[r.id] - r.probability) for r in one.differential) <= 1e-12
        assert [r.id for r in result.differential] == [r.id for r in one.differential]
        assert result.triage == one.triage
        assert result.scope == one.scope
        # the explanation chains, solved for all cases at once, give the same contributions
        ours_ev = {r.id: r.evidence for r in result.differential}
        for row in one.differential:
            mine = ours_ev[row.id]
            assert [(e.finding, e.status, e.linked) for e in mine] == [
                (e.finding, e.status, e.linked) for e in row.evidence]
            assert all(a.weight == pytest.approx(b.weight, rel=1e-6, abs=1e-9)
                       for a, b in zip(mine, row.evidence, strict=True))


def test_a_row_the_shared_inference_refuses_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the chunk's inference raises for one row, only that case fails; the others equal
    assess. (A valid knowledge base has leaks in (0, 1) and links below 1, so no evidence is
    impossible; the guard is exercised by refusing every row with tremor present.)"""
    import twitchcds.pipeline
    from twitchcds.compiled import compile_model
    from twitchcds.errors import InvalidInputError
    from twitchcds.inference import infer_many
    from twitchcds.scoring import Scorer

    kb = load_knowledge_base()
    tremor = compile_model(kb).finding_position["tremor"]
    one_case = Scorer.run

    def refusing(network: Any, priors: Any, present: Any, absent: Any, **options: Any) -> Any:
        if present[:, tremor].any():
            raise InvalidInputError("refused", path="$.present", value=None)
        return infer_many(network, priors, present, absent, **options)

    def refusing_alone(self: Scorer, present: Any, absent: Any) -> Any:
        if "tremor" in set(present):
            raise InvalidInputError("refused", path="$.present", value=None)
        return one_case(self, present, absent)

    monkeypatch.setattr(twitchcds.pipeline, "infer_many", refusing)
    monkeypatch.setattr(Scorer, "run", refusing_alone)
    cases = [{"id": str(i), "findings": [{"id": f, "status": "present"}]}
             for i, f in enumerate(["fasciculations", "tremor", "muscle_cramps"])]
    results = list(assess_many(cases, kb, workup=False, errors="return"))
    assert [type(r).__name__ for r in results] == ["Assessment", "CaseFailure", "Assessment"]
    monkeypatch.undo()
    for case, result in zip(cases, results, strict=True):
        if isinstance(result, Assessment):
            one = assess(case, kb, workup=False, intervals=False)
            assert result.to_dict() == one.to_dict()




@pytest.mark.parametrize("chunk", [None, 2])
@settings(max_examples=15, deadline=None)
@given(st.lists(kb_cases(max_findings=6), min_size=1, max_size=3), st.randoms())
def test_alike_cases_run_the_later_stages_once(chunk: int | None, cases: list[dict[str, Any]],
                                               rnd: Any) -> None:
    """Cases with equal inputs to the later stages (copies under other ids, one with a
    medication the knowledge base does not use) each get what they would get alone, with their
    own id, case and unused inputs; the later stages run once per distinct input, in one chunk
    (``None``) or across chunks of two."""
    mixed = [*cases]
    for i, case in enumerate(cases):
        mixed.append({**case, "id": f"copy-{i}"})
        mixed.append({**case, "id": f"other-{i}", "medications": [
            *case.get("medications", []), {"name": "an unlisted remedy"}]})
    rnd.shuffle(mixed)
    calls: list[int] = []
    complete = pipeline._complete

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return complete(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "_complete", counted)
        together = list(assess_many(mixed, chunksize=chunk or len(mixed), errors="return"))
    alone = [next(assess_many([case], errors="return")) for case in mixed]
    kb = load_knowledge_base()
    inputs = set()
    for got, want, case in zip(together, alone, mixed, strict=True):
        assert type(got) is type(want)
        if isinstance(got, Assessment) and isinstance(want, Assessment):
            assert got.to_dict() == want.to_dict()
            assert got.case == want.case
            evidence = derive_evidence(Case.from_dict(case), kb)
            inputs.add((got.setting, evidence.risk_factors, evidence.present, evidence.absent))
    assert len(calls) == len(inputs)


def test_a_pool_worker_reuses_alike_cases_of_its_earlier_chunks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A process-pool worker's chunks share the later stages of alike cases, as in-process
    chunks do: each case gets what it would get alone, and the stages run once per input."""
    cases = [{"id": "a", "age": 40},
             {"id": "b", "age": 41, "findings": [{"id": "fasciculations", "status": "present"}]},
             {"id": "c", "age": 40},
             {"id": "d", "age": 41, "findings": [{"id": "fasciculations", "status": "present"}]}]
    options = _work._batch_options({})
    calls: list[int] = []
    complete = pipeline._complete

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return complete(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_complete", counted)
    monkeypatch.setattr(_work, "_pool_memory", None)
    _work._start_pool_worker()  # as the pool's initializer does in each worker
    got = [result for chunk in (cases[:2], cases[2:])
           for ok, result in _work._unpickle_chunk(
               _work._run_pool_chunk(None, chunk, False, "assessment", options))]
    monkeypatch.setattr(pipeline, "_complete", complete)
    alone = [next(assess_many([case])) for case in cases]
    assert [a.to_dict() for a in got] == [a.to_dict() for a in alone]
    assert len(calls) == 2
