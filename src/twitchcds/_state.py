"""Process-wide state: the one cached, immutable built-in knowledge base.

This is the only module of twitchcds that holds state. The cached object is frozen, so sharing it
between threads is safe; the lock only avoids loading it twice when threads race on first use.
"""

from __future__ import annotations

import threading

from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["builtin_knowledge_base"]

_lock = threading.Lock()
_builtin: KnowledgeBase | None = None


def builtin_knowledge_base() -> KnowledgeBase:
    """Return the built-in knowledge base, loading and validating it on first use."""
    global _builtin  # noqa: PLW0603  (the one deliberate cache of the library)
    if _builtin is None:
        with _lock:
            if _builtin is None:
                from twitchcds.knowledge.loader import load_knowledge_base  # noqa: PLC0415
                from twitchcds.knowledge.validation import raise_for_errors  # noqa: PLC0415

                loaded = load_knowledge_base(None, validate=False)
                raise_for_errors(loaded)  # cache only a knowledge base that passed validation
                _builtin = loaded
    return _builtin
