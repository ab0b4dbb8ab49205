"""What viewers get through a real caching CDN in front of a real origin fleet.

    viewer (httpx)
      → edge function: node running infra/cloudfront/verify-token.js on each viewer request,
        and on each answer back to the viewer (CloudFront's viewer-response event)
      → edge cache: nginx, CachingOptimized-like (infra/cdn-stand-in/nginx.conf.template)
      → Origin Shield: a second nginx with the same caching
      → two `origin serve` replicas, taken in turn: one database, one clip store

Signing is on (``ORIGIN_SIGNING_KEY``), so stream URLs need a token; the
layers add ``X-Origin-Verify`` as CloudFront adds its custom origin header,
and the origins accept that instead (``ORIGIN_CDN_SECRET``). Each layer's
access log and the replicas' ``/metrics`` say which requests reached them.

The replicas share the clip store, as a fleet does: a clip one of them cut is
copied, not cut again, by the other. So "one cut" alone would not show that
the CDN held a clip; the tests count the requests that reached the origins
too (``origin_request_seconds_count`` of the stream route), which the store
does not change, and the cuts besides.

Each replica has a single ffmpeg slot and no queue (``ORIGIN_MAX_PROCESSES=1``,
``ORIGIN_QUEUE_TIMEOUT_MS=0``) and an ffmpeg wrapper that flag files make
hold its slot or fail: the 429 and 500 tests need those answers for certain,
not by a race. Every test uses clips of its own and counts differences, so
the tests share one topology (started once for the module) in any order.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from origin.signing import sign_path, sign_path_until
from tests.conftest import Databases
from tests.edge.proxies import CacheLayer, Proxy, start_cache_layer, start_edge_function
from tests.mediacheck import decoded_frames, stream_durations, timed_frame_hashes
from tests.servers import Samples, Server, register, scrape, start_server, wait_for

SIGNING_KEY = "edge-test-signing-key"
CDN_SECRET = "edge-test-cdn-secret"
EDGE = "X-Cache-Status"  # the edge cache's outcome (HIT, MISS, EXPIRED, …)
SHIELD = "X-Shield-Cache-Status"  # the shield's, as the edge received it
STREAM = "/videos/clips/{clip_id}/stream/{version}"  # the origin's route label
REQUESTS = "origin_request_seconds_count"
CUTS = "origin_clip_cuts_total"
FPS = 30  # the sample: 30 s at 30 fps, a keyframe every 2 s,
CLIP_S = 1.5  # cut every 1.5 s: 20 clips, most of them starting mid-GOP


def wrapper_script(real_ffmpeg: str, control: Path) -> str:
    """An ffmpeg for the replicas that flag files in ``control`` steer: ``fail`` makes a
    cutting run fail, ``hold`` keeps it (and so its slot) waiting until the file goes
    (30 s at most, should a test die holding it)."""
    return (
        "#!/bin/sh\n"
        f'case "$*" in *-version*) exec "{real_ffmpeg}" "$@";; esac\n'
        f'if [ -e "{control}/fail" ]; then echo "made to fail by the edge tests" >&2; exit 1; fi\n'
        "i=0\n"
        f'while [ -e "{control}/hold" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done\n'
        f'exec "{real_ffmpeg}" "$@"\n'
    )


@dataclass
class Cdn:
    """The running topology and what the tests ask of it."""

    url: str  # the viewers' way in: the edge function
    edge: CacheLayer
    shield: CacheLayer
    function: Proxy
    origins: list[Server]
    source: Path  # the registered file (a copy of the sample: tests take it away)
    clips: list[dict[str, Any]]  # `sources add --json` clips, in time order
    control: Path  # the ffmpeg wrapper's flag files

    def viewer(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def fleet(self) -> list[Samples]:
        """Every replica's /metrics."""
        samples = []
        for origin in self.origins:
            with origin.client() as http:
                samples.append(scrape(http))
        return samples

    def path(self, index: int) -> str:
        """The stream path (no token) of clip ``index``."""
        return path_of(self.clips[index]["url"])

    @contextlib.contextmanager
    def flag(self, name: str) -> Iterator[None]:
        """While inside: the ffmpeg wrapper's flag ``name`` is set."""
        flag = self.control / name
        flag.touch()
        try:
            yield
        finally:
            flag.unlink(missing_ok=True)


def path_of(url: str) -> str:
    return urlsplit(url).path


def exp_of(url: str) -> int:
    """The expiry of the token in ``url``."""
    return int(dict(parse_qsl(urlsplit(url).query))["exp"])


def signed(path: str, ttl_s: int = 600) -> str:
    """``path`` with a viewer's token, as `origin url` makes it."""
    return sign_path(path, SIGNING_KEY.encode(), ttl_s)


def total(fleet: list[Samples], name: str, **labels: str) -> float:
    """The sum over replicas and over every sample of ``name`` that has ``labels``."""
    wanted = labels.items()
    return sum(
        value
        for samples in fleet
        for (sample, sample_labels), value in samples.items()
        if sample == name and wanted <= dict(sample_labels).items()
    )


def grew(before: list[Samples], after: list[Samples], name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


def assert_answered(layer: CacheLayer, path: str, **statuses: int) -> None:
    """``layer`` answered exactly these requests for ``path``, by cache status. nginx logs an
    answer once it is sent, so the last line may come a moment after the viewer has it."""
    expected = Counter(statuses)
    deadline = time.monotonic() + 5
    while (found := layer.requests(path)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found == expected, (layer.name, path)


def max_age(response: httpx.Response) -> int:
    match = re.search(r"\bmax-age=(\d+)", response.headers.get("cache-control", ""))
    assert match is not None, response.headers.get("cache-control")
    return int(match.group(1))


def frame_count(ffmpeg: str, body: bytes, folder: Path, name: str) -> int:
    """How many frames a player decodes from the MP4 ``body``, once checked that they start
    at 0 (the clip's own timeline) and that the container's video lasts as long as they do."""
    path = folder / name
    path.write_bytes(body)
    frames = decoded_frames(ffmpeg, path)
    assert frames[0].time == 0
    assert stream_durations(ffmpeg, path)["video"] == pytest.approx(len(frames) / FPS, abs=0.002)
    return len(frames)


@pytest.fixture(scope="module")
def cdn(
    databases: Databases, sample_video: Path, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cdn]:
    folder = tmp_path_factory.mktemp("cdn")
    with contextlib.ExitStack() as stack:
        # Torn down in reverse order: the proxies, the replicas, the database.
        dsn = databases.create()
        stack.callback(databases.drop, dsn)
        source = folder / "media" / "source.mp4"
        source.parent.mkdir()
        shutil.copy(sample_video, source)
        # No store for the registration: it would queue warm jobs, and no worker runs them.
        added = register(dsn, source, "--every", str(CLIP_S), env={"ORIGIN_CLIP_STORE": "none"})
        clips = sorted(added["clips"], key=lambda c: float(c["start"]))
        assert len(clips) == 20

        control = folder / "control"
        control.mkdir()
        wrapper = folder / "ffmpeg"
        wrapper.write_text(wrapper_script(ffmpeg, control))
        wrapper.chmod(0o755)
        env = {
            "DATABASE_URL": dsn,
            "ORIGIN_CLIP_STORE": str(folder / "store"),
            "ORIGIN_FFMPEG": str(wrapper),
            "ORIGIN_MAX_PROCESSES": "1",
            "ORIGIN_QUEUE_TIMEOUT_MS": "0",
            "ORIGIN_SIGNING_KEY": SIGNING_KEY,
            "ORIGIN_CDN_SECRET": CDN_SECRET,
            "ORIGIN_CACHE_MIN_FREE_BYTES": "0",  # whatever this disk has free: cache, no no-store
            "ORIGIN_SHUTDOWN_GRACE_S": "2",
        }
        with concurrent.futures.ThreadPoolExecutor(2) as threads:
            starting = [threads.submit(start_server, folder / f"origin-{n}", env) for n in (0, 1)]
            concurrent.futures.wait(starting)
        for future in starting:
            if future.exception() is None:
                stack.callback(future.result().stop)
        origins = [future.result() for future in starting]  # raises if one did not start

        def lower_flags() -> None:  # a held ffmpeg would keep a replica's shutdown waiting
            for flag in control.iterdir():
                flag.unlink()

        stack.callback(lower_flags)

        shield = start_cache_layer(
            folder / "shield", "shield", upstreams=[urlsplit(o.base_url).netloc for o in origins],
            cache_status_header=SHIELD, cdn_secret=CDN_SECRET,
        )  # fmt: skip
        stack.callback(shield.stop)
        edge = start_cache_layer(
            folder / "edge", "edge", upstreams=[f"127.0.0.1:{shield.port}"],
            cache_status_header=EDGE, cdn_secret=CDN_SECRET,
        )  # fmt: skip
        stack.callback(edge.stop)
        function = start_edge_function(folder / "function", keys=SIGNING_KEY, cache_port=edge.port)
        stack.callback(function.stop)
        yield Cdn(function.url, edge, shield, function, origins, source, clips, control)


# -- 1. caching ------------------------------------------------------------------------


def test_a_second_play_is_an_edge_hit_and_the_fleet_cut_the_clip_once(cdn: Cdn) -> None:
    path = cdn.path(0)
    before = cdn.fleet()
    with cdn.viewer() as viewer:
        first = viewer.get(signed(path))
        second = viewer.get(signed(path, ttl_s=900))  # another viewer's token
    after = cdn.fleet()

    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"] == "video/mp4"
    assert (first.headers[EDGE], first.headers[SHIELD]) == ("MISS", "MISS")
    assert second.headers[EDGE] == "HIT"
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    # One request went past the CDN, and the fleet cut the clip once for it.
    assert grew(before, after, REQUESTS, route=STREAM) == 1
    assert grew(before, after, CUTS) == 1
    assert_answered(cdn.edge, path, MISS=1, HIT=1)
    assert_answered(cdn.shield, path, MISS=1)


def test_simultaneous_first_plays_reach_the_origin_once(cdn: Cdn) -> None:
    """proxy_cache_lock stands in for CloudFront's request collapsing."""
    path = cdn.path(1)
    before = cdn.fleet()

    def play(viewer_number: int) -> httpx.Response:
        return httpx.get(cdn.url + signed(path, ttl_s=600 + viewer_number), timeout=60)

    with concurrent.futures.ThreadPoolExecutor(6) as threads:
        answers = list(threads.map(play, range(6)))
    after = cdn.fleet()

    assert [a.status_code for a in answers] == [200] * 6
    assert len({a.content for a in answers}) == 1
    assert grew(before, after, REQUESTS, route=STREAM) == 1
    assert grew(before, after, CUTS) == 1
    # The edge logs the five requests that waited for the first one as hits.
    assert_answered(cdn.edge, path, MISS=1, HIT=5)
    assert_answered(cdn.shield, path, MISS=1)


# -- 2. ranges ---------------------------------------------------------------------------


def test_ranges_are_cut_from_the_cached_whole_clip(cdn: Cdn) -> None:
    path = cdn.path(2)
    url = signed(path)
    before = cdn.fleet()
    with cdn.viewer() as viewer:
        # The very first request is a Range request: the CDN fetches and keeps the whole clip
        # and answers the range from it.
        cold = viewer.get(url, headers={"Range": "bytes=0-1"})
        whole = viewer.get(url)
        ranges = {
            spec: viewer.get(url, headers={"Range": f"bytes={spec}"})
            for spec in ("0-1", "0-", "100-199", "-100")
        }
    after = cdn.fleet()

    assert whole.status_code == 200
    assert whole.headers[EDGE] == "HIT"
    body = whole.content
    size = len(body)
    assert int(whole.headers["content-length"]) == size > 1000

    assert cold.status_code == 206
    assert cold.headers[EDGE] == "MISS"
    assert cold.headers["content-range"] == f"bytes 0-1/{size}"
    assert cold.content == body[:2]
    expected = {
        "0-1": (body[:2], f"bytes 0-1/{size}"),
        "0-": (body, f"bytes 0-{size - 1}/{size}"),
        "100-199": (body[100:200], f"bytes 100-199/{size}"),
        "-100": (body[-100:], f"bytes {size - 100}-{size - 1}/{size}"),
    }
    for spec, answer in ranges.items():
        assert answer.status_code == 206, spec
        assert answer.headers[EDGE] == "HIT", spec
        assert (answer.content, answer.headers["content-range"]) == expected[spec], spec
        assert int(answer.headers["content-length"]) == len(expected[spec][0]), spec
    # The origins were asked once, for the whole clip: a 200, never a 206.
    assert grew(before, after, REQUESTS, route=STREAM, status="200") == 1
    assert grew(before, after, REQUESTS, route=STREAM) == 1
    assert_answered(cdn.shield, path, MISS=1)


# -- 3. edits ----------------------------------------------------------------------------


def split(cdn: Cdn, index: int, at: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split clip ``index`` at ``at`` through a replica's API (the edit API is reached on the
    origin, not through the CDN); the clip as it is now and the new clip after it."""
    clip = cdn.clips[index]
    answer = httpx.post(
        f"{cdn.origins[0].base_url}/api/clips/{clip['id']}/split", json={"at": at}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    changed = {c["id"]: c for c in answer.json()["changed"]}
    kept = changed.pop(clip["id"])
    [added] = changed.values()
    assert (kept["version"], float(kept["end"])) == (clip["version"] + 1, at)
    assert (added["version"], float(added["start"])) == (1, at)
    return kept, added


def source_frames(cdn: Cdn, ffmpeg: str, start: float, end: float) -> int:
    """How many of the source's frames show in [start, end)."""
    times = [t for t, _ in timed_frame_hashes(ffmpeg, cdn.source)]
    return sum(1 for t in times if Fraction(start) <= t < Fraction(end))


def test_an_edit_gives_new_urls_that_miss_then_play_the_new_ranges(
    cdn: Cdn, ffmpeg: str, tmp_path: Path
) -> None:
    index = 3
    old = cdn.path(index)
    start, end = float(cdn.clips[index]["start"]), float(cdn.clips[index]["end"])
    at = start + 0.5
    with cdn.viewer() as viewer:
        played = viewer.get(signed(old))
        assert played.status_code == 200
        assert viewer.get(signed(old)).headers[EDGE] == "HIT"

        kept, added = split(cdn, index, at)
        before = cdn.fleet()
        new_head = viewer.get(signed(path_of(kept["url"])))
        new_head_again = viewer.get(signed(path_of(kept["url"])))
        new_tail = viewer.get(signed(path_of(added["url"])))
        old_again = viewer.get(signed(old))
        after = cdn.fleet()

    assert (new_head.status_code, new_head.headers[EDGE]) == (200, "MISS")
    assert (new_head_again.status_code, new_head_again.headers[EDGE]) == (200, "HIT")
    assert (new_tail.status_code, new_tail.headers[EDGE]) == (200, "MISS")
    assert grew(before, after, REQUESTS, route=STREAM) == 2
    assert grew(before, after, CUTS) == 2
    head_frames = frame_count(ffmpeg, new_head.content, tmp_path, "head.mp4")
    tail_frames = frame_count(ffmpeg, new_tail.content, tmp_path, "tail.mp4")
    assert head_frames == source_frames(cdn, ffmpeg, start, at) == 15
    assert tail_frames == source_frames(cdn, ffmpeg, at, end) == 30

    # The origin redirects the old version to the new one, for a minute...
    direct = httpx.get(cdn.origins[0].base_url + old, headers={"X-Origin-Verify": CDN_SECRET})
    assert direct.status_code == 302
    assert direct.headers["location"] == path_of(kept["url"])
    assert direct.headers["cache-control"] == "public, max-age=60"
    # ...but a CDN that holds the old version goes on serving its bytes: they were sent as
    # immutable for a year, and they still are that version's bytes. Viewers of the old URL
    # only reach the redirect where it was never cached (next test).
    assert (old_again.status_code, old_again.headers[EDGE]) == (200, "HIT")
    assert old_again.content == played.content


def test_an_old_version_the_cdn_never_held_redirects_for_a_minute(
    cdn: Cdn, ffmpeg: str, tmp_path: Path
) -> None:
    index = 4
    old = cdn.path(index)
    start = float(cdn.clips[index]["start"])
    kept, _ = split(cdn, index, start + 1.0)
    new = path_of(kept["url"])
    urls = [signed(old), signed(old, ttl_s=900)]  # two viewers, two expiries
    before = cdn.fleet()
    with cdn.viewer() as viewer:
        first, second = (viewer.get(url) for url in urls)
        # A viewer that gets a fresh URL for the new version (`origin url`, the API) plays it.
        played = viewer.get(signed(new))
    # What the edge cache holds, asked without the edge function: the origin's redirect, which
    # names the new path without a token (the origin saw none), public for a minute.
    held = httpx.get(cdn.edge.url + old)
    after = cdn.fleet()

    assert (held.status_code, held.headers[EDGE]) == (302, "HIT")
    assert held.headers["location"] == new
    assert held.headers["cache-control"] == "public, max-age=60"
    # The edge function gives each viewer's copy a token for the new path that expires with
    # the viewer's own (as the origin does when reached directly), and keeps that copy out of
    # shared caches.
    for url, answer in zip(urls, (first, second), strict=True):
        assert answer.status_code == 302
        assert answer.headers["location"] == sign_path_until(new, SIGNING_KEY.encode(), exp_of(url))
        assert answer.headers["cache-control"] == "private, max-age=60"
    assert (first.headers[EDGE], second.headers[EDGE]) == ("MISS", "HIT")
    assert grew(before, after, REQUESTS, route=STREAM, status="302") == 1
    assert (played.status_code, played.headers[EDGE]) == (200, "MISS")
    assert frame_count(ffmpeg, played.content, tmp_path, "new.mp4") == 30


def test_a_viewer_can_follow_the_redirect_of_an_old_signed_url(
    cdn: Cdn, ffmpeg: str, tmp_path: Path
) -> None:
    """Old links (embedded players, bookmarks) keep working through the CDN: behind it the
    origin never sees the viewer's token, so the redirect it gives and the CDN keeps names the
    new path without one, and the edge function adds the viewer's own on the way out."""
    index = 5
    old = cdn.path(index)
    start = float(cdn.clips[index]["start"])
    kept, _ = split(cdn, index, start + 0.5)
    new = path_of(kept["url"])
    url = signed(old)
    later = signed(old, ttl_s=1800)  # another viewer of the old link, with a later expiry
    before = cdn.fleet()
    with cdn.viewer() as viewer:
        answer = viewer.get(url, follow_redirects=True)
        again = viewer.get(later, follow_redirects=True)  # both hops are edge hits
        # A fresh URL for the new version gets the very same object.
        fresh = viewer.get(signed(new))
    after = cdn.fleet()

    assert answer.status_code == 200, answer.text
    [redirect] = answer.history
    assert redirect.status_code == 302
    assert redirect.headers["cache-control"] == "private, max-age=60"
    followed = str(answer.url)
    assert path_of(followed) == new
    assert exp_of(followed) == exp_of(url)  # the viewer's expiry, never a later one
    assert (redirect.headers[EDGE], answer.headers[EDGE]) == ("MISS", "MISS")
    assert again.status_code == 200, again.text
    assert exp_of(str(again.url)) == exp_of(later)
    assert [r.headers[EDGE] for r in (*again.history, again)] == ["HIT", "HIT"]
    assert (fresh.status_code, fresh.headers[EDGE]) == (200, "HIT")
    # The new version's bytes: the clip as cut after the edit, half a second long.
    assert answer.content == again.content == fresh.content
    assert frame_count(ffmpeg, answer.content, tmp_path, "followed.mp4") == 15
    # The origins saw the old link once (the redirect) and the new one once (the clip).
    assert grew(before, after, REQUESTS, route=STREAM, status="302") == 1
    assert grew(before, after, REQUESTS, route=STREAM, status="200") == 1
    assert grew(before, after, CUTS) == 1


# -- 4. errors ---------------------------------------------------------------------------


def assert_reached_the_origins_each_time(
    cdn: Cdn, path: str, answers: list[httpx.Response], status: int
) -> None:
    for answer in answers:
        assert answer.status_code == status, answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers[EDGE] == "MISS"
        assert answer.headers[SHIELD] == "MISS"
    assert_answered(cdn.shield, path, MISS=len(answers))


def assert_recovered(cdn: Cdn, viewer: httpx.Client, path: str) -> None:
    """The next plays after the failure are a miss that the origins answer, then a hit."""
    before = cdn.fleet()
    recovered = viewer.get(signed(path))
    again = viewer.get(signed(path))
    after = cdn.fleet()
    assert (recovered.status_code, recovered.headers[EDGE]) == (200, "MISS")
    assert (again.status_code, again.headers[EDGE]) == (200, "HIT")
    assert grew(before, after, REQUESTS, route=STREAM, status="200") == 1
    assert grew(before, after, CUTS) == 1


def test_a_429_from_a_saturated_fleet_is_not_cached(cdn: Cdn) -> None:
    path = cdn.path(9)
    holders = [cdn.path(6), cdn.path(7)]  # cold clips that start mid-GOP: a cut runs ffmpeg

    def busy(origin: Server) -> bool:
        with origin.client() as http:
            return bool(http.get("/status/pool").json()["active_processes"] == 1)

    def cut_at(origin: Server, held: str) -> httpx.Response:
        return httpx.get(
            origin.base_url + held, headers={"X-Origin-Verify": CDN_SECRET}, timeout=60
        )

    before = cdn.fleet()
    with cdn.viewer() as viewer:
        with concurrent.futures.ThreadPoolExecutor(2) as threads:
            with cdn.flag("hold"):
                # One cut straight to each replica takes its only slot and keeps it.
                holding = [
                    threads.submit(cut_at, origin, held)
                    for origin, held in zip(cdn.origins, holders, strict=True)
                ]
                wait_for(lambda: all(busy(o) for o in cdn.origins), 20, "both slots taken")
                refused = [viewer.get(signed(path)) for _ in range(2)]
            assert [h.result().status_code for h in holding] == [200, 200]
        after = cdn.fleet()
        assert_reached_the_origins_each_time(cdn, path, refused, 429)
        for answer in refused:
            assert int(answer.headers["retry-after"]) >= 1
        assert grew(before, after, "origin_pool_rejections_total") == 2
        assert grew(before, after, REQUESTS, route=STREAM, status="429") == 2
        assert_recovered(cdn, viewer, path)


def test_a_500_from_a_failed_cut_is_not_cached(cdn: Cdn) -> None:
    path = cdn.path(10)  # starts mid-GOP: its cut runs ffmpeg
    before = cdn.fleet()
    with cdn.viewer() as viewer:
        with cdn.flag("fail"):
            failed = [viewer.get(signed(path)) for _ in range(2)]
        after = cdn.fleet()
        assert_reached_the_origins_each_time(cdn, path, failed, 500)
        assert grew(before, after, REQUESTS, route=STREAM, status="500") == 2
        assert_recovered(cdn, viewer, path)


def test_a_503_for_a_missing_source_is_not_cached(cdn: Cdn) -> None:
    path = cdn.path(8)
    away = cdn.source.with_name("away.mp4")
    before = cdn.fleet()
    with cdn.viewer() as viewer:
        cdn.source.rename(away)  # a rename keeps the file's identity (mtime, size) for later
        try:
            unavailable = [viewer.get(signed(path)) for _ in range(2)]
        finally:
            away.rename(cdn.source)
        after = cdn.fleet()
        assert_reached_the_origins_each_time(cdn, path, unavailable, 503)
        for answer in unavailable:
            assert answer.headers["retry-after"] == "5"
        assert grew(before, after, REQUESTS, route=STREAM, status="503") == 2
        assert_recovered(cdn, viewer, path)


# -- 5. 404s -----------------------------------------------------------------------------


def test_404s_are_cached_for_their_short_max_age_only(cdn: Cdn) -> None:
    index = 11
    clip = cdn.clips[index]
    future = f"/videos/clips/{clip['id']}/stream/v{clip['version'] + 1}"
    before = cdn.fleet()
    with cdn.viewer() as viewer:
        missing = viewer.get(signed(future))
        stored_at = time.monotonic()
        assert missing.status_code == 404
        lifetime = max_age(missing)
        assert missing.headers["cache-control"] == f"public, max-age={lifetime}"
        assert 0 < lifetime <= 60
        assert missing.headers[EDGE] == "MISS"
        assert viewer.get(signed(future)).headers[EDGE] == "HIT"

        # An edit makes that version real; the edge keeps its 404 until max-age has passed
        # (nginx counts in whole seconds), then asks again and gets the clip.
        kept, _ = split(cdn, index, float(clip["start"]) + 0.5)
        assert path_of(kept["url"]) == future
        while (answer := viewer.get(signed(future))).headers[EDGE] == "HIT":
            assert answer.status_code == 404
            assert time.monotonic() - stored_at < lifetime + 3, "the 404 outlived its max-age"
            time.sleep(0.2)
        held_s = time.monotonic() - stored_at

        # Other 404s carry the same short max-age: an unknown clip, an unknown path.
        unknown = [viewer.get(signed("/videos/clips/999999/stream/v1")), viewer.get("/no/such")]
    after = cdn.fleet()

    assert held_s >= lifetime - 1.5, held_s
    assert answer.status_code == 200
    assert answer.headers[EDGE] in ("EXPIRED", "MISS")
    # During the wait the CDN answered alone: the origins saw one 404 and then the clip.
    assert grew(before, after, REQUESTS, route=STREAM, status="404") == 2  # + the unknown clip
    assert grew(before, after, REQUESTS, route=STREAM, status="200") == 1
    for other in unknown:
        assert other.status_code == 404
        assert other.headers["cache-control"] == missing.headers["cache-control"]


def test_other_client_errors_are_not_cached(cdn: Cdn) -> None:
    """A malformed version (400) is no-store: each one goes to the origins."""
    path = "/videos/clips/1/stream/vx"  # not a stream URL to the edge function: no token needed
    with cdn.viewer() as viewer:
        answers = [viewer.get(path) for _ in range(2)]
    for answer in answers:
        assert answer.status_code == 400
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers[EDGE] == "MISS"
    assert_answered(cdn.shield, path, MISS=2)


# -- 6. never cached ---------------------------------------------------------------------


def test_health_metrics_status_and_api_answers_are_never_cached(cdn: Cdn) -> None:
    source_id = cdn.clips[0]["source_id"]
    routes = {
        "/healthz": "/healthz",
        "/readyz": "/readyz",
        "/metrics": "/metrics",
        "/status/pool": "/status/pool",
        "/api/sources": "/api/sources",
        f"/api/sources/{source_id}": "/api/sources/{source_id}",
        f"/api/sources/{source_id}/clips": "/api/sources/{source_id}/clips",
        f"/api/sources/{source_id}/frames": "/api/sources/{source_id}/frames",
        "/": "/",
    }
    before = cdn.fleet()  # itself one /metrics request per replica, counted after it
    with cdn.viewer() as viewer:
        answers = {path: [viewer.get(path), viewer.get(path)] for path in routes}
    after = cdn.fleet()

    for path, (first, second) in answers.items():
        assert first.status_code == second.status_code == 200, path
        cache_control = first.headers["cache-control"]
        # no-store, or private (the frame times): either keeps a shared cache from storing it.
        assert "no-store" in cache_control or "private" in cache_control, (path, cache_control)
        assert (first.headers[EDGE], second.headers[EDGE]) == ("MISS", "MISS"), path
        assert_answered(cdn.shield, path, MISS=2)
    for path, route in routes.items():
        scrapes = len(cdn.origins) if route == "/metrics" else 0
        assert grew(before, after, REQUESTS, route=route, status="200") == 2 + scrapes, path


# -- 7. signed URLs ----------------------------------------------------------------------


def test_the_edge_refuses_bad_tokens_and_shares_one_object_between_good_ones(cdn: Cdn) -> None:
    path = cdn.path(12)
    good = signed(path)
    token = dict(parse_qsl(urlsplit(good).query))
    exp, sig = token["exp"], token["sig"]
    tampered = f"{path}?exp={exp}&sig={'A' if sig[0] != 'A' else 'B'}{sig[1:]}"
    expired = sign_path(path, SIGNING_KEY.encode(), 60, now=time.time() - 3600)
    before = cdn.fleet()
    with cdn.viewer() as viewer:
        refused = {
            "invalid token": viewer.get(tampered),
            "expired token": viewer.get(expired),
            "missing token": viewer.get(path),
        }
        after_refusals = cdn.fleet()
        first = viewer.get(good)
        # Another viewer: another token, and a query string of its own that is no key either.
        other = signed(path, ttl_s=1200) + "&utm_source=mail"
        second = viewer.get(other)
    after = cdn.fleet()

    for reason, answer in refused.items():
        assert answer.status_code == 403, reason
        assert answer.json() == {"error": reason}
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-cache"].startswith("FunctionGeneratedResponse")
    # Refused at the edge: neither a cache layer nor an origin saw those requests. What the
    # function let through reached the cache as the viewer sent it, token included (the
    # viewer-response side needs it); the cache keyed on the path alone and passed on none of
    # the query string.
    assert_answered(cdn.edge, path, MISS=1, HIT=1)
    assert_answered(cdn.shield, path, MISS=1)
    assert cdn.edge.uris(path) == [good, other]
    assert cdn.shield.uris(path) == [path]
    assert grew(before, after_refusals, REQUESTS, route=STREAM) == 0

    assert (first.status_code, first.headers[EDGE]) == (200, "MISS")
    assert (second.status_code, second.headers[EDGE]) == (200, "HIT")
    assert second.content == first.content
    assert grew(after_refusals, after, REQUESTS, route=STREAM) == 1
    assert grew(after_refusals, after, CUTS) == 1


def test_the_origin_lets_in_only_requests_with_a_token_or_the_cdn_secret(cdn: Cdn) -> None:
    """What makes the token-less requests of the cache layers acceptable: X-Origin-Verify,
    which the layers set, whatever a viewer sends in it."""
    path = cdn.path(13)
    with cdn.viewer() as viewer:
        # A viewer who knows the secret still needs a token...
        spoofed = viewer.get(path, headers={"X-Origin-Verify": CDN_SECRET})
        # ...and one who sends a wrong secret does not spoil a good token's request (a cold clip:
        # this one goes all the way to an origin, without the token).
        garbled = viewer.get(signed(path), headers={"X-Origin-Verify": "guess"})
    assert (spoofed.status_code, spoofed.json()) == (403, {"error": "missing token"})
    assert (garbled.status_code, garbled.headers[EDGE], garbled.headers[SHIELD]) == (
        200, "MISS", "MISS",
    )  # fmt: skip

    origin = cdn.origins[1].base_url
    assert httpx.get(origin + path).status_code == 403
    assert httpx.get(origin + path, headers={"X-Origin-Verify": "guess"}).status_code == 403
    assert httpx.get(origin + path, headers={"X-Origin-Verify": CDN_SECRET}).status_code == 200
    assert httpx.get(origin + signed(path)).status_code == 200
