"""Time the latency CDS Hooks authentication adds to a request (ES384 bearer JWT).

Run:  python benchmarks/bench_auth.py [--repeat N]

Two apps answer ``GET /cds-services`` (discovery: no assessment, so the difference is the
authentication itself) through Starlette's TestClient: one without authentication, one with an
issuer whose ES384 key sits in a local JWK Set file. Requests alternate between the two apps so
machine noise hits both alike; each authenticated request carries a fresh token (new ``jti``,
made before the clock starts). Prints the median microseconds per request of each, their
difference, the same pair for the ASGI apps called in-process (no client, no threads: the
plainest view of the middleware's cost), and the median of ``Verifier.verify`` alone. On a
busy machine the TestClient figures swing with its thread hand-offs; the in-process ones do not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.exceptions import StarletteDeprecationWarning

from twitchcds.interop._auth import Verifier
from twitchcds.interop.cds_hooks import AuthConfig, TrustedIssuer, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ISS = "https://ehr.example.org"
PUBLIC_URL = "https://cds.example.org"
PATH = "/cds-services"


def tokens(key: ec.EllipticCurvePrivateKey, n: int) -> list[str]:
    now = int(time.time())
    return [jwt.encode({"iss": ISS, "aud": PUBLIC_URL + PATH, "exp": now + 280, "iat": now,
                        "jti": str(uuid.uuid4()), "tenant": "t-1"}, key, algorithm="ES384",
                       headers={"kid": "k1"}) for _ in range(n)]


async def call_asgi(app: Any, bearer: str | None) -> None:
    headers = [(b"host", b"cds.example.org")]
    if bearer is not None:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    scope = {"type": "http", "method": "GET", "path": PATH, "raw_path": PATH.encode(),
             "query_string": b"", "headers": headers, "http_version": "1.1", "scheme": "https",
             "server": ("cds.example.org", 443), "client": ("127.0.0.1", 1), "root_path": "",
             "asgi": {"version": "3.0"}}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent


async def in_process(bare: Any, secured: Any, bearers: list[str]) -> tuple[float, float]:
    without, with_auth = [], []
    for bearer in bearers:
        start = time.perf_counter()
        await call_asgi(bare, None)
        middle = time.perf_counter()
        await call_asgi(secured, bearer)
        end = time.perf_counter()
        without.append((middle - start) * 1e6)
        with_auth.append((end - middle) * 1e6)
    return statistics.median(without), statistics.median(with_auth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1"}
    with tempfile.TemporaryDirectory() as folder:
        keys = Path(folder) / "jwks.json"
        keys.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
        config = AuthConfig(public_url=PUBLIC_URL, issuers=[TrustedIssuer(ISS, jwks_file=keys)])
        bare, secured = create_app(), create_app(auth=config)
        verifier = Verifier(config)
    with TestClient(bare) as plain, TestClient(secured) as guarded:
        warm = tokens(key, 50)
        for bearer in warm:  # warm both paths (imports, key objects, thread pools)
            plain.get(PATH)
            assert guarded.get(PATH, headers={"Authorization": f"Bearer {bearer}"}).is_success
        without, with_auth = [], []
        for bearer in tokens(key, args.repeat):
            headers = {"Authorization": f"Bearer {bearer}"}
            start = time.perf_counter()
            plain.get(PATH)
            middle = time.perf_counter()
            response = guarded.get(PATH, headers=headers)
            end = time.perf_counter()
            assert response.status_code == 200, response.text
            without.append((middle - start) * 1e6)
            with_auth.append((end - middle) * 1e6)
    asyncio.run(in_process(bare, secured, tokens(key, 50)))  # warm
    asgi_bare, asgi_auth = asyncio.run(in_process(bare, secured, tokens(key, args.repeat)))
    alone = []
    for bearer in tokens(key, args.repeat):
        start = time.perf_counter()
        verifier.verify(f"Bearer {bearer}", PUBLIC_URL + PATH)
        alone.append((time.perf_counter() - start) * 1e6)
    bare_us, auth_us = statistics.median(without), statistics.median(with_auth)
    print(f"requests per app: {args.repeat}  (GET {PATH}, Starlette TestClient, ES384)")
    print(f"without auth      median {bare_us:8.0f} us")
    print(f"with auth         median {auth_us:8.0f} us")
    print(f"added by auth     median {auth_us - bare_us:8.0f} us")
    print(f"in-process ASGI   median {asgi_bare:8.0f} us without, {asgi_auth:.0f} us with auth: "
          f"{asgi_auth - asgi_bare:.0f} us added")
    print(f"Verifier.verify   median {statistics.median(alone):8.0f} us (alone)")


if __name__ == "__main__":
    main()
