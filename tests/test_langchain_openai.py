"""langchain-openai's ``ChatOpenAI`` as a client of masai, unchanged: chat completions and the
Responses API (``use_responses_api=True``), invoked and streamed. LangChain is interop only:
the server never imports it; the client is the official package as users run it."""

from __future__ import annotations

import httpx
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from tests.support.server import LiveServer

QUESTION = "How is solar energy doing?"


def _expected(demo: LiveServer, model: str) -> str:
    """The run's final answer, as the plain chat endpoint gives it."""
    body = {"model": model, "messages": [{"role": "user", "content": QUESTION}]}
    response = httpx.post(f"{demo.url}/v1/chat/completions", json=body, timeout=60)
    response.raise_for_status()
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


def _client(demo: LiveServer, model: str, *, responses: bool) -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        base_url=f"{demo.url}/v1",
        api_key="unused",  # type: ignore[arg-type]
        max_retries=0,
        use_responses_api=responses,
        timeout=60,
    )


@pytest.mark.parametrize("responses", [False, True], ids=["chat", "responses"])
@pytest.mark.parametrize("model", ["researcher", "research-team", "supervised"])
def test_invoke_and_stream_give_the_final_answer(
    demo: LiveServer, model: str, responses: bool
) -> None:
    expected = _expected(demo, model)
    assert expected.strip()
    llm = _client(demo, model, responses=responses)
    messages = [SystemMessage("You are helpful."), HumanMessage(QUESTION)]

    reply = llm.invoke(messages)
    assert isinstance(reply, AIMessage)
    assert reply.text == expected
    assert not reply.tool_calls  # server-side tools never look like calls the client owes

    chunks = list(llm.stream(messages))
    assert len(chunks) > 1  # streamed, not one block
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.text == expected
    assert not merged.tool_call_chunks
