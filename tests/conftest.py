"""Shared fixtures and Hypothesis profiles (``HYPOTHESIS_PROFILE=ci`` for the thorough run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from twitchcds import KnowledgeBase, load_knowledge_base

# default: quick, random examples (new ones every run, so local runs keep exploring);
# ci: thorough and derandomized, so the gate is reproducible and a red run can be replayed.
settings.register_profile("default", max_examples=40, deadline=None)
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

DATA = Path(__file__).parent / "data"
MINI_KB_DIR = DATA / "mini_kb"


def copy_mini_kb(tmp_path: Path) -> Path:
    """A writable copy of the mini knowledge base fixture, for tests that edit its files."""
    target = tmp_path / "kb"
    shutil.copytree(MINI_KB_DIR, target)
    return target


def edit_text(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in ``path`` by ``new``; fail loudly if the fixture lacks it."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not found in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="session")
def mini_kb() -> KnowledgeBase:
    """The three-condition test knowledge base in tests/data/mini_kb."""
    return load_knowledge_base(MINI_KB_DIR)


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    """The built-in knowledge base."""
    return load_knowledge_base()
