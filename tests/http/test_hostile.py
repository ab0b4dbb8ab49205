"""Hostile input: hundreds of generated bad requests, each a JSON 4xx, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from origin.signing import sign_path, sign_path_until
from tests.conftest import Databases
from tests.servers import Server, ServerFactory, register, start_server

KEY = b"hostile-test-key"


@dataclass
class Target:
    server: Server
    clip: dict[str, Any]
    client: httpx.Client


@pytest.fixture(scope="module")
def target(databases: Databases, sample_video: Path, session_dir: Path) -> Iterator[Target]:
    dsn = databases.create()
    clip = register(dsn, sample_video, "--every", "10")["clips"][0]
    server = start_server(
        session_dir / "hostile", {"DATABASE_URL": dsn, "ORIGIN_SIGNING_KEY": KEY.decode()}
    )
    with server.client() as client:
        yield Target(server, clip, client)
    server.stop()
    databases.drop(dsn)


ODD_IDS = [
    "-1", "0", "00", "99999999999999999999999", "9223372036854775808", "1.0", "1e3", "0x1",
    "abc", "..", "%2e%2e", "%2F", "1%2F2", "1%00", "%00", "é", "\u0661", "\uff11", "1 ", "%20",
    "+1", "999999",
]  # fmt: skip
ODD_VERSIONS = [
    "v0", "v-1", "v", "1", "V1", "v1.0", "v99999999999", "v2147483648", "v%31", "..", "%2e",
    "v1%2F..", "v\u0661", "v1 ", "vv1", "v1.mp4",
]  # fmt: skip
BAD_RANGES = [
    "bytes=abc", "bytes=5-1", "bytes", "items=0-1", "bytes=-", "bytes=--1", "bytes=1-2-3",
    "bytes=999999999-", b"bytes=\xe9",
]  # fmt: skip
BAD_METHODS = ["POST", "PUT", "DELETE", "PATCH", "PROPFIND", "TRACE"]

# Header values as bytes the HTTP client itself accepts (no control characters,
# no surrounding blanks): the server's handling is what is under test.
text = st.text(
    alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=40
).map(lambda value: value.encode("latin-1").strip(b" \t"))


@st.composite
def hostile_request(draw: st.DrawFn, clip: dict[str, Any]) -> dict[str, Any]:
    """A request with at least one thing wrong in it, and anything else random."""
    good_path = clip["url"]
    defect = draw(st.sampled_from(["id", "version", "token", "range", "method", "path"]))
    clip_id = draw(st.sampled_from(ODD_IDS)) if defect == "id" else str(clip["id"])
    version = draw(st.sampled_from(ODD_VERSIONS)) if defect == "version" else "v1"
    path = f"/videos/clips/{clip_id}/stream/{version}"
    if defect == "path":
        path = draw(
            st.sampled_from(
                ["/videos/clips//stream/v1", "/videos/clips/1/stream/", "/videos/../etc/passwd",
                 "/videos/clips/1/stream/v1/extra", "/videos/clips/%2e%2e/stream/v1",
                 "/api/clips/1/split", "/api/sources/%00/clips", "/review/sources/-1",
                 "/videos/clips/1/thumbnail/v1", "/videos/clips/1/thumbnail/v0.jpg",
                 "/videos/clips/x/thumbnail/v1.jpg", "/videos/clips/1/thumbnail/v9.jpg"]
            )
        )  # fmt: skip
    query = ""
    if defect == "token":
        query = draw(
            st.sampled_from(
                ["", "?exp=1&sig=x", "?exp=abc&sig=x", "?sig=x", "?exp=99999999999",
                 "?exp=9999999999&sig=", "?exp=-1&sig=abc", "?exp=9999999999&sig=%00"]
            )
        )  # fmt: skip
        query = query or ""
    elif defect != "path":
        signed = sign_path(path, KEY, 300)
        query = "?" + signed.split("?", 1)[1]
    headers: dict[str, str | bytes] = {}
    if defect == "range" or draw(st.booleans()):
        headers["Range"] = draw(st.sampled_from(BAD_RANGES))
    if draw(st.booleans()):
        headers["If-None-Match"] = draw(text)
    if draw(st.booleans()):
        headers["If-Range"] = draw(text)
    if draw(st.booleans()):
        headers["X-Request-ID"] = draw(text)
    method = draw(st.sampled_from(BAD_METHODS)) if defect == "method" else "GET"
    if defect == "range" and path == good_path:
        pass  # a malformed Range on a valid, signed URL: still a 400
    return {"method": method, "url": path + query, "headers": headers}


@settings(
    max_examples=520, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(data=st.data())
def test_generated_bad_requests_get_json_4xx(target: Target, data: st.DataObject) -> None:
    request = data.draw(hostile_request(target.clip))
    response = target.client.request(**request)
    assert 400 <= response.status_code < 500, (request, response.status_code, response.text)
    if request["method"] != "HEAD":
        assert response.headers["content-type"] == "application/json", request
        assert set(response.json()) == {"error"}, request


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Padding": "a" * 16_000},
        {f"X-Many-{i}": "b" for i in range(90)},
        {"Range": "bytes=" + ",".join(f"{i}-{i}" for i in range(500))},
        {"If-None-Match": "," * 5000},
    ],
)
def test_oversize_headers(target: Target, headers: dict[str, str]) -> None:
    response = target.client.get(target.clip["url"], headers=headers)
    assert response.status_code < 500
    assert target.client.get("/healthz").status_code == 200


def test_the_server_is_healthy_afterwards(target: Target) -> None:
    url = sign_path(target.clip["url"], KEY, 300)
    assert target.client.get(url).status_code == 200
    assert target.client.get("/healthz").status_code == 200
    assert target.client.get("/readyz").status_code == 200
    assert target.server.process.poll() is None


def test_cors_on_media_routes_only(target: Target) -> None:
    url = sign_path(target.clip["url"], KEY, 300)
    origin = {"Origin": "https://player.example"}
    got = target.client.get(url, headers={**origin, "Range": "bytes=0-9"})
    assert got.status_code == 206
    assert got.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip().lower() for h in got.headers["access-control-expose-headers"].split(",")}
    assert {"content-range", "content-length", "accept-ranges"} <= exposed

    preflight = target.client.options(
        target.clip["url"],
        headers={**origin, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "range"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert "range" in preflight.headers["access-control-allow-headers"].lower()
    assert "GET" in preflight.headers["access-control-allow-methods"]

    api = target.client.get("/api/sources", headers=origin)
    assert "access-control-allow-origin" not in api.headers


def test_the_cdn_secret_stands_in_for_a_token(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    clip = register(database_url, sample_video)["clips"][0]
    server = server_factory(database_url, ORIGIN_SIGNING_KEY="k", ORIGIN_CDN_SECRET="edge-says-ok")
    with server.client() as http:
        assert http.get(clip["url"], headers={"X-Origin-Verify": "edge-says-ok"}).status_code == 200
        assert http.get(clip["url"], headers={"X-Origin-Verify": "guess"}).status_code == 403
        assert http.get(clip["url"]).status_code == 403


def test_an_old_versions_redirect_keeps_the_viewers_token_private(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    """Reached directly, the 302 carries a token for the new path with the same expiry:
    one viewer's, so no shared cache may keep it. Through the CDN (no token) it is public."""
    clip = register(database_url, sample_video, "--cuts", "10")["clips"][0]
    server = server_factory(database_url, ORIGIN_SIGNING_KEY="k", ORIGIN_CDN_SECRET="edge")
    with server.client() as http:
        split = http.post(f"/api/clips/{clip['id']}/split", json={"at": 5})
        assert split.status_code == 200, split.text
        new_path = split.json()["changed"][0]["url"].split("?")[0]
        old_path = clip["url"].split("?")[0]
        exp = 4102444800
        old = http.get(sign_path_until(old_path, b"k", exp), follow_redirects=False)
        assert old.status_code == 302
        assert old.headers["location"] == sign_path_until(new_path, b"k", exp)
        assert old.headers["cache-control"] == "private, max-age=60"
        via_cdn = http.get(old_path, headers={"X-Origin-Verify": "edge"}, follow_redirects=False)
        assert via_cdn.status_code == 302
        assert via_cdn.headers["location"] == new_path
        assert via_cdn.headers["cache-control"] == "public, max-age=60"
