"""Reliability: determinism, thread safety, no mutation, order independence, numerical safety."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twitchcds
from tests.strategies import kb_cases
from twitchcds import Case, KnowledgeBase, load_knowledge_base
from twitchcds.inference import infer
from twitchcds.inference._brute import brute_force

MINI_KB_DIR = Path(__file__).parent / "data" / "mini_kb"
THREADS = 16

CASES: list[dict[str, Any]] = [
    {"id": "benign", "age": 27, "sex": "male",
     "findings": [{"id": "fasciculations", "status": "present"},
                  {"id": "muscle_weakness", "status": "absent"}],
     "history": {"caffeine_mg_per_day": 650, "sleep_hours_per_night": 5}},
    {"id": "hypokalemia", "age": 61, "medications": [{"name": "hydrochlorothiazide"}],
     "labs": [{"loinc": "2823-3", "value": 2.7, "unit": "mmol/L"}],
     "findings": [{"id": "muscle_cramps", "status": "present"}]},
    {"id": "als", "age": 58, "sex": "female",
     "findings": [{"id": "fasciculations", "status": "present"},
                  {"code": "HP:0001324", "status": "present"},
                  {"id": "muscle_atrophy", "status": "present"},
                  {"id": "hyperreflexia", "status": "present"}],
     "history": {"progressive": True, "duration_days": 120}},
    {"id": "tsh", "age": 35, "sex": "female",
     "labs": [{"loinc": "3016-3", "value": 0.05, "unit": "mIU/L"},
              {"loinc": "2132-9", "value": 150, "unit": "pmol/L"}],
     "findings": [{"id": "palpitations", "status": "present"},
                  {"id": "tremor", "status": "present"}]},
    {"id": "organophosphate", "age": 44,
     "history": {"pesticide_exposure": True},
     "findings": [{"id": "fasciculations", "status": "present"},
                  {"id": "miosis", "status": "present"},
                  {"id": "excessive_salivation", "status": "present"}]},
    {"id": "elderly-absent", "age": 82,
     "findings": [{"id": f, "status": "absent"} for f in
                  ("muscle_weakness", "muscle_atrophy", "dysarthria", "dysphagia",
                   "weight_loss", "hyperreflexia")]},
]


def _json(case: dict[str, Any], kb: KnowledgeBase | None = None, **options: Any) -> str:
    return twitchcds.assess(case, kb, **options).to_json()


# --- determinism ---------------------------------------------------------------------------------


def test_same_input_same_bytes_in_process() -> None:
    """Assessing the same case twice gives byte-identical JSON."""
    for case in CASES[:2]:
        assert _json(case) == _json(copy.deepcopy(case))


def _subprocess_outputs(seed: str, tmp_path: Path) -> list[str]:
    code = textwrap.dedent(f"""
        import json, sys, twitchcds
        cases = json.loads({json.dumps(CASES[:3])!r})
        sys.stdout.write(json.dumps([twitchcds.assess(c).to_json() for c in cases]))
    """)
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,  # noqa: S603
                          text=True, check=False, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    outputs: list[str] = json.loads(proc.stdout)
    return outputs


def test_same_input_same_bytes_across_processes(tmp_path: Path) -> None:
    """Processes with different hash seeds give the same bytes as this process."""
    here = [_json(case) for case in CASES[:3]]
    assert _subprocess_outputs("0", tmp_path) == here
    assert _subprocess_outputs("4242", tmp_path) == here


# --- thread safety -----------------------------------------------------------------------------


def test_threads_give_sequential_results() -> None:
    """Sixteen threads assessing different cases at once give the sequential results."""
    cases = [CASES[i % len(CASES)] for i in range(THREADS)]
    sequential = [_json(case, workup=False) for case in cases]
    barrier = threading.Barrier(THREADS)

    def work(case: dict[str, Any]) -> str:
        barrier.wait()
        return _json(case, workup=False)

    with ThreadPoolExecutor(THREADS) as pool:
        concurrent = list(pool.map(work, cases))
    assert concurrent == sequential


def test_threads_share_a_fresh_knowledge_base() -> None:
    """Threads first touching a fresh knowledge base's lazy parts all get the sequential result."""
    case = {"findings": [{"id": "twitching", "status": "present"},
                         {"id": "weakness", "status": "present"}],
            "labs": [{"loinc": "2823-3", "value": 3.0, "unit": "mmol/L"}]}
    expected = _json(case, load_knowledge_base(MINI_KB_DIR))
    fresh = load_knowledge_base(MINI_KB_DIR)
    barrier = threading.Barrier(THREADS)

    def work(_: int) -> str:
        barrier.wait()
        return _json(case, fresh)

    with ThreadPoolExecutor(THREADS) as pool:
        assert set(pool.map(work, range(THREADS))) == {expected}


def test_first_use_of_builtin_kb_in_threads(tmp_path: Path) -> None:
    """In a fresh process, 16 threads that load the built-in KB at once share one and agree."""
    code = textwrap.dedent(f"""
        import json, sys, threading, twitchcds
        from concurrent.futures import ThreadPoolExecutor
        cases = json.loads({json.dumps(CASES)!r})
        n = {THREADS}
        barrier = threading.Barrier(n)
        def work(i):
            barrier.wait()
            kb = twitchcds.load_knowledge_base()
            return id(kb), twitchcds.assess(cases[i % len(cases)], workup=False).to_json()
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(work, range(n)))
        sequential = [twitchcds.assess(cases[i % len(cases)], workup=False).to_json()
                      for i in range(n)]
        assert len({{kb for kb, _ in results}}) == 1, "several built-in knowledge bases"
        assert [out for _, out in results] == sequential, "threads disagree"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,  # noqa: S603
                          text=True, check=False, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"


# --- inputs are never mutated ---------------------------------------------------------------------


@pytest.mark.parametrize("case", [*CASES,
                                  {"age": "x", "findings": [{"id": "nope", "status": "present"}]},
                                  {"labs": [{"loinc": "2823-3", "value": 3, "unit": "kg"}]}],
                         ids=[*(c["id"] for c in CASES), "invalid-types", "invalid-unit"])
def test_caller_input_is_not_mutated(case: dict[str, Any]) -> None:
    """assess and Case.from_dict leave the caller's dictionary exactly as it was."""
    before = copy.deepcopy(case)
    try:
        result = twitchcds.assess(case)
        result.what_if(add={"muscle_weakness": "present"})
    except twitchcds.TwitchCDSError:
        pass
    with contextlib.suppress(twitchcds.TwitchCDSError):
        Case.from_dict(case)
    assert case == before
    assert json.dumps(case, sort_keys=False) == json.dumps(before, sort_keys=False)


def test_node_link_input_is_not_mutated(mini_kb: KnowledgeBase) -> None:
    """from_node_link leaves the caller's node-link data as it was."""
    data = mini_kb.to_node_link()
    before = copy.deepcopy(data)
    KnowledgeBase.from_node_link(data)
    assert data == before


# --- order independence ---------------------------------------------------------------------------


def _shuffled(value: Any, rng: random.Random) -> Any:
    """Reorder every object's keys and every list of findings, labs and medications."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        items = [_shuffled(v, rng) for v in value]
        rng.shuffle(items)
        return items
    return value


def _order_free(result: twitchcds.Assessment) -> dict[str, Any]:
    data = result.to_dict()
    data["derived_findings"] = sorted(json.dumps(d, sort_keys=True)
                                      for d in data["derived_findings"])
    for row in data["differential"]:
        row["evidence"] = sorted(json.dumps(e, sort_keys=True) for e in row["evidence"])
    data.pop("unused_inputs", None)
    return data


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kb_cases(load_knowledge_base()), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_key_or_list_order(case: dict[str, Any],
                                                    rng: random.Random) -> None:
    """Reordering keys and findings, labs and medications gives the same assessment."""
    first = _order_free(twitchcds.assess(case, workup=False))
    again = _order_free(twitchcds.assess(_shuffled(case, rng), workup=False))
    assert again == first


# --- numerical safety --------------------------------------------------------------------------


def _network(priors: list[float], leaks: list[float], links: list[tuple[int, int, float]],
             ) -> KnowledgeBase:
    ref = {"id": "r", "kind": "reference", "title": "Synthetic", "doi": "10.1/x"}
    nodes: list[dict[str, Any]] = [ref]
    nodes += [{"id": f"c{i}", "kind": "condition", "prior": {"primary-care": p},
               "references": ["r"]} for i, p in enumerate(priors)]
    nodes += [{"id": f"f{j}", "kind": "finding", "leak": q, "references": ["r"]}
              for j, q in enumerate(leaks)]
    edges = [{"source": f"c{i}", "target": f"f{j}", "kind": "causes", "probability": p,
              "references": ["r"]} for i, j, p in links]
    return KnowledgeBase.from_node_link({"nodes": nodes, "links": edges})


EXTREME = (1e-12, 1e-9, 1e-6, 0.5, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_extreme_probabilities_match_brute_force(data: st.DataObject) -> None:
    """Priors, leaks and links near 0 and 1 give finite posteriors equal to brute force."""
    n_c = data.draw(st.integers(1, 8))
    n_f = data.draw(st.integers(1, 14))
    extreme = st.sampled_from(EXTREME)
    priors = data.draw(st.lists(extreme, min_size=n_c, max_size=n_c))
    leaks = data.draw(st.lists(extreme, min_size=n_f, max_size=n_f))
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n_c - 1), st.integers(0, n_f - 1)),
                               min_size=1, max_size=n_c * n_f, unique=True))
    links = [(i, j, data.draw(extreme)) for i, j in pairs]
    kb = _network(priors, leaks, links)
    order = data.draw(st.permutations(range(n_f)))
    k = data.draw(st.integers(0, n_f))
    present = [f"f{j}" for j in order[:k]]
    absent = [f"f{j}" for j in order[k:]]
    result = kb.posterior(present, absent)
    assert all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in result.values())
    network = kb.network
    index = {f: i for i, f in enumerate(network.finding_ids)}
    expected, _ = brute_force(network, np.array(priors), [index[f] for f in present],
                              [index[f] for f in absent])
    assert np.allclose([result[f"c{i}"] for i in range(n_c)], expected, rtol=0, atol=1e-9)


def test_hundreds_of_absent_findings_stay_finite() -> None:
    """Three hundred absent findings with strong links give posteriors equal to brute force."""
    n_c, n_f = 6, 300
    rng = np.random.default_rng(7)
    links = [(i, j, float(rng.choice([1e-9, 0.3, 0.999999]))) for i in range(n_c)
             for j in range(n_f) if rng.random() < 0.5]
    priors = [0.5, 0.999999, 1e-9, 0.2, 1 - 1e-12, 1e-12]
    kb = _network(priors, [1e-6] * n_f, links)
    absent = [f"f{j}" for j in range(1, n_f)]
    result = kb.posterior(["f0"], absent)
    assert all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in result.values())
    network = kb.network
    index = {f: i for i, f in enumerate(network.finding_ids)}
    expected, _ = brute_force(network, np.array(priors), [index["f0"]],
                              [index[f] for f in absent])
    assert np.allclose([result[f"c{i}"] for i in range(n_c)], expected, rtol=0, atol=1e-9)


def test_many_positive_findings_exact_or_reported() -> None:
    """Sixty present findings give finite posteriors, exact to brute force or marked approximate."""
    n_c, n_f = 12, 60
    rng = np.random.default_rng(11)
    links = [(i, j, float(rng.uniform(0.05, 0.95))) for i in range(n_c) for j in range(n_f)
             if rng.random() < 0.3]
    priors = list(rng.uniform(0.01, 0.5, n_c))
    kb = _network(priors, [0.01] * n_f, links)
    network = kb.network
    present = list(range(n_f))
    result = infer(network, np.array(priors), present, [], method="auto")
    assert np.all(np.isfinite(result.probabilities))
    assert result.method in {"exact", "approximate"}
    expected, _ = brute_force(network, np.array(priors), present, [])
    error = float(np.max(np.abs(result.probabilities - expected)))
    if result.method == "exact":
        assert error < 1e-9
    else:
        assert error < 0.05


def test_every_builtin_finding_present_or_absent_is_finite() -> None:
    """All built-in findings present (or absent) give finite probabilities and name the method."""
    kb = load_knowledge_base()
    derived = {r.finding for r in kb.history_rules} | {
        b.finding for lab in kb.lab_rules for b in lab.bands}
    for status in ("present", "absent"):
        case = {"age": 50, "findings": [{"id": f.id, "status": status} for f in kb.findings
                                        if f.id not in derived]}
        # explain=False: explaining ~85 present findings takes ~30 s (reported, explanation.py)
        result = twitchcds.assess(case, workup=False, explain=False)
        assert result.method in {"exact", "approximate"}
        assert all(math.isfinite(r.probability) and 0.0 <= r.probability <= 1.0
                   for r in result.differential)
        json.loads(result.to_json())


def test_error_message_is_bounded_but_problems_are_complete() -> None:
    """An error with many problems keeps every problem but a message of bounded length."""
    from twitchcds.errors import InvalidCaseError, Problem

    err = InvalidCaseError.from_problems([Problem(f"$.k{i}", "unknown key") for i in range(500)])
    assert len(err.problems) == 500
    assert len(str(err)) < 2000
    assert "and 480 more problems" in str(err)
