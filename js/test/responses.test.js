// The official clients of OpenAI's Responses API against masai's POST /v1/responses: the
// `openai` npm package (responses.create, streamed or not, and responses.stream()) and the AI SDK
// (`ai` + `@ai-sdk/openai`, whose default provider model calls this API). The reply is the run's
// final answer, the finish is "stop" even though tools ran, agent events pass through unharmed,
// and previous_response_id continues a conversation.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";
import OpenAI from "openai";
import { ResponseStream } from "openai/lib/responses/ResponseStream";

import { REPO, startServer } from "./support/server.js";

const QUESTION = "How is solar energy doing?";
const AGENT_EVENTS = { stream_options: { include_agent_events: true } };

let demo;
let agents; // tests/support/responses_registry.py
let client;
let agentsClient;
before(async () => {
  [demo, agents] = await Promise.all([
    startServer({ env: { MASAI_DEMO_PACE: "0.2" } }),
    startServer({
      args: ["--config", "tests.support.responses_registry:responses_registry"],
      env: { PYTHONPATH: REPO },
    }),
  ]);
  client = new OpenAI({ baseURL: `${demo.url}/v1`, apiKey: "unused", maxRetries: 0 });
  agentsClient = new OpenAI({ baseURL: `${agents.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
after(async () => {
  await Promise.all([demo?.stop(), agents?.stop()]);
});

/** An AI SDK provider for `server`; `agentEvents` asks for them (the SDK has no field for it). */
function provider(server, { agentEvents = false } = {}) {
  const withEvents = async (url, init) => {
    const body = JSON.parse(init.body);
    return fetch(url, { ...init, body: JSON.stringify({ ...body, ...AGENT_EVENTS }) });
  };
  return createOpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: "unused",
    ...(agentEvents ? { fetch: withEvents } : {}),
  });
}

/** The JSON of each event of a raw Responses stream. */
async function rawEvents(server, body) {
  const response = await fetch(`${server.url}/v1/responses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await response.text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("data: "))
    .map((line) => JSON.parse(line.slice(6)));
}

describe("openai-node", () => {
  let expected; // the non-streamed reply, which every streamed form must reproduce

  test("responses.create, not streamed: the final answer, usage, no tool items", async () => {
    const response = await client.responses.create({ model: "research-team", input: QUESTION });
    assert.equal(response.object, "response");
    assert.equal(response.status, "completed");
    assert.match(response.id, /^resp_/);
    assert.match(response.output_text, /^## Report: How is solar energy doing\?/);
    assert.deepEqual(
      response.output.map((item) => item.type),
      ["reasoning", "message"],
    );
    assert.equal(response.usage.total_tokens, response.usage.input_tokens + response.usage.output_tokens);
    expected = response.output_text;
  });

  test("responses.create({stream: true}): OpenAI's sequence, the same text", async () => {
    const stream = await client.responses.create({ model: "research-team", input: QUESTION, stream: true });
    const events = [];
    for await (const event of stream) events.push(event);
    assert.deepEqual(
      events.map((e) => e.sequence_number),
      events.map((_, i) => i),
    );
    assert.deepEqual(events.slice(0, 2).map((e) => e.type), ["response.created", "response.in_progress"]);
    assert.equal(events.at(-1).type, "response.completed");
    assert.ok(!events.some((e) => e.type === "keepalive"), "no agent events unless asked for");
    const deltas = events.filter((e) => e.type === "response.output_text.delta");
    assert.ok(deltas.length > 5, "it really streamed");
    assert.equal(deltas.map((e) => e.delta).join(""), expected);
    assert.equal(events.at(-1).response.output_text ?? expected, expected);
    const items = events.filter((e) => e.type === "response.output_item.done").map((e) => e.item.type);
    assert.ok(!items.includes("function_call"));
  });

  test("responses.stream(): the helper accumulates the same response", async () => {
    const stream = client.responses.stream({ model: "research-team", input: QUESTION });
    let text = "";
    stream.on("response.output_text.delta", (event) => {
      text += event.delta;
    });
    const final = await stream.finalResponse();
    assert.equal(final.status, "completed");
    assert.equal(final.output_text, expected);
    assert.equal(text, expected);
  });

  test("with agent events, responses.stream() and create() pass them over unharmed", async () => {
    const stream = client.responses.stream({ model: "researcher", input: QUESTION, ...AGENT_EVENTS });
    const steps = [];
    stream.on("keepalive", (event) => steps.push(event.masai_event));
    const final = await stream.finalResponse();
    assert.equal(final.status, "completed");
    assert.match(final.output_text, /solar capacity grew 29%/);
    const kinds = new Set(steps.map((s) => s.event_type));
    for (const kind of ["tool_call", "tool_output", "custom", "reasoning", "answer"]) assert.ok(kinds.has(kind), kind);
    assert.deepEqual(
      steps.map((s) => s.metadata.seq),
      steps.map((_, i) => i),
    );

    const raw = await client.responses.create({ model: "researcher", input: QUESTION, stream: true, ...AGENT_EVENTS });
    let text = "";
    let carried = 0;
    for await (const event of raw) {
      if (event.type === "keepalive") carried += event.masai_event ? 1 : 0;
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    assert.equal(text, final.output_text);
    assert.equal(carried, steps.length);
  });

  test("why `keepalive`: responses.stream() throws on a type it does not know", async () => {
    const events = await rawEvents(demo, { model: "researcher", input: QUESTION, ...AGENT_EVENTS });
    const replay = (list) => {
      const lines = list.map((e) => JSON.stringify(e) + "\n").join("");
      const body = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(lines));
          controller.close();
        },
      });
      return ResponseStream.fromReadableStream(body).finalResponse();
    };
    const final = await replay(events);
    assert.match(final.output_text, /solar capacity grew 29%/);
    const renamed = events.map((e) => (e.type === "keepalive" ? { ...e, type: "masai.agent_event" } : e));
    await assert.rejects(replay(renamed), /Unhandled response stream event/);
  });

  test("previous_response_id continues the conversation; an unknown one is a 404", async () => {
    const first = await agentsClient.responses.create({ model: "recall", input: "first" });
    const stream = agentsClient.responses.stream({ model: "recall", input: "second", previous_response_id: first.id });
    const second = await stream.finalResponse();
    assert.equal(second.previous_response_id, first.id);
    assert.equal(second.output_text, `turn 2 (history: user:first | assistant:${first.output_text})`);
    await assert.rejects(
      agentsClient.responses.create({ model: "recall", input: "x", previous_response_id: "resp_nope" }),
      (error) => {
        assert.ok(error instanceof OpenAI.NotFoundError, error.constructor.name);
        assert.equal(error.param, "previous_response_id");
        assert.equal(error.code, "previous_response_not_found");
        return true;
      },
    );
  });

  test("a failed run: response.failed with the public message; not streamed, an APIError", async () => {
    const stream = agentsClient.responses.stream({ model: "crashy", input: "hi" });
    const failed = [];
    stream.on("response.failed", (event) => failed.push(event.response));
    await stream.done();
    assert.equal(failed.length, 1);
    assert.deepEqual(failed[0].error, { code: "internal_error", message: "The agent run failed." });
    await assert.rejects(agentsClient.responses.create({ model: "crashy", input: "hi" }), (error) => {
      assert.ok(error instanceof OpenAI.InternalServerError, error.constructor.name);
      assert.doesNotMatch(error.message, /secret detail/);
      return true;
    });
  });
});

describe("the AI SDK (@ai-sdk/openai, the Responses API provider)", () => {
  let expected;
  before(async () => {
    expected = (await client.responses.create({ model: "research-team", input: QUESTION })).output_text;
  });

  for (const agentEvents of [false, true]) {
    test(`streamText${agentEvents ? " with agent events" : ""}: the final answer, finish "stop"`, async () => {
      const result = streamText({
        model: provider(demo, { agentEvents })("research-team"),
        prompt: QUESTION,
        includeRawChunks: true,
      });
      const parts = [];
      for await (const part of result.fullStream) parts.push(part);
      assert.equal(await result.text, expected);
      assert.equal(await result.finishReason, "stop");
      const kinds = new Set(parts.map((p) => p.type));
      assert.ok(!kinds.has("tool-call") && !kinds.has("tool-input-start") && !kinds.has("error"), [...kinds].join());
      assert.ok((await result.reasoningText).length > 0, "the reasoning comes as reasoning");
      const raw = parts.filter((p) => p.type === "raw" && p.rawValue.type === "keepalive");
      if (!agentEvents) assert.equal(raw.length, 0);
      else assert.ok(raw.some((p) => p.rawValue.masai_event.event_type === "tool_call"));
    });
  }

  test("it also drops frames of types it does not know", async () => {
    const renaming = async (url, init) => {
      const body = JSON.stringify({ ...JSON.parse(init.body), ...AGENT_EVENTS });
      const response = await fetch(url, { ...init, body });
      const text = (await response.text()).replaceAll('"type":"keepalive"', '"type":"masai.agent_event"');
      assert.match(text, /masai\.agent_event/);
      return new Response(text, { status: response.status, headers: response.headers });
    };
    const model = createOpenAI({ baseURL: `${demo.url}/v1`, apiKey: "unused", fetch: renaming })("research-team");
    const result = streamText({ model, prompt: QUESTION });
    assert.equal(await result.text, expected);
    assert.equal(await result.finishReason, "stop");
  });

  test("generateText (not streamed), and a second turn with the first one's messages", async () => {
    const model = provider(agents)("recall");
    const first = await generateText({ model, prompt: "first" });
    assert.equal(first.text, "turn 1 (history: none)");
    assert.equal(first.finishReason, "stop");
    // The SDK sends the earlier answer back as an item_reference to its message item.
    const second = await generateText({
      model,
      messages: [{ role: "user", content: "first" }, ...first.response.messages, { role: "user", content: "second" }],
    });
    assert.equal(second.text, "turn 2 (history: user:first | assistant:turn 1 (history: none))");
  });

  test("a failed run is an error, not text", async () => {
    const quiet = () => {}; // (streamText logs errors it is not told what to do with)
    const result = streamText({ model: provider(agents)("crashy"), prompt: "hi", maxRetries: 0, onError: quiet });
    const parts = [];
    for await (const part of result.fullStream) parts.push(part);
    const errors = parts.filter((p) => p.type === "error");
    assert.equal(errors.length, 1);
    assert.equal(errors[0].error.message, "The agent run failed.");
    assert.ok(!parts.some((p) => p.type === "text-delta"));
    await assert.rejects(result.text, /No output generated/);
  });
});

describe("docs/openai-responses.md", () => {
  const page = readFileSync(join(REPO, "docs", "openai-responses.md"), "utf8");
  const blocks = [...page.matchAll(/^```js\n(.*?)^```/gms)].map((m) => m[1]);
  const modules = ["openai", "ai", "@ai-sdk/openai"];
  let dir;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "masai-responses-"));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("its JavaScript examples run as written against the server", async () => {
    assert.equal(blocks.length, 2);
    const outputs = [];
    for (const [i, block] of blocks.entries()) {
      let code = block.replaceAll("http://localhost:8000", demo.url);
      for (const name of modules) {
        code = code.replaceAll(`from "${name}"`, `from ${JSON.stringify(import.meta.resolve(name))}`);
      }
      const file = join(dir, `example-${i}.mjs`);
      await writeFile(file, code);
      const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 60_000 });
      outputs.push(stdout.trimEnd());
    }
    assert.match(outputs[0], /solar capacity grew 29%[\s\S]*\ncompleted$/);
    assert.match(outputs[1], /^## Report: How is solar doing\?[\s\S]*\nstop$/);
  });
});
