"""Command line: assess, batch, kb validate, kb export; exit codes and one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from twitchcds import KnowledgeBase
from twitchcds.cli import main

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "cases" / "benign_caffeine.json"
MINI = Path(__file__).parent / "data" / "mini_kb"


def test_assess_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    """assess prints a readable report with differential, triage, tests, advice, disclaimer."""
    assert main(["assess", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    for heading in ("Differential", "Triage:", "Recommended tests", "Advice:", "Disclaimer"):
        assert heading in out


def test_assess_json_from_stdin(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """assess - reads the case from stdin and --format json prints Assessment v1."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(EXAMPLE.read_text()))
    assert main(["assess", "-", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["case_id"] == "example-benign-caffeine"


@pytest.mark.parametrize(("payload", "fragment"), [
    ('{"age": "44"}', "$.age"),
    ('{"findings": [{"id": "nope", "status": "present"}]}', "$.findings[0].id"),
    ("{not json", "JSON"),
    ("[]", "$"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         payload: str, fragment: str) -> None:
    """Bad input exits 2 with a single line on stderr naming the problem, and no traceback."""
    path = tmp_path / "case.json"
    path.write_text(payload)
    assert main(["assess", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert fragment in err
    assert "Traceback" not in err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A case file that does not exist exits 2 with one line."""
    assert main(["assess", "/nonexistent/case.json"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_batch_reports_bad_lines_and_continues(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """batch writes one assessment per good line, reports bad lines by number, and exits 1."""
    lines = [json.dumps({"id": "a", "age": 30}), '{"age": -1}', "", json.dumps({"id": "c",
                                                                               "age": 70})]
    source = tmp_path / "cases.jsonl"
    source.write_text("\n".join(lines) + "\n")
    target = tmp_path / "out.jsonl"
    assert main(["--kb", str(MINI), "batch", str(source), "-o", str(target)]) == 1
    out = [json.loads(x) for x in target.read_text().splitlines()]
    assert [o["case_id"] for o in out] == ["a", "c"]
    assert "line 2:" in capsys.readouterr().err


def test_kb_validate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """kb validate exits 0 on a valid directory and 2 on an invalid one, listing the errors."""
    assert main(["kb", "validate", str(MINI)]) == 0
    assert "is valid" in capsys.readouterr().out
    broken = tmp_path / "kb"
    broken.mkdir()
    for f in MINI.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    links = broken / "links.toml"
    links.write_text(links.read_text().replace("emg_denervation = {", "emg_x = {"))
    assert main(["kb", "validate", str(broken)]) == 2
    assert "unknown finding 'emg_x'" in capsys.readouterr().out


def test_kb_export_json_round_trips(capsys: pytest.CaptureFixture[str],
                                    mini_kb: KnowledgeBase) -> None:
    """kb export --format json prints node-link JSON that reads back to an equal knowledge base."""
    assert main(["--kb", str(MINI), "kb", "export", "--format", "json"]) == 0
    assert KnowledgeBase.from_node_link(json.loads(capsys.readouterr().out)) == mini_kb


def test_kb_export_graphml(capsys: pytest.CaptureFixture[str]) -> None:
    """kb export --format graphml prints GraphML."""
    assert main(["--kb", str(MINI), "kb", "export", "--format", "graphml"]) == 0
    assert "<graphml" in capsys.readouterr().out


def test_python_dash_m_entry_point() -> None:
    """python -m twitchcds runs the same command line."""
    command = [sys.executable, "-m", "twitchcds", "kb", "validate", str(MINI)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr


def test_evaluate_reports_metrics(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """evaluate prints the metrics of a vignette folder and exits 0 when nothing crashed."""
    source = ROOT / "evaluation" / "vignettes"
    for path in sorted(source.glob("*.json"))[:3]:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert main(["evaluate", str(tmp_path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["n"] == 3


@pytest.mark.parametrize("fmt", ["fhir", "cds-hooks"])
def test_assess_interop_formats(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    """assess --format fhir prints a FHIR Bundle, --format cds-hooks prints CDS Hooks cards."""
    pytest.importorskip("fhir.resources")
    assert main(["assess", str(ROOT / "examples" / "cases" / "als_progressive.json"),
                 "--format", fmt]) == 0
    data = json.loads(capsys.readouterr().out)
    if fmt == "fhir":
        assert data["resourceType"] == "Bundle"
        kinds = [e["resource"]["resourceType"] for e in data["entry"]]
        assert kinds[0] == "RiskAssessment"
        assert "ServiceRequest" in kinds
    else:
        card = data["cards"][0]
        assert len(card["summary"]) <= 140
        assert card["indicator"] in {"warning", "critical"}


def test_case_from_fhir_and_phenopacket_classmethods() -> None:
    """Case.from_fhir and Case.from_phenopacket read the shipped examples into valid cases."""
    pytest.importorskip("fhir.resources")
    from twitchcds import Case

    bundle = json.loads((ROOT / "examples" / "fhir" / "progressive_weakness_bundle.json")
                        .read_text())
    case = Case.from_fhir(bundle)
    assert case.findings or case.labs
    packet = json.loads((ROOT / "tests" / "data" / "phenopackets" / "progressive_weakness.json")
                        .read_text())
    assert Case.from_phenopacket(packet).findings


def test_assess_fhir_subject_references_the_patient(capsys: pytest.CaptureFixture[str]) -> None:
    """assess --format fhir --subject Patient/<id>: every resource references the patient and
    the Bundle validates against the R4B models."""
    pytest.importorskip("fhir.resources")
    from fhir.resources.R4B.bundle import Bundle

    assert main(["assess", str(ROOT / "examples" / "cases" / "als_progressive.json"),
                 "--format", "fhir", "--subject", "Patient/pat-7f3c"]) == 0
    data = json.loads(capsys.readouterr().out)
    Bundle.model_validate(data)
    assert {json.dumps(e["resource"]["subject"]) for e in data["entry"]} == {
        json.dumps({"reference": "Patient/pat-7f3c"})}


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--format", "fhir", "--subject", "Patient/a b"], "subject: must be Patient/<id>"),
    (["--format", "fhir", "--subject", "Observation/1"], "subject: must be Patient/<id>"),
    (["--format", "fhir", "--subject", "Patient/"], "subject: must be Patient/<id>"),
    (["--format", "json", "--subject", "Patient/p1"], "--subject needs --format fhir"),
])
def test_assess_bad_subject_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                    fragment: str) -> None:
    """A bad --subject (or one without --format fhir) exits 2 with the library's one-line error."""
    assert main(["assess", str(EXAMPLE), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert fragment in err
