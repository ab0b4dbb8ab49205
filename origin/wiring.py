"""Build the long-lived objects the server and the worker share from the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from origin.leases import PgCutLeases
from origin.metrics import Metrics
from origin.observe import RunObserver
from origin.settings import Settings
from pool.clip_pool import ClipPool
from pool.cuts import FfmpegBinary
from pool.sources.locations import SourceResolver, s3_client
from pool.store import open_store


def source_resolver(settings: Settings) -> SourceResolver:
    """How this deployment reaches sources; presigned URLs outlive the longest run."""
    return SourceResolver(
        s3_endpoint_url=settings.s3_endpoint_url,
        presign_ttl_s=int(settings.stream_timeout_s) + 60,
    )


def store_is_s3(settings: Settings) -> bool:
    """True when the clip store is in S3."""
    spec = settings.clip_store_spec
    return spec is not None and urlparse(spec).scheme == "s3"


def prepare_store(settings: Settings) -> None:
    """Make an S3 store's client now (blocking: boto3 takes a few hundred ms to load).

    The store makes it on first use otherwise; S3 sources share it (one per endpoint).
    """
    if store_is_s3(settings):
        s3_client(settings.s3_endpoint_url)


def build_clip_pool(
    settings: Settings,
    ffmpeg: FfmpegBinary,
    metrics: Metrics,
    db_pool: Any,
    *,
    cache_dir: Path | None = None,
) -> ClipPool:
    """The clip pool, its local cache (``cache_dir`` or the settings'), the shared store
    and the fleet's cut leases (in the database behind ``db_pool``)."""
    run_observer = RunObserver(metrics, settings.leakage_warn_s)
    store_spec = settings.clip_store_spec
    store = open_store(store_spec, s3_endpoint_url=settings.s3_endpoint_url) if store_spec else None
    pool = ClipPool(
        ffmpeg,
        cache_dir or settings.cache_path,
        max_processes=settings.max_processes,
        queue_timeout_s=settings.queue_timeout_ms / 1000,
        run_timeout_s=settings.stream_timeout_s,
        cache_max_bytes=settings.cache_max_bytes,
        cache_idle_ttl_s=settings.cache_ttl_s,
        cache_min_free_bytes=settings.cache_min_free_bytes,
        on_run=run_observer,
        on_smart_cut=run_observer.smart_cut,
        smart_max_reencode_s=settings.smart_max_reencode_s,
        ffmpeg_nice=settings.ffmpeg_nice,
        index_cache_max_bytes=settings.index_cache_max_bytes,
        store=store,
        # A smart cut may take two runs, then the upload: a lease outlives all of it.
        leases=PgCutLeases(
            db_pool, ttl_s=2 * settings.stream_timeout_s + 60, timeout_s=settings.db_timeout_s
        ),
    )
    metrics.watch_pool(pool)
    return pool
