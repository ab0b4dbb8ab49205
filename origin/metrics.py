"""Prometheus metrics: one registry per app, no unbounded label values.

Live pool and cache figures are read when scraped (a custom collector), so
they cannot drift from the pool's own state. One uvicorn worker per process:
running several workers would need prometheus-client's multiprocess mode.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pool.clip_pool import ClipPool
from pool.procfs import rss_bytes

#: From a cache hit (milliseconds) to a long cold run (minutes): the
#: Prometheus defaults stop at 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Leakage is bounded by the source's keyframe interval (usually 1 to 10 s).
LEAKAGE_BUCKETS = (0, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10)
#: Event-loop lag: healthy is well under a millisecond, trouble is tens of ms.
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
REENCODED_BUCKETS = (0, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)
#: Enqueue to done: a warm job on an idle worker takes a cut's time, a busy one minutes.
JOB_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)

LEAKAGE_HELP = (
    "Requested start minus the keyframe the stream copy really starts from. Smart cuts: "
    "always 0 (nothing before the start is sent). In file mode (edit list) the MP4 edit "
    "list hides these frames, but their bytes are still sent; in pipe mode they are shown."
)


class Metrics:
    """Every metric the app records, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "origin_ffmpeg_runs", "ffmpeg runs by output mode and how they ended",
            ["mode", "outcome"], registry=r,
        )  # fmt: skip
        self.rejections = Counter(
            "origin_pool_rejections", "Requests answered 429 because no ffmpeg slot was free",
            registry=r,
        )  # fmt: skip
        self.db_errors = Counter(
            "origin_db_errors", "Requests answered 503 because the database could not answer",
            ["kind"], registry=r,
        )  # fmt: skip
        self.startup = Histogram(
            "origin_ffmpeg_startup_seconds", "ffmpeg spawn to first output byte",
            ["mode"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.run_seconds = Histogram(
            "origin_ffmpeg_run_seconds", "ffmpeg spawn to reaped",
            ["mode"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "origin_request_seconds", "Request start to last byte sent, by route template",
            ["route", "status"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.responses = Counter(
            "origin_responses", "Responses by how they ended: complete, client_gone, "
            "shutdown (grace period after SIGTERM over) or failed (the app raised)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.loop_lag = Histogram(
            "origin_event_loop_lag_seconds",
            "How much later than due the event loop woke a 100 ms timer",
            buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.ttfb = Histogram(
            "origin_ttfb_seconds",
            "Request start to response start for clip streams, by how the cache answered",
            ["cache"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.response_bytes = Counter(
            "origin_response_bytes", "Body bytes sent, by route template", ["route"], registry=r
        )
        self.leakage = Histogram(
            "origin_keyframe_leakage_seconds", LEAKAGE_HELP,
            ["mode"], buckets=LEAKAGE_BUCKETS, registry=r,
        )  # fmt: skip
        self.leakage_bytes = Counter(
            "origin_keyframe_leakage_bytes",
            "Estimated bytes of pre-roll before the requested start (leakage seconds times "
            "the source's average byte rate), sent although not part of the clip",
            ["mode"], registry=r,
        )  # fmt: skip

        self.smartcut_reencoded = Histogram(
            "origin_smartcut_reencoded_seconds",
            "Seconds of each smart-cut clip that were re-encoded (the rest is stream-copied)",
            buckets=REENCODED_BUCKETS, registry=r,
        )  # fmt: skip
        self.smartcut_source_bytes = Counter(
            "origin_smartcut_source_bytes",
            "Source bytes the smart cut read itself (index and the clip's span)",
            registry=r,
        )
        self.smartcut_fallbacks = Counter(
            "origin_smartcut_fallbacks",
            "Clips cut with the edit list because the smart cut could not handle them, by reason",
            ["reason"], registry=r,
        )  # fmt: skip

        self.jobs = Counter(
            "origin_jobs", "Background jobs this process ran, by queue and outcome "
            "(done, skipped, failed, interrupted)", ["queue", "outcome"], registry=r,
        )  # fmt: skip
        self.job_latency = Histogram(
            "origin_job_latency_seconds", "Enqueue to finished, for jobs that finished",
            ["queue"], buckets=JOB_BUCKETS, registry=r,
        )  # fmt: skip
        self.warm_yields = Counter(
            "origin_warm_yields",
            "Times a warm job gave its ffmpeg slot to a request",
            registry=r,
        )
        self.queue_depth = Gauge(
            "origin_job_queue_depth", "Jobs waiting (todo) or running (doing), by queue; "
            "read from PostgreSQL every few seconds", ["queue", "status"], registry=r,
        )  # fmt: skip

        self.live_streams = Gauge(
            "origin_live_streams", "Open clip event streams (/api/sources/{id}/events)",
            registry=r,
        )  # fmt: skip
        self.live_listening = Gauge(
            "origin_live_listening",
            "1 while this process LISTENs for clip changes in PostgreSQL, 0 while it reconnects",
            registry=r,
        )
        self.live_notifications = Counter(
            "origin_live_notifications",
            "Clip-change notifications received from PostgreSQL (one per edited source)",
            registry=r,
        )

    def job_finished(self, queue: str, outcome: str, enqueued_at: float) -> None:
        """Count a finished job; time it from enqueue unless it failed or was interrupted."""
        self.jobs.labels(queue, outcome).inc()
        if outcome in ("done", "skipped"):
            self.job_latency.labels(queue).observe(max(0.0, time.time() - enqueued_at))

    def watch_pool(self, pool: ClipPool) -> None:
        """Export the pool's live state with every scrape."""
        self.registry.register(_PoolCollector(pool))


class _PoolCollector(Collector):
    def __init__(self, pool: ClipPool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[Metric]:
        pool = self._pool
        status = pool.status()
        cache = pool.cache
        yield GaugeMetricFamily("origin_ffmpeg_active", "Live ffmpeg processes", status.active)
        yield GaugeMetricFamily("origin_ffmpeg_max", "ffmpeg process limit", status.max)
        yield GaugeMetricFamily(
            "origin_ffmpeg_waiting", "Request runs queued for an ffmpeg slot", status.waiting
        )
        yield GaugeMetricFamily(
            "origin_ffmpeg_background_active", "ffmpeg slots held by warm jobs",
            status.active_background,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "origin_ffmpeg_background_waiting", "Warm jobs queued for an idle ffmpeg slot",
            status.waiting_background,
        )  # fmt: skip
        yield CounterMetricFamily(
            "origin_ffmpeg_preemptions", "Warm runs stopped to give their slot to a request",
            pool.slots.preemptions,
        )  # fmt: skip
        cuts = CounterMetricFamily(
            "origin_clip_cuts", "Clips this process cut (not copied from the store), by form",
            labels=["form"],
        )  # fmt: skip
        for form, count in sorted(pool.cuts.items()):
            cuts.add_metric([form], count)
        yield cuts
        yield from _store_metrics(pool)
        yield GaugeMetricFamily(
            "origin_ffmpeg_rss_bytes", "Resident memory of live ffmpeg processes (/proc)",
            rss_bytes(status.pids),
        )  # fmt: skip
        yield CounterMetricFamily("origin_cache_hits", "Clip cache hits", cache.hits)
        yield CounterMetricFamily("origin_cache_misses", "Clip cache misses", cache.misses)
        yield CounterMetricFamily(
            "origin_cache_coalesced_waits",
            "Requests that waited for a run another request had started",
            pool.coalesced_waits,
        )
        evictions = CounterMetricFamily(
            "origin_cache_evictions", "Cached clips removed, by reason", labels=["reason"]
        )
        for reason, count in sorted(cache.evictions.items()):
            evictions.add_metric([reason], count)
        yield evictions
        yield GaugeMetricFamily("origin_cache_bytes", "Bytes of cached clips", status.cache_bytes)
        yield GaugeMetricFamily("origin_cache_files", "Cached clips", status.cache_files)
        try:
            free = shutil.disk_usage(cache.directory).free
        except OSError:
            return
        yield GaugeMetricFamily(
            "origin_cache_free_disk_bytes", "Free bytes on the cache's file system", free
        )


def _store_metrics(pool: ClipPool) -> Iterator[Metric]:
    store, fleet = pool.store, pool.fleet
    if store is None or fleet is None:
        return
    waits = CounterMetricFamily(
        "origin_fleet_waits", "Cuts this process waited for because another process was "
        "cutting the clip: stored (copied when done), claimed (the other gave up), gave_up "
        "(cut anyway after waiting too long)", labels=["outcome"],
    )  # fmt: skip
    for outcome, count in sorted(fleet.waits.items()):
        waits.add_metric([outcome], count)
    yield waits
    yield CounterMetricFamily(
        "origin_store_hits", "Local cache misses answered by the shared clip store", store.hits
    )
    yield CounterMetricFamily(
        "origin_store_misses", "Local cache misses the shared store did not have (cut)",
        store.misses,
    )  # fmt: skip
    yield CounterMetricFamily(
        "origin_store_errors", "Shared store reads, checks or writes that failed", store.errors
    )
    yield CounterMetricFamily(
        "origin_store_read_bytes", "Bytes copied from the shared store", store.bytes_read
    )
    yield CounterMetricFamily(
        "origin_store_written_bytes", "Bytes written to the shared store", store.bytes_written
    )
