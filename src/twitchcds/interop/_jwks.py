"""JSON Web Key Sets of trusted CDS clients: parsing and a fetch cache (private).

A client's public keys come from a JWK Set exchanged out of band (a file) or fetched from an
allowlisted URL (the token's ``jku``, or one configured). Fetching uses a timeout, a size limit
and no redirects; a fetched set is kept for a bounded lifetime, and an unknown ``kid`` fetches
again at most every 30 seconds so a rotated key is picked up without hammering the client.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Final

from attrs import frozen

from twitchcds.interop._extras import require

__all__ = ["FetchNeededError", "Jwk", "JwksCache", "parse_jwks"]

_MAX_JWKS_BYTES: Final = 1 << 20
_MIN_REFETCH_SECONDS: Final = 30.0
"""An unknown ``kid`` refetches a JWK Set at most this often (key rotation without hammering)."""
_PRIVATE_PARTS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


class FetchNeededError(Exception):
    """A JWK Set must be fetched over the network (the caller retries off the event loop)."""


@frozen
class Jwk:
    """One public signature key: its ``kid``, type, curve, optional ``alg`` and key object."""

    kid: str
    kty: str
    crv: str | None
    alg: str | None
    key: Any


def parse_jwks(data: Any) -> dict[str, Jwk]:
    """Return the signature keys of a JWK Set by ``kid``.

    Symmetric (``oct``) keys, keys for encryption (``use`` other than ``sig``) and keys without
    ``kid`` are left out; private parts are dropped.

    Raises
    ------
    ValueError
        When ``data`` is not a JWK Set, a key is unusable, or a ``kid`` repeats.
    """
    jwt = require("jwt", "serve")
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        msg = 'not a JWK Set: expected {"keys": [...]}'
        raise ValueError(msg)
    keys: dict[str, Jwk] = {}
    for i, jwk in enumerate(data["keys"]):
        if not isinstance(jwk, dict):
            msg = f"keys[{i}] is not an object"
            raise ValueError(msg)
        kid, kty = jwk.get("kid"), jwk.get("kty")
        if not isinstance(kid, str) or kty == "oct" or jwk.get("use", "sig") != "sig":
            continue
        if kid in keys:
            msg = f"keys[{i}]: kid {kid!r} repeats"
            raise ValueError(msg)
        public = {k: v for k, v in jwk.items() if k not in _PRIVATE_PARTS}
        try:
            key = jwt.PyJWK(public).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError, ValueError, TypeError) as exc:
            msg = f"keys[{i}] (kid {kid!r}) is not a usable public key: {exc}"
            raise ValueError(msg) from None
        keys[kid] = Jwk(kid, str(kty), jwk.get("crv"), jwk.get("alg"), key)
    return keys


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A JWK Set URL is allowlisted exactly: a redirect elsewhere is not followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class JwksCache:
    """JWK Sets fetched from allowlisted URLs, each kept for a bounded lifetime (thread-safe).

    Parameters
    ----------
    lifetime : float
        Seconds a fetched set is used before it is fetched again.
    timeout : float
        Connect and read timeout in seconds.
    clock : callable
        Returns the time in seconds (``time.time``).
    """

    def __init__(self, lifetime: float, timeout: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._lifetime = lifetime
        self._timeout = timeout
        self._clock = clock
        self._sets: dict[str, tuple[float, dict[str, Jwk] | str]] = {}
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(_NoRedirect)

    def keys(self, url: str, kid: str, *, allow_fetch: bool) -> Mapping[str, Jwk] | str:
        """Return the keys at ``url`` by ``kid``, or why they could not be fetched.

        The set is fetched when none is cached, when the cached one is older than ``lifetime``,
        or when it lacks ``kid`` and is older than 30 seconds (the client rotated its keys).
        A failure is remembered for 30 seconds, so a failing URL is not fetched on every call.

        Raises
        ------
        FetchNeededError
            When a fetch is due and ``allow_fetch`` is false.
        """
        now = self._clock()
        with self._lock:
            fetched_at, keys = self._sets.get(url, (float("-inf"), {}))
        age = now - fetched_at
        retry = (isinstance(keys, str) or kid not in keys) and age >= _MIN_REFETCH_SECONDS
        if age >= self._lifetime or retry:
            if not allow_fetch:
                raise FetchNeededError
            keys = self._fetch(url)
            with self._lock:
                self._sets[url] = (now, keys)
        return keys

    def _fetch(self, url: str) -> dict[str, Jwk] | str:
        """Fetch the keys at ``url``; on failure return the reason (short, no body)."""
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                body = response.read(_MAX_JWKS_BYTES + 1)
            if len(body) > _MAX_JWKS_BYTES:
                return f"larger than {_MAX_JWKS_BYTES} bytes"
            return parse_jwks(json.loads(body))
        except (OSError, ValueError, RecursionError) as exc:  # URLError, HTTPError, timeout, JSON
            return type(exc).__name__ if not isinstance(exc, ValueError) else str(exc)[:120]
