"""Guarded imports of optional dependencies (private).

Third-party packages behind extras (``fhir``, ``serve``, ``phenopackets``) are imported only when a
function needs them, so ``import twitchcds`` works without them.

Examples
--------
>>> require("json", "fhir").__name__
'json'
>>> require("no_such_module_for_twitchcds", "fhir")
Traceback (most recent call last):
...
twitchcds.interop._extras.MissingExtraError: this feature needs ...: pip install "twitchcds[fhir]"
"""

from __future__ import annotations

import importlib
from types import ModuleType

from twitchcds.errors import TwitchCDSError

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(TwitchCDSError, ImportError):  # type: ignore[misc]  # both have .path
    """Raised when a feature needs an optional dependency that is not installed.

    The message names the extra to install, e.g. ``pip install "twitchcds[fhir]"``.
    """

    prefix = "missing optional dependency"


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra``.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"fhir.resources.R4B"``.
    extra : str
        The twitchcds extra that installs it, e.g. ``"fhir"``.

    Returns
    -------
    module
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".", 1)[0]
        msg = (f"this feature needs the optional dependency {top!r}: "
               f'pip install "twitchcds[{extra}]"')
        raise MissingExtraError(msg, path="$", value=module) from None
