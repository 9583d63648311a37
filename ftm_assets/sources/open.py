"""One interface over every place transcripts can live, and ``open_source`` to pick the reader."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any, Protocol, runtime_checkable

from ftm_assets.modeling.types import FirmCall, InputDataError
from ftm_assets.sources.files import FileTranscriptSource
from ftm_assets.sources.s3 import S3TranscriptSource, parse_s3_uri
from ftm_assets.sources.schema import FirmInputError


@runtime_checkable
class TranscriptSource(Protocol):
    """Where transcripts come from. File-level problems raise ``InputDataError``; firm-level
    problems come out of ``iter_calls`` as ``FirmInputError`` values."""

    def describe(self) -> str:
        """Human name of the source, for logs and error messages."""
        ...

    def fingerprint(self) -> str:
        """Cheap token that changes when the source's data may have changed (for sensor cursors)."""
        ...

    def list_calls(self) -> list[tuple[str, str]]:
        """Sorted ``(firm_id, quarter)`` pairs present (discovery for sensors). Ids are listed as found,
        unusable ones included, so that ``validate_firm_id`` can report them."""
        ...

    def iter_calls(
        self, quarter: str, firm_ids: Collection[str] | None = None, chunk_firms: int = 256
    ) -> Iterator[FirmCall | FirmInputError]:
        """Stream one quarter firm by firm, sorted by ``firm_id``, holding at most ``chunk_firms``
        firms' rows in memory. With ``firm_ids``, only those firms; a requested firm without rows
        yields a ``FirmInputError``. A quarter with no calls yields nothing."""
        ...


def open_source(uri: str, s3_client: Any | None = None) -> TranscriptSource:
    """``"s3://bucket/prefix"`` -> ``S3TranscriptSource`` (``s3_client`` or a default boto3 client);
    a path or ``file://`` URI -> ``FileTranscriptSource``. Nothing is read until the first call."""
    text = str(uri).strip()
    if text.startswith("s3://"):
        bucket, prefix = parse_s3_uri(text)
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3TranscriptSource(s3_client, bucket, prefix)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        raise InputDataError(f"unsupported transcript source {uri!r}: use a local path or s3://bucket/prefix")
    if not text:
        raise InputDataError("transcript source is empty: use a local path or s3://bucket/prefix")
    return FileTranscriptSource(text)
