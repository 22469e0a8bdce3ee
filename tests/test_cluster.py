"""The scale-out deployment, for real: a private ``redis-server``, two API servers and two
workers as subprocesses (``masai serve --backend``, ``masai worker``), killed and restarted the
way production kills them. Each test starts its own cluster and stops it."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cluster import Cluster, Server

pytestmark = pytest.mark.timeout(180)

LEASE = 2.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(tmp_path, lease=LEASE)
    try:
        yield made
    finally:
        made.close()


class Reader:
    """Reads one run's events (``GET /runs/{id}/events``) in a thread: frames as they come."""

    def __init__(self, server: Server, run_id: str, after: int | None = None) -> None:
        self.frames: list[tuple[int | None, dict[str, Any] | str]] = []
        self.arrived: list[float] = []
        self.done = threading.Event()
        self.error: BaseException | None = None
        headers = {"Last-Event-ID": str(after)} if after is not None else {}
        self._thread = threading.Thread(target=self._read, args=(server, run_id, headers))
        self._thread.start()

    def _read(self, server: Server, run_id: str, headers: dict[str, str]) -> None:
        try:
            with (
                server.client(timeout=60) as client,
                client.stream("GET", f"/runs/{run_id}/events", headers=headers) as response,
            ):
                assert response.status_code == 200, response.read()
                for frame_id, data in _frames(response.iter_lines()):
                    self.frames.append((frame_id, data))
                    self.arrived.append(time.monotonic())
        except (httpx.HTTPError, OSError) as exc:
            self.error = exc
        finally:
            self.done.set()

    def join(self, within: float = 60) -> None:
        assert self.done.wait(within), "the stream never ended"
        self._thread.join(5)

    @property
    def events(self) -> list[tuple[int, dict[str, Any]]]:
        return [(i, d) for i, d in self.frames if i is not None and isinstance(d, dict)]

    def wait_for(self, count: int, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while len(self.events) < count:
            assert time.monotonic() < deadline and not self.done.is_set(), self.frames[-3:]
            time.sleep(0.01)


def _frames(lines: Iterator[str]) -> Iterator[tuple[int | None, dict[str, Any] | str]]:
    frame_id: int | None = None
    for line in lines:
        if line.startswith("id:"):
            frame_id = int(line[3:].strip())
        elif line.startswith("data:"):
            data = line[5:].strip()
            yield frame_id, (data if data == "[DONE]" else json.loads(data))
            frame_id = None


def _start(server: Server, agent: str, query: str, **extra: Any) -> str:
    with server.client() as client:
        response = client.post("/runs", json={"query": query, "agent": agent, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["run_id"])


def _status(server: Server, run_id: str) -> dict[str, Any]:
    with server.client() as client:
        response = client.get(f"/runs/{run_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait_finished(server: Server, run_id: str, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while (record := _status(server, run_id))["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, record
        time.sleep(0.05)
    return record


def _all_events(server: Server, run_id: str) -> list[tuple[int | None, Any]]:
    reader = Reader(server, run_id)
    reader.join()
    assert reader.error is None, reader.error
    return reader.frames


def _kind(data: dict[str, Any]) -> str | None:
    kind = data.get("event_type")
    return str(kind) if kind is not None else None


def _assert_exact(frames: list[tuple[int | None, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Every seq once, in order, from 0; the stream ends with its stop chunk and [DONE]."""
    numbered = [(i, d) for i, d in frames if i is not None]
    assert [i for i, _ in numbered] == list(range(len(numbered)))
    assert frames[-1] == (None, "[DONE]")
    return numbered


# -- drop and resume on another server ---------------------------------------------------------


def test_a_stream_from_a_killed_server_resumes_exactly_on_another(cluster: Cluster) -> None:
    a, b = cluster.server(), cluster.server()
    cluster.worker()
    run_id = _start(a, "stepper", "steps=3 seconds=0.6 tag=resume")
    first = Reader(a, run_id)
    first.wait_for(6)
    a.kill()  # (the connection dies with the server: no clean end)
    first.join()
    seen = first.events
    second = Reader(b, run_id, after=seen[-1][0])
    second.join()
    assert second.error is None
    resumed = [*first.frames, *second.frames[1:]]  # (each view opens with its role chunk)
    whole = _all_events(b, run_id)
    assert [f for f in resumed if f[0] is not None] == [f for f in whole if f[0] is not None]
    events = _assert_exact(whole)
    assert _status(b, run_id)["status"] == "completed"
    assert any(_kind(d) == "answer" for _, d in events)


# -- a worker killed mid-tool --------------------------------------------------------------------


def _tool_calls(events: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, str, Any]]:
    """(seq, tool_call_id, arguments) of each tool_call event."""
    out = []
    for seq, data in events:
        if _kind(data) == "tool_call":
            call = data["choices"][0]["delta"]["tool_calls"][0]
            out.append((seq, call["id"], json.loads(call["function"]["arguments"])))
    return out


def test_a_worker_killed_mid_tool_is_taken_over_with_an_exact_stream(cluster: Cluster) -> None:
    server = cluster.server()
    workers = [cluster.worker(), cluster.worker()]
    run_id = _start(server, "stepper", "steps=3 seconds=1.5 tag=kill")
    live = Reader(server, run_id)  # one connection, never dropped
    line = cluster.wait_ledger("kill step2 start")
    victim = next(w for w in workers if f"pid={w.pid}" in line)
    live.wait_for(len(live.events) + 2)  # (some of step 2's progress is out)
    killed_at = time.monotonic()
    victim.kill()
    live.join()
    assert live.error is None
    events = _assert_exact(live.frames)
    assert _status(server, run_id)["status"] == "completed"

    retracted = [(i, d) for i, d in events if _kind(d) == "retracted"]
    assert len(retracted) == 1
    seq, data = retracted[0]
    span = data["choices"][0]["delta"]["retracted"]
    assert span["to_seq"] == seq - 1 and span["from_seq"] <= span["to_seq"]
    arrived = live.arrived[next(n for n, (i, _) in enumerate(live.frames) if i == seq)]
    # (Not before the lease can lapse: the last heartbeat was up to a third of it before the
    # kill. And within lease + 5 s.)
    assert cluster.lease * 2 / 3 <= arrived - killed_at < cluster.lease + 5
    # The step the worker died in ran again, under the same tool_call_id; the others once.
    calls = _tool_calls(events)
    steps = [args["n"] for _, _, args in calls]
    assert steps == [1, 2, 2, 3]
    (_, old_id, _), (again, new_id, _) = calls[1], calls[2]
    assert old_id == new_id and again > seq
    assert span["from_seq"] <= calls[1][0] <= span["to_seq"]
    ledger = Counter(" ".join(line.split()[1:3]) for line in cluster.ledger_lines())
    assert ledger == {
        "step1 start": 1,
        "step1 end": 1,
        "step2 start": 2,
        "step2 end": 1,
        "step3 start": 1,
        "step3 end": 1,
    }


def test_a_hand_off_run_taken_over_keeps_its_shared_memory(cluster: Cluster) -> None:
    server = cluster.server()
    workers = [cluster.worker(), cluster.worker()]
    with server.client() as client:
        body = {"query": "seconds=2 tag=relay", "system": "relay"}
        started = client.post("/runs", json=body)
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    line = cluster.wait_ledger("relay recall start")
    next(w for w in workers if f"pid={w.pid}" in line).kill()
    record = _wait_finished(server, run_id, within=LEASE + 20)
    assert record["status"] == "completed", record
    assert record["answer"].endswith("recalled: first says relay")  # (from Redis, re-run)
    events = _assert_exact(_all_events(server, run_id))
    kinds = [_kind(d) for _, d in events]
    assert kinds.count("handoff") == 1 and kinds.count("retracted") == 1
    ledger = Counter(" ".join(line.split()[1:3]) for line in cluster.ledger_lines())
    assert ledger == {"step1 start": 1, "step1 end": 1, "recall start": 2, "recall end": 1}


def test_a_non_idempotent_tool_interrupted_is_not_run_again(cluster: Cluster) -> None:
    server = cluster.server()
    workers = [cluster.worker(), cluster.worker()]
    run_id = _start(server, "payer", "seconds=5 tag=pay")
    line = cluster.wait_ledger("pay pay start")
    next(w for w in workers if f"pid={w.pid}" in line).kill()
    record = _wait_finished(server, run_id, within=LEASE + 15)
    assert (record["status"], record["stop_reason"]) == ("failed", "tool_interrupted")
    events = _assert_exact(_all_events(server, run_id))
    assert _kind(events[-1][1]) == "error"
    assert events[-1][1]["metadata"]["error_code"] == "tool_interrupted"
    assert [ln.split()[1:3] for ln in cluster.ledger_lines()] == [["pay", "start"]]


def test_a_step_lost_too_often_fails_the_run_with_an_error(cluster: Cluster) -> None:
    server = cluster.server()
    workers = [
        cluster.worker("--max-step-attempts", "1"),
        cluster.worker("--max-step-attempts", "1"),
    ]
    run_id = _start(server, "stepper", "steps=2 seconds=5 tag=lost")
    line = cluster.wait_ledger("lost step1 start")
    next(w for w in workers if f"pid={w.pid}" in line).kill()
    record = _wait_finished(server, run_id, within=LEASE + 15)
    assert (record["status"], record["stop_reason"]) == ("failed", "step_attempts_exhausted")
    events = _assert_exact(_all_events(server, run_id))
    assert events[-1][1]["metadata"]["error_code"] == "step_attempts_exhausted"


# -- control ----------------------------------------------------------------------------------


def test_cancel_and_approvals_sent_to_one_server_reach_the_worker(cluster: Cluster) -> None:
    a, b = cluster.server(), cluster.server()
    cluster.worker()
    run_id = _start(a, "publisher", "tag=pub")
    live = Reader(a, run_id)
    deadline = time.monotonic() + 20
    # Decided the moment the client sees the request (as a UI does), on the other server.
    while not (asked := [d for _, d in live.events if _kind(d) == "approval_required"]):
        assert time.monotonic() < deadline and not live.done.is_set()
        time.sleep(0.005)
    call_id = asked[0]["metadata"]["tool_call_id"]
    with b.client() as client:
        began = time.monotonic()
        decided = client.post(f"/runs/{run_id}/approvals/{call_id}", json={"approved": True})
        took = time.monotonic() - began
    assert decided.status_code == 200, decided.text
    assert took < 1.0  # (the 100 ms target is measured in benchmarks/, not here)
    live.join()
    assert "published" in str(_status(a, run_id)["answer"])
    with b.client() as client:  # a second decision is a conflict wherever it is sent
        again = client.post(f"/runs/{run_id}/approvals/{call_id}", json={"approved": False})
    assert again.status_code == 409

    long_run = _start(b, "stepper", "steps=3 seconds=5 tag=cancel")
    cluster.wait_ledger("cancel step1 start")
    with a.client() as client:
        cancelled = client.post(f"/runs/{long_run}/cancel", params={"wait": "true"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert not any("cancel step1 end" in ln for ln in cluster.ledger_lines())


def test_a_streamed_run_whose_client_leaves_is_cancelled_on_its_worker(cluster: Cluster) -> None:
    server = cluster.server()
    cluster.worker()
    body = {"query": "steps=3 seconds=5 tag=leave", "agent": "stepper"}
    with (
        server.client() as client,
        client.stream("POST", "/agent/stream", json=body) as response,
    ):
        run_id = response.headers["x-masai-run-id"]
        for line in response.iter_lines():
            if "tool_call" in line:
                break  # (and the connection closes: the client left early)
    record = _wait_finished(server, run_id, within=15)
    assert record["status"] == "cancelled"
    assert not any("leave step1 end" in ln for ln in cluster.ledger_lines())


def test_owners_sessions_and_runs_stay_apart_across_servers(cluster: Cluster) -> None:
    keys = ("--api-key", "alice:alice-key-123", "--api-key", "bob:bob-key-1234")
    caps = ("--max-runs-per-principal", "2")
    a, b = cluster.server(*keys, *caps), cluster.server(*keys, *caps)
    cluster.worker()
    alice = {"Authorization": "Bearer alice-key-123"}
    bob = {"Authorization": "Bearer bob-key-1234"}
    with a.client(headers=alice) as client:
        first = client.post(
            "/runs", json={"query": "tag=mine", "agent": "echo", "session_id": "s1"}
        )
    run_id = first.json()["run_id"]
    with b.client(headers=alice) as client:
        assert client.get(f"/runs/{run_id}").status_code == 200
    with b.client(headers=bob) as client:
        assert client.get(f"/runs/{run_id}").status_code == 404
        assert client.get(f"/runs/{run_id}/events").status_code == 404
    deadline = time.monotonic() + 20
    with a.client(headers=alice) as client:
        while client.get(f"/runs/{run_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    # Alice's second turn, on the other server: the worker read her session from Redis.
    second = _answer(b, alice, "again")
    assert "tag=mine" in second
    assert "tag=mine" not in _answer(a, bob, "hi")  # Bob's session of that name is his own

    # The cap on runs in flight is the cluster's, not each server's: two on A, a third on B.
    long = {"query": "steps=1 seconds=5 tag=cap", "agent": "stepper"}
    with a.client(headers=alice) as client:
        assert [client.post("/runs", json=long).status_code for _ in range(2)] == [201, 201]
    with b.client(headers=alice) as client:
        refused = client.post("/runs", json=long)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_runs"
    assert refused.headers["retry-after"] == "1"
    with b.client(headers=bob) as client:  # (Bob's places are his own)
        assert client.post("/runs", json=long).status_code == 201


def _answer(server: Server, headers: dict[str, str], query: str) -> str:
    with server.client(headers=headers) as client:
        started = client.post("/runs", json={"query": query, "agent": "echo", "session_id": "s1"})
        assert started.status_code == 201, started.text
        run_id = started.json()["run_id"]
        deadline = time.monotonic() + 20
        while (record := client.get(f"/runs/{run_id}").json())["status"] != "completed":
            assert time.monotonic() < deadline, record
            time.sleep(0.05)
    return str(record["answer"])


# -- Redis goes away ----------------------------------------------------------------------------


def test_redis_down_means_503_and_ended_streams_then_new_runs_work(cluster: Cluster) -> None:
    server = cluster.server()
    cluster.worker()
    run_id = _start(server, "stepper", "steps=3 seconds=5 tag=outage")
    live = Reader(server, run_id)
    live.wait_for(2)
    stopped_at = time.monotonic()
    cluster.redis.stop()
    with server.client() as client:
        began = time.monotonic()
        refused = client.post("/runs", json={"query": "tag=x", "agent": "stepper"})
        assert time.monotonic() - began < 5
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "backend_unavailable"
        assert client.get("/healthz").status_code == 503
    live.join(within=15)
    assert live.arrived[-1] - stopped_at < 10
    last = live.frames[-1][1]
    assert isinstance(last, dict) and last["metadata"]["error_code"] == "backend_unavailable"

    cluster.redis.start()  # back, and empty: the old run is gone, new ones work
    deadline = time.monotonic() + 30
    while True:
        with server.client() as client:
            response = client.post(
                "/runs", json={"query": "steps=1 seconds=0.1 tag=after", "agent": "stepper"}
            )
        if response.status_code == 201:
            break
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)
    new_run = response.json()["run_id"]
    assert _wait_finished(server, new_run, within=30)["status"] == "completed"
    with server.client() as client:
        assert client.get(f"/runs/{run_id}").status_code == 404


# -- many runs -------------------------------------------------------------------------------


def test_200_concurrent_runs_over_two_workers_each_run_once_and_exact(cluster: Cluster) -> None:
    # 200 runs of one principal at once: above the default cap of 100 in flight whenever the
    # workers fall behind the starts (a loaded machine), which is not what this test is about.
    caps = ("--max-runs-per-principal", "1000", "--run-burst", "1000", "--run-rate", "1000")
    servers = [cluster.server(*caps), cluster.server(*caps)]
    cluster.worker()
    cluster.worker()
    count = 200

    def start(i: int) -> str:
        return _start(servers[i % 2], "stepper", f"steps=1 seconds=0.2 tag=r{i}")

    with ThreadPoolExecutor(16) as pool:
        run_ids = list(pool.map(start, range(count)))
        finished = list(pool.map(lambda r: _wait_finished(servers[0], r, within=120), run_ids))
        streams = list(pool.map(lambda r: _all_events(servers[1], r), run_ids))
    assert all(f["status"] == "completed" for f in finished)
    for frames in streams:
        events = _assert_exact(frames)
        assert [_kind(d) for _, d in events].count("tool_call") == 1
    starts = Counter(ln.split()[0] for ln in cluster.ledger_lines() if " start " in ln)
    assert starts == {f"r{i}": 1 for i in range(count)}


def test_usage_reaches_a_viewer_in_another_process(cluster: Cluster) -> None:
    """The worker runs the models; the API server that answers learns the run's usage from
    its record, so the OpenAI shapes report real token counts in a cluster too."""
    server = cluster.server()
    cluster.worker()
    message = [{"role": "user", "content": "tag=usage"}]
    with server.client(timeout=30) as client:
        chat = client.post("/v1/chat/completions", json={"model": "echo", "messages": message})
        assert chat.status_code == 200, chat.text
        usage = chat.json()["usage"]
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
        record = client.get(f"/runs/{chat.headers['x-masai-run-id']}").json()
        assert record["usage"] == {
            "input_tokens": usage["prompt_tokens"],
            "output_tokens": usage["completion_tokens"],
        }
        response = client.post("/v1/responses", json={"model": "echo", "input": "tag=usage"})
        assert response.status_code == 200, response.text
        tokens = response.json()["usage"]
        assert tokens["input_tokens"] > 0 and tokens["output_tokens"] > 0
        assert tokens["total_tokens"] == tokens["input_tokens"] + tokens["output_tokens"]
