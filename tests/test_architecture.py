"""The layers of pyproject's ``[tool.importlinter]`` hold; an upward import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parent.parent


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    """Run the project's import contracts on the package found in ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as run; run()",
         "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=src, check=False)


def test_contracts_are_kept() -> None:
    """The layers and no-cycles contracts hold for the package as it is."""
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    pytest.param("priors.py", "import twitchcds.pipeline", "layers", id="stage-imports-pipeline"),
    pytest.param("compiled.py", "from twitchcds import _state", "layers", id="model-imports-cache"),
    pytest.param("knowledge/model.py", "import twitchcds.evidence", "layers",
                 id="knowledge-imports-evidence"),
    pytest.param("interop/_report.py", "import twitchcds.interop.fhir", "cycles",
                 id="cycle-inside-interop"),
])
def test_a_new_upward_import_breaks_the_contract(tmp_path: Path, module: str, line: str,
                                                 contract: str) -> None:
    """Adding one upward (or cyclic) import to a copy of the package makes lint-imports fail,
    naming the contract it broke."""
    shutil.copytree(ROOT / "src" / "twitchcds", tmp_path / "twitchcds",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "twitchcds" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    result = _lint(tmp_path)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert (("layers, top to bottom" in broken) if contract == "layers"
            else ("no import cycles" in broken))


def test_a_new_module_must_be_placed(tmp_path: Path) -> None:
    """The layers are exhaustive: a new top-level module fails the contract until it is placed."""
    shutil.copytree(ROOT / "src" / "twitchcds", tmp_path / "twitchcds",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "twitchcds" / "unplaced.py").write_text('"""New."""\n', encoding="utf-8")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "unplaced" in result.stdout.split("Broken contracts", 1)[-1]
