"""CDS Hooks client authentication: bearer JWTs as the specification's "Trusting CDS Clients" asks.

The main key pair, token shape and example token are the specification's own (HL7/cds-hooks,
input/pagecontent/index.md, section "Trusting CDS Clients", example JWT header/payload/JWK Set).
Other keys are generated here. A JWK Set is served by the test itself on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("starlette")
jwt = pytest.importorskip("jwt")

from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from starlette.exceptions import StarletteDeprecationWarning  # noqa: E402

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2; httpx is what the test extra has
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from twitchcds.errors import ConfigurationError  # noqa: E402
from twitchcds.interop import cds_hooks  # noqa: E402
from twitchcds.interop._auth import AuthError, ReplayCache, Verifier  # noqa: E402
from twitchcds.interop._auth_config import AuthConfig, build_auth_config  # noqa: E402
from twitchcds.interop._jwks import parse_jwks  # noqa: E402
from twitchcds.interop.cds_hooks import create_app, serve  # noqa: E402

# -- the specification's example (HL7/cds-hooks "Trusting CDS Clients") ---------------------------
SPEC_ISS = "https://fhir-ehr.example.com/"
SPEC_JKU = "https://fhir-ehr.example.com/jwk_uri"
SPEC_KID = "example-kid"
_SPEC_XY = {"x": "46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk",
            "y": "XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI"}
SPEC_JWKS = {"keys": [{"kty": "EC", "use": "sig", "crv": "P-384", "kid": SPEC_KID, **_SPEC_XY,
                       "alg": "ES384"}]}
SPEC_PRIVATE_JWK = {"kty": "EC",  # the spec's published example key: not a secret
                    "d": "SeFXUXda8UomZ8GFUl7HH_Oi15rIbfMcsWj9ecIsDR8kLbqsEz2CGNgwy_IcILxy",
                    "use": "sig", "crv": "P-384", "kid": SPEC_KID, **_SPEC_XY, "alg": "ES384"}
SPEC_JWT = (  # the spec's published example
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImV4YW1wbGUta2lkIiwiamt1IjoiaHR0cHM6Ly9maGlyLWVo"
    "ci5leGFtcGxlLmNvbS9qd2tfdXJpIn0.eyJpc3MiOiJodHRwczovL2ZoaXItZWhyLmV4YW1wbGUuY29tLyIsImF1ZCI6"
    "Imh0dHBzOi8vY2RzLmV4YW1wbGUub3JnL2Nkcy1zZXJ2aWNlcy9zb21lLXNlcnZpY2UiLCJleHAiOjE0MjI1Njg4NjAs"
    "ImlhdCI6MTMxMTI4MDk3MCwianRpIjoiZWUyMmIwMjEtZTFiNy00NjExLWJhNWItOGVlYzZhMzNhYzFlIiwidGVuYW50"
    "IjoiMmRkZDZjM2EtOGU5YS00NGM2LWEzMDUtNTIxMTFhZDMwMmEyIn0.d1WfLjGRKlcWB94l9do4cM8REXeYJLL6SGUBO"
    "8VHZhfM8mwKYP70EMxJ67War4TQblEpaQrp11wx5p7oPFm2ETYgCicS84vXWEIYTdjooZdooCSDf2L8-i4awdoUwiEb")
SPEC_AUD = "https://cds.example.org/cds-services/some-service"
SPEC_KEY = jwt.PyJWK(SPEC_PRIVATE_JWK).key

PUBLIC_URL = "https://cds.example.org"
SERVICE = "/cds-services/twitchcds"
DISCOVERY = "/cds-services"
TENANT = "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"
FILE_ISS = "https://other-ehr.example.net"  # an RSA issuer whose JWK Set came out of band
LOOPBACK_ISS = "https://loopback-ehr.example.org"  # keys fetched from the test's own server
REQUEST = json.loads((Path(__file__).parent / "data" / "cds_hooks" /
                      "patient_view_request.json").read_text(encoding="utf-8"))

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
LOOPBACK_KEY = ec.generate_private_key(ec.SECP384R1())
STRANGER_KEY = ec.generate_private_key(ec.SECP384R1())
P256_KEY = ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    """The public JWK of a generated private key."""
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith(("RS", "PS")) else \
        jwt.algorithms.ECAlgorithm
    return {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


def token(*, key: Any = SPEC_KEY, alg: str = "ES384", kid: str | None = SPEC_KID,
          jku: str | None = SPEC_JKU, typ: str | None = "JWT", path: str = SERVICE,
          **claims: Any) -> str:
    """A token in the specification's shape for a call to ``path``; ``claims`` override."""
    now = int(time.time())
    payload = {"iss": SPEC_ISS, "aud": PUBLIC_URL + path, "exp": now + 120, "iat": now,
               "jti": str(uuid.uuid4()), "tenant": TENANT, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    headers = {k: v for k, v in {"kid": kid, "jku": jku, "typ": typ}.items() if v is not None}
    encoded: str = jwt.encode(payload, key, algorithm=alg, headers=headers)
    if typ is None:  # PyJWT always writes typ; rebuild the token without it, signed again
        return unsigned({"alg": alg, **headers}, payload, key=key, alg=alg)
    return encoded


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any], *, key: Any = None,
             alg: str | None = None) -> str:
    """A token with exactly ``header`` (signed with ``key`` when given, else no signature)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = b""
    if key is not None and alg is not None:
        signature = jwt.get_algorithm_by_name(alg).sign(signing_input.encode(), key)
    return f"{signing_input}.{_b64(signature)}"


def claims_now(**claims: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": SPEC_ISS, "aud": PUBLIC_URL + SERVICE, "exp": now + 120, "iat": now,
            "jti": str(uuid.uuid4()), **claims}


# -- a JWK Set served on loopback by the test ------------------------------------------------------
class _JwksHandler(BaseHTTPRequestHandler):
    keys: ClassVar[list[dict[str, Any]]] = []
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/jwks.json")
            self.end_headers()
            return
        body = json.dumps({"keys": type(self).keys}).encode()
        self.send_response(200 if self.path == "/jwks.json" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[str]:
    """Serve a JWK Set on a free 127.0.0.1 port for the module's tests, then stop."""
    _JwksHandler.keys = [public_jwk(LOOPBACK_KEY, "loop-1", "ES384")]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def config(jwks_server: str, tmp_path_factory: pytest.TempPathFactory) -> AuthConfig:
    """Three trusted issuers: the spec's (jku), one with an RSA key in a file, one on loopback."""
    folder = tmp_path_factory.mktemp("auth")
    (folder / "other.jwks.json").write_text(
        json.dumps({"keys": [public_jwk(RSA_KEY, "rsa-1", "RS384")]}), encoding="utf-8")
    (folder / "auth.toml").write_text(f"""
public_url = "{PUBLIC_URL}/"
clock_skew_seconds = 30

[[issuers]]
iss = "{SPEC_ISS}"
jku = ["{SPEC_JKU}"]

[[issuers]]
iss = "{FILE_ISS}"
jwks_file = "other.jwks.json"

[[issuers]]
iss = "{LOOPBACK_ISS}"
jku = ["{jwks_server}/jwks.json", "{jwks_server}/redirect", "{jwks_server}/missing"]
""", encoding="utf-8")
    return AuthConfig.from_toml(folder / "auth.toml")


class Spy:
    """Stands in for the assessment: records each call and answers no cards."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: Any, kb: Any = None, **options: Any) -> dict[str, Any]:
        self.calls += 1
        return {"cards": []}


@pytest.fixture(scope="module")
def spy() -> Iterator[Spy]:
    """Replace the assessment behind the route for the whole module."""
    with pytest.MonkeyPatch.context() as patch:
        seen = Spy()
        patch.setattr(cds_hooks, "handle_request", seen)
        yield seen


@pytest.fixture(scope="module")
def client(config: AuthConfig, spy: Spy) -> Iterator[TestClient]:
    """The app with authentication; the spec's jku answers with the spec's JWK Set."""
    app = create_app(auth=config)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(autouse=True, scope="module")
def _offline_spec_jku() -> Iterator[None]:
    """The spec's jku host is not contacted: its JWK Set is what the spec publishes."""
    from twitchcds.interop import _jwks

    original = _jwks.JwksCache._fetch

    def fetch(self: Any, url: str) -> Any:
        return parse_jwks(SPEC_JWKS) if url == SPEC_JKU else original(self, url)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_jwks.JwksCache, "_fetch", fetch)
        yield


def call(client: TestClient, bearer: str | None, path: str = SERVICE, *,
         raw: str | None = None) -> Any:
    headers = {} if bearer is None and raw is None else {
        "Authorization": raw if raw is not None else f"Bearer {bearer}"}
    if path == DISCOVERY:
        return client.get(path, headers=headers)
    return client.post(path, json=REQUEST, headers=headers)


# -- accepted -------------------------------------------------------------------------------------
def test_spec_example_token_verifies_at_its_own_time():
    """The specification's example token verifies with its JWK Set while it was valid."""
    config = AuthConfig(public_url="https://cds.example.org",
                        issuers=[cds_hooks.TrustedIssuer(SPEC_ISS, jku=(SPEC_JKU,))])
    verifier = Verifier(config, clock=lambda: 1422568860 - 60)
    caller = verifier.verify(f"Bearer {SPEC_JWT}", SPEC_AUD)
    assert caller.iss == SPEC_ISS
    assert caller.tenant == "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"


def test_spec_example_token_is_refused_today(client, spy):
    """The specification's example token expired in 2015 and names another endpoint."""
    before = spy.calls
    response = call(client, SPEC_JWT)
    assert response.status_code == 401
    assert spy.calls == before


@pytest.mark.parametrize("path", [SERVICE, DISCOVERY])
def test_valid_token_in_the_spec_shape_is_accepted(client, spy, path):
    """A token signed with the spec's key, aud the exact URL called, reaches the route."""
    before = spy.calls
    response = call(client, token(path=path), path)
    assert response.status_code == 200, response.text
    assert spy.calls == before + (path == SERVICE)


def test_aud_may_be_a_list_holding_the_url(client):
    """Per RFC 7519 aud may be an array; it must hold the exact URL called."""
    assert call(client, token(aud=["https://x.example", PUBLIC_URL + SERVICE])).status_code == 200


def test_rs384_key_from_a_local_jwks_file_is_accepted(client):
    """An issuer's out-of-band JWK Set (a file) verifies RS384 tokens without a jku header."""
    bearer = token(key=RSA_KEY, alg="RS384", kid="rsa-1", jku=None, iss=FILE_ISS)
    assert call(client, bearer).status_code == 200


def test_jku_served_on_loopback_is_fetched_once_and_cached(client, jwks_server):
    """An allowlisted jku is fetched and kept: two calls, one fetch."""
    _JwksHandler.hits.clear()
    for _ in range(2):
        bearer = token(key=LOOPBACK_KEY, kid="loop-1", jku=f"{jwks_server}/jwks.json",
                       iss=LOOPBACK_ISS)
        assert call(client, bearer).status_code == 200
    assert _JwksHandler.hits == ["/jwks.json"]


def test_rotated_key_is_fetched_after_the_refetch_interval(config, jwks_server):
    """An unknown kid fetches the JWK Set again once 30 s have passed, so rotation works."""
    now = [time.time()]
    verifier = Verifier(config, clock=lambda: now[0])
    url = PUBLIC_URL + SERVICE
    jku = f"{jwks_server}/jwks.json"
    assert verifier.verify("Bearer " + token(key=LOOPBACK_KEY, kid="loop-1", jku=jku,
                                             iss=LOOPBACK_ISS), url).kid == "loop-1"
    new_key = ec.generate_private_key(ec.SECP384R1())
    _JwksHandler.keys = [*_JwksHandler.keys, public_jwk(new_key, "loop-2", "ES384")]
    rotated = token(key=new_key, kid="loop-2", jku=jku, iss=LOOPBACK_ISS)
    with pytest.raises(AuthError, match="unknown kid"):
        verifier.verify("Bearer " + rotated, url)
    now[0] += 31
    assert verifier.verify("Bearer " + rotated, url).kid == "loop-2"


# -- refused --------------------------------------------------------------------------------------
def _hs256() -> str:
    return jwt.encode(claims_now(), "a-shared-secret-of-at-least-32-bytes!", algorithm="HS256",
                      headers={"kid": SPEC_KID, "jku": SPEC_JKU})


def _loopback(jku_path: str) -> Any:
    return lambda jku: token(key=LOOPBACK_KEY, kid="loop-1", iss=LOOPBACK_ISS,
                             jku=jku + jku_path)


def _now() -> int:
    return int(time.time())


# (id, token factory given the loopback JWK Set base URL, raw header, message, path); tokens
# are made when the test runs, so a long suite cannot let them expire first.
_REFUSALS: list[tuple[str, Any, str | None, str, str]] = [
    ("missing-header", None, None, "missing Authorization header", "Authorization"),
    ("not-bearer", None, "Basic dXNlcjpwYXNz", "not a Bearer token", "Authorization"),
    ("malformed-token", lambda _: "not-a-jwt", None, "not a well-formed JWT", "Authorization"),
    ("malformed-json", lambda _: "e30.bm90anNvbg.c2ln", None, "not a well-formed JWT",
     "Authorization"),
    ("alg-none", lambda _: unsigned({"alg": "none", "typ": "JWT", "kid": SPEC_KID},
                                    claims_now()), None, "alg 'none' is forbidden",
     "jwt.header.alg"),
    ("hs256", lambda _: _hs256(), None, "alg 'HS256' is forbidden", "jwt.header.alg"),
    ("alg-not-configured", lambda _: token(key=P256_KEY, alg="ES256"), None,
     "alg 'ES256' is not accepted", "jwt.header.alg"),
    ("typ-missing", lambda _: token(typ=None), None, "typ must be 'JWT'", "jwt.header.typ"),
    ("kid-missing", lambda _: token(kid=None), None, "kid is missing", "jwt.header.kid"),
    ("unknown-kid", lambda _: token(kid="no-such-kid"), None, "unknown kid 'no-such-kid'",
     "jwt.header.kid"),
    ("unknown-issuer", lambda _: token(iss="https://evil.example"), None,
     "issuer 'https://evil.example' is not trusted", "jwt.payload.iss"),
    ("jku-not-allowlisted", lambda _: token(jku="https://evil.example/jwks"), None,
     "jku 'https://evil.example/jwks' is not on the allowlist", "jwt.header.jku"),
    ("jku-of-another-issuer", lambda _: token(jku=SPEC_JKU, iss=FILE_ISS), None,
     "is not on the allowlist", "jwt.header.jku"),
    ("jku-unreachable", _loopback("/missing"), None,
     "could not fetch the issuer's JWK Set: HTTPError", "jwt.header.jku"),
    ("jku-redirect", _loopback("/redirect"), None,
     "could not fetch the issuer's JWK Set: HTTPError", "jwt.header.jku"),
    ("bad-signature", lambda _: token(key=STRANGER_KEY), None, "signature verification failed",
     "Authorization"),
    ("key-alg-mismatch", lambda _: token(key=RSA_KEY, alg="RS384"), None,
     "is not a key for alg RS384", "jwt.header.kid"),
    ("wrong-aud", lambda _: token(aud="https://cds.example.org/cds-services/other"), None,
     "aud does not match the URL called", "jwt.payload.aud"),
    ("aud-of-discovery", lambda _: token(path=DISCOVERY), None, "aud does not match",
     "jwt.payload.aud"),
    ("expired", lambda _: token(exp=_now() - 120, iat=_now() - 300), None, "token expired",
     "jwt.payload.exp"),
    ("not-yet-valid", lambda _: token(iat=_now() + 600, exp=_now() + 700), None,
     "iat is in the future beyond the clock skew", "jwt.payload.iat"),
    ("nbf-future", lambda _: token(nbf=_now() + 600), None, "nbf is in the future",
     "jwt.payload.nbf"),
    ("exp-too-far", lambda _: token(exp=_now() + 86_400), None, "expires too far ahead",
     "jwt.payload.exp"),
    ("jti-missing", lambda _: token(jti=None), None, "jti is missing", "jwt.payload.jti"),
    ("exp-missing", lambda _: token(exp=None), None, "exp is missing", "jwt.payload.exp"),
    ("exp-not-finite", lambda _: token(exp=float("nan")), None,
     "exp is missing or not a finite number", "jwt.payload.exp"),
    ("jku-not-a-string", lambda _: token(jku=[SPEC_JKU]), None, "is not on the allowlist",
     "jwt.header.jku"),
]


@pytest.mark.parametrize(("make", "raw", "message", "where"),
                         [pytest.param(*row[1:], id=row[0]) for row in _REFUSALS])
def test_bad_credentials_are_refused_with_401(client, spy, jwks_server, make, raw, message,
                                              where):
    """Each bad credential gets 401, a JSON error naming the problem, and a Bearer challenge."""
    bearer = None if make is None else make(jwks_server)
    before = spy.calls
    response = call(client, bearer, raw=raw)
    assert response.status_code == 401, response.text
    assert message in response.json()["error"]
    assert response.json()["path"] == where
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="twitchcds"')
    if bearer is not None:
        assert 'error="invalid_token"' in challenge
        assert "error_description=" in challenge
    assert spy.calls == before


def test_discovery_needs_a_token_too(client):
    """GET /cds-services without a token gets 401 (the spec covers every call)."""
    assert call(client, None, DISCOVERY).status_code == 401


def test_replayed_jti_is_refused(client, spy):
    """The same token twice: the first call passes, the replay gets 401."""
    bearer = token()
    assert call(client, bearer).status_code == 200
    before = spy.calls
    response = call(client, bearer)
    assert response.status_code == 401
    assert "replayed" in response.json()["error"]
    assert spy.calls == before


def test_jti_is_remembered_per_issuer(client):
    """Two issuers may pick the same jti; each is checked against its own cache."""
    jti = str(uuid.uuid4())
    assert call(client, token(jti=jti)).status_code == 200
    bearer = token(key=RSA_KEY, alg="RS384", kid="rsa-1", jku=None, iss=FILE_ISS, jti=jti)
    assert call(client, bearer).status_code == 200


def test_full_replay_cache_refuses_new_tokens_until_entries_expire():
    """A full cache answers 429 rather than forget a jti; expired entries make room again."""
    cache = ReplayCache(max_size=2)
    cache.add("iss", "a", expires=10, now=0)
    cache.add("iss", "b", expires=20, now=0)
    with pytest.raises(AuthError, match="too many") as refused:
        cache.add("iss", "c", expires=30, now=5)
    assert refused.value.status == 429
    cache.add("iss", "c", expires=30, now=11)
    cache.add("other", "c", expires=30, now=11)


def test_cors_preflight_needs_no_token(config):
    """A browser preflight (no Authorization, by design) is answered by CORS, not refused."""
    app = create_app(auth=config, cors_origins=("https://ehr.example.org",))
    with TestClient(app) as test_client:
        response = test_client.options(SERVICE, headers={
            "Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
    assert response.status_code == 200


# -- audit ----------------------------------------------------------------------------------------
def test_audit_line_names_caller_route_and_outcome_without_token_or_patient(config, spy, caplog):
    """Audit lines carry iss, tenant, route and status; never the token or patient data."""
    app = create_app(auth=config, audit=True)
    bearer = token()
    with caplog.at_level(logging.INFO, logger="twitchcds.audit"), TestClient(app) as test_client:
        assert call(test_client, bearer).status_code == 200
        assert call(test_client, "garbage").status_code == 401
    accepted, refused = (r.getMessage() for r in caplog.records)
    assert "auth=verified status=200 method=POST" in accepted
    assert f"tenant={TENANT}" in accepted
    assert f"iss={SPEC_ISS}" in accepted
    assert "auth=refused status=401" in refused
    assert 'reason="token is not a well-formed JWT' in refused
    text = caplog.text
    assert bearer.split(".")[2] not in text
    patient = REQUEST["prefetch"]["patient"]
    assert patient["id"] not in text.replace("jti", "")
    assert patient["birthDate"] not in text


def test_audit_is_off_by_default(config, caplog):
    """Without audit=True no line is written, even with INFO logging on."""
    with caplog.at_level(logging.INFO), TestClient(create_app(auth=config)) as test_client:
        call(test_client, token())
    assert not [r for r in caplog.records if r.name == "twitchcds.audit"]


# -- fuzz -----------------------------------------------------------------------------------------
_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_B64 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
               max_size=60)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                     | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_HEADER = st.fixed_dictionaries({}, optional={
    "alg": st.sampled_from(["ES384", "RS384", "none", "HS256", "ES256", ""]) | _JSON,
    "typ": st.sampled_from(["JWT", "jwt"]) | _JSON, "kid": st.sampled_from([SPEC_KID]) | _JSON,
    "jku": st.sampled_from([SPEC_JKU, "https://evil.example/jwks"]) | _JSON, "crit": _JSON})
_PAYLOAD = st.fixed_dictionaries({}, optional={
    "iss": st.sampled_from([SPEC_ISS, FILE_ISS]) | _JSON,
    "aud": st.sampled_from([PUBLIC_URL + SERVICE]) | _JSON,
    "exp": st.integers() | _JSON, "iat": st.integers() | _JSON, "nbf": _JSON,
    "jti": st.text(max_size=10) | _JSON, "tenant": _JSON})


def _mutated(client: TestClient, data: st.DataObject) -> str:
    """A valid token, used once, then changed in one place (a still-valid one is a replay)."""
    valid = token()
    assert call(client, valid).status_code == 200
    i = data.draw(st.integers(0, len(valid) - 1))
    return valid[:i] + data.draw(st.sampled_from("Aa0-_.=")) + valid[i + 1:]


_AUTHORIZATION = st.one_of(
    st.text(_ASCII, max_size=80),
    st.builds(lambda t: f"Bearer {t}", st.text(_ASCII, max_size=80)),
    st.builds(lambda a, b, c: f"Bearer {a}.{b}.{c}", _B64, _B64, _B64),
    st.builds(lambda h, p, s: "Bearer " + unsigned(h, p) + s, _HEADER, _PAYLOAD, _B64),
    st.builds(lambda h, p: "Bearer " + unsigned(  # signed by a trusted key: claims checks run
        {"alg": "ES384", "typ": "JWT", "kid": SPEC_KID, "jku": SPEC_JKU, **h}, p, key=SPEC_KEY,
        alg="ES384"), st.dictionaries(st.sampled_from(["jku", "crit", "b64", "x5u"]), _JSON,
                                      max_size=1), _PAYLOAD),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=_AUTHORIZATION, data=st.data())
def test_random_authorization_never_5xx_and_never_reaches_the_assessment(client, spy, header,
                                                                        data):
    """Random and mutated Authorization headers get 401 (never 5xx) and never reach assess."""
    if data.draw(st.booleans()):
        header = "Bearer " + _mutated(client, data)
    before = spy.calls
    response = call(client, None, raw=header)
    assert response.status_code == 401, (header, response.text)
    assert response.json()["error"]
    assert spy.calls == before


# -- configuration and serve ----------------------------------------------------------------------
_BAD_CONFIGS = [
    pytest.param({"public_url": PUBLIC_URL, "algorithms": ["HS256"], "issuers": []},
                 "auth.toml:algorithms[0]", id="hmac-algorithm"),
    pytest.param({"public_url": PUBLIC_URL, "algorithms": ["none"], "issuers": []},
                 "auth.toml:algorithms[0]", id="none-algorithm"),
    pytest.param({"public_url": "http://cds.example.org", "issuers": []},
                 "auth.toml:public_url", id="plain-http-public-url"),
    pytest.param({"issuers": []}, "auth.toml:public_url", id="public-url-missing"),
    pytest.param({"public_url": PUBLIC_URL, "issuers": [{"iss": SPEC_ISS}]},
                 "auth.toml:issuers[0]", id="issuer-without-keys"),
    pytest.param({"public_url": PUBLIC_URL, "issuers": [{"iss": SPEC_ISS,
                                                         "jku": ["http://ehr.example/jwks"]}]},
                 "auth.toml:issuers[0].jku[0]", id="plain-http-jku"),
    pytest.param({"public_url": PUBLIC_URL, "issuers": [{"iss": SPEC_ISS, "jku": [SPEC_JKU]}] * 2},
                 "auth.toml:issuers[1].iss", id="issuer-twice"),
    pytest.param({"public_url": PUBLIC_URL, "clock_skew_seconds": 3600, "issuers": []},
                 "auth.toml:clock_skew_seconds", id="skew-too-large"),
    pytest.param({"public_url": PUBLIC_URL, "issuers": [], "audience": "x"},
                 "auth.toml:audience", id="unknown-setting"),
    pytest.param({"public_url": PUBLIC_URL, "issuers": [{"iss": SPEC_ISS, "jku": SPEC_JKU}]},
                 "auth.toml:issuers[0].jku", id="jku-not-a-list"),
]


@pytest.mark.parametrize(("data", "path"), _BAD_CONFIGS)
def test_bad_configuration_names_the_field(data, path):
    """An unusable or unsafe setting raises ConfigurationError naming file:key."""
    with pytest.raises(ConfigurationError) as raised:
        AuthConfig.from_dict(data, source="auth.toml")
    assert raised.value.path == path
    assert isinstance(raised.value, ValueError)


def test_unreadable_jwks_file_fails_at_start(tmp_path):
    """A jwks_file that is missing or not a JWK Set stops create_app, naming the issuer."""
    (tmp_path / "bad.json").write_text('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}, 3]}')
    for name in ("missing.json", "bad.json"):
        config = AuthConfig(public_url=PUBLIC_URL, issuers=[
            cds_hooks.TrustedIssuer(FILE_ISS, jwks_file=tmp_path / name)])
        with pytest.raises(ConfigurationError, match=r"issuers\[0\]\.jwks_file"):
            create_app(auth=config)


def test_serve_refuses_public_host_without_auth(monkeypatch):
    """serve() on 0.0.0.0 without auth raises before uvicorn runs; insecure_no_auth allows it."""
    uvicorn = pytest.importorskip("uvicorn")
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    with pytest.raises(ConfigurationError, match=r"refusing to listen on 0\.0\.0\.0"):
        serve("0.0.0.0")  # noqa: S104
    assert not seen
    serve("0.0.0.0", insecure_no_auth=True)  # noqa: S104
    assert seen["host"] == "0.0.0.0"  # noqa: S104


def test_cli_serve_beyond_loopback_needs_auth(monkeypatch, capsys, config, tmp_path):
    """`twitchcds serve --host 0.0.0.0` exits 2 with a clear message, and runs with a config."""
    from twitchcds.cli import main

    uvicorn = pytest.importorskip("uvicorn")
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    assert main(["serve", "--host", "0.0.0.0"]) == 2  # noqa: S104
    assert "refusing to listen on 0.0.0.0 without authentication" in capsys.readouterr().err
    (tmp_path / "auth.toml").write_text(
        f'public_url = "{PUBLIC_URL}"\n[[issuers]]\niss = "{SPEC_ISS}"\njku = ["{SPEC_JKU}"]\n')
    audit = tmp_path / "audit.log"
    assert main(["serve", "--host", "0.0.0.0", "--auth-config",  # noqa: S104
                 str(tmp_path / "auth.toml"), "--audit-log", str(audit)]) == 0
    with TestClient(seen["app"]) as test_client:
        assert call(test_client, None).status_code == 401
    logger = logging.getLogger("twitchcds.audit")
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
    assert "auth=refused status=401" in audit.read_text(encoding="utf-8")


def test_cli_options_build_a_configuration_without_a_file(tmp_path):
    """--public-url with --trust ISS JWKS is a complete configuration; --trust alone is not."""
    auth = build_auth_config(public_url=PUBLIC_URL, trust=[(SPEC_ISS, SPEC_JKU)],
                             algorithms=["ES384", "PS384"], clock_skew_seconds=10)
    assert auth is not None
    assert auth.issuers[0].allowed_jku == {SPEC_JKU}
    assert auth.algorithms == ("ES384", "PS384")
    with pytest.raises(ConfigurationError, match="--public-url is required"):
        build_auth_config(trust=[(SPEC_ISS, str(tmp_path / "keys.json"))])


def test_report_route_is_behind_the_same_auth(client):
    """The report route refuses a call without a valid token before it looks up the page."""
    path = SERVICE + "/report/some-token"
    assert client.get(path).status_code == 401
    ok = client.get(path, headers={"Authorization": f"Bearer {token(path=path)}"})
    assert ok.status_code == 404  # authenticated, but this app keeps no report pages


def test_report_link_is_under_the_public_url_and_needs_a_token(config, monkeypatch):
    """With auth, the card links under the public URL; the page needs a token for its own URL."""
    from datetime import date

    from twitchcds.interop import _cards

    monkeypatch.setattr(cds_hooks, "handle_request", _cards.handle_request)  # not the spy
    app = create_app(auth=config, report_pages=2, clock=lambda: date(2025, 2, 3))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        answer = test_client.post(SERVICE, json=REQUEST,
                                  headers={"Authorization": f"Bearer {token()}"})
        (card,) = answer.json()["cards"]
        url = card["links"][0]["url"]
        assert url.startswith(f"{PUBLIC_URL}{SERVICE}/report/")
        path = url.removeprefix(PUBLIC_URL)
        assert test_client.get(path).status_code == 401
        page = test_client.get(path, headers={"Authorization": f"Bearer {token(path=path)}"})
        assert page.status_code == 200
        assert page.text.startswith("<!DOCTYPE html>")
