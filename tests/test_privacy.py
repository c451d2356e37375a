"""Privacy: the library logs nothing of a case, prints nothing, configures no logging, no I/O."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import twitchcds
from twitchcds import Case

MARKER = "zq-PRIVATE-7f3a"
"""A string that must never leave the library except in the caller's own result or error."""


def _marked_case() -> dict[str, Any]:
    return {
        "id": f"patient-{MARKER}",
        "age": 47, "sex": "female",
        "findings": [{"id": "fasciculations", "status": "present"},
                     {"code": "HP:0003394", "status": "present"}],
        "history": {"caffeine_mg_per_day": 600, "duration_days": 120},
        "medications": [{"name": f"omeprazole {MARKER}"}, {"name": MARKER}],
        "labs": [{"loinc": "2823-3", "value": 3.2, "unit": "mmol/L"}],
    }


def _run_python(code: str, cwd: Path, env: dict[str, str] | None = None,
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],  # noqa: S603
                          capture_output=True,
                          text=True, check=False, cwd=cwd, env=env, timeout=120)


def test_import_prints_nothing(tmp_path: Path) -> None:
    """``python -c "import twitchcds"`` writes nothing to stdout or stderr, even with -W error."""
    for flags in ((), ("-W", "error")):
        proc = subprocess.run([sys.executable, *flags, "-c", "import twitchcds"],  # noqa: S603
                              capture_output=True, text=True, check=False, cwd=tmp_path,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr == ""


def test_import_and_assess_configure_no_logging(tmp_path: Path) -> None:
    """Importing and using the library adds no handler, level or filter to any logger."""
    code = f"""
        import json, logging
        def state():
            root = logging.getLogger()
            loggers = {{name: (list(lg.handlers), lg.level, lg.propagate, list(lg.filters))
                       for name, lg in logging.Logger.manager.loggerDict.items()
                       if isinstance(lg, logging.Logger)}}
            return (list(root.handlers), root.level, list(root.filters), logging.lastResort,
                    logging.root.manager.disable), loggers
        before_root, _ = state()
        import twitchcds
        twitchcds.assess(json.loads({json.dumps(_marked_case())!r}))
        try:
            twitchcds.assess({{"age": "x"}})
        except twitchcds.TwitchCDSError:
            pass
        after_root, loggers = state()
        assert before_root == after_root, (before_root, after_root)
        own = {{n: s for n, s in loggers.items() if n.split(".")[0] == "twitchcds"}}
        for name, (handlers, level, propagate, filters) in own.items():
            assert handlers == [] and filters == [] and propagate, name
        print("ok")
    """
    proc = _run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
    assert proc.stderr == ""


def test_assess_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """Assessing a case, and failing on a bad one, writes nothing to stdout or stderr."""
    capfd.readouterr()
    result = twitchcds.assess(_marked_case())
    result.to_json()
    with pytest.raises(twitchcds.TwitchCDSError):
        twitchcds.assess({"age": 30, "medications": [{"name": MARKER, "dose": 1}]})
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


def _all_record_text(records: list[logging.LogRecord]) -> str:
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(record.exc_text or "")
        parts.append(repr(record.__dict__))
    return "\n".join(parts)


def test_case_content_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    """With every logger at DEBUG, no record mentions a case's id or medication names."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.Logger.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    result = twitchcds.assess(_marked_case())
    result.what_if(add={"muscle_weakness": "present"})
    Case.from_json(json.dumps(_marked_case()))
    for bad in ({"id": MARKER, "age": "x"},
                {"medications": [{"name": MARKER}], "labs": [{"loinc": "2823-3", "value": 3,
                                                              "unit": "kg"}]},
                {"findings": [{"id": "no_such_finding", "status": "present"}], "id": MARKER}):
        with pytest.raises(twitchcds.TwitchCDSError):
            twitchcds.assess(bad)
    assert MARKER not in _all_record_text(caplog.records)


def test_no_network_during_assess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Assessing a case opens no socket (the library never uses the network)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        msg = "network access attempted"
        raise AssertionError(msg)

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    result = twitchcds.assess(_marked_case())
    assert result.differential


def test_assess_writes_no_files(tmp_path: Path) -> None:
    """A fresh process that imports the library and assesses a case creates no file anywhere."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(home)}
    code = f"""
        import json, twitchcds
        twitchcds.assess(json.loads({json.dumps(_marked_case())!r})).to_json()
    """
    proc = _run_python(code, work, env)
    assert proc.returncode == 0, proc.stderr
    assert list(home.rglob("*")) == []
    assert list(work.rglob("*")) == []


def test_server_does_not_log_request_bodies(caplog: pytest.LogCaptureFixture) -> None:
    """The CDS Hooks service logs nothing of a request's prefetch, at any level."""
    cds_hooks = pytest.importorskip("twitchcds.interop.cds_hooks")
    if not hasattr(cds_hooks, "create_app"):
        pytest.skip("twitchcds.interop.cds_hooks.create_app does not exist yet")
    testclient = pytest.importorskip("starlette.testclient")
    caplog.set_level(logging.DEBUG)
    for name in list(logging.Logger.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    patient = {"resourceType": "Patient", "id": MARKER, "gender": "female",
               "birthDate": "1980-01-01", "name": [{"family": MARKER}]}
    body = {"hook": "patient-view", "hookInstance": MARKER, "context": {"patientId": MARKER},
            "prefetch": {"patient": patient,
                         "observations": {"resourceType": "Bundle", "type": "searchset",
                                          "entry": []},
                         "conditions": {"resourceType": "Bundle", "type": "searchset",
                                        "entry": []},
                         "medications": {"resourceType": "Bundle", "type": "searchset",
                                         "entry": [{"resource": {
                                             "resourceType": "MedicationStatement",
                                             "status": "active", "subject": {"reference":
                                                                             f"Patient/{MARKER}"},
                                             "medicationCodeableConcept": {"text": MARKER}}}]}}}
    with testclient.TestClient(cds_hooks.create_app()) as client:
        client.post("/cds-services/twitchcds", json=body)
        client.post("/cds-services/twitchcds", json={**body, "prefetch": {"patient": MARKER}})
    assert MARKER not in _all_record_text(caplog.records)
