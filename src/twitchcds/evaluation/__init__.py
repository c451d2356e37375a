"""Measure the knowledge base against cited clinical vignettes.

A *vignette* is a paraphrased published case (case report, case series or review vignette) stored
as JSON: a Case v1 object, the final diagnosis (condition ids), diagnoses a clinician would also
accept as the top answer, the triage level a clinician would assign at that presentation, and the
key next test. :func:`load_vignettes` reads a folder of them, :func:`evaluate` runs
:func:`twitchcds.assess` on each and scores the differential, the triage and the work-up, overall
and by condition group, and :func:`sensitivity` repeats the evaluation on knowledge bases whose
link probabilities were randomly perturbed.

Examples
--------
>>> from twitchcds.evaluation import Vignette, evaluate
>>> from twitchcds import Case
>>> v = Vignette.from_dict({
...     "id": "hypokalemia_demo",
...     "source": {"title": "demo", "url": "https://example.org", "note": "illustration"},
...     "case": {"labs": [{"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"}],
...              "findings": [{"id": "muscle_cramps", "status": "present"}]},
...     "diagnosis": ["hypokalemia"], "triage": "soon",
...     "triage_acceptable": ["soon", "urgent"], "key_test": None})
>>> report = evaluate([v], workup=False)
>>> report.overall.n, report.overall.top1
(1, 1.0)
>>> report.to_dict()["overall"]["top3"]
1.0

Notes
-----
Metrics (per group and overall):

* *top-1*: the first condition of the differential is one of ``diagnosis``; *lenient top-1*: it
  is in ``diagnosis`` or ``acceptable``; *top-3*: some ``diagnosis`` id is among the first three.
* *triage*: exact (assigned level equals ``triage``), acceptable (assigned level is in
  ``triage_acceptable``), under-triage (assigned level below every acceptable level), over-triage
  (above every acceptable level).
* *key test hit*: ``key_test`` is among the first two recommended tests (only vignettes with a
  key test; needs ``workup=True``).
* *Brier score* of the top probability, the outcome being top-1 correctness:
  ``mean((p_top - correct) ** 2)``; a reliability table bins the top probability and compares
  the mean prediction with the observed top-1 frequency in each bin.

A vignette whose assessment raises is recorded as a *crash* (and counts as a miss).
"""

from __future__ import annotations

from twitchcds.evaluation.metrics import (
    GroupMetrics,
    ReliabilityBin,
    VignetteResult,
    brier_score,
    reliability_table,
)
from twitchcds.evaluation.run import EvaluationReport, evaluate, score_vignette
from twitchcds.evaluation.sensitivity import SensitivityReport, perturb_links, sensitivity
from twitchcds.evaluation.vignettes import Source, Vignette, load_vignettes

__all__ = [
    "EvaluationReport",
    "GroupMetrics",
    "ReliabilityBin",
    "SensitivityReport",
    "Source",
    "Vignette",
    "VignetteResult",
    "brier_score",
    "evaluate",
    "load_vignettes",
    "perturb_links",
    "reliability_table",
    "score_vignette",
    "sensitivity",
]
