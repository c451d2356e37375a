"""A bounded, expiring, in-memory store of report pages for the service (private).

The CDS Hooks card links to the report page of the assessment behind it. The page holds what
the EHR sent about the patient, so the store is off unless configured, lives in memory only
(never written to disk or logged), holds at most ``capacity`` pages (the oldest goes first) and
forgets each one ``ttl_seconds`` after it was made. Pages are found by a random, unguessable
token (:func:`secrets.token_urlsafe`, 192 bits) that says nothing about the patient; the route
that serves them sits behind the service's authentication like every other route.

Examples
--------
>>> now = [0.0]
>>> store = ReportStore(capacity=2, ttl_seconds=60, clock=lambda: now[0])
>>> a, b, c = store.put("<p>a</p>"), store.put("<p>b</p>"), store.put("<p>c</p>")
>>> store.get(a) is None, store.get(c)
(True, '<p>c</p>')
>>> now[0] = 61.0
>>> store.get(c) is None, len(store)
(True, 0)
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from twitchcds.errors import ConfigurationError

__all__ = ["ReportStore"]


class ReportStore:
    """At most ``capacity`` pages, each kept for ``ttl_seconds`` (thread-safe)."""

    def __init__(self, capacity: int, ttl_seconds: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if type(capacity) is not int or capacity < 1:
            raise ConfigurationError("report store capacity must be a positive integer",
                                     path="report_pages", value=capacity)
        if not 0 < ttl_seconds <= 86400:
            raise ConfigurationError("report time-to-live must be in (0, 86400] seconds",
                                     path="report_ttl_seconds", value=ttl_seconds)
        self._capacity, self._ttl, self._clock = capacity, float(ttl_seconds), clock
        self._pages: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._pages:
            token, (expires, _) = next(iter(self._pages.items()))
            if expires > now:
                break
            del self._pages[token]

    def put(self, page: str) -> str:
        """Keep ``page``; return its token."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = self._clock()
            self._expire(now)
            while len(self._pages) >= self._capacity:
                self._pages.popitem(last=False)
            self._pages[token] = (now + self._ttl, page)
        return token

    def get(self, token: str) -> str | None:
        """Return the page of ``token``, or ``None`` when unknown or expired."""
        with self._lock:
            self._expire(self._clock())
            found = self._pages.get(token)
        return None if found is None else found[1]

    def __len__(self) -> int:
        """Return the number of pages held now."""
        with self._lock:
            self._expire(self._clock())
            return len(self._pages)
