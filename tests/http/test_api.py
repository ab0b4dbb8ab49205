"""The JSON API and review page through a real uvicorn server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Databases
from tests.servers import Server, ServerFactory, register, start_server


def test_sources_clips_and_edits(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    register(database_url, sample_video)
    server = server_factory(database_url)
    with server.client() as http:
        [source] = http.get("/api/sources").json()
        assert source["duration"] == pytest.approx(30)
        assert source["clip_count"] == 3
        clips = http.get(f"/api/sources/{source['id']}/clips").json()
        assert [(c["start"], c["end"], c["version"]) for c in clips] == [
            (0, 10, 1), (10, 20, 1), (20, 30, 1),
        ]  # fmt: skip
        first = clips[0]["id"]

        split = http.post(f"/api/clips/{first}/split", json={"at": 4})
        assert split.status_code == 200, split.text
        assert [(c["start"], c["end"], c["version"]) for c in split.json()["changed"]] == [
            (0, 4, 2), (4, 10, 1),
        ]  # fmt: skip
        moved = http.post(f"/api/clips/{first}/move-cut", json={"at": "5.5"})
        assert moved.status_code == 200, moved.text
        merged = http.post(f"/api/clips/{first}/merge")
        assert merged.status_code == 200, merged.text
        assert merged.json()["changed"][0]["end"] == 10
        after = http.get(f"/api/sources/{source['id']}/clips").json()
        assert [(c["start"], c["end"]) for c in after] == [(0, 10), (10, 20), (20, 30)]
        assert after[0]["version"] == 4
        assert after[0]["url"] == f"/videos/clips/{first}/stream/v4"


@pytest.fixture(scope="module")
def api_server(databases: Databases, sample_video: Path, session_dir: Path) -> Iterator[Server]:
    """One server for the table of bad requests (none of them changes anything)."""
    dsn = databases.create()
    register(dsn, sample_video)
    server = start_server(session_dir / "api-server", {"DATABASE_URL": dsn})
    yield server
    server.stop()
    databases.drop(dsn)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/sources/abc/clips", None, 400),
        ("GET", "/api/sources/999/clips", None, 404),
        ("GET", "/api/sources/0/clips", None, 404),
        ("GET", "/api/sources/99999999999999999999999/clips", None, 400),
        ("GET", "/api/sources/999", None, 404),
        ("GET", "/api/sources/abc", None, 400),
        ("GET", "/api/sources/999/frames", None, 404),
        ("GET", "/api/sources/abc/frames", None, 400),
        ("GET", "/api/sources/999/events", None, 404),
        ("POST", "/api/sources/1/events", None, 405),
        ("POST", "/api/clips/1/split", {"at": 99}, 422),
        ("POST", "/api/clips/1/split", {"at": "nan"}, 400),
        ("POST", "/api/clips/1/split", {"at": True}, 400),
        ("POST", "/api/clips/1/split", {}, 400),
        ("POST", "/api/clips/1/split", [1], 400),
        ("POST", "/api/clips/1/move-cut", {"at": 1e300}, 400),
        ("POST", "/api/clips/999/merge", None, 404),
        ("POST", "/api/clips/1/explode", None, 404),
        ("GET", "/api/clips/1/split", None, 405),
        ("GET", "/no/such/route", None, 404),
        ("GET", "/review/sources/x", None, 400),
    ],
)
def test_bad_requests_are_json_4xx(
    api_server: Server, method: str, path: str, body: object, status: int
) -> None:
    with api_server.client() as http:
        response = http.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}


def test_edits_need_the_admin_token_when_set(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    register(database_url, sample_video)
    server = server_factory(database_url, ORIGIN_ADMIN_TOKEN="s3cret")
    with server.client() as http:
        clip = http.get("/api/sources/1/clips").json()[0]["id"]
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            denied = http.post(f"/api/clips/{clip}/merge", headers=headers)
            assert denied.status_code == 401
            assert denied.headers["www-authenticate"] == "Bearer"
        allowed = http.post(f"/api/clips/{clip}/merge", headers={"Authorization": "Bearer s3cret"})
        assert allowed.status_code == 200
        assert len(http.get("/api/sources/1/clips").json()) == 2


def test_review_pages(database_url: str, sample_video: Path, server_factory: ServerFactory) -> None:
    register(database_url, sample_video)
    server = server_factory(database_url)
    with server.client() as http:
        index = http.get("/")
        page = http.get("/review/sources/1")
        missing = http.get("/review/sources/99")
        script = re.search(r'src="(/assets/review\.[0-9a-f]{12}\.js)"', page.text)
        style = re.search(r'href="(/assets/review\.[0-9a-f]{12}\.css)"', index.text)
        assert script is not None
        assert style is not None
        js = http.get(script.group(1))
        again = http.get(script.group(1), headers={"If-None-Match": js.headers["etag"]})
        css = http.get(style.group(1))
        unknown = http.get("/assets/review.000000000000.js")
    assert index.status_code == page.status_code == 200
    assert '<a href="/review/sources/1">' in index.text
    assert "sample.mp4" in index.text
    assert 'data-source-id="1"' in page.text
    assert missing.status_code == 404
    assert (
        js.headers["cache-control"]
        == css.headers["cache-control"]
        == ("public, max-age=31536000, immutable")
    )
    assert js.headers["content-type"].startswith("text/javascript")
    assert css.headers["content-type"].startswith("text/css")
    assert again.status_code == 304
    assert unknown.status_code == 404
