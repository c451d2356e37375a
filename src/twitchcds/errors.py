"""Exceptions raised by twitchcds.

Every error the library raises on bad input derives from :class:`TwitchCDSError` and also from the
closest builtin, so ``except ValueError`` keeps working for callers who do not know this library.
Each error carries the JSON path of the offending field (``path``) and the value that arrived
(``value``); errors that collect several problems list them in ``problems``.

Examples
--------
>>> from twitchcds.errors import InvalidCaseError, Problem
>>> err = InvalidCaseError.from_problems([Problem("$.age", "must be a number", "44")])
>>> str(err)
"invalid case: $.age: must be a number (got '44')"
>>> isinstance(err, ValueError)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Self

from attrs import frozen

__all__ = [
    "ConfigurationError",
    "ContradictionError",
    "InvalidCaseError",
    "InvalidInputError",
    "KnowledgeBaseError",
    "Problem",
    "TwitchCDSError",
    "UnitConversionError",
    "UnknownCodeError",
]

_MAX_VALUE_CHARS = 60
_MAX_PROBLEMS_SHOWN = 20
"""The message lists this many problems; ``problems`` always holds all of them."""


def _show(value: Any) -> str:
    """Render a value for a message, shortened so that huge payloads do not flood logs."""
    text = repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


_NO_VALUE: Any = object()


@frozen
class Problem:
    """One thing wrong with an input, located by a JSON path (or file and key path).

    Examples
    --------
    >>> str(Problem("$.labs[0].unit", "cannot convert unit to mmol/L", "kg"))
    "$.labs[0].unit: cannot convert unit to mmol/L (got 'kg')"
    """

    path: str
    message: str
    value: Any = _NO_VALUE

    def __str__(self) -> str:
        """Return ``path: message (got value)``."""
        if self.value is _NO_VALUE:
            return f"{self.path}: {self.message}"
        return f"{self.path}: {self.message} (got {_show(self.value)})"


class TwitchCDSError(Exception):
    """Base class of every error twitchcds raises on bad input.

    Attributes
    ----------
    path : str
        JSON path (``$.labs[0].unit``) or ``file:key`` of the first problem.
    value : object
        The value that arrived at ``path`` (``None`` when there is none).
    problems : tuple of Problem
        Every problem found, so a payload can be fixed in one round.
    """

    prefix = "error"

    def __init__(self, message: str, *, path: str = "$", value: Any = None,
                 problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.value = value
        self.problems: tuple[Problem, ...] = tuple(problems) or (Problem(path, message, value),)

    @classmethod
    def from_problems(cls, problems: Iterable[Problem]) -> Self:
        """Build one error listing every problem; ``path``/``value`` are the first problem's."""
        items = tuple(problems)
        if not items:
            msg = "from_problems needs at least one problem"
            raise ValueError(msg)
        first = items[0]
        text = "; ".join(str(p) for p in items[:_MAX_PROBLEMS_SHOWN])
        if len(items) > _MAX_PROBLEMS_SHOWN:
            text += f"; and {len(items) - _MAX_PROBLEMS_SHOWN} more problems"
        value = None if first.value is _NO_VALUE else first.value
        return cls(f"{cls.prefix}: {text}", path=first.path, value=value, problems=items)


class InvalidInputError(TwitchCDSError, ValueError):
    """Raised when an input document (case, bundle, request) is malformed.

    Wrong type, unknown key, impossible value, missing required field.
    """

    prefix = "invalid input"


class InvalidCaseError(InvalidInputError):
    """Raised when a Case v1 payload breaks the contract (DESIGN section 5)."""

    prefix = "invalid case"


class UnknownCodeError(InvalidInputError):
    """Raised when a finding id, code, LOINC or setting is not known to the knowledge base."""

    prefix = "unknown code"


class UnitConversionError(InvalidInputError):
    """Raised when a lab unit cannot be parsed or converted to the analyte's unit."""

    prefix = "unit conversion"


class ContradictionError(InvalidInputError):
    """Raised when a finding is both present and absent, directly or through history or labs."""

    prefix = "contradiction"


class KnowledgeBaseError(TwitchCDSError, ValueError):
    """Raised when knowledge-base files are malformed or fail validation; paths are ``file:key``."""

    prefix = "invalid knowledge base"


class ConfigurationError(TwitchCDSError, ValueError):
    """Raised when a service configuration (options or file) is unusable or unsafe.

    For example an authentication file naming an HMAC algorithm, an issuer without a JWK Set, or
    ``twitchcds serve`` asked to listen beyond loopback without authentication. ``path`` is
    ``file:key`` (``auth.toml:issuers[0].jku[0]``) or the option's name.
    """

    prefix = "invalid configuration"
