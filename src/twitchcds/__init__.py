"""twitchcds: clinical decision support for muscle twitching (fasciculations).

Given a patient's presentation, twitchcds returns a ranked differential of candidate causes with
calibrated probabilities, an explanation of every score, a triage level driven by red flags,
recommended tests ranked by value per cost, next questions, and management advice, from a cited
noisy-OR knowledge graph. It supports clinicians; it does not diagnose.

Examples
--------
>>> import twitchcds
>>> result = twitchcds.assess({"age": 27, "findings": [{"id": "fasciculations",
...                                                      "status": "present"}]})
>>> result.triage.level in twitchcds.typing.TRIAGE_LEVELS
True
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from twitchcds import typing
from twitchcds.assessment import Assessment
from twitchcds.batch import assess_many
from twitchcds.case import Case
from twitchcds.errors import (
    ContradictionError,
    InvalidCaseError,
    InvalidInputError,
    KnowledgeBaseError,
    TwitchCDSError,
    UnitConversionError,
    UnknownCodeError,
)
from twitchcds.inference import posterior
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.loader import load_knowledge_base
from twitchcds.pipeline import assess

try:
    __version__ = version("twitchcds")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "Assessment",
    "Case",
    "ContradictionError",
    "InvalidCaseError",
    "InvalidInputError",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "TwitchCDSError",
    "UnitConversionError",
    "UnknownCodeError",
    "__version__",
    "assess",
    "assess_many",
    "load_knowledge_base",
    "posterior",
    "typing",
]
