"""Process-wide state: the built-in knowledge base, and values derived once per knowledge base.

This is the only module of twitchcds that holds state. Cached objects are immutable, so sharing
them between threads is safe; the lock only avoids loading the knowledge base twice when threads
race on first use.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["Lru", "builtin_knowledge_base", "per_knowledge_base"]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A small thread-safe map that drops its least recently used entries past ``size``.

    For values that are pure functions of their key (memos), so a dropped entry is only
    recomputed.

    Examples
    --------
    >>> memo = Lru(2)
    >>> memo.put("a", 1); memo.put("b", 2); memo.get("a"); memo.put("c", 3)
    1
    >>> memo.get("b") is None, memo.get("a"), len(memo)
    (True, 1, 2)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        """Return the value of ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used entry past ``size``."""
        with self._lock:
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)

_derived: dict[tuple[int, Callable[..., Any]], tuple[weakref.ref[KnowledgeBase], Any]] = {}


def per_knowledge_base(kb: KnowledgeBase, build: Callable[[KnowledgeBase], T]) -> T:
    """``build(kb)``, computed once per live knowledge base and dropped with it.

    Keyed by identity (hashing a knowledge base by value would cost more than most builds), so
    the value must depend only on ``kb`` and be immutable, or be a memo (:class:`Lru`) of
    values that depend only on ``kb`` and their key. It must not refer to ``kb`` (that would
    keep ``kb`` alive as long as the process).

    Examples
    --------
    >>> def condition_ids(kb):
    ...     return tuple(c.id for c in kb.conditions)
    >>> kb = builtin_knowledge_base()
    >>> per_knowledge_base(kb, condition_ids) is per_knowledge_base(kb, condition_ids)
    True
    """
    key = (id(kb), build)
    hit = _derived.get(key)
    if hit is not None and hit[0]() is kb:
        return cast("T", hit[1])
    value = build(kb)

    def forget(_ref: weakref.ref[KnowledgeBase]) -> None:
        _derived.pop(key, None)

    _derived[key] = (weakref.ref(kb, forget), value)
    return value



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
