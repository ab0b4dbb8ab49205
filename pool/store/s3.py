"""The clip store in S3 (or any S3-compatible server): one object per clip.

A PUT is atomic (a multipart upload becomes visible only when completed), so
a reader never sees a partial object. S3 keeps no access times: a fetch of an
object last written more than ``TOUCH_AFTER_S`` ago copies it onto itself,
which renews its LastModified, the store's LRU clock.

The S3 client (and boto3 with it, a few hundred milliseconds to load) is
made by the first call that needs it, not when the store is opened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pool.sources.locations import s3_client
from pool.store import StoredClip, StoreError

TOUCH_AFTER_S = 3600.0


class S3Store:
    """Clips under ``<prefix>/clips/``, exports under ``<prefix>/exports/``."""

    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url

    @property
    def _client(self) -> Any:
        return s3_client(self.endpoint_url)  # made once per endpoint, then cached

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def fetch(self, key: str, dest: Path) -> bool:
        return self._unless_absent("read", key, lambda: self._download(self._clip_key(key), dest))

    def put(self, key: str, path: Path) -> None:
        content_type = "image/jpeg" if key.endswith(".jpg") else "video/mp4"
        self.upload(self._clip_key(key), path, content_type)

    def contains(self, key: str) -> bool:
        return self._unless_absent("check", key, lambda: self._client.head_object(
            Bucket=self.bucket, Key=self._clip_key(key)
        ))  # fmt: skip

    def _download(self, object_key: str, dest: Path) -> None:
        response = self._client.get_object(Bucket=self.bucket, Key=object_key)
        with dest.open("wb") as out:
            for chunk in response["Body"].iter_chunks(1024 * 1024):
                out.write(chunk)
        if time.time() - response["LastModified"].timestamp() > TOUCH_AFTER_S:
            self._client.copy_object(
                Bucket=self.bucket, Key=object_key, MetadataDirective="REPLACE",
                CopySource={"Bucket": self.bucket, "Key": object_key},
                ContentType=response.get("ContentType", "video/mp4"),
            )  # fmt: skip

    def _unless_absent(self, what: str, key: str, call: Callable[[], object]) -> bool:
        """Run ``call``: True if it worked, False if the object is not there, else StoreError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            call()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return False
            raise StoreError(f"cannot {what} {key} in {self.uri}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot {what} {key} in {self.uri}: {exc}") from exc
        return True

    def delete(self, key: str) -> None:
        self._call("delete", key, self._client.delete_object,
                   Bucket=self.bucket, Key=self._clip_key(key))  # fmt: skip

    def clips(self) -> Iterator[StoredClip]:
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self._key("clips/")
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    name = item["Key"][len(prefix) :]
                    yield StoredClip(
                        name.removesuffix(".mp4"), item["Size"], item["LastModified"].timestamp()
                    )
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"cannot list {self.uri}: {exc}") from exc

    def put_export(self, name: str, path: Path) -> str:
        object_key = self._key("exports/" + name)
        self.upload(object_key, path, "video/mp4")
        return f"s3://{self.bucket}/{object_key}"

    def export_url(self, name: str, ttl_s: int) -> str | None:
        file_name = name.rsplit("/", 1)[-1]
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key("exports/" + name),
                "ResponseContentDisposition": f'attachment; filename="{file_name}"',
            },
            ExpiresIn=ttl_s,
        )
        return url

    def export_path(self, name: str) -> Path | None:
        return None  # downloads go straight to S3 through export_url

    def upload(self, object_key: str, path: Path, content_type: str) -> None:
        """Put the file ``path`` at exactly ``object_key`` in the bucket (StoreError if not)."""
        self._call("write", object_key, self._client.upload_file, str(path), self.bucket,
                   object_key, ExtraArgs={"ContentType": content_type})  # fmt: skip

    def _call(self, what: str, key: str, method: Any, *args: Any, **kwargs: Any) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            method(*args, **kwargs)
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise StoreError(f"cannot {what} {key} in {self.uri}: {exc}") from exc

    def _clip_key(self, key: str) -> str:
        if "/" in key:
            raise StoreError(f"unsafe clip key {key!r}")
        return self._key("clips/" + (key if key.endswith(".jpg") else key + ".mp4"))

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))
