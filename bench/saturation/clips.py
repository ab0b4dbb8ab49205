"""Which clip of the source plays which part, and the cheap requests a server is asked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from bench.runner.origin import CacheCleaner, Origin
from bench.runner.source import KEYFRAME_EVERY_S
from bench.saturation.clients import client
from bench.saturation.model import (
    FULL,
    HEALTH,
    LOAD_CLIENTS,
    NOT_FOUND,
    NOT_MODIFIED,
    RANGE,
    REDIRECT,
    Cold,
    Probe,
    Workload,
)

# Every clip of the source is this long; those that start half-way through a
# 2 s GOP (5, 15, 25, … s) re-encode its second half with x264 when cut.
CLIP_EVERY_S = Decimal(5)
PROBES_429 = 4  # cold clips kept for the sampler's 429 requests, apart from the load's


def _mid_gop(clip: Mapping[str, Any]) -> bool:
    return Decimal(str(clip["start"])) % Decimal(str(KEYFRAME_EVERY_S)) != 0


@dataclass(frozen=True)
class Clips:
    """Which clip plays which part: warm, moved to version 2, cut cold."""

    warm: str  # URL path of the clip served from the cache
    moved: int  # id of the clip that gets a version 2 (its version 1 URL answers 302)
    moved_at: float  # where its end is moved to
    cold: tuple[tuple[int, str], ...]  # (id, URL path) of mid-GOP clips, for the 429 probes
    load: tuple[tuple[int, str], ...]  # (id, URL path) of mid-GOP clips, for the load


def pick_clips(clips: Sequence[Mapping[str, Any]]) -> Clips:
    """Split the source's clips between the roles; every cold one starts mid-GOP."""
    aligned = [c for c in clips if not _mid_gop(c)]
    # Keyframe-aligned clips are the warm and the moved one: neither is cut
    # while sampling. The move also bumps the version of the clip that
    # follows, which is left out.
    warm, moved = aligned[1], aligned[2]
    mid = [(c["id"], c["url"]) for c in clips if _mid_gop(c) and c["start"] != moved["end"]]
    return Clips(
        warm=warm["url"],
        moved=moved["id"],
        moved_at=moved["end"] + 0.5,
        cold=tuple(mid[:PROBES_429]),
        load=tuple(mid[PROBES_429:]),
    )


def workload(origin: Origin, clips: Clips) -> Workload:
    """The cold clips of ``origin``, split between the load clients and the 429 sampler."""

    def cold(pairs: Sequence[tuple[int, str]]) -> tuple[Cold, ...]:
        return tuple((url, CacheCleaner(origin.cache_dir, i, origin.form)) for i, url in pairs)

    return Workload(
        load=tuple(cold(clips.load[k::LOAD_CLIENTS]) for k in range(LOAD_CLIENTS)),
        cold=cold(clips.cold),
    )


def probes(port: int, clips: Clips, redirect_from: str, missing_id: int) -> tuple[Probe, ...]:
    """The cheap requests for one server; puts the warm clip in its cache first."""
    with client(port) as http:
        warm = http.get(clips.warm)
        warm.raise_for_status()
    return (
        Probe(RANGE, clips.warm, 206, {"Range": "bytes=0-65535"}),
        Probe(FULL, clips.warm, 200),
        Probe(NOT_MODIFIED, clips.warm, 304, {"If-None-Match": warm.headers["etag"]}),
        Probe(REDIRECT, redirect_from, 302),
        Probe(NOT_FOUND, f"/videos/clips/{missing_id}/stream/v1", 404),
        Probe(HEALTH, "/healthz", 200),
    )


def move_cut(port: int, clips: Clips) -> str:
    """Give the moved clip a version 2 through the JSON API; its version 1 URL."""
    response = httpx.post(
        f"http://127.0.0.1:{port}/api/clips/{clips.moved}/move-cut", json={"at": clips.moved_at}
    )
    response.raise_for_status()
    changed = {c["id"]: c for c in response.json()["changed"]}[clips.moved]
    if changed["version"] != 2:
        raise RuntimeError(f"move-cut left clip {clips.moved} at {changed}")
    return str(changed["url"]).replace("/v2", "/v1")
