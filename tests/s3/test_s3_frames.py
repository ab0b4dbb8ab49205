"""Frame times of S3 sources: read from the index with range requests, like local ones."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import S3Server
from tests.corpus.generate import generate_named
from tests.corpus.matrix import _stored
from tests.mediacheck import decoded_frames
from tests.s3.counting_proxy import counting_proxy
from tests.s3.test_s3_sources import moov_size
from tests.servers import ServerFactory, register

BUCKET = "origin-frames"


def test_s3_frame_times_read_only_the_index(
    database_url: str, sample_video: Path, s3_server: S3Server, server_factory: ServerFactory,
    ffmpeg: str,
) -> None:  # fmt: skip
    client = s3_server.client()
    client.create_bucket(Bucket=BUCKET)
    # The index first (+faststart), and after the media.
    files = [sample_video, generate_named("ff-moov-at-end", ffmpeg)]
    endpoint = urlsplit(s3_server.endpoint_url)
    with counting_proxy((endpoint.hostname or "127.0.0.1", endpoint.port or 80)) as proxy:
        env = {**s3_server.env, "ORIGIN_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}
        ids = []
        for n, path in enumerate(files):
            client.upload_file(str(path), BUCKET, f"frames/{n}-{path.name}")
            ids.append(
                register(database_url, f"s3://{BUCKET}/frames/{n}-{path.name}", env=env)["id"]
            )
        server = server_factory(database_url, **env)
        with server.client() as http:
            for source_id, path in zip(ids, files, strict=True):
                proxy.reset()
                answer = http.get(f"/api/sources/{source_id}/frames")
                assert answer.status_code == 200, answer.text
                read = proxy.received
                expected = [float(_stored(f.time)) for f in decoded_frames(ffmpeg, path)]
                assert answer.json()["times"] == expected
                # The first 64 KiB, the index, a few box headers and HTTP's own bytes.
                budget = 64 * 1024 + moov_size(path) + 16 * 1024
                assert read <= budget, (path.name, read, budget, path.stat().st_size)
