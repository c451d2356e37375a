"""Fast acceptance of common Case v1 objects never accepts what the full checks would refuse."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from twitchcds._validate import _FINDING_ID, FINDING, MAX_TEXT, Problems, check_object

from .strategies import finding_ids, json_values

FULL_CHECKS = attrs.evolve(FINDING, plain=None)


def problems_of(value: Any) -> list[str]:
    problems = Problems()
    check_object(problems, value, "$", FULL_CHECKS)
    return [p.message for p in problems.items + problems.contradictions]


def tricky_text() -> st.SearchStrategy[str]:
    """Strings close to valid finding ids: other alphabets, control characters, long ones."""
    near = st.text(st.sampled_from("ab_1Zé٣\n\x00 \u00a0"), max_size=8)
    return st.one_of(near, finding_ids(), st.just("a" * MAX_TEXT), st.just("a" * (MAX_TEXT + 1)),
                     finding_ids().map(lambda s: s + "\n"))


def finding_like() -> st.SearchStrategy[Any]:
    key = st.sampled_from(["id", "status", "code", "current", "Id", "extra"])
    value = st.one_of(st.sampled_from(["present", "absent", "Present", "unknown"]),
                      tricky_text(), json_values())
    two_keys = st.fixed_dictionaries({"id": st.one_of(tricky_text(), json_values()),
                                      "status": value})
    return st.one_of(two_keys, st.dictionaries(key, value, max_size=4), json_values())


@given(finding_like())
def test_plain_finding_is_valid(value: Any) -> None:
    if FINDING.plain is not None and FINDING.plain(value):
        assert problems_of(value) == []


@given(finding_ids(), st.sampled_from(["present", "absent"]))
def test_common_findings_are_plain(finding_id: str, status: str) -> None:
    assert FINDING.plain is not None
    assert _FINDING_ID.fullmatch(finding_id)
    assert FINDING.plain({"id": finding_id, "status": status})
    assert FINDING.plain({"status": status, "id": finding_id})


def test_plain_check_can_fail() -> None:
    """The property above is not vacuous: these are refused by the checks and by plain."""
    assert FINDING.plain is not None
    for bad in ({"id": "a" * (MAX_TEXT + 1), "status": "present"},
                {"id": "cramps\n", "status": "present"}, {"id": "cramps", "status": "Present"},
                {"id": 1, "status": "present"}, {"code": "cramps", "status": "present"}):
        assert problems_of(bad)
        assert not FINDING.plain(bad)
