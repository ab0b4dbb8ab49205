"""Every setting in one typed table, read once from the environment at start-up.

The README's settings table and ``origin --help`` are checked against
:data:`SETTINGS` by the unit tests, so a new setting is added here first.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pool.request import Precision

StreamMode = Literal["file", "pipe"]
LogFormat = Literal["json", "console"]
WorkerMode = Literal["off", "inline"]

MiB = 1024 * 1024


class SettingsError(ValueError):
    """An environment variable with a value that cannot be used."""


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be zero or more")
    return value


def _niceness(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 19:
        raise ValueError("must be between 0 and 19")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number")
    return value


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError("must be one of " + ", ".join(allowed))
        return raw

    return parse


def _text(raw: str) -> str | None:
    return raw or None


@dataclass(frozen=True)
class Setting:
    """One environment variable: where it goes, how it parses, what it means."""

    env: str
    field: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    default_text: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "database_url", _text, None,
            "PostgreSQL DSN", "private cluster"),
    Setting("ORIGIN_DB_TIMEOUT_S", "db_timeout_s", _positive_float, 3.0,
            "longest wait for a database connection or answer before a 503"),
    Setting("ORIGIN_CLIP_ROW_TTL_S", "clip_row_ttl_s", _positive_float, 5.0,
            "a clip's database row is reused this long before it is read again"),
    Setting("ORIGIN_CLIP_ROW_STALE_S", "clip_row_stale_s", _positive_float, 300.0,
            "while the database is down, cached clips whose row was read this recently are "
            "still served"),
    Setting("ORIGIN_HOME", "home", Path, Path(".origin"),
            "private cluster, demo media, cache", "./.origin"),
    Setting("ORIGIN_FFMPEG", "ffmpeg", _text, None,
            "ffmpeg to run", "imageio-ffmpeg's binary, else ffmpeg on PATH"),
    Setting("ORIGIN_MAX_PROCESSES", "max_processes", _positive_int, 15,
            "concurrent ffmpeg processes"),
    Setting("ORIGIN_QUEUE_TIMEOUT_MS", "queue_timeout_ms", _non_negative_int, 0,
            "how long a request may wait for a slot before 429"),
    Setting("ORIGIN_FFMPEG_NICE", "ffmpeg_nice", _niceness, 19,
            "ffmpeg runs this much nicer than the server, so cheap answers do not wait "
            "behind encoding (0 to 19)"),
    Setting("ORIGIN_STREAM_TIMEOUT_S", "stream_timeout_s", _positive_float, 300.0,
            "hard limit on one ffmpeg run"),
    Setting("ORIGIN_STREAM_MODE", "stream_mode", _choice("file", "pipe"), "file",
            "file: frame-exact MP4 with known length; pipe: fragmented MP4 piped as made"),
    Setting("ORIGIN_PRECISION", "precision", _choice("editlist", "smart"), "smart",
            "file mode: smart re-encodes the frames before the first keyframe so every player "
            "shows exactly the clip; editlist stream-copies and hides them with an edit list"),
    Setting("ORIGIN_SMART_MAX_REENCODE_S", "smart_max_reencode_s", _positive_float, 10.0,
            "a smart cut that would re-encode more than this (no keyframe in the clip to "
            "copy from, e.g. a long GOP) uses the edit list instead"),
    Setting("ORIGIN_SHUTDOWN_GRACE_S", "shutdown_grace_s", _positive_float, 20.0,
            "on SIGTERM, how long responses in flight may finish before ffmpeg is killed"),
    Setting("ORIGIN_CACHE_DIR", "cache_dir", Path, None,
            "generated clips", "$ORIGIN_HOME/cache"),
    Setting("ORIGIN_CACHE_MAX_BYTES", "cache_max_bytes", _positive_int, 1024 * MiB,
            "LRU bound on the clip cache", "1 GiB"),
    Setting("ORIGIN_CACHE_TTL_S", "cache_ttl_s", _positive_float, 900.0,
            "idle expiry of a cached clip"),
    Setting("ORIGIN_CACHE_MIN_FREE_BYTES", "cache_min_free_bytes", _non_negative_int, 500 * MiB,
            "keep at least this much disk free", "500 MiB"),
    Setting("ORIGIN_INDEX_CACHE_MAX_BYTES", "index_cache_max_bytes", _positive_int, 64 * MiB,
            "memory bound on the sample indexes of recent sources (a two-hour source: ~15 MiB); "
            "the built indexes are also kept on disk under the cache directory's indexes/, "
            "up to 4 times this", "64 MiB"),
    Setting("ORIGIN_CLIP_STORE", "clip_store", _text, None,
            "shared clip store behind every replica's cache: a directory or "
            "s3://bucket/prefix; 'none' turns it (and warming) off", "$ORIGIN_HOME/store"),
    Setting("ORIGIN_STORE_MAX_BYTES", "store_max_bytes", _positive_int, 20 * 1024 * MiB,
            "size cap of the clip store, least recently used clips go first", "20 GiB"),
    Setting("ORIGIN_STORE_GRACE_S", "store_grace_s", _positive_float, 600.0,
            "superseded clip versions stay in the store this long after the edit"),
    Setting("ORIGIN_WORKER", "worker", _choice("off", "inline"), "off",
            "inline: 'origin serve' also runs a job worker (warm, export, maintenance) in "
            "process; off: jobs run in 'origin worker' processes ('origin demo' sets inline)"),
    Setting("ORIGIN_WORKER_CONCURRENCY", "worker_concurrency", _positive_int, 2,
            "jobs one worker runs at once (cuts still go through the ffmpeg slots)"),
    Setting("ORIGIN_WORKER_HEARTBEAT_S", "worker_heartbeat_s", _positive_float, 10.0,
            "how often a worker says it is alive; a job whose worker is silent for 3 times "
            "this is retried"),
    Setting("ORIGIN_MAINTENANCE_EVERY_S", "maintenance_every_s", _positive_int, 60,
            "how often the maintenance job runs (stalled jobs, superseded versions, store cap)"),
    Setting("ORIGIN_WARM_URL_BASE", "warm_url_base", _text, None,
            "after a warm job cuts a clip it also GETs it through this base URL (the CDN), "
            "so the edge holds it too", "unset"),
    Setting("ORIGIN_SIGNING_KEY", "signing_keys", _text, None,
            "when set, stream URLs need ?exp=…&sig=… (HMAC-SHA256); comma-separated to rotate",
            "unset"),
    Setting("ORIGIN_CDN_SECRET", "cdn_secret", _text, None,
            "with signing on, requests whose X-Origin-Verify header carries this secret "
            "(a CloudFront custom origin header) need no token: the edge checked it", "unset"),
    Setting("ORIGIN_ADMIN_TOKEN", "admin_token", _text, None,
            "bearer token for the edit API", "unset"),
    Setting("ORIGIN_S3_ENDPOINT_URL", "s3_endpoint_url", _text, None,
            "S3-compatible endpoint; AWS_* variables as boto3 reads them", "unset"),
    Setting("ORIGIN_CORS_ORIGINS", "cors_origins", str, "*",
            "allowed origins for the stream and thumbnail routes"),
    Setting("ORIGIN_LEAKAGE_WARN_S", "leakage_warn_s", _positive_float, 2.0,
            "log a warning for runs whose keyframe leakage exceeds this"),
    Setting("ORIGIN_LOG_FORMAT", "log_format", _choice("json", "console"), "json",
            "json or console"),
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """The parsed settings; build with :meth:`from_env`."""

    database_url: str | None = None
    db_timeout_s: float = 3.0
    clip_row_ttl_s: float = 5.0
    clip_row_stale_s: float = 300.0
    home: Path = Path(".origin")
    ffmpeg: str | None = None
    max_processes: int = 15
    queue_timeout_ms: int = 0
    ffmpeg_nice: int = 19
    stream_timeout_s: float = 300.0
    stream_mode: StreamMode = "file"
    precision: Precision = "smart"
    smart_max_reencode_s: float = 10.0
    shutdown_grace_s: float = 20.0
    cache_dir: Path | None = None
    cache_max_bytes: int = 1024 * MiB
    cache_ttl_s: float = 900.0
    cache_min_free_bytes: int = 500 * MiB
    index_cache_max_bytes: int = 64 * MiB
    clip_store: str | None = None
    store_max_bytes: int = 20 * 1024 * MiB
    store_grace_s: float = 600.0
    worker: WorkerMode = "off"
    worker_concurrency: int = 2
    worker_heartbeat_s: float = 10.0
    maintenance_every_s: int = 60
    warm_url_base: str | None = None
    signing_keys: str | None = None
    cdn_secret: str | None = None
    admin_token: str | None = None
    s3_endpoint_url: str | None = None
    cors_origins: str = "*"
    leakage_warn_s: float = 2.0
    log_format: LogFormat = "json"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting of :data:`SETTINGS` from ``env`` (default: os.environ)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env)
            if raw is None or raw == "":
                values[setting.field] = setting.default
                continue
            try:
                values[setting.field] = setting.parse(raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{setting.env}={raw!r}: {exc}") from None
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests, CLI options)."""
        return dataclasses.replace(self, **changes)

    @property
    def cache_path(self) -> Path:
        """Where generated clips live."""
        return self.cache_dir if self.cache_dir is not None else self.home / "cache"

    @property
    def clip_store_spec(self) -> str | None:
        """Where the shared clip store is, or None when it is turned off."""
        if self.clip_store is None:
            return str(self.home / "store")
        return None if self.clip_store.lower() == "none" else self.clip_store

    @property
    def signing_key_list(self) -> tuple[bytes, ...]:
        """Signing keys, newest first; the first one signs, all of them verify."""
        if not self.signing_keys:
            return ()
        return tuple(k.strip().encode() for k in self.signing_keys.split(",") if k.strip())


def settings_help() -> str:
    """The settings table as plain text, for ``origin --help``."""
    lines = ["settings (environment variables):"]
    for s in SETTINGS:
        default = s.default_text or str(s.default)
        lines.append(f"  {s.env:<30} {s.help} [default: {default}]")
    return "\n".join(lines)
