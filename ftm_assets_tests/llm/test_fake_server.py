"""The fake endpoint itself, over plain HTTP: answers, faults, records, the command line."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ftm_assets.llm.fake_server import ALL_FAULTS, FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
BODY = {
    "model": "grok-3-mini",
    "messages": [
        {"role": "system", "content": "You summarise topics."},
        {
            "role": "user",
            "content": "Firm: MNRO\nQuarter: 2020Q2\nKeywords: tires, traffic, margin\nSummarise.",
        },
    ],
}


def post(base_url: str, body: object = BODY, timeout: float = 5.0) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        base_url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-test"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), json.loads(err.read())


def test_answer_echoes_keywords_and_counts_words(fake_server: FakeOpenAIServer) -> None:
    status, _, payload = post(fake_server.base_url)
    assert status == 200
    content = payload["choices"][0]["message"]["content"]
    assert "tires, traffic and margin" in content
    usage = payload["usage"]
    assert usage["completion_tokens"] == len(content.split())
    assert usage["prompt_tokens"] == sum(len(m["content"].split()) for m in BODY["messages"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    [recorded] = fake_server.requests
    assert recorded["body"] == BODY
    assert recorded["headers"]["authorization"] == "Bearer sk-test"
    assert fake_server.count_by_outcome == {"ok": 1}
    assert fake_server.max_in_flight == 1 and fake_server.in_flight == 0


def test_theme_prompt_gets_name_and_description(fake_server: FakeOpenAIServer) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "Keywords: covid, liquidity\nName: ...\nDescription: ..."}],
    }
    _, _, payload = post(fake_server.base_url, body)
    content = payload["choices"][0]["message"]["content"]
    assert content.startswith("Name: Covid Liquidity\nDescription: ")


def test_script_is_consumed_in_order_before_random_faults() -> None:
    with FakeOpenAIServer(script=["429", "500", "401", None, "empty", "garbage", "overlong"]) as server:
        results = [post(server.base_url) for _ in range(8)]
        statuses = [status for status, _, _ in results]
        assert statuses == [429, 500, 401, 200, 200, 200, 200, 200]
        assert results[0][1]["Retry-After"] in ("0", "1")
        contents = [payload["choices"][0]["message"]["content"] for _, _, payload in results[3:]]
        assert contents[1] == ""
        assert not any(c.isalpha() for c in contents[2])
        assert len(contents[3]) > 3000
        assert [r["outcome"] for r in server.requests] == [
            "429",
            "500",
            "401",
            "ok",
            "empty",
            "garbage",
            "overlong",
            "ok",
        ]


def test_drop_and_timeout_close_without_a_response() -> None:
    with FakeOpenAIServer(script=["drop", "timeout"], timeout_sleep_s=0.2) as server:
        for _ in range(2):
            with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
                post(server.base_url)
        assert server.count_by_outcome == {"drop": 1, "timeout": 1}
        assert server.in_flight == 0


def test_random_faults_are_seeded() -> None:
    def outcomes(seed: int) -> list[str]:
        faults = [f for f in ALL_FAULTS if f not in ("timeout", "drop")]
        with FakeOpenAIServer(fault_rate=0.5, faults=faults, seed=seed) as server:
            for _ in range(20):
                post(server.base_url)
            return [r["outcome"] for r in server.requests]

    first = outcomes(7)
    assert first == outcomes(7)
    assert "ok" in first and len(set(first)) > 2


def test_bad_requests_are_answered_not_crashed(fake_server: FakeOpenAIServer) -> None:
    assert post(fake_server.base_url, {"no": "messages"})[0] == 400
    request = urllib.request.Request(fake_server.base_url + "/models")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 404
    err.value.close()
    assert post(fake_server.base_url)[0] == 200
    assert fake_server.count_by_outcome == {"bad_request": 1, "not_found": 1, "ok": 1}


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FakeOpenAIServer(faults=["teapot"])
    with pytest.raises(ValueError, match="fault_rate"):
        FakeOpenAIServer(fault_rate=1.5)


@contextlib.contextmanager
def fake_server_command(*args: str) -> Iterator[tuple[str, str, Callable[[], tuple[int, str]]]]:
    """``python -m ftm_assets.llm.fake_server ARGS`` as a user starts it: yields its first output
    line, its base URL and a ``stop()`` that sends SIGTERM and returns ``(exit code, stdout)``."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ftm_assets.llm.fake_server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )

    def stop() -> tuple[int, str]:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
        return process.returncode, out

    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        yield line, line.rsplit(" ", 1)[1].strip(), stop
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_line_serves_until_terminated() -> None:
    with fake_server_command("--port", "0", "--latency", "0.01") as (line, base_url, stop):
        assert "listening on http://127.0.0.1:" in line
        assert post(base_url)[0] == 200
        code, out = stop()
        assert code == 0
        assert "'ok': 1" in out
