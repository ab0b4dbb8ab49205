from pathlib import Path

import pytest

from pool.sources.locations import LocalSource, S3Source, SourceError, SourceResolver

open_source = SourceResolver().open


def test_paths_and_file_uris_resolve_to_the_same_source(tmp_path: Path) -> None:
    video = tmp_path / "a b.mp4"
    video.write_bytes(b"x")
    by_path = open_source(str(video))
    by_uri = open_source(video.as_uri())
    assert by_path == by_uri == LocalSource(video)
    assert by_path.uri == video.as_uri()
    assert by_path.ffmpeg_input() == f"file:{video}"


def test_identity_changes_with_the_bytes(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    before = open_source(str(video)).stat()
    video.write_bytes(b"xy")
    after = open_source(str(video)).stat()
    assert (before.size_bytes, after.size_bytes) == (1, 2)
    assert before.identity != after.identity


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "empty"),
        ("s3://bucket", "expected s3://bucket/key"),
        ("s3:///key", "expected s3://bucket/key"),
        ("http://example.com/a.mp4", "unsupported source scheme"),
        ("file://otherhost/a.mp4", "must be local"),
    ],
)
def test_unusable_uris(uri: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(uri)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "missing.mp4")).stat()
    with pytest.raises(SourceError, match="not a regular file"):
        open_source(str(tmp_path)).stat()


def test_s3_uris() -> None:
    source = SourceResolver(s3_endpoint_url="http://127.0.0.1:9", presign_ttl_s=60).open(
        "s3://media/videos/a b.mp4"
    )
    assert isinstance(source, S3Source)
    assert (source.bucket, source.key, source.uri) == (
        "media", "videos/a b.mp4", "s3://media/videos/a b.mp4",
    )  # fmt: skip
    options = source.input_options('"abc"')
    assert options[-2:] == ("-headers", 'If-Match: "abc"\r\n')
