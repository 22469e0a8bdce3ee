// One scripted multi-agent run through every wire protocol, each read with its official client:
// the same reply, tool calls, tool results and progress values must come out of each
// (docs/protocols.md: "One run, many front-ends"). Each protocol starts a run of its own with
// the same query; the demo is deterministic, so the runs must tell the same story. Tool call
// ids are made per run, so calls compare by (name, arguments) in order, and results and
// progress by the position of the call their id names (which checks that, within each
// protocol, the ids tie calls to their results and progress).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { HttpAgent } from "@ag-ui/client";
import { DefaultChatTransport, readUIMessageStream } from "ai";
import OpenAI from "openai";

import { streamRun } from "../masai-client.js";
import { getJSON, startServer } from "./support/server.js";

const QUERY = "How is solar doing?";
const SYSTEMS = ["research-team", "supervised"];
const AGENT_EVENTS = { include_agent_events: true };

let server;
let openai;
before(async () => {
  server = await startServer({ env: { MASAI_DEMO_PACE: "0.01" } });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 30_000 });
});
after(async () => {
  await server?.stop();
});

// -- one extractor per protocol ----------------------------------------------------------------
// Each returns {runId, reply, calls: [{id, name, args}], results: [{id, output}],
// progress: [{id, progress}]}: what the protocol's client presents, ids as the protocol has them.

/** The spec's chunks (POST /mas/stream), decoded by masai-client's streamRun. */
async function viaSpec(system) {
  const run = await streamRun(`${server.url}/mas/stream`, { query: QUERY, system, token_events: true });
  const events = [];
  for await (const event of run) events.push(event);
  const done = await run.done;
  assert.equal(done.status, "completed", "spec");
  const of = (type) => events.filter((e) => e.type === type);
  const finals = of("answer").filter((e) => !e.metadata.intermediate);
  assert.equal(finals.length, 1, "spec: one answer is the user's");
  return {
    runId: done.runId,
    reply: finals[0].content,
    intermediate: of("answer").filter((e) => e.metadata.intermediate).map((e) => e.content),
    calls: of("tool_call").map(({ toolCall: c }) => ({ id: c.id, name: c.name, args: c.args })),
    results: of("tool_output").map((e) => ({ id: e.metadata.tool_call_id, output: e.output })),
    progress: of("custom").map((e) => ({ id: e.metadata.tool_call_id, progress: e.customData?.progress })),
  };
}

/** Tool calls, results and progress from OpenAI-style `masai_event` extensions ({event_type, data, metadata}). */
function fromMasaiEvents(events) {
  const of = (type) => events.filter((e) => e.event_type === type);
  const callId = (e) => e.metadata.tool_call_id;
  return {
    calls: of("tool_call").map((e) => ({ id: callId(e), name: e.data.tool_name, args: e.data.tool_input })),
    results: of("tool_output").map((e) => ({ id: callId(e), output: e.data.output })),
    progress: of("custom").map((e) => ({ id: callId(e), progress: e.data.custom_data?.progress })),
  };
}

/** POST /v1/chat/completions with openai-node: the reply is the `delta.content`s. */
async function viaChat(system) {
  const { data: stream, response } = await openai.chat.completions
    .create({
      model: system,
      messages: [{ role: "user", content: QUERY }],
      stream: true,
      stream_options: AGENT_EVENTS,
    })
    .withResponse();
  let reply = "";
  const events = [];
  for await (const chunk of stream) {
    for (const choice of chunk.choices) reply += choice.delta.content ?? "";
    if (chunk.masai_event) events.push(chunk.masai_event);
  }
  return { runId: response.headers.get("x-masai-run-id"), reply, ...fromMasaiEvents(events) };
}

/** POST /v1/responses with openai-node: the reply is the completed response's message item. */
async function viaResponses(system) {
  const { data: stream, response } = await openai.responses
    .create({ model: system, input: QUERY, stream: true, stream_options: AGENT_EVENTS })
    .withResponse();
  const events = [];
  let deltas = "";
  let completed;
  for await (const event of stream) {
    if (event.type === "keepalive" && event.masai_event) events.push(event.masai_event);
    if (event.type === "response.output_text.delta") deltas += event.delta;
    if (event.type === "response.completed") completed = event.response;
  }
  assert.ok(completed, "responses: a response.completed event");
  const texts = completed.output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content)
    .filter((part) => part.type === "output_text");
  assert.equal(texts.length, 1, "responses: one output_text");
  assert.equal(deltas, texts[0].text, "responses: the deltas add up to the message");
  return { runId: response.headers.get("x-masai-run-id"), reply: texts[0].text, ...fromMasaiEvents(events) };
}

/** POST /ag-ui/{id} with @ag-ui/client's HttpAgent: what it built in `agent.messages`. */
async function viaAgUi(system) {
  const agent = new HttpAgent({ url: `${server.url}/ag-ui/${system}`, threadId: `thread-${randomUUID()}` });
  agent.messages = [{ id: "u1", role: "user", content: QUERY }];
  const events = [];
  await agent.runAgent({}, { onEvent: ({ event }) => void events.push(event) });
  assert.deepEqual(events.at(-1).outcome, { type: "success" }, "ag-ui");
  const replies = agent.messages.filter((m) => m.role === "assistant" && typeof m.content === "string" && m.content);
  assert.equal(replies.length, 1, "ag-ui: one assistant message with text");
  const calls = agent.messages.flatMap((m) => m.toolCalls ?? []);
  const ticks = events.filter((e) => e.type === "CUSTOM" && e.name === "masai.progress");
  return {
    runId: events[0].metadata?.masai?.run_id,
    reply: replies[0].content,
    calls: calls.map((c) => ({ id: c.id, name: c.function.name, args: JSON.parse(c.function.arguments) })),
    results: agent.messages.filter((m) => m.role === "tool").map((m) => ({ id: m.toolCallId, output: m.content })),
    progress: ticks.map((e) => ({ id: e.value.tool_call_id, progress: e.value.custom_data?.progress })),
  };
}

/** POST /ai-sdk/{id} with the `ai` package: DefaultChatTransport's parsed chunks, built into
 * the UIMessage by readUIMessageStream. The message keeps each call's latest progress tick
 * only, so the ticks are read from the same chunks as they go by (what useChat's onData sees). */
async function viaUiStream(system) {
  const transport = new DefaultChatTransport({ api: `${server.url}/ai-sdk/${system}` });
  const chunks = await transport.sendMessages({
    chatId: `chat-${randomUUID()}`,
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: undefined,
    messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: QUERY }] }],
  });
  const [forMessage, forTicks] = chunks.tee();
  const errors = [];
  const build = async () => {
    let message;
    for await (message of readUIMessageStream({ stream: forMessage, onError: (e) => errors.push(e) }));
    return message;
  };
  const ticks = async () => {
    const seen = [];
    for await (const chunk of forTicks) if (chunk.type === "data-progress") seen.push(chunk.data);
    return seen;
  };
  const [message, progress] = await Promise.all([build(), ticks()]);
  assert.deepEqual(errors, [], "ai-sdk");
  const texts = message.parts.filter((p) => p.type === "text");
  assert.equal(texts.length, 1, "ai-sdk: one text part");
  const tools = message.parts.filter((p) => p.type === "dynamic-tool");
  return {
    runId: message.metadata?.run_id,
    reply: texts[0].text,
    calls: tools.map((t) => ({ id: t.toolCallId, name: t.toolName, args: t.input })),
    results: tools.filter((t) => "output" in t).map((t) => ({ id: t.toolCallId, output: t.output })),
    progress: progress.map((d) => ({ id: d.tool_call_id, progress: d.progress })),
  };
}

const PROTOCOLS = { spec: viaSpec, chat: viaChat, responses: viaResponses, "ag-ui": viaAgUi, "ai-sdk": viaUiStream };

// -- comparing them ------------------------------------------------------------------------------

/** What must agree across protocols: ids replaced by the position of the call they name. */
function story(name, { reply, calls, results, progress }) {
  const ids = calls.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length, `${name}: tool call ids are unique`);
  const call = (id) => {
    const at = ids.indexOf(id);
    assert.ok(at >= 0, `${name}: ${id} names none of the tool calls ${ids}`);
    return at;
  };
  return {
    reply,
    calls: calls.map((c) => ({ name: c.name, args: c.args })),
    results: results.map((r) => ({ call: call(r.id), output: r.output })),
    progress: progress.map((p) => ({ call: call(p.id), progress: p.progress })),
  };
}

describe("one run, every protocol", () => {
  for (const system of SYSTEMS) {
    test(`${system}: the same reply, tool calls, results and progress in all five`, { timeout: 60_000 }, async () => {
      const seen = {};
      for (const [name, extract] of Object.entries(PROTOCOLS)) seen[name] = await extract(system);

      const expected = story("spec", seen.spec);
      assert.ok(expected.calls.length >= 3 && expected.progress.length >= 3, "a run with tools and progress");
      assert.equal(expected.results.length, expected.calls.length, "every call has its result");
      for (const [name, got] of Object.entries(seen)) {
        assert.deepEqual(story(name, got), expected, `${name} tells the run as the spec does`);
      }

      // The reply is each run's final answer, as masai recorded it, and no handed-on answer.
      const handedOn = seen.spec.intermediate.filter((answer) => answer !== seen.spec.reply);
      // (in "supervised" the supervisor's answer repeats the writer's word for word; its
      // leaking would double the text, which the equality with the record catches)
      assert.ok(handedOn.length >= 2, "answers were handed on, differing from the final one");
      for (const [name, { runId, reply }] of Object.entries(seen)) {
        assert.ok(runId, `${name}: the run's id`);
        const record = await getJSON(`${server.url}/runs/${runId}`);
        assert.equal(record.status, "completed", name);
        assert.equal(reply, record.answer, `${name}: the reply is the run's final answer`);
        for (const answer of handedOn) assert.notEqual(reply, answer, `${name}: an intermediate answer`);
      }
      assert.equal(new Set(Object.values(seen).map((s) => s.runId)).size, 5, "five runs");
    });
  }
});
