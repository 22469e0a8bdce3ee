// The official `openai` npm package as a client of masai's /v1/chat/completions.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import OpenAI from "openai";

import { decodeChunk, streamRun } from "../masai-client.js";
import { startServer } from "./support/server.js";

let server;
let client;
before(async () => {
  server = await startServer();
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "not-needed", maxRetries: 0 });
});
after(async () => {
  await server?.stop();
});

const QUESTION = "How is solar energy doing?";
const messages = [
  { role: "system", content: "You are helpful." },
  { role: "user", content: QUESTION },
];

describe("/v1/chat/completions with the openai SDK", () => {
  let expected; // the non-streaming answer, which every streamed form must reproduce

  test("non-streaming", async () => {
    const completion = await client.chat.completions.create({ model: "researcher", messages });
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.model, "researcher");
    const [choice] = completion.choices;
    assert.equal(choice.message.role, "assistant");
    assert.equal(choice.finish_reason, "stop");
    assert.match(choice.message.content, /solar capacity grew 29%/);
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
    expected = choice.message.content;
  });

  test("streaming with include_usage: the same content, then a usage chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "researcher",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    const finishes = [];
    const usage = [];
    let chunks = 0;
    let afterFinish = false;
    for await (const chunk of stream) {
      chunks += 1;
      assert.equal(chunk.object, "chat.completion.chunk");
      assert.equal(chunk.masai_event, undefined, "no agent events unless asked for");
      for (const choice of chunk.choices) {
        assert.ok(!afterFinish, "no content after the finish chunk");
        content += choice.delta.content ?? "";
        if (choice.finish_reason) {
          finishes.push(choice.finish_reason);
          afterFinish = true;
        }
      }
      if (chunk.usage) {
        assert.deepEqual(chunk.choices, []);
        usage.push(chunk.usage);
      }
    }
    assert.equal(content, expected);
    assert.deepEqual(finishes, ["stop"]);
    assert.equal(usage.length, 1);
    assert.ok(usage[0].completion_tokens > 0 && usage[0].prompt_tokens > 0);
    assert.ok(chunks > 5, `${chunks} chunks: the answer arrives in pieces`);
  });

  test("streaming with include_agent_events: the SDK parses every chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "researcher",
      messages,
      stream: true,
      stream_options: { include_agent_events: true },
    });
    let content = "";
    const withEvent = [];
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      assert.equal(chunk.object, "chat.completion.chunk");
      for (const choice of chunk.choices) content += choice.delta.content ?? "";
      if (chunk.masai_event) {
        assert.deepEqual(chunk.choices, []);
        withEvent.push(chunk);
      }
    }
    assert.equal(content, expected);
    assert.ok(withEvent.length >= 10, `${withEvent.length} of ${chunks} chunks carry an event`);
    assert.ok(chunks > withEvent.length);

    // masai-client decodes the extension into the same events as the spec stream.
    const events = withEvent.flatMap((chunk) => decodeChunk(chunk));
    assert.deepEqual(
      events.map((e) => e.metadata.seq),
      events.map((_, i) => i),
    );
    const types = new Set(events.map((e) => e.type));
    for (const type of ["reasoning", "tool_call", "custom", "tool_output", "answer"]) {
      assert.ok(types.has(type), `a ${type} event`);
    }
    assert.ok(!types.has("unknown"));
    const call = events.find((e) => e.type === "tool_call");
    assert.deepEqual([call.toolCall.name, call.toolCall.args], ["web_search", { query: QUESTION }]);
    assert.deepEqual(
      events.filter((e) => e.type === "custom").map((e) => e.progress),
      [0.2, 0.4, 0.6, 0.8, 1],
    );
    assert.equal(events.findLast((e) => e.type === "answer").content, expected);
  });

  test("a multi-agent system as the model", async () => {
    const completion = await client.chat.completions.create({ model: "research-team", messages });
    assert.match(completion.choices[0].message.content, /^## Report: How is solar energy doing\?/);
  });

  test("an unknown model is a 404 the SDK understands", async () => {
    await assert.rejects(client.chat.completions.create({ model: "ghost", messages }), (error) => {
      assert.ok(error instanceof OpenAI.NotFoundError, error.constructor.name);
      assert.equal(error.status, 404);
      assert.match(error.message, /ghost/);
      return true;
    });
  });

  test("masai-client's streamRun reads the vanilla stream too", async () => {
    const run = await streamRun(`${server.url}/v1/chat/completions`, {
      model: "researcher",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const types = [];
    for await (const e of run) types.push(e.type);
    const result = await run.done;
    assert.equal(result.answer, expected);
    assert.equal(result.finishReason, "stop");
    assert.equal(types[0], "start");
    assert.deepEqual(types.slice(-3), ["finish", "usage", "done"]);
  });
});
