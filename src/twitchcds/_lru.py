"""A small thread-safe least-recently-used memo, for values that are pure functions of their key.

Examples
--------
>>> memo = Lru(2)
>>> memo.put("a", 1); memo.put("b", 2); memo.get("a"); memo.put("c", 3)
1
>>> memo.get("b") is None, memo.get("a"), len(memo)
(True, 1, 2)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["Lru"]

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A small thread-safe map that drops its least recently used entries past ``size``.

    For values that are pure functions of their key (memos), so a dropped entry is only
    recomputed.
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
