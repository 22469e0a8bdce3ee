"""``GET /metrics``: Prometheus' text format, behind the API's keys, counting what runs did
(runs by status, events by type, tokens, tool and model durations, disconnects) and what is in
progress (runs, streams, buffered events). A real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from masai.server import ServerSettings, create_app
from tests.support.registries import sleepy_registry
from tests.support.server import LiveServer, live_server

KEY = "metrics-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def server() -> Iterator[LiveServer]:
    app = create_app(sleepy_registry(0.3), ServerSettings(api_keys={"ops": KEY}))
    with live_server(app) as running:
        yield running


def scrape(server: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{server.url}/metrics", headers=AUTH, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_a_key(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 401
    bad = {"Authorization": "Bearer wrong-key-0123456789"}
    assert httpx.get(f"{server.url}/metrics", headers=bad, timeout=10).status_code == 401


def test_a_finished_run_is_counted(server: LiveServer) -> None:
    before = scrape(server)
    assert value(before, "masai_runs_total", status="completed") == 0
    response = httpx.post(
        f"{server.url}/agent/stream",
        json={"query": "nap", "agent": "sleeper"},
        headers=AUTH,
        timeout=30,
    )
    assert response.status_code == 200 and "[DONE]" in response.text
    after = scrape(server)
    assert value(after, "masai_runs_total", status="completed") == 1
    for kind in ("tool_call", "tool_output", "answer"):
        assert value(after, "masai_events_total", event_type=kind) >= 1, kind
    assert value(after, "masai_tool_duration_seconds_count", tool="nap") == 1
    assert value(after, "masai_tool_duration_seconds_sum", tool="nap") >= 0.3
    model_calls = sum(
        v for (name, _), v in after.items() if name == "masai_model_duration_seconds_count"
    )
    assert model_calls == 2  # router, then evaluator
    assert value(after, "masai_tokens_total", kind="input") > 0
    assert value(after, "masai_tokens_total", kind="output") > 0
    assert value(after, "masai_active_runs") == 0
    assert value(after, "masai_active_streams") == 0
    assert value(after, "masai_disconnects_total") == 0


def test_runs_in_progress_and_a_client_that_leaves() -> None:
    app = create_app(sleepy_registry(30.0), ServerSettings(api_keys={"ops": KEY}))
    with live_server(app) as server:
        check_a_client_that_leaves(server)


def check_a_client_that_leaves(server: LiveServer) -> None:
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{server.url}/agent/stream",
            json={"query": "nap", "agent": "sleeper"},
            headers=AUTH,
        ) as response,
    ):
        chunks = response.iter_bytes()
        next(chunks)  # the stream has begun (the nap takes 30 s)
        during = scrape(server)
        assert value(during, "masai_active_runs") == 1
        assert value(during, "masai_active_streams") == 1
        assert ("masai_buffered_events", ()) in during  # the gauge is exported
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = scrape(server)
        if value(after, "masai_active_runs") == 0 and value(after, "masai_disconnects_total"):
            break
        time.sleep(0.05)
    assert value(after, "masai_disconnects_total") == 1
    assert value(after, "masai_active_streams") == 0
    assert value(after, "masai_runs_total", status="cancelled") == 1  # its last viewer left
