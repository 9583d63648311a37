"""S3TranscriptSource against a real S3 API: moto in server mode on 127.0.0.1 with fake credentials."""

from __future__ import annotations

import io

import boto3
import pandas as pd
import pytest
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from ftm_assets.modeling.types import FirmCall, InputDataError
from ftm_assets.sources.open import open_source
from ftm_assets.sources.s3 import S3TranscriptSource, parse_s3_uri
from ftm_assets_tests.sources.helpers import call_rows, split_results


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def client(s3_endpoint, aws_env):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def _parquet(rows: list[dict]) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buffer, index=False)
    return buffer.getvalue()


def _csv(rows: list[dict]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def _corpus_bucket(client, bucket: str) -> None:
    client.create_bucket(Bucket=bucket)
    objects = {
        "calls/2020/part-a.parquet": _parquet(call_rows("AAA", "2020Q2", 4) + call_rows("BBB", "2020Q2", 2)),
        "calls/2020/more/part-b.parquet": _parquet(
            call_rows("BBB", "2020Q2", 3, start=2) + call_rows("CCC", "2020Q3", 2)
        ),
        "calls/2020/part-c.csv": _csv(call_rows("DDD", "2020Q2", 5)),
        "calls/README.txt": b"not a table",
        "calls-old/stale.csv": _csv(call_rows("OLD", "2020Q2", 1)),
        "elsewhere/outside.parquet": _parquet(call_rows("OUT", "2020Q2", 1)),
    }
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)


def _check_corpus(source) -> None:
    calls, errors = split_results(source.iter_calls("2020Q2"))
    assert not errors
    assert {f: len(c) for f, c in calls.items()} == {"AAA": 4, "BBB": 5, "DDD": 5}
    assert [s.sentence_index for s in calls["BBB"].sentences] == [0, 1, 2, 3, 4]
    assert source.list_calls() == [("AAA", "2020Q2"), ("BBB", "2020Q2"), ("CCC", "2020Q3"), ("DDD", "2020Q2")]


def test_reads_a_prefix_with_a_plain_boto3_client(client):
    _corpus_bucket(client, "plain")
    source = open_source("s3://plain/calls", s3_client=client)
    assert isinstance(source, S3TranscriptSource) and source.describe() == "s3://plain/calls"
    _check_corpus(source)


def test_reads_a_prefix_with_the_dagster_aws_resource_client(client, s3_endpoint):
    _corpus_bucket(client, "dagster")
    dagster_client = S3Resource(endpoint_url=s3_endpoint, region_name="us-east-1").get_client()
    with open_source("s3://dagster/calls/", s3_client=dagster_client) as source:
        _check_corpus(source)


def test_listing_is_paginated(client):
    _corpus_bucket(client, "paged")
    requests: list[dict] = []  # the parameters of every ListObjectsV2 call the source makes
    client.meta.events.register("provide-client-params.s3.ListObjectsV2",
                                lambda params, **_: requests.append(dict(params)))
    _check_corpus(S3TranscriptSource(client, "paged", "calls", page_size=1))
    # 4 objects under calls/ (README and the nested part included), one key per page: each listing
    # walks 4 pages, the 2nd to 4th asking with the continuation token the previous page returned
    assert requests and all(r["MaxKeys"] == 1 for r in requests)
    first_pages = [r for r in requests if "ContinuationToken" not in r]
    follow_ups = [r for r in requests if "ContinuationToken" in r]
    assert len(follow_ups) == 3 * len(first_pages), (len(first_pages), len(follow_ups))
    assert len({r["ContinuationToken"] for r in follow_ups}) == 3, "each page asks for the next one"


def test_a_single_object_uri_and_error_messages_name_the_object(client):
    client.create_bucket(Bucket="errors")
    client.put_object(Bucket="errors", Key="one/calls.csv", Body=_csv(call_rows("A|B", "2020Q2", 2)))
    (error,) = open_source("s3://errors/one/calls.csv", s3_client=client).iter_calls("2020Q2")
    assert "s3://errors/one/calls.csv" in error.message() and "'|'" in error.reason

    client.put_object(Bucket="errors", Key="bad/broken.parquet", Body=b"definitely not parquet")
    with pytest.raises(InputDataError, match=r"s3://errors/bad/broken\.parquet: not a readable Parquet"):
        open_source("s3://errors/bad", s3_client=client).list_calls()

    with pytest.raises(InputDataError, match="holds no"):
        open_source("s3://errors/nothing-here", s3_client=client).list_calls()
    with pytest.raises(InputDataError, match="cannot list s3://no-such-bucket/x/: NoSuchBucket"):
        open_source("s3://no-such-bucket/x", s3_client=client).list_calls()


def test_changed_objects_are_downloaded_again_and_close_removes_the_cache(client):
    client.create_bucket(Bucket="changing")
    client.put_object(Bucket="changing", Key="p/a.parquet", Body=_parquet(call_rows("A", "2020Q2", 2)))
    source = S3TranscriptSource(client, "changing", "p")
    before = source.fingerprint()
    assert [len(c) for c in source.iter_calls("2020Q2")] == [2]

    client.put_object(Bucket="changing", Key="p/a.parquet", Body=_parquet(call_rows("A", "2020Q2", 7)))
    assert source.fingerprint() != before
    (call,) = source.iter_calls("2020Q2")
    assert isinstance(call, FirmCall) and len(call) == 7

    cache = source._cache_dir
    assert cache is not None and any(cache.iterdir())
    source.close()
    assert not cache.exists()


def test_parse_s3_uri():
    assert parse_s3_uri("s3://bucket/a/b") == ("bucket", "a/b")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    with pytest.raises(InputDataError, match="names no bucket"):
        parse_s3_uri("s3:///prefix")
