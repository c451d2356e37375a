"""Vignettes: cited clinical cases as JSON files, read and checked."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from attrs import field, frozen

from twitchcds.case import Case
from twitchcds.errors import InvalidInputError, TwitchCDSError
from twitchcds.typing import TRIAGE_LEVELS

_VIGNETTE_KEYS = frozenset({"id", "source", "case", "diagnosis", "acceptable", "triage",
                            "triage_acceptable", "key_test", "notes"})
_SOURCE_KEYS = frozenset({"authors", "title", "year", "doi", "url", "note"})
_REQUIRED = ("id", "source", "case", "diagnosis", "triage")


def _tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@frozen
class Source:
    """Where a vignette comes from: a published case the vignette paraphrases.

    A ``doi`` or ``url`` is required; ``title`` and ``authors`` are left out when the page seen did
    not show them (``note`` then says what the source is).
    """

    title: str | None = None
    authors: str | None = None
    year: int | None = None
    doi: str | None = None
    url: str | None = None
    note: str | None = None


@frozen
class Vignette:
    """One cited clinical vignette with its reference answers.

    ``triage_acceptable`` always contains ``triage`` (it is added when missing).
    """

    id: str
    source: Source
    case: Case
    diagnosis: tuple[str, ...] = field(converter=_tuple)
    triage: str
    acceptable: tuple[str, ...] = field(converter=_tuple, default=())
    triage_acceptable: tuple[str, ...] = field(converter=_tuple, default=())
    key_test: str | None = None
    notes: str = ""
    path: str = ""

    def __attrs_post_init__(self) -> None:
        """Make sure the exact triage level is one of the acceptable ones."""
        if self.triage not in self.triage_acceptable:
            object.__setattr__(self, "triage_acceptable",
                               (*self.triage_acceptable, self.triage))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str = "") -> Vignette:
        """Build a vignette from its JSON object; errors name ``path`` and the field.

        Raises
        ------
        InvalidInputError
            Missing or unknown keys, wrong types, unknown triage level, invalid case.
        """
        where = path or "<vignette>"

        def fail(key: str, message: str, value: Any = None) -> InvalidInputError:
            return InvalidInputError(f"invalid input: {where}: {key}: {message}",
                                     path=f"{where}:{key}", value=value)

        if not isinstance(data, Mapping):
            raise fail("$", "a vignette must be a JSON object", type(data).__name__)
        for key in _REQUIRED:
            if key not in data:
                raise fail(key, "required field is missing")
        unknown = sorted(set(data) - _VIGNETTE_KEYS)
        if unknown:
            raise fail(unknown[0], "unknown field", unknown[0])
        vid = data["id"]
        if not isinstance(vid, str) or not vid:
            raise fail("id", "must be a non-empty string", vid)
        source = _source(data["source"], fail)
        ids = _id_lists(data, fail)
        key_test = data.get("key_test")
        if key_test is not None and not isinstance(key_test, str):
            raise fail("key_test", "must be a test id or null", key_test)
        notes = data.get("notes", "")
        if not isinstance(notes, str):
            raise fail("notes", "must be a string", notes)
        try:
            case = Case.from_dict(data["case"])
        except TwitchCDSError as err:
            raise InvalidInputError(f"invalid input: {where}: case: {err}",
                                    path=f"{where}:case{err.path.lstrip('$')}",
                                    value=err.value) from err
        return cls(id=vid, source=source, case=case, diagnosis=ids["diagnosis"],
                   acceptable=ids["acceptable"], triage=data["triage"],
                   triage_acceptable=ids["triage_acceptable"], key_test=key_test, notes=notes,
                   path=path)


def _id_lists(data: Mapping[str, Any], fail: Any) -> dict[str, tuple[str, ...]]:
    ids: dict[str, tuple[str, ...]] = {}
    for key in ("diagnosis", "acceptable", "triage_acceptable"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "must be a list of strings", value)
        ids[key] = tuple(value)
    if not ids["diagnosis"]:
        raise fail("diagnosis", "must name at least one condition id", [])
    for key, levels in (("triage", (data["triage"],)),
                        ("triage_acceptable", ids["triage_acceptable"])):
        for level in levels:
            if level not in TRIAGE_LEVELS:
                raise fail(key, f"unknown triage level; known: {', '.join(TRIAGE_LEVELS)}",
                           level)
    return ids


def _source(value: Any, fail: Any) -> Source:
    if not isinstance(value, Mapping):
        raise fail("source", "must be an object", value)
    unknown = sorted(set(value) - _SOURCE_KEYS)
    if unknown:
        raise fail(f"source.{unknown[0]}", "unknown field", unknown[0])
    title = value.get("title")
    if title is not None and (not isinstance(title, str) or not title):
        raise fail("source.title", "must be a non-empty string", title)
    if "year" in value and (isinstance(value["year"], bool)
                            or not isinstance(value["year"], int)):
        raise fail("source.year", "must be an integer", value["year"])
    for key in ("authors", "doi", "url", "note"):
        if key in value and not isinstance(value[key], str):
            raise fail(f"source.{key}", "must be a string", value[key])
    if "doi" not in value and "url" not in value:
        raise fail("source", "needs a doi or a url", None)
    return Source(title=title, authors=value.get("authors"), year=value.get("year"),
                  doi=value.get("doi"), url=value.get("url"), note=value.get("note"))


def load_vignettes(directory: str | Path) -> tuple[Vignette, ...]:
    """Load every ``*.json`` vignette in ``directory``, sorted by file name.

    Parameters
    ----------
    directory : str or Path
        A folder such as ``evaluation/vignettes``.

    Returns
    -------
    tuple of Vignette

    Raises
    ------
    InvalidInputError
        A file is not valid JSON or breaks the vignette format (the message names the file and
        the field); two files share an id; the folder holds no vignette.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise InvalidInputError(f"invalid input: {folder}: not a directory", path=str(folder),
                                value=str(folder))
    out: list[Vignette] = []
    seen: dict[str, str] = {}
    for file in sorted(folder.glob("*.json")):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"invalid input: {file.name}: not valid JSON: {err.msg} "
                                    f"(line {err.lineno})", path=f"{file.name}:$",
                                    value=None) from err
        vignette = Vignette.from_dict(data, path=file.name)
        if vignette.id in seen:
            raise InvalidInputError(f"invalid input: {file.name}: id: duplicate of "
                                    f"{seen[vignette.id]}", path=f"{file.name}:id",
                                    value=vignette.id)
        seen[vignette.id] = file.name
        out.append(vignette)
    if not out:
        raise InvalidInputError(f"invalid input: {folder}: no *.json vignettes",
                                path=str(folder), value=str(folder))
    return tuple(out)
