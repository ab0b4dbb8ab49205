"""The typed request the pool works from: which source, which span, which output form."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Mode = Literal["file", "pipe", "jpeg"]
#: How a ``file`` clip starts exactly: ``editlist`` stream-copies from the
#: keyframe before the start and hides the pre-roll with an edit list;
#: ``smart`` re-encodes the frames before the first keyframe instead, so
#: nothing is hidden (pool/cutting/smart_cut.py).
Precision = Literal["editlist", "smart"]

# Bump when the ffmpeg recipe (pool/argv.py) changes the bytes it produces, so
# files cut by the old recipe stop matching and age out of the cache.
# 2: exact end via the edit list; 3: smart cut added; 4: source timeline;
# 5: x264 settings for short segments, open-GOP keyframes rewritten into IDRs;
# 6: no deblocking filter in re-encoded frames.
RECIPE_VERSION = 6

_MICROSECOND = Decimal("0.000001")


def seconds_text(value: Decimal) -> str:
    """Render seconds exactly, without exponent or float noise: ``Decimal("1E+1")`` → ``10``.

    Equal values give equal text (``4.0`` and ``4`` both give ``4``), so the
    text is also safe inside cache keys.
    """
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class ClipRequest:
    """One clip to cut.

    ``source_input`` is what ffmpeg reads (``-i``), e.g. ``file:/abs/src.mp4``
    or a presigned URL; ``source_identity`` changes whenever the source's bytes
    may have changed (mtime+size locally, the ETag on S3). ``start``/``end``
    are seconds on the source's timeline, half-open ``[start, end)``.
    ``mode`` is the output form: ``file`` is a regular MP4 (``precision`` says
    how it starts exactly), ``pipe`` a fragmented MP4 that can be streamed
    while cut, ``jpeg`` one frame.
    """

    clip_id: int
    version: int
    source_input: str
    source_identity: str
    start: Decimal
    end: Decimal
    mode: Mode
    # What the run will cost beyond the clip itself, for metrics and logs only
    # (not part of the bytes, so not part of the cache key): the keyframe the
    # stream copy really starts from, and the source's average bytes per second.
    keyframe_start: Decimal | None = None
    source_byte_rate: float | None = None
    # ffmpeg input options for reaching the source (HTTP timeouts, If-Match):
    # they change how it is read, never which bytes come out.
    input_options: tuple[str, ...] = ()
    precision: Precision = "editlist"  # file mode only
    # Raises SourceError when the source is no longer the one registered. The
    # pool calls it right before it cuts, never for a cached clip: a clip cut
    # from the registered bytes stays right after the source changes.
    source_check: Callable[[], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.clip_id < 0 or self.version < 0:
            raise ValueError("clip_id and version must not be negative")
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValueError(f"{name} must be a finite Decimal")
            # ffmpeg parses times to the microsecond and silently drops the rest.
            if value != value.quantize(_MICROSECOND):
                raise ValueError(f"{name} must not be finer than a microsecond")
        if self.start < 0:
            raise ValueError("start must not be negative")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.mode not in ("file", "pipe", "jpeg"):
            raise ValueError("mode must be 'file', 'pipe' or 'jpeg'")
        if not self.source_input:
            raise ValueError("source_input must not be empty")
        if self.precision not in ("editlist", "smart"):
            raise ValueError("precision must be 'editlist' or 'smart'")

    @property
    def duration(self) -> Decimal:
        """Length of the clip in seconds, exact."""
        return self.end - self.start

    @property
    def smart(self) -> bool:
        """True when this is a file clip to be smart-cut."""
        return self.mode == "file" and self.precision == "smart"

    @property
    def form(self) -> str:
        """What the output is (for keys and metric labels): smart, file, pipe or jpeg."""
        return "smart" if self.smart else self.mode

    @property
    def leakage(self) -> Decimal | None:
        """Seconds of pre-roll the output carries before ``start`` (None if unknown).

        A smart cut carries none: it starts on the first frame of the clip.
        """
        if self.smart:
            return Decimal(0)
        if self.keyframe_start is None:
            return None
        return max(Decimal(0), self.start - self.keyframe_start)

    @property
    def cache_key(self) -> str:
        """A filesystem-safe name for this clip's bytes: ``c<id>-v<version>-<mode>-<hash>``.

        The hash covers the source identity and, defensively, the span and the
        recipe version, so a caller that reuses a version number for a
        different span, or a recipe change, can never be served stale bytes.
        """
        material = "\n".join(
            (
                self.source_identity,
                seconds_text(self.start),
                seconds_text(self.end),
                str(RECIPE_VERSION),
            )
        )
        digest = hashlib.sha256(material.encode()).hexdigest()[:16]
        key = f"c{self.clip_id}-v{self.version}-{self.form}-{digest}"
        return key + ".jpg" if self.mode == "jpeg" else key
