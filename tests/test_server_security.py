"""The server is safe to expose: private sessions, API keys and principals, cross-site and
Host checks, security headers, caps on runs, and clean 4xx answers to bad input. Every test
runs a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import httpx
import openai
import pytest

from masai.exceptions import ConfigError
from masai.server import ServerSettings, create_app
from masai.server._settings import check_exposure
from tests.support.registries import echo_registry, sleepy_registry
from tests.support.server import LiveServer, live_server
from tests.support.sse import events

ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789"
KEYS = {"alice": ALICE, "bob": BOB}
CARD = "4111 1111 1111 1111"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def answer_of(text: str) -> str:
    (answer,) = [
        e["choices"][0]["delta"]["content"] for e in events(text) if e["event_type"] == "answer"
    ]
    return str(answer)


def ask(server: LiveServer, query: str, key: str | None = None, **body: Any) -> httpx.Response:
    response = httpx.post(
        f"{server.url}/agent/stream",
        json={"query": query, "agent": "echo", **body},
        headers=bearer(key) if key else {},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


@pytest.fixture(scope="module")
def echo_server() -> Any:
    with live_server(create_app(echo_registry())) as server:
        yield server


@pytest.fixture(scope="module")
def keyed() -> Any:
    with live_server(create_app(echo_registry(), ServerSettings(api_keys=KEYS))) as server:
        yield server


# -- sessions ------------------------------------------------------------------------------------


def test_anonymous_requests_never_share_history(echo_server: LiveServer) -> None:
    first = ask(echo_server, f"my card is {CARD}")
    session = first.headers["x-masai-session-id"]
    assert session.startswith("sess_")
    assert {e["metadata"]["session_id"] for e in events(first.text)} == {session}

    stranger = ask(echo_server, "what was my card number?")
    assert CARD not in answer_of(stranger.text)
    assert stranger.headers["x-masai-session-id"] != session

    again = ask(echo_server, "what was my card number?", session_id=session)
    assert CARD in answer_of(again.text)  # the owner continues the conversation


def test_a_named_session_belongs_to_its_owner(keyed: LiveServer) -> None:
    ask(keyed, f"my card is {CARD}", ALICE, session_id="shared")
    bob = ask(keyed, "what was the card?", BOB, session_id="shared")
    assert CARD not in answer_of(bob.text)
    assert bob.headers["x-masai-session-id"] == "shared"  # his own session of that name
    alice = ask(keyed, "what was the card?", ALICE, session_id="shared")
    assert CARD in answer_of(alice.text)


def test_v1_messages_are_the_conversation_and_user_is_not_a_session(
    echo_server: LiveServer,
) -> None:
    client = openai.OpenAI(base_url=f"{echo_server.url}/v1", api_key="unused", max_retries=0)
    told = client.chat.completions.create(
        model="echo", user="u1", messages=[{"role": "user", "content": f"card {CARD}"}]
    )
    assert told.model_extra is None or "session_id" not in (told.model_extra or {})
    other = client.chat.completions.create(
        model="echo", user="u1", messages=[{"role": "user", "content": "the card?"}]
    )
    assert CARD not in (other.choices[0].message.content or "")
    history = client.chat.completions.create(
        model="echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "remember 42"},
            {"role": "assistant", "content": "ok, 42"},
            {"role": "user", "content": [{"type": "text", "text": "what number?"}]},
        ],
    )
    content = history.choices[0].message.content or ""
    assert "remember 42" in content and "ok, 42" in content and "be brief" in content


def test_v1_metadata_session_records_the_turn_for_its_owner(keyed: LiveServer) -> None:
    alice = openai.OpenAI(base_url=f"{keyed.url}/v1", api_key=ALICE, max_retries=0)
    done = alice.chat.completions.with_raw_response.create(
        model="echo",
        messages=[{"role": "user", "content": f"card {CARD}"}],
        metadata={"session_id": "v1-chat"},
    )
    assert done.headers["x-masai-session-id"] == "v1-chat"
    assert done.parse().model_extra == {"session_id": "v1-chat"}
    assert CARD in answer_of(ask(keyed, "card?", ALICE, session_id="v1-chat").text)
    assert CARD not in answer_of(ask(keyed, "card?", BOB, session_id="v1-chat").text)


def test_session_memory_is_bounded_in_bytes() -> None:
    limit = 2_000_000
    with live_server(create_app(echo_registry(), session_max_bytes=limit)) as server:
        big = "x" * 90_000
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for i in range(60):  # ~5.4 MB of queries (and as much again in the echoed answers)
                body = {"query": f"{i} {big}", "agent": "echo"}
                assert client.post("/agent/stream", json=body).status_code == 200
            sessions = client.get("/healthz").json()["sessions"]
    assert 0 < sessions["bytes"] <= limit == sessions["max_bytes"]
    assert sessions["sessions"] < 60


# -- keys and principals -------------------------------------------------------------------------


def test_keys_come_from_the_environment_as_name_key_pairs() -> None:
    env = {"MASAI_API_KEYS": f"alice:{ALICE}, bob:{BOB}"}
    settings = ServerSettings.build(ServerSettings.from_environment(env))
    assert settings.api_keys == KEYS
    with pytest.raises(ConfigError, match="8 to 512"):
        ServerSettings.build(ServerSettings.from_environment({"MASAI_API_KEYS": "eve:short"}))
    with pytest.raises(ConfigError, match="same key"):
        ServerSettings.build({"api_keys": {"a": ALICE, "b": ALICE}})


@pytest.mark.parametrize(
    "authorization",
    [None, ALICE, f"Bearer {ALICE}x", f"Bearer  {ALICE}", f"Basic {ALICE}", "Bearer"],
)
def test_missing_or_malformed_keys_get_401(keyed: LiveServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in [
        ("GET", "/v1/models"),
        ("POST", "/agent/stream"),
        ("GET", "/openapi.json"),
    ]:
        response = httpx.request(
            method, f"{keyed.url}{path}", headers=headers, json={"query": "hi"}
        )
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_right_key_opens_the_api_and_the_shells_need_none(keyed: LiveServer) -> None:
    assert httpx.get(f"{keyed.url}/v1/models", headers=bearer(BOB)).status_code == 200
    assert httpx.get(f"{keyed.url}/openapi.json", headers=bearer(ALICE)).status_code == 200
    for path in ["/healthz", "/", "/static/app.js", "/static/masai-client.js", "/docs"]:
        assert httpx.get(f"{keyed.url}{path}").status_code == 200, path


def test_a_keyless_server_refuses_to_listen_on_the_network() -> None:
    with pytest.raises(ConfigError, match="--insecure-no-auth"):
        check_exposure(ServerSettings(host="0.0.0.0"))
    check_exposure(ServerSettings(host="0.0.0.0", insecure_no_auth=True))
    check_exposure(ServerSettings(host="0.0.0.0", api_keys=KEYS))
    check_exposure(ServerSettings(host="::1"))


# -- cross-site requests and DNS rebinding --------------------------------------------------------


def test_json_routes_want_json(echo_server: LiveServer) -> None:
    response = httpx.post(
        f"{echo_server.url}/agent/stream",
        content=b'{"query": "hi"}',
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported"
    query_form = httpx.post(f"{echo_server.url}/agent/stream", params={"query": "hi"})
    assert query_form.status_code == 200  # the spec's form still works without a body


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_cross_site_state_changes_are_refused(
    echo_server: LiveServer, headers: dict[str, str]
) -> None:
    for kwargs in ({"json": {"query": "hi"}}, {"params": {"query": "hi"}}):
        response = httpx.post(f"{echo_server.url}/agent/stream", headers=headers, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "cross_site"
    assert httpx.get(f"{echo_server.url}/healthz").json()["runs"]["active"] == 0


def test_same_origin_requests_pass(echo_server: LiveServer) -> None:
    origin = f"http://127.0.0.1:{echo_server.port}"
    headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    response = httpx.post(f"{echo_server.url}/agent/stream", json={"query": "hi"}, headers=headers)
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


def test_cors_is_off_by_default_and_follows_its_allow_list(echo_server: LiveServer) -> None:
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    refused = httpx.options(f"{echo_server.url}/agent/stream", headers=preflight)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    app = create_app(echo_registry(), cors_origins=["https://app.example"])
    with live_server(app) as server:
        allowed = httpx.options(f"{server.url}/agent/stream", headers=preflight)
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"]
        run = httpx.post(
            f"{server.url}/agent/stream",
            json={"query": "hi"},
            headers={"Origin": "https://app.example"},
        )
        assert run.status_code == 200
        assert run.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-masai-session-id" in run.headers["access-control-expose-headers"]
        other = httpx.options(
            f"{server.url}/agent/stream", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert other.status_code == 403


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", 400),
        ("evil.example:8000", 400),
        ("127.0.0.1.evil.example", 400),
        ("localhost:1234", 200),
        ("127.0.0.1", 200),
        ("[::1]:8000", 200),
    ],
)
def test_the_host_header_is_checked(echo_server: LiveServer, host: str, status: int) -> None:
    response = httpx.get(f"{echo_server.url}/v1/models", headers={"Host": host})
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"]["code"] == "host_not_allowed"


def test_a_configured_host_list_replaces_the_loopback_names() -> None:
    with live_server(create_app(echo_registry(), allowed_hosts=["masai.example"])) as server:
        url = f"{server.url}/v1/models"
        assert httpx.get(url, headers={"Host": "masai.example"}).status_code == 200
        assert httpx.get(url, headers={"Host": "localhost"}).status_code == 400


def test_the_ui_and_docs_carry_security_headers_and_load_nothing_external(
    echo_server: LiveServer,
) -> None:
    for path in ["/", "/docs"]:
        page = httpx.get(f"{echo_server.url}{path}")
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "http" not in csp  # no external source anywhere
        assert page.headers["x-content-type-options"] == "nosniff"
        for ref in _references(page.text):
            assert ref.startswith(("/", "data:")), ref
            if ref.startswith("/"):
                assert httpx.get(f"{echo_server.url}{ref}").status_code == 200, ref
    assert httpx.get(f"{echo_server.url}/redoc").status_code == 404


def _references(html: str) -> list[str]:
    import re

    return re.findall(r'(?:src|href)="([^"]+)"', html)


# -- limits ----------------------------------------------------------------------------------------


def test_one_principal_cannot_start_a_flood_of_runs() -> None:
    """A run flood from one key: it gets its cap and 429s with Retry-After; another principal
    keeps its normal latency meanwhile, and the caps come back once the runs end."""
    settings = ServerSettings(api_keys=KEYS, max_runs_per_principal=20)
    body = {"query": "nap", "agent": "sleeper"}
    limits = httpx.Limits(max_connections=None)
    # Three-second runs: a run queued behind the flood would take about twice as long, so the
    # 1.5 s margin below separates "not queued" from "queued" even on a slow, shared CI host.
    with live_server(create_app(sleepy_registry(3.0), settings)) as server:

        async def timed(client: httpx.AsyncClient) -> float:
            started = time.perf_counter()
            bob = await client.post("/agent/stream", json=body, headers=bearer(BOB))
            assert bob.status_code == 200 and answer_of(bob.text) == "woke up"
            return time.perf_counter() - started

        async def flood() -> tuple[list[httpx.Response], float, float]:
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=20, limits=limits) as alice,
                httpx.AsyncClient(base_url=server.url, timeout=20) as bob,
            ):
                alone = await timed(bob)
                flood = [
                    asyncio.create_task(
                        alice.post("/agent/stream", json=body, headers=bearer(ALICE))
                    )
                    for _ in range(150)
                ]
                await asyncio.sleep(0.3)
                during = await timed(bob)
                return list(await asyncio.gather(*flood)), alone, during

        responses, alone, during = asyncio.run(flood())
        codes = [r.status_code for r in responses]
        assert codes.count(200) == 20 and codes.count(429) == 130
        refused = next(r for r in responses if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"] == {
            "message": "you have 20 runs in flight already",
            "type": "rate_limit_error",
            "code": "too_many_runs",
        }
        assert during < alone + 1.5, (alone, during)  # its own three seconds, not queued behind
        health = httpx.get(f"{server.url}/healthz").json()["runs"]
        assert health["active"] == 0 and health["completed"] == 22


def test_the_rate_of_new_runs_is_capped() -> None:
    app = create_app(echo_registry(), run_burst=3, run_rate=0.2)
    with live_server(app) as server, httpx.Client(base_url=server.url) as client:
        codes = [client.post("/agent/stream", json={"query": "hi"}).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        late = client.post("/agent/stream", json={"query": "hi"})
        assert 3 <= int(late.headers["retry-after"]) <= 5  # one token every 5 s


def test_the_global_run_cap_holds_for_everyone() -> None:
    settings = ServerSettings(api_keys=KEYS, max_runs=2)
    body = {"query": "nap", "agent": "sleeper"}
    with (
        live_server(create_app(sleepy_registry(2.0), settings)) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
        client.stream("POST", "/agent/stream", json=body, headers=bearer(ALICE)) as first,
        client.stream("POST", "/agent/stream", json=body, headers=bearer(BOB)) as second,
    ):
        assert first.status_code == second.status_code == 200
        third = client.post("/agent/stream", json=body, headers=bearer(BOB))
        assert third.status_code == 429 and "server is running as many" in third.text


# -- bad input is a 4xx, never a 500 --------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([{"role": "user", "content": [{"type": "text", "text": 5}]}], "string"),
        ([{"role": "user", "content": "   "}], "no text"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "last"),
        ([{"role": "wizard", "content": "hi"}], "role"),
        ([], "at least 1"),
    ],
)
def test_bad_chat_messages_are_422_and_keep_the_connection(
    echo_server: LiveServer, messages: list[Any], fragment: str
) -> None:
    with httpx.Client(base_url=echo_server.url) as client:
        bad = client.post("/v1/chat/completions", json={"model": "echo", "messages": messages})
        assert bad.status_code == 422, bad.text
        assert fragment in bad.json()["error"]["message"]
        good = client.post(
            "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert good.status_code == 200


def test_malformed_json_is_400_and_oversized_bodies_413(echo_server: LiveServer) -> None:
    bad = httpx.post(
        f"{echo_server.url}/agent/stream",
        content=b'{"query": ',
        headers={"Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    big = httpx.post(f"{echo_server.url}/agent/stream", json={"query": "x" * 1_100_000})
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"


def test_405_says_what_is_allowed(echo_server: LiveServer) -> None:
    response = httpx.get(f"{echo_server.url}/agent/stream")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_the_query_form_sets_booleans(echo_server: LiveServer) -> None:
    url = f"{echo_server.url}/agent/stream"
    on = httpx.post(url, params={"query": "hi", "token_events": "true"})
    off = httpx.post(url, params={"query": "hi", "token_events": "false"})
    assert "token" in {e["event_type"] for e in events(on.text)}
    assert "token" not in {e["event_type"] for e in events(off.text)}
    wrong = httpx.post(url, params={"query": "hi", "token_events": "maybe"})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["message"].startswith("token_events: ")
    # The field named "query" is named in the message (not mistaken for where it came from).
    for params in ({"query": " "}, {}):
        blank = httpx.post(url, params=params)
        assert blank.status_code == 422
        assert blank.json()["error"]["message"].startswith("query: "), blank.text


def test_a_client_leaving_mid_upload_is_one_info_line(
    echo_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with socket.create_connection(("127.0.0.1", echo_server.port)) as sock:
        sock.sendall(
            b"POST /agent/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n" + b'{"query": "'
        )
        time.sleep(0.2)
    time.sleep(0.3)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    left = [r for r in caplog.records if "left during its upload" in r.getMessage()]
    assert len(left) == 1 and left[0].levelno == logging.INFO


def test_a_non_streamed_completion_is_cancelled_when_its_client_leaves() -> None:
    with live_server(create_app(sleepy_registry(5.0))) as server:
        body = {"model": "sleeper", "messages": [{"role": "user", "content": "nap"}]}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=0.5)
        for _ in range(100):
            runs = httpx.get(f"{server.url}/healthz").json()["runs"]
            if runs["active"] == 0:
                break
            time.sleep(0.05)
        assert runs == {"active": 0, "completed": 0, "cancelled": 1, "failed": 0}


def test_every_error_has_the_json_shape(echo_server: LiveServer) -> None:
    probes = [
        httpx.get(f"{echo_server.url}/nowhere"),
        httpx.post(f"{echo_server.url}/agent/stream", json={"query": "hi", "agent": "ghost"}),
        httpx.post(f"{echo_server.url}/agent/stream", json={"query": "hi", "extra": 1}),
        httpx.post(f"{echo_server.url}/v1/chat/completions", json={"model": "echo"}),
    ]
    for response in probes:
        assert 400 <= response.status_code < 500
        error = response.json()["error"]
        assert set(error) == {"message", "type", "code"} and error["message"]
