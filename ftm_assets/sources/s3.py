"""Transcript tables under an S3 prefix, read through a boto3-style client.

Any client with ``list_objects_v2`` and ``get_object`` works: ``boto3.client("s3")`` or, in
Dagster, ``dagster_aws.s3.S3Resource(...).get_client()``. Objects are streamed to a private
local cache folder (disk, not memory) and re-downloaded only when their ETag changes; from there
the local-file reader does the work, with ``s3://bucket/key`` in every message. The cache folder
is removed by ``close()``, on leaving a ``with`` block, or when the source is garbage-collected.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import weakref
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ftm_assets.modeling.types import FirmCall, InputDataError
from ftm_assets.sources.files import SUPPORTED_SUFFIXES, TableFile, iter_calls_in, list_calls_in
from ftm_assets.sources.schema import FirmInputError

_COPY_BYTES = 1 << 20


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``"s3://bucket/some/prefix"`` -> ``("bucket", "some/prefix")``."""
    if not uri.startswith("s3://"):
        raise InputDataError(f"{uri!r} is not an s3:// URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise InputDataError(f"{uri!r} names no bucket: use s3://bucket/prefix")
    return bucket, prefix


@dataclass(frozen=True)
class _S3Object:
    key: str
    etag: str
    size: int


class S3TranscriptSource:
    """Every ``*.parquet`` / ``*.csv`` object under ``s3://bucket/prefix`` (hidden names skipped).

    ``prefix`` is a folder (``"data/calls"`` reads ``data/calls/...``, not ``data/calls-old/...``)
    or, when it ends in ``.parquet``/``.csv``, one object. ``page_size`` is the listing page size.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "", page_size: int = 1000) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")
        self.page_size = page_size
        self._cache_dir: Path | None = None
        self._cached: dict[str, tuple[str, Path]] = {}  # key -> (etag, local path)
        self._finalizer: weakref.finalize | None = None

    # ----------------------------------------------------------------- TranscriptSource

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def fingerprint(self) -> str:
        """Changes when an object is added, removed or rewritten (key, ETag, size); lists, never downloads."""
        digest = hashlib.sha256()
        for obj in self._list_objects():
            digest.update(f"{obj.key}\0{obj.etag}\0{obj.size}\n".encode())
        return digest.hexdigest()

    def list_calls(self) -> list[tuple[str, str]]:
        return list_calls_in(self._materialise())

    def iter_calls(
        self, quarter: str, firm_ids: Collection[str] | None = None, chunk_firms: int = 256
    ) -> Iterator[FirmCall | FirmInputError]:
        # A generator method, so the stream keeps this source (and so its cache folder) alive.
        tables = self._materialise()
        yield from iter_calls_in(tables, quarter, firm_ids, chunk_firms, source_name=self.describe())

    # ----------------------------------------------------------------- lifetime

    def close(self) -> None:
        """Delete the local cache folder (a later call downloads again)."""
        if self._finalizer is not None:
            self._finalizer()
        self._cache_dir, self._finalizer = None, None
        self._cached.clear()

    def __enter__(self) -> S3TranscriptSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- S3

    def _list_prefix(self) -> str:
        if not self.prefix or self.prefix.endswith("/") or self.prefix.lower().endswith(SUPPORTED_SUFFIXES):
            return self.prefix
        return self.prefix + "/"

    def _list_objects(self) -> list[_S3Object]:
        prefix = self._list_prefix()
        objects: list[_S3Object] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": self.page_size}
        while True:
            try:
                page = self.client.list_objects_v2(**request)
            except (ClientError, BotoCoreError) as exc:
                raise InputDataError(f"cannot list s3://{self.bucket}/{prefix}: {_describe(exc)}") from exc
            for item in page.get("Contents", []):
                key = item["Key"]
                name = PurePosixPath(key).name
                if name.lower().endswith(SUPPORTED_SUFFIXES) and not _hidden(key[len(prefix) :]):
                    objects.append(_S3Object(key, str(item.get("ETag", "")), int(item.get("Size", 0))))
            if not page.get("IsTruncated"):
                break
            request["ContinuationToken"] = page["NextContinuationToken"]
        if not objects:
            raise InputDataError(f"s3://{self.bucket}/{prefix} holds no *.parquet or *.csv objects")
        return sorted(objects, key=lambda o: o.key)

    def _materialise(self) -> list[TableFile]:
        """Download new or changed objects to the cache folder; return them as local tables."""
        objects = self._list_objects()
        cache = self._ensure_cache_dir()
        listed = {obj.key for obj in objects}
        for key in [k for k in self._cached if k not in listed]:
            self._cached.pop(key)[1].unlink(missing_ok=True)
        tables = []
        for obj in objects:
            etag, path = self._cached.get(obj.key, ("", Path()))
            if etag != obj.etag or not obj.etag or not path.exists():
                suffix = PurePosixPath(obj.key).suffix.lower()
                path = cache / f"{hashlib.sha256(obj.key.encode()).hexdigest()[:24]}{suffix}"
                self._download(obj.key, path)
                self._cached[obj.key] = (obj.etag, path)
            tables.append(TableFile(path, f"s3://{self.bucket}/{obj.key}"))
        return tables

    def _download(self, key: str, path: Path) -> None:
        partial = path.with_name(path.name + ".part")
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            try:
                with partial.open("wb") as handle:
                    shutil.copyfileobj(body, handle, _COPY_BYTES)
            finally:
                body.close()
        except (ClientError, BotoCoreError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise InputDataError(f"cannot read s3://{self.bucket}/{key}: {_describe(exc)}") from exc
        partial.replace(path)

    def _ensure_cache_dir(self) -> Path:
        if self._cache_dir is None:
            self._cache_dir = Path(tempfile.mkdtemp(prefix="ftm-s3-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._cache_dir, True)
        return self._cache_dir


def _hidden(relative_key: str) -> bool:
    return any(part.startswith(".") for part in PurePosixPath(relative_key).parts)


def _describe(exc: Exception) -> str:
    """Error code and message only: never the request (which may carry signed credentials)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
    return f"{type(exc).__name__}: {exc}"
