"""CDS Hooks client authentication: JWT verification, JWK Sets, replay cache, audit (private).

Every call (discovery included) must carry ``Authorization: Bearer <JWT>`` as the CDS Hooks
specification's "Trusting CDS Clients" section requires. :class:`Verifier` checks, in order: the
header shape; ``alg`` on the allowlist (never ``none`` or HMAC); ``typ`` is ``JWT``; ``kid``;
``iss`` a trusted issuer; ``jku`` (if any) on that issuer's allowlist; the key found by ``kid``;
the signature (PyJWT); ``aud`` equal to the URL called; ``exp``, ``iat`` and ``nbf`` within the
clock skew; ``jti`` present and never seen before from that issuer. A refusal is an
:class:`AuthError`, which :class:`AuthMiddleware` turns into 401 with a JSON error and a
``WWW-Authenticate`` header. Neither tokens nor request bodies are logged; the optional audit
line (logger ``twitchcds.audit``) names the caller, route, outcome and reason only.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from attrs import frozen

from twitchcds.errors import ConfigurationError
from twitchcds.interop._auth_config import AuthConfig, TrustedIssuer
from twitchcds.interop._extras import require
from twitchcds.interop._jwks import FetchNeededError, Jwk, JwksCache, parse_jwks

__all__ = ["AUDIT_LOGGER", "AuthError", "AuthMiddleware", "Caller", "ReplayCache", "Verifier",
           "open_audit_log"]

AUDIT_LOGGER: Final = "twitchcds.audit"
"""Name of the logger audit lines go to (silent unless the application configures it)."""

_MAX_TOKEN_CHARS: Final = 16_384
_TOKEN_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_BARE: Final = _TOKEN_CHARS | frozenset(":/@+")
_KEY_TYPES: Final = {"ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
                     "EdDSA": ("OKP", None)} | {f"{p}{n}": ("RSA", None)
                                               for p in ("RS", "PS") for n in (256, 384, 512)}


class AuthError(Exception):
    """A request is refused: ``message`` names the problem, ``path`` where (internal)."""

    def __init__(self, message: str, path: str, *, status: int = 401,
                 error: str | None = "invalid_token") -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.status = status
        self.error = error


@frozen
class Caller:
    """Who called, from a verified token: issuer, key, nonce and the optional tenant."""

    iss: str
    kid: str
    jti: str
    tenant: str | None


class ReplayCache:
    """``jti`` values seen per issuer, each kept until its token expires (thread-safe).

    Parameters
    ----------
    max_size : int
        Unexpired entries kept per issuer; a full cache refuses new tokens (429) rather than
        forget one that could then be replayed.

    Examples
    --------
    >>> cache = ReplayCache(max_size=2)
    >>> cache.add("https://ehr.example.org", "nonce-1", expires=100.0, now=0.0)
    >>> cache.add("https://ehr.example.org", "nonce-1", expires=100.0, now=1.0)
    Traceback (most recent call last):
    ...
    twitchcds.interop._auth.AuthError: token replayed: its jti was already used
    """

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._seen: dict[str, dict[str, float]] = {}
        self._expiries: dict[str, list[tuple[float, str]]] = {}
        self._lock = threading.Lock()

    def add(self, iss: str, jti: str, *, expires: float, now: float) -> None:
        """Remember ``jti`` from ``iss`` until ``expires``.

        Raises
        ------
        AuthError
            When it was seen before (401), or the issuer's cache is full (429).
        """
        with self._lock:
            seen = self._seen.setdefault(iss, {})
            heap = self._expiries.setdefault(iss, [])
            while heap and heap[0][0] < now:
                _, old = heapq.heappop(heap)
                seen.pop(old, None)
            if jti in seen:
                raise AuthError("token replayed: its jti was already used", "jwt.payload.jti")
            if len(seen) >= self._max_size:
                raise AuthError("too many unexpired tokens from this issuer; retry later",
                                "jwt.payload.jti", status=429, error=None)
            seen[jti] = expires
            heapq.heappush(heap, (expires, jti))


def _quote(value: Any) -> str:
    """Show a client-supplied value safely in a message and a header (printable, short)."""
    text = "".join(c if c.isprintable() and c not in '"\\' else "?" for c in str(value))
    return f"'{text[:80]}'"


def _number(payload: Mapping[str, Any], name: str) -> float:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError(f"token payload {name} is missing or not a finite number",
                        f"jwt.payload.{name}")
    return float(value)


class Verifier:
    """Check CDS Hooks bearer tokens against an :class:`AuthConfig`.

    Parameters
    ----------
    config : AuthConfig
        Trusted issuers and rules.
    clock : callable
        Returns the time in seconds (``time.time``); tests pass a fixed clock.

    Raises
    ------
    ConfigurationError
        When an issuer's ``jwks_file`` cannot be read or is not a JWK Set.
    """

    def __init__(self, config: AuthConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._jwt = require("jwt", "serve")
        self._clock = clock
        self._issuers = {issuer.iss: issuer for issuer in config.issuers}
        self._files: dict[str, dict[str, Jwk]] = {}
        for i, issuer in enumerate(config.issuers):
            if issuer.jwks_file is not None:
                try:
                    data = json.loads(issuer.jwks_file.read_text(encoding="utf-8"))
                    self._files[issuer.iss] = parse_jwks(data)
                except (OSError, ValueError) as exc:
                    raise ConfigurationError(
                        f"issuers[{i}].jwks_file: {issuer.jwks_file}: {exc}",
                        path=f"issuers[{i}].jwks_file", value=str(issuer.jwks_file)) from None
        self.jwks = JwksCache(config.jwks_cache_seconds, config.jwks_timeout_seconds, clock)
        self.replay = ReplayCache(config.replay_cache_size)

    def verify(self, authorization: str | None, url: str, *, allow_fetch: bool = True) -> Caller:
        """Return the caller named by a valid ``Authorization`` header for a call to ``url``.

        Parameters
        ----------
        authorization : str or None
            The header's value (None when absent).
        url : str
            The URL called (public base URL + path): ``aud`` must hold exactly this.
        allow_fetch : bool
            When false, raise an internal ``FetchNeededError`` instead of fetching a JWK Set
            (the middleware then retries in a worker thread).

        Raises
        ------
        AuthError
            Naming the first problem found.
        """
        token = self._bearer(authorization)
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError("token is not a well-formed JWT (base64url JSON header.payload."
                            "signature)", "Authorization") from None
        alg, kid = self._check_header(header)
        issuer = self._issuer(claims)
        key = self._key(issuer, header, kid, allow_fetch=allow_fetch)
        kty, crv = _KEY_TYPES[alg]
        if key.kty != kty or (crv is not None and key.crv != crv) or key.alg not in {None, alg}:
            raise AuthError(f"key {_quote(kid)} is not a key for alg {alg}", "jwt.header.kid")
        try:  # the checks below read the verified claims (the same bytes as above)
            claims = jwt.decode(token, key.key, algorithms=[alg], options={
                "verify_exp": False, "verify_iat": False, "verify_nbf": False,
                "verify_aud": False, "verify_iss": False, "enforce_minimum_key_length": True})
        except jwt.InvalidSignatureError:
            raise AuthError("signature verification failed", "Authorization") from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(f"token rejected: {type(exc).__name__}", "Authorization") from None
        expires = self._check_claims(claims, url)
        self.replay.add(issuer.iss, claims["jti"], expires=expires, now=self._clock())
        tenant = claims.get("tenant")
        return Caller(issuer.iss, kid, claims["jti"], tenant if isinstance(tenant, str) else None)

    @staticmethod
    def _bearer(authorization: str | None) -> str:
        if authorization is None:
            raise AuthError("missing Authorization header: CDS Hooks calls need "
                            "'Authorization: Bearer <JWT>'", "Authorization", error=None)
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise AuthError("Authorization header is not a Bearer token", "Authorization",
                            error=None)
        token = token.strip()
        if not token or len(token) > _MAX_TOKEN_CHARS or not _TOKEN_CHARS.issuperset(token):
            raise AuthError("token is not a well-formed JWT (base64url JSON header.payload."
                            "signature)", "Authorization")
        return token

    def _check_header(self, header: Mapping[str, Any]) -> tuple[str, str]:
        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise AuthError("token header alg is missing", "jwt.header.alg")
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            kind = "unsigned" if alg.lower() == "none" else "symmetric (HMAC)"
            raise AuthError(f"alg {_quote(alg)} is forbidden: {kind} tokens are never accepted",
                            "jwt.header.alg")
        if alg not in self.config.algorithms:
            raise AuthError(f"alg {_quote(alg)} is not accepted (accepted: "
                            f"{', '.join(self.config.algorithms)})", "jwt.header.alg")
        if header.get("typ") != "JWT":
            raise AuthError("token header typ must be 'JWT'", "jwt.header.typ")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token header kid is missing", "jwt.header.kid")
        return alg, kid

    def _issuer(self, claims: Mapping[str, Any]) -> TrustedIssuer:
        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthError("token payload iss is missing", "jwt.payload.iss")
        if iss not in self._issuers:
            raise AuthError(f"issuer {_quote(iss)} is not trusted", "jwt.payload.iss")
        return self._issuers[iss]

    def _key(self, issuer: TrustedIssuer, header: Mapping[str, Any], kid: str, *,
             allow_fetch: bool) -> Jwk:
        jku = header.get("jku")
        keys: Mapping[str, Jwk] | str | None
        if jku is not None:
            if not isinstance(jku, str) or jku not in issuer.allowed_jku:
                raise AuthError(f"jku {_quote(jku)} is not on the allowlist for this issuer",
                                "jwt.header.jku")
            keys = self.jwks.keys(jku, kid, allow_fetch=allow_fetch)
        elif issuer.jwks_url is not None:
            keys = self.jwks.keys(issuer.jwks_url, kid, allow_fetch=allow_fetch)
        else:
            keys = self._files.get(issuer.iss)
        if keys is None:
            raise AuthError("token header jku is missing and no JWK Set is configured for "
                            "this issuer", "jwt.header.jku")
        if isinstance(keys, str):
            raise AuthError(f"could not fetch the issuer's JWK Set: {keys}", "jwt.header.jku")
        if kid not in keys:
            raise AuthError(f"unknown kid {_quote(kid)}: no such key in the issuer's JWK Set",
                            "jwt.header.kid")
        return keys[kid]

    def _check_claims(self, claims: Mapping[str, Any], url: str) -> float:
        """Check aud, times and jti; return when the token expires (replay cache lifetime)."""
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if url not in auds:
            raise AuthError(f"aud does not match the URL called ({url})", "jwt.payload.aud")
        now, skew = self._clock(), self.config.clock_skew_seconds
        exp, iat = _number(claims, "exp"), _number(claims, "iat")
        if exp < now - skew:
            raise AuthError("token expired (exp is past)", "jwt.payload.exp")
        if iat > now + skew:
            raise AuthError("token not yet valid (iat is in the future beyond the clock skew)",
                            "jwt.payload.iat")
        if "nbf" in claims and _number(claims, "nbf") > now + skew:
            raise AuthError("token not yet valid (nbf is in the future)", "jwt.payload.nbf")
        if exp > now + self.config.max_token_lifetime_seconds + skew:
            raise AuthError("token expires too far ahead (exp beyond "
                            f"{self.config.max_token_lifetime_seconds:g} s)", "jwt.payload.exp")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise AuthError("token payload jti is missing (a nonce against replay)",
                            "jwt.payload.jti")
        if "tenant" in claims and not isinstance(claims["tenant"], str):
            raise AuthError("token payload tenant must be a string", "jwt.payload.tenant")
        return exp + skew


def _logfmt(value: Any) -> str:
    """Render a logfmt value: bare when a simple word, else a JSON string (controls escaped)."""
    text = str(value)
    return text if text and _BARE.issuperset(text) else json.dumps(text)


def _header_value(text: str) -> str:
    """RFC 6750 error_description: printable ASCII without quote or backslash."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)[:300]


class AuthMiddleware:
    """ASGI middleware: verify every HTTP call before the routes see it; optionally audit it.

    CORS preflights never reach it (the CORS middleware outside answers them). A refusal is
    ``{"error": message, "path": where}`` with 401 and ``WWW-Authenticate: Bearer``
    (``error="invalid_token"`` and an ``error_description`` when a token was presented, per
    RFC 6750), or 429 when the issuer's replay cache is full.

    Parameters
    ----------
    app : ASGI application
    verifier : Verifier or None
        None: calls are not authenticated (loopback development); audit lines say ``auth=off``.
    audit : bool
        Write one line per call to the ``twitchcds.audit`` logger at INFO.
    """

    def __init__(self, app: Any, verifier: Verifier | None, *, audit: bool) -> None:
        self.app = app
        self.verifier = verifier
        self.audit = audit
        self._responses = require("starlette.responses", "serve")
        self._to_thread = require("anyio.to_thread", "serve")
        self._log = logging.getLogger(AUDIT_LOGGER)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Handle one ASGI event (HTTP calls are verified; lifespan passes through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        caller = None
        if self.verifier is not None:
            values = [v for k, v in scope["headers"] if k == b"authorization"]
            authorization = values[0].decode("latin-1") if len(values) == 1 else None
            if len(values) > 1:
                authorization = "multiple Authorization headers"  # refused as not Bearer
            url = self.verifier.config.public_url + scope["path"]
            try:
                try:
                    caller = self.verifier.verify(authorization, url, allow_fetch=False)
                except FetchNeededError:  # network: off the event loop
                    caller = await self._to_thread.run_sync(self.verifier.verify,
                                                            authorization, url)
            except AuthError as exc:
                await self._refuse(exc)(scope, receive, send)
                self._audit(scope, None, exc.status, exc.message)
                return
        if not self.audit:
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_see(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            self._audit(scope, caller, status, None)

    def _refuse(self, exc: AuthError) -> Any:
        challenge = 'Bearer realm="twitchcds"'
        if exc.error is not None:
            challenge += (f', error="{exc.error}", '
                          f'error_description="{_header_value(exc.message)}"')
        headers = {"WWW-Authenticate": challenge} if exc.status == 401 else {"Retry-After": "60"}
        return self._responses.JSONResponse({"error": exc.message, "path": exc.path},
                                            status_code=exc.status, headers=headers)

    def _audit(self, scope: Any, caller: Caller | None, status: int, reason: str | None) -> None:
        if not self.audit or not self._log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client") or ("-", 0)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        fields: dict[str, Any] = {
            "time": stamp, "auth": "off" if self.verifier is None else
            "refused" if caller is None else "verified",
            "status": status, "method": scope.get("method", "-"),
            "path": str(scope.get("path", "-"))[:200], "client": client[0]}
        if caller is not None:
            fields |= {"iss": caller.iss, "tenant": caller.tenant, "kid": caller.kid,
                       "jti": caller.jti}
        if reason is not None:
            fields["reason"] = reason
        line = " ".join(f"{k}={_logfmt(v)}" for k, v in fields.items() if v is not None)
        self._log.info("%s", line, extra={"audit": fields})


def open_audit_log(path: str | Path) -> logging.Handler:
    """Send ``twitchcds.audit`` lines (INFO) to the file ``path``, appending; return the handler.

    Called by ``twitchcds serve`` when an audit log is configured; the library configures no
    logging otherwise. Calling it again for the same file adds no second handler.
    """
    logger = logging.getLogger(AUDIT_LOGGER)
    target = str(Path(path).resolve())
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == target:
            return handler
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler
