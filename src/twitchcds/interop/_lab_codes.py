"""Extra LOINC codes read as a knowledge-base lab: blood, mass and molar variants (private).

Health records carry an analyte under more codes than the knowledge base's lab rules name:
potassium in whole blood (``6298-4``) besides serum or plasma (``2823-3``), glucose in blood in
mass or molar units, and so on. ``knowledge/data/lab_codes.toml`` maps each such code, with its
LOINC axes and the source that verifies it, to the canonical LOINC of an existing lab rule. The
record importers read a mapped code as its canonical one (the unit is converted by the rule as
usual) and say so in the import report. The table is not part of the knowledge base (it does not
change its sha256) and only ever points at codes a rule already lists: a mapping whose canonical
code the knowledge base in use does not read is ignored.

Examples
--------
>>> EXTRA_LOINC["6298-4"].canonical, EXTRA_LOINC["6298-4"].system
('2823-3', 'Bld')
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Final

from attrs import frozen

__all__ = ["EXTRA_LOINC", "ExtraLoinc", "load_extra_loinc"]


_FIELDS: Final = ("loinc", "canonical", "component", "property", "system", "scale", "name",
                  "source")


@frozen
class ExtraLoinc:
    """One extra LOINC code and the canonical code of the lab rule it is read as."""

    loinc: str
    canonical: str
    component: str
    property: str
    system: str
    scale: str
    name: str
    source: str


def load_extra_loinc(text: str) -> dict[str, ExtraLoinc]:
    """Parse a ``lab_codes.toml`` document into ``{loinc: ExtraLoinc}``.

    Raises
    ------
    ValueError
        A malformed table (a packaging bug: the file ships with the library and is tested).
    """
    rows = tomllib.loads(text).get("code", [])
    out: dict[str, ExtraLoinc] = {}
    for i, row in enumerate(rows):
        try:
            entry = ExtraLoinc(**{name: str(row[name]) for name in _FIELDS})
        except KeyError as exc:
            msg = f"lab_codes.toml: code[{i}] lacks {exc.args[0]!r}"
            raise ValueError(msg) from None
        if entry.loinc in out:
            msg = f"lab_codes.toml: code[{i}] repeats LOINC {entry.loinc}"
            raise ValueError(msg)
        out[entry.loinc] = entry
    return out


EXTRA_LOINC: Final[Mapping[str, ExtraLoinc]] = load_extra_loinc(
    resources.files("twitchcds.knowledge").joinpath("data", "lab_codes.toml").read_text(
        encoding="utf-8"))
"""The shipped table of extra LOINC codes, by code."""
