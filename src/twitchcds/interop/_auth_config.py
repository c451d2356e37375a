"""Configuration of CDS Hooks client authentication: trusted issuers and token rules (private).

The CDS Hooks specification ("Trusting CDS Clients") has every call carry a JWT signed by the
EHR's private key; the service keeps an allowlist of issuers (``iss``) and of the JWK Set URLs
(``jku``) it fetches their public keys from. :class:`AuthConfig` is that allowlist plus the rules
tokens are checked by; it is read from a TOML file (:meth:`AuthConfig.from_toml`) or built from
``twitchcds serve`` options (:func:`build_auth_config`). Every problem in a file is reported at
once as a :class:`~twitchcds.errors.ConfigurationError` naming ``file:key``.

Examples
--------
>>> config = AuthConfig.from_dict({
...     "public_url": "https://cds.example.org/",
...     "issuers": [{"iss": "https://fhir-ehr.example.com/",
...                  "jku": ["https://fhir-ehr.example.com/jwk_uri"]}]})
>>> config.public_url, config.algorithms
('https://cds.example.org', ('ES384', 'RS384'))
>>> AuthConfig.from_dict({"public_url": "https://cds.example.org", "algorithms": ["HS256"],
...                       "issuers": []}, source="auth.toml")
Traceback (most recent call last):
...
twitchcds.errors.ConfigurationError: invalid configuration: auth.toml:algorithms[0]: ...
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Self
from urllib.parse import urlsplit

from attrs import evolve, field, fields, frozen

from twitchcds.errors import ConfigurationError, Problem

__all__ = ["ASYMMETRIC_ALGORITHMS", "DEFAULT_ALGORITHMS", "AuthConfig", "TrustedIssuer",
           "build_auth_config", "check_listen", "is_loopback"]

ASYMMETRIC_ALGORITHMS: Final = frozenset({
    "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"})
"""Algorithms a configuration may accept: asymmetric signatures only (never ``none`` or HMAC)."""

DEFAULT_ALGORITHMS: Final = ("ES384", "RS384")
"""The two algorithms the specification recommends; others only when configured."""

_LIMITS: Final[dict[str, tuple[float, float]]] = {
    "clock_skew_seconds": (0, 300),
    "max_token_lifetime_seconds": (1, 86_400),
    "replay_cache_size": (1, 10_000_000),
    "jwks_cache_seconds": (1, 86_400),
    "jwks_timeout_seconds": (0.1, 60),
}


def is_loopback(host: str) -> bool:
    """Return whether ``host`` names the loopback interface only.

    Examples
    --------
    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "cds.example.org")]
    [True, True, True, False, False]
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _url_problem(url: Any) -> str | None:
    """Why ``url`` cannot be a service or JWK Set URL (https, or http on loopback), or None."""
    if not isinstance(url, str) or not url:
        return "must be a non-empty URL string"
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return "must be an absolute https:// URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "must use https (plain http is accepted for loopback hosts only)"
    if parts.query or parts.fragment or parts.username:
        return "must not hold a query, fragment or user name"
    return None


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _issuers(value: Any) -> tuple[TrustedIssuer, ...]:
    return tuple(value)


def _optional_path(value: Any) -> Path | None:
    return None if value is None else Path(value)


def _strip_slash(value: Any) -> Any:
    return value.rstrip("/") if isinstance(value, str) else value


@frozen
class TrustedIssuer:
    """One CDS client (EHR) allowed to call, and where its public keys are.

    Parameters
    ----------
    iss : str
        The exact ``iss`` claim of its tokens.
    jwks_file : Path, optional
        A JWK Set exchanged out of band, for tokens without a ``jku`` header.
    jwks_url : str, optional
        A JWK Set URL configured out of band, for tokens without ``jku``; also allowlisted as a
        ``jku`` value.
    jku : tuple of str
        ``jku`` header values accepted from this issuer (exact URLs, fetched when used).
    """

    iss: str
    jwks_file: Path | None = field(default=None, converter=_optional_path)
    jwks_url: str | None = None
    jku: tuple[str, ...] = field(default=(), converter=_as_tuple)

    @property
    def allowed_jku(self) -> frozenset[str]:
        """The ``jku`` URLs this issuer's tokens may name."""
        return frozenset(self.jku) | ({self.jwks_url} if self.jwks_url else set())

    def problems(self, where: str) -> list[Problem]:
        """Return what is wrong with this issuer, paths under ``where``."""
        found = []
        if not isinstance(self.iss, str) or not self.iss:
            found.append(Problem(f"{where}.iss", "must be a non-empty string", self.iss))
        if self.jwks_file is None and self.jwks_url is None and not self.jku:
            found.append(Problem(where, "needs its keys: jwks_file, jwks_url or jku"))
        if self.jwks_file is not None and self.jwks_url is not None:
            found.append(Problem(where, "give jwks_file or jwks_url, not both"))
        urls = [("jwks_url", self.jwks_url)] if self.jwks_url is not None else []
        urls += [(f"jku[{i}]", url) for i, url in enumerate(self.jku)]
        for name, url in urls:
            if (why := _url_problem(url)) is not None:
                found.append(Problem(f"{where}.{name}", why, url))
        return found


@frozen
class AuthConfig:
    """Who may call the CDS Hooks service and how their tokens are checked.

    Parameters
    ----------
    public_url : str
        The service's public base URL as the EHR calls it (``https://cds.example.org``, or with
        a path prefix behind a proxy); ``aud`` must equal this plus the route
        (``/cds-services/twitchcds``). A trailing ``/`` is dropped.
    issuers : tuple of TrustedIssuer
        The allowlist; a token from any other ``iss`` is refused.
    algorithms : tuple of str
        Accepted ``alg`` values (default ES384, RS384); asymmetric ones only: ES256/384/512,
        RS256/384/512, PS256/384/512, EdDSA.
    clock_skew_seconds : float
        Tolerance for ``exp``, ``iat`` and ``nbf`` against this server's clock (default 60).
    max_token_lifetime_seconds : float
        Tokens expiring further ahead are refused (default 300), which bounds how long a
        ``jti`` is remembered.
    replay_cache_size : int
        ``jti`` values remembered per issuer; when full of unexpired entries, new tokens from
        that issuer get 429 until some expire (default 100 000).
    jwks_cache_seconds : float
        How long a fetched JWK Set is used before it is fetched again (default 300).
    jwks_timeout_seconds : float
        Connect and read timeout for fetching a JWK Set (default 5).
    audit_log : Path, optional
        File the ``twitchcds.audit`` logger writes to under ``twitchcds serve``.

    Raises
    ------
    ConfigurationError
        Listing every unusable field.
    """

    public_url: str = field(converter=_strip_slash)
    issuers: tuple[TrustedIssuer, ...] = field(converter=_issuers)
    algorithms: tuple[str, ...] = field(default=DEFAULT_ALGORITHMS, converter=_as_tuple)
    clock_skew_seconds: float = 60
    max_token_lifetime_seconds: float = 300
    replay_cache_size: int = 100_000
    jwks_cache_seconds: float = 300
    jwks_timeout_seconds: float = 5
    audit_log: Path | None = field(default=None, converter=_optional_path)

    def __attrs_post_init__(self) -> None:
        """Check every field; raise one error listing all problems."""
        found = []
        if (why := _url_problem(self.public_url)) is not None:
            found.append(Problem("public_url", why, self.public_url))
        if not self.algorithms:
            found.append(Problem("algorithms", "must list at least one algorithm"))
        for i, alg in enumerate(self.algorithms):
            if alg not in ASYMMETRIC_ALGORITHMS:
                why = ("is forbidden: CDS Hooks tokens are signed with an asymmetric algorithm"
                       f" (one of {', '.join(sorted(ASYMMETRIC_ALGORITHMS))})")
                found.append(Problem(f"algorithms[{i}]", why, alg))
        for name, (low, high) in _LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    low <= value <= high):
                found.append(Problem(name, f"must be a number from {low:g} to {high:g}", value))
        if not isinstance(self.replay_cache_size, int):
            found.append(Problem("replay_cache_size", "must be an integer",
                                 self.replay_cache_size))
        seen: set[str] = set()
        for i, issuer in enumerate(self.issuers):
            found += issuer.problems(f"issuers[{i}]")
            if issuer.iss in seen:
                found.append(Problem(f"issuers[{i}].iss", "is listed twice", issuer.iss))
            seen.add(issuer.iss)
        if found:
            raise ConfigurationError.from_problems(found)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "auth",
                  base_dir: Path | None = None) -> Self:
        """Build a configuration from parsed TOML/JSON; relative ``jwks_file`` under ``base_dir``.

        Raises
        ------
        ConfigurationError
            Naming ``source:key`` for unknown keys, wrong types and bad values.
        """
        found: list[Problem] = []
        top = {f.name for f in fields(cls)}
        per_issuer = {f.name for f in fields(TrustedIssuer)}
        found += [Problem(f"{source}:{k}", "is not a known setting") for k in data if k not in top]
        if "public_url" not in data:
            found.append(Problem(f"{source}:public_url", "is required"))
        raw_issuers = data.get("issuers", [])
        if not isinstance(raw_issuers, list) or not all(isinstance(i, dict) for i in raw_issuers):
            found.append(Problem(f"{source}:issuers", "must be a list of tables ([[issuers]])"))
            raw_issuers = []
        issuers = []
        for i, raw in enumerate(raw_issuers):
            where = f"{source}:issuers[{i}]"
            found += [Problem(f"{where}.{k}", "is not a known setting")
                      for k in raw if k not in per_issuer]
            if "iss" not in raw:
                found.append(Problem(f"{where}.iss", "is required"))
            items = {k: v for k, v in raw.items() if k in per_issuer}
            if isinstance(items.get("jwks_file"), str) and base_dir is not None:
                items["jwks_file"] = base_dir / items["jwks_file"]
            elif "jwks_file" in items and not isinstance(items["jwks_file"], str):
                found.append(Problem(f"{where}.jwks_file", "must be a path string",
                                     items.pop("jwks_file")))
            if not isinstance(items.get("jku", []), list):
                found.append(Problem(f"{where}.jku", "must be a list of URLs", items.pop("jku")))
            issuers.append(TrustedIssuer(**{"iss": "", **items}))
        if found:
            raise ConfigurationError.from_problems(found)
        values = {k: v for k, v in data.items() if k != "issuers"}
        try:
            return cls(**values, issuers=issuers)
        except ConfigurationError as exc:
            raise ConfigurationError.from_problems(
                Problem(f"{source}:{p.path}", p.message, p.value) if p.value is not None
                else Problem(f"{source}:{p.path}", p.message) for p in exc.problems) from None

    @classmethod
    def from_toml(cls, path: str | Path) -> Self:
        """Read a configuration file (see the deployment guide for an example).

        Raises
        ------
        ConfigurationError
            When the file is not valid TOML or its settings are unusable.
        OSError
            When the file cannot be read.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: not valid TOML: {exc}", path=str(path)) from None
        return cls.from_dict(data, source=str(path), base_dir=path.parent)


def build_auth_config(file: str | Path | None = None, *, public_url: str | None = None,
                      trust: Sequence[Sequence[str]] = (), algorithms: Sequence[str] = (),
                      clock_skew_seconds: float | None = None,
                      audit_log: str | Path | None = None) -> AuthConfig | None:
    """Merge a configuration file with ``twitchcds serve`` options; None when neither is given.

    Parameters
    ----------
    file : str or Path, optional
        TOML file (``--auth-config``).
    public_url, algorithms, clock_skew_seconds, audit_log
        Override the file's values (``--public-url``, ``--algorithm``, ``--clock-skew``,
        ``--audit-log``).
    trust : sequence of (iss, jwks) pairs
        Extra trusted issuers (``--trust ISS JWKS``): ``jwks`` is an ``https://`` JWK Set URL or
        a local file.

    Examples
    --------
    >>> build_auth_config() is None
    True
    >>> config = build_auth_config(public_url="http://127.0.0.1:8000",
    ...                            trust=[("https://ehr.example.org", "https://ehr.example.org/jwks")])
    >>> config.issuers[0].jwks_url
    'https://ehr.example.org/jwks'
    """
    if file is None and public_url is None and not trust:
        return None
    extra = tuple(TrustedIssuer(iss, jwks_url=source) if source.startswith(("https:", "http:"))
                  else TrustedIssuer(iss, jwks_file=Path(source)) for iss, source in trust)
    overrides: dict[str, Any] = {k: v for k, v in {
        "algorithms": tuple(algorithms) or None, "clock_skew_seconds": clock_skew_seconds,
        "audit_log": audit_log, "public_url": public_url}.items() if v is not None}
    if file is not None:
        base = AuthConfig.from_toml(file)
        return evolve(base, issuers=base.issuers + extra, **overrides)
    if public_url is None:
        msg = "--public-url is required with --trust: the URL the EHR calls, checked against aud"
        raise ConfigurationError(msg, path="--public-url")
    return AuthConfig(issuers=extra, **overrides)


def check_listen(host: str, auth: AuthConfig | None, *, insecure_no_auth: bool) -> None:
    """Refuse to serve beyond loopback without authentication.

    Raises
    ------
    ConfigurationError
        When ``host`` is not loopback, no ``auth`` is given and ``insecure_no_auth`` is false;
        or when both ``auth`` and ``insecure_no_auth`` are given.

    Examples
    --------
    >>> check_listen("127.0.0.1", None, insecure_no_auth=False)
    >>> check_listen("0.0.0.0", None, insecure_no_auth=False)
    Traceback (most recent call last):
    ...
    twitchcds.errors.ConfigurationError: refusing to listen on 0.0.0.0 without authentication...
    """
    if auth is not None and insecure_no_auth:
        msg = "--insecure-no-auth contradicts an authentication configuration: give one of them"
        raise ConfigurationError(msg, path="--insecure-no-auth")
    if auth is None and not insecure_no_auth and not is_loopback(host):
        msg = (f"refusing to listen on {host} without authentication: give --auth-config FILE "
               "(trusted EHRs and their keys; see the deployment guide), or --insecure-no-auth "
               "for local development only")
        raise ConfigurationError(msg, path="--host", value=host)
