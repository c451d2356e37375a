"""Interoperability: FHIR R4, CDS Hooks and Phenopackets v2, one module per format.

- :mod:`twitchcds.interop.fhir`: a Bundle (or list of resources) in, a :class:`ImportResult` out
  (:func:`~twitchcds.interop.fhir.case_from_fhir`); an Assessment out as a FHIR Bundle with a
  RiskAssessment and ServiceRequests (:func:`~twitchcds.interop.fhir.assessment_to_fhir`). Needs
  ``pip install "twitchcds[fhir]"``.
- :mod:`twitchcds.interop.cds_hooks`: a CDS Hooks ``patient-view`` service (Starlette app, served
  by uvicorn) and the cards for an assessment. Needs ``pip install "twitchcds[serve]"``.
- :mod:`twitchcds.interop.phenopackets`: a GA4GH Phenopacket v2 in, a case out. Validation with
  the ``phenopackets`` package needs ``pip install "twitchcds[phenopackets]"``.

Importing this package imports none of the optional dependencies.

Examples
--------
>>> from twitchcds.interop import ImportResult, MissingExtraError
>>> issubclass(MissingExtraError, ImportError)
True
"""

from __future__ import annotations

from twitchcds.interop._extras import MissingExtraError
from twitchcds.interop._report import (
    Conflict,
    HistoryItem,
    ImportResult,
    SkippedResource,
    UsedResource,
)

__all__ = ["Conflict", "HistoryItem", "ImportResult", "MissingExtraError", "SkippedResource",
           "UsedResource"]
