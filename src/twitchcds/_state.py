"""Process-wide state: each knowledge base compiled once, at the public boundary.

The public entry points (:func:`twitchcds.assess`, :func:`twitchcds.assess_many` and the
front ends built on them) call :func:`compiled_model` and hand the model to every stage
explicitly; nothing below them looks anything up here. The other process-wide cache is the
built-in knowledge base itself (:func:`twitchcds.knowledge.loader.builtin_knowledge_base`,
re-exported here). Both hold immutable objects, so sharing them between threads is safe.
"""

from __future__ import annotations

import threading
import weakref

from twitchcds.compiled import CompiledModel, compile_model
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.loader import builtin_knowledge_base

__all__ = ["builtin_knowledge_base", "compiled_model"]

_lock = threading.Lock()
_compiled: dict[int, tuple[weakref.ref[KnowledgeBase], CompiledModel]] = {}


def compiled_model(kb: KnowledgeBase | None = None) -> CompiledModel:
    """Return ``kb`` compiled (the built-in knowledge base when ``None``), once per ``kb``.

    Keyed by identity (hashing a knowledge base by value costs more than compiling it). The
    model does not refer to its knowledge base, so the entry is dropped when the knowledge base
    is garbage-collected (before its identity can be reused).

    Examples
    --------
    >>> compiled_model() is compiled_model(builtin_knowledge_base())
    True
    """
    kb = builtin_knowledge_base() if kb is None else kb
    key = id(kb)
    hit = _compiled.get(key)
    if hit is not None and hit[0]() is kb:
        return hit[1]
    model = compile_model(kb)

    def forget(_ref: weakref.ref[KnowledgeBase]) -> None:
        _compiled.pop(key, None)

    with _lock:  # a race compiles twice at worst; both models are equal
        _compiled[key] = (weakref.ref(kb, forget), model)
    return model
