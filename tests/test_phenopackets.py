"""Phenopackets v2 import, validated with the phenopackets protobuf schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("phenopackets")

from twitchcds import assess
from twitchcds.errors import InvalidInputError, UnitConversionError
from twitchcds.interop.phenopackets import case_from_phenopacket, read_phenopacket
from twitchcds.schemas import validate_case_dict

PACKET = json.loads((Path(__file__).parent / "data" / "phenopackets" /
                     "progressive_weakness.json").read_text(encoding="utf-8"))


def test_realistic_phenopacket_reads_features_subject_and_measurements():
    """Features, exclusions, sex, age and LOINC measurements become a valid case."""
    result = read_phenopacket(PACKET)
    case = result.case.to_dict()
    assert case["id"] == "PMID:30000000-patient-3"
    assert case["age"] == 63.5
    assert case["sex"] == "male"
    assert {"status": "present", "code": "HP:0003701"} in case["findings"]
    assert {"status": "absent", "code": "HP:0002015"} in case["findings"]
    assert case["labs"] == [{"loinc": "2157-6", "value": 420.0, "unit": "U/L"},
                            {"loinc": "2823-3", "value": 4.2, "unit": "mmol/L"}]
    assert case["medications"] == [{"atc": "A02BC01", "name": "omeprazole"}]
    validate_case_dict(case)
    skipped = {s.path: s.reason for s in result.skipped}
    assert "LOINC 26515-7" in skipped["$.measurements[2]"]
    assert skipped["$.measurements[3]"] == "value is not a quantity"
    assert assess(result.case).differential[0].id == "amyotrophic_lateral_sclerosis"


def test_case_from_phenopacket_returns_the_case():
    """case_from_phenopacket returns just the case of read_phenopacket."""
    assert case_from_phenopacket(PACKET) == read_phenopacket(PACKET).case


def edit(path: str, value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    data = copy.deepcopy(PACKET)
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = data
    for key in keys[:-1]:
        target = target[key]
    if delete:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


MALFORMED = [
    ("not-object", [PACKET], InvalidInputError, "$"),
    ("bad-sex-enum", edit("subject.sex", "BOY"), InvalidInputError, "$.subject.sex"),
    ("lower-case-sex", edit("subject.sex", "male"), InvalidInputError, "$.subject.sex"),
    ("unknown-top-field", {**PACKET, "phenotypes": []}, InvalidInputError, "$.phenotypes"),
    ("feature-id-number", edit("phenotypicFeatures.2.type.id", 3202), InvalidInputError,
     "$.phenotypicFeatures[2].type.id"),
    ("excluded-string", edit("phenotypicFeatures.1.excluded", "yes"), InvalidInputError,
     "$.phenotypicFeatures[1].excluded"),
    ("bad-duration", edit("subject.timeAtLastEncounter.age.iso8601duration", "63 years"),
     InvalidInputError, "$.subject.timeAtLastEncounter.age.iso8601duration"),
    ("value-string", edit("measurements.1.value.quantity.value", "4.2"), InvalidInputError,
     "$.measurements[1].value.quantity.value"),
    ("unconvertible-unit", edit("measurements.1.value.quantity.unit.id", "UCUM:kg"),
     UnitConversionError, "$.measurements[1].value.quantity.unit.id"),
]


def test_disagreeing_features_are_a_reported_conflict_not_an_error():
    """A feature both observed and excluded is a reported conflict (present kept), not an error:
    imports from records never refuse the whole record (DESIGN 6a)."""
    result = read_phenopacket(edit("phenotypicFeatures.4.type.id", "HP:0002380"))
    (conflict,) = result.conflicts
    assert conflict.finding == "fasciculations"
    assert conflict.kept_status == "present"
    assert conflict.dropped == "$.phenotypicFeatures[4]"
    assert "$.phenotypicFeatures[4]" in {s.path for s in result.skipped}


@pytest.mark.parametrize(("payload", "error", "path"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_phenopacket_is_an_error_at_its_path(payload, error, path):
    """A malformed phenopacket raises the documented error class at its JSON path."""
    with pytest.raises(error) as info:
        read_phenopacket(payload)
    assert info.value.path == path, str(info.value)


def test_unplaceable_terms_are_skipped_not_errors():
    """An HPO term the knowledge base cannot place is reported as skipped."""
    result = read_phenopacket(PACKET)
    assert any(s.path == "$.phenotypicFeatures[5]" for s in result.skipped)
