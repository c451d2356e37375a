"""Fuzzing: every parser raises only TwitchCDSError on junk; valid cases give sane results.

Examples per test follow the Hypothesis profile in ``conftest.py`` (default 40, ``ci`` 150;
``HYPOTHESIS_PROFILE=ci``). Parsers: ``Case.from_dict``, ``Case.from_json``, ``assess``,
``build_knowledge_base`` on mutated TOML text, ``KnowledgeBase.from_node_link``, and (when the
interop package provides them) the FHIR and phenopacket readers and the CDS Hooks service.
"""

from __future__ import annotations

import itertools
import json
import math
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import twitchcds
from tests.conftest import MINI_KB_DIR
from tests.strategies import case_like_payloads, json_values, kb_cases
from twitchcds import Case, KnowledgeBase, TwitchCDSError, load_knowledge_base
from twitchcds.knowledge.loader import DATA_FILES, OPTIONAL_FILES, build_knowledge_base

_SLOW_OK = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cache
def _builtin() -> KnowledgeBase:
    return load_knowledge_base()


@cache
def _mini() -> KnowledgeBase:
    return load_knowledge_base(MINI_KB_DIR)


@cache
def _mini_sources() -> dict[str, bytes]:
    return {name: (MINI_KB_DIR / name).read_bytes() for name in (*DATA_FILES, *OPTIONAL_FILES)}


def _only_library_errors(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call``; a TwitchCDSError is an acceptable answer, anything else fails the test."""
    try:
        return call(*args, **kwargs)
    except TwitchCDSError as exc:
        if not exc.problems or not str(exc):  # the message itself must render
            pytest.fail(f"{type(exc).__name__} without problems or message")
        return None


# --- mutations --------------------------------------------------------------------------------


@st.composite
def _mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` with one to three edits: a slice deleted, junk inserted, or a slice duplicated."""
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "number"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            junk = draw(st.text(st.sampled_from('[]{}=",.#\n\'0123456789-+e naifHP:'),
                                max_size=8) | st.text(max_size=4))
            text = text[:i] + junk + text[i:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            number = draw(st.sampled_from(["0", "1", "-1", "1e309", "nan", "inf", "-0.0",
                                           "1e-320", "true", '"x"', "[]", "{}"]))
            text = text[:i] + number + text[j:]
    return text


def _replace_somewhere(draw: st.DrawFn, data: Any, value: Any) -> Any:
    """Return ``data`` with one nested value (or key) replaced by ``value``."""
    if isinstance(data, dict) and data and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(data, key=str)))
        if draw(st.integers(0, 5)) == 0:
            out = {k: v for k, v in data.items() if k != key}
            out[draw(st.text(max_size=8))] = data[key]
            return out
        return {**data, key: _replace_somewhere(draw, data[key], value)}
    if isinstance(data, list) and data and draw(st.integers(0, 3)):
        i = draw(st.integers(0, len(data) - 1))
        return [*data[:i], _replace_somewhere(draw, data[i], value), *data[i + 1:]]
    return value


@st.composite
def _mutated(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> Any:
    return _replace_somewhere(draw, draw(base), draw(json_values()))


# --- Case v1 parsers --------------------------------------------------------------------------


@given(json_values() | case_like_payloads())
def test_from_dict_raises_only_library_errors(payload: Any) -> None:
    """Case.from_dict on arbitrary JSON-like values returns a Case or raises TwitchCDSError."""
    case = _only_library_errors(Case.from_dict, payload)
    if case is not None:
        assert Case.from_dict(case.to_dict()) == case


@given(st.text(max_size=60) | json_values().map(json.dumps)
       | case_like_payloads().map(json.dumps).flatmap(_mutated_text))
def test_from_json_raises_only_library_errors(text: str) -> None:
    """Case.from_json on arbitrary or mutated JSON text returns a Case or raises TwitchCDSError."""
    assume(not text.endswith(".json"))
    _only_library_errors(Case.from_json, text)


@given(case_like_payloads() | _mutated(kb_cases(_builtin())))
def test_assess_raises_only_library_errors(payload: Any) -> None:
    """assess on case-shaped junk or a mutated valid case gives a result or a TwitchCDSError."""
    result = _only_library_errors(twitchcds.assess, payload, workup=False)
    if result is not None:
        assert all(0.0 <= row.probability <= 1.0 for row in result.differential)


# --- knowledge bases --------------------------------------------------------------------------


@_SLOW_OK
@given(st.sampled_from(sorted(_mini_sources())).flatmap(
    lambda name: st.tuples(st.just(name), _mutated_text(_mini_sources()[name].decode()))))
def test_kb_loader_on_mutated_toml(edit: tuple[str, str]) -> None:
    """A knowledge base with a mutated file loads or raises KnowledgeBaseError, nothing else."""
    name, text = edit
    sources = {**_mini_sources(), name: text.encode("utf-8", "surrogatepass")}

    def load() -> KnowledgeBase:
        from twitchcds.knowledge.validation import raise_for_errors

        kb = build_knowledge_base(sources)
        raise_for_errors(kb)
        return kb

    kb = _only_library_errors(load)
    if kb is not None:
        _only_library_errors(twitchcds.assess, {"findings": [{"id": f.id, "status": "present"}
                                                             for f in kb.findings[:3]]}, kb,
                             workup=False)


@_SLOW_OK
@given(json_values() | _mutated(st.just(_mini().to_node_link())))
def test_from_node_link_raises_only_library_errors(data: Any) -> None:
    """from_node_link on junk or mutated exports gives a knowledge base or KnowledgeBaseError."""
    kb = _only_library_errors(KnowledgeBase.from_node_link, data)
    if kb is not None and kb.findings:
        _only_library_errors(kb.posterior, [kb.findings[0].id])


# --- interop ------------------------------------------------------------------------------------


def _interop(module: str, name: str) -> Any:
    mod = pytest.importorskip(f"twitchcds.interop.{module}")
    if not hasattr(mod, name):
        pytest.skip(f"twitchcds.interop.{module}.{name} does not exist yet")
    return getattr(mod, name)


_PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female",
            "birthDate": "1970-03-02"}
_POTASSIUM = {"resourceType": "Observation", "id": "k", "status": "final",
              "subject": {"reference": "Patient/p1"},
              "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
              "valueQuantity": {"value": 2.9, "unit": "mmol/L",
                                "system": "http://unitsofmeasure.org", "code": "mmol/L"}}
_TWITCH = {"resourceType": "Observation", "id": "f", "status": "final",
           "subject": {"reference": "Patient/p1"},
           "code": {"coding": [{"system": "http://purl.obolibrary.org/obo/hp.owl",
                                "code": "HP:0002380"}]}, "valueBoolean": True}
_BUNDLE = {"resourceType": "Bundle", "type": "collection",
           "entry": [{"resource": r} for r in (_PATIENT, _POTASSIUM, _TWITCH)]}


@_SLOW_OK
@given(json_values() | _mutated(st.just(_BUNDLE)))
def test_fhir_reader_raises_only_library_errors(bundle: Any) -> None:
    """The FHIR reader on junk or a mutated bundle gives a case or a TwitchCDSError."""
    reader = _interop("fhir", "case_from_fhir")
    _only_library_errors(reader, bundle)


_PHENOPACKET = {"id": "pp1", "subject": {"id": "s1", "sex": "FEMALE",
                                         "timeAtLastEncounter": {"age": {"iso8601duration":
                                                                         "P52Y"}}},
                "phenotypicFeatures": [{"type": {"id": "HP:0002380", "label": "Fasciculations"}},
                                       {"type": {"id": "HP:0001324"}, "excluded": True}],
                "metaData": {"created": "2024-01-01T00:00:00Z", "createdBy": "test",
                             "phenopacketSchemaVersion": "2.0"}}


@_SLOW_OK
@given(json_values() | _mutated(st.just(_PHENOPACKET)))
def test_phenopacket_reader_raises_only_library_errors(obj: Any) -> None:
    """The phenopacket reader on junk or a mutated phenopacket gives a case or a TwitchCDSError."""
    reader = _interop("phenopackets", "case_from_phenopacket")
    _only_library_errors(reader, obj)


@cache
def _client() -> Any:
    create_app = _interop("cds_hooks", "create_app")
    testclient = pytest.importorskip("starlette.testclient")
    return testclient.TestClient(create_app(), raise_server_exceptions=False)


_REQUEST = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/1", "patientId": "p1"},
            "prefetch": {"patient": _PATIENT,
                         "observations": {"resourceType": "Bundle", "type": "searchset",
                                          "entry": [{"resource": _POTASSIUM},
                                                    {"resource": _TWITCH}]},
                         "conditions": None, "medications": None}}


@_SLOW_OK
@given(json_values() | _mutated(st.just(_REQUEST)))
def test_cds_hooks_service_never_answers_500(body: Any) -> None:
    """The CDS Hooks service answers junk requests with a JSON 2xx/4xx, never a 5xx."""
    client = _client()
    response = client.post("/cds-services/twitchcds", content=json.dumps(body),
                           headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    response.json()


# --- valid cases: sane results ------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    msg = f"{name} in output JSON"
    raise AssertionError(msg)


@_SLOW_OK
@given(kb_cases(_builtin()))
def test_valid_cases_give_sane_assessments(case: dict[str, Any]) -> None:
    """A valid case gives probabilities in [0, 1], a sorted differential and NaN-free JSON.

    Sorted as :func:`twitchcds.inference.rank_order` ranks: on the posterior to 12 decimals,
    ties by id.
    """
    result = twitchcds.assess(case, workup=False)
    probabilities = [row.probability for row in result.differential]
    assert all(0.0 <= p <= 1.0 and math.isfinite(p) for p in probabilities)
    keys = [(-float(np.round(row.probability, 12)), row.id) for row in result.differential]
    assert keys == sorted(keys)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(probabilities))
    assert len(result.differential) == len(_builtin().conditions)
    data = json.loads(result.to_json(), parse_constant=_no_constants)
    assert data["inference"]["method"] in {"exact", "approximate"}
    try:
        from twitchcds.schemas import validate_assessment_dict
    except ImportError:  # pragma: no cover - schemas ship with the package
        return
    validate_assessment_dict(data)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kb_cases(_builtin(), max_findings=5))
def test_valid_cases_with_workup_validate_against_schema(case: dict[str, Any]) -> None:
    """A valid case assessed with work-up ranks value-led tests by value per cost; JSON is valid."""
    result = twitchcds.assess(case)
    by_value = [t.value_per_cost for t in result.tests if not t.indicated_by and not t.confirms]
    assert by_value == sorted(by_value, reverse=True)
    assert all(math.isfinite(t.value) and t.value >= 0.0 for t in result.all_tests)
    data = json.loads(result.to_json(), parse_constant=_no_constants)
    from twitchcds.schemas import validate_assessment_dict

    validate_assessment_dict(data)
