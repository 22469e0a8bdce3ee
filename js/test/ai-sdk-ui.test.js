// The Vercel AI SDK (`ai` 6.x) as a client of masai's /ai-sdk/{id}: every chunk passes the
// SDK's own schema, and the SDK's own message builder (readUIMessageStream; the Chat class
// useChat wraps, over DefaultChatTransport) turns a run into the message a UI renders.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import {
  AbstractChat,
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  parseJsonEventStream,
  readUIMessageStream,
  uiMessageChunkSchema,
} from "ai";

import { REPO, getJSON, startServer } from "./support/server.js";

const DOC = new URL("../../docs/ai-sdk.md", import.meta.url);

let demo; // the built-in demo
let support; // tests/support/aisdk_registry.py: failures, approvals, an echo
before(async () => {
  [demo, support] = await Promise.all([
    startServer({ env: { MASAI_DEMO_PACE: "0.05" } }),
    startServer({
      args: ["--config", "tests.support.aisdk_registry:registry"],
      env: { PYTHONPATH: REPO },
    }),
  ]);
});
after(async () => {
  await Promise.all([demo?.stop(), support?.stop()]);
});

const userMessage = (text, id = "u1") => ({ id, role: "user", parts: [{ type: "text", text }] });

/** POST a chat turn; every chunk parsed and validated by the SDK's schema. */
async function postChunks(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(response.headers.get("x-vercel-ai-ui-message-stream"), "v1");
  const chunks = [];
  for await (const result of parseJsonEventStream({ stream: response.body, schema: uiMessageChunkSchema })) {
    assert.ok(result.success, `a chunk the SDK rejects: ${result.error?.message}`);
    chunks.push(result.value);
  }
  return { chunks, runId: response.headers.get("x-masai-run-id") };
}

/** The final UIMessage the SDK builds from `chunks`. */
async function buildMessage(chunks, onError) {
  const stream = new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  let message;
  for await (message of readUIMessageStream({ stream, onError, terminateOnError: false }));
  return message;
}

/** useChat's state, in memory: what @ai-sdk/react's Chat keeps in React state. */
class MemoryState {
  status = "ready";
  error = undefined;
  messages = [];
  pushMessage = (message) => {
    this.messages = [...this.messages, message];
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
  };
  replaceMessage = (index, message) => {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
  };
  snapshot = (value) => structuredClone(value);
}

class NodeChat extends AbstractChat {
  constructor(init) {
    super({ ...init, state: new MemoryState() });
  }
}

const byType = (message, type) => message.parts.filter((part) => part.type === type);

describe("the demo through the SDK's message builder", () => {
  test("a team run: one text part, tools with outputs, progress, hand-offs, reasoning", async () => {
    const { chunks, runId } = await postChunks(`${demo.url}/ai-sdk/research-team`, {
      id: "js-team",
      messages: [userMessage("How is solar doing?")],
      trigger: "submit-message",
    });
    const message = await buildMessage(chunks, (error) => assert.fail(error));
    const run = await getJSON(`${demo.url}/runs/${runId}`);
    assert.equal(run.status, "completed");
    assert.equal(message.id, `msg-${runId}`);
    assert.equal(message.role, "assistant");
    assert.equal(message.metadata.run_id, runId);
    assert.equal(message.metadata.session_id, "js-team");
    assert.ok(message.metadata.usage.output_tokens > 0);

    const texts = byType(message, "text");
    assert.equal(texts.length, 1);
    assert.equal(texts[0].text, run.answer);
    assert.equal(texts[0].state, "done");
    assert.match(texts[0].text, /^## Report: How is solar doing\?/);

    const tools = byType(message, "dynamic-tool");
    assert.deepEqual(
      tools.map((t) => t.toolName),
      ["web_search", "analyze_numbers", "write_report"],
    );
    for (const tool of tools) {
      assert.equal(tool.state, "output-available", tool.toolName);
      assert.equal(tool.providerExecuted, true);
      assert.equal(typeof tool.output, "string");
    }
    assert.deepEqual(tools[0].input, { query: "How is solar doing?" });
    assert.match(tools[0].output, /Global solar capacity grew 29%/);
    assert.deepEqual(JSON.parse(tools[1].output).percentages, [29, 40, 55]);
    assert.equal(tools[2].callProviderMetadata.masai.agent, "writer");

    const progress = byType(message, "data-progress");
    assert.deepEqual(
      progress.map((p) => p.id),
      tools.map((t) => t.toolCallId),
      "one progress part per tool call",
    );
    for (const part of progress) assert.equal(part.data.progress, 1, "each holds its last tick");
    assert.equal(progress[0].data.stage, "done");
    assert.equal(progress[0].data.tool_name, "web_search");
    // ... while every tick went by as a chunk.
    assert.equal(chunks.filter((c) => c.type === "data-progress" && c.id === tools[0].toolCallId).length, 5);

    assert.deepEqual(
      byType(message, "data-handoff").map((p) => [p.data.from_agent, p.data.to_agent]),
      [
        ["researcher", "analyst"],
        ["analyst", "writer"],
      ],
    );
    assert.deepEqual(
      byType(message, "data-memory").map((p) => p.data.key),
      ["answer:researcher", "answer:analyst", "answer:writer"],
    );

    const reasoning = byType(message, "reasoning");
    assert.ok(reasoning.every((r) => r.state === "done" && r.text));
    assert.equal(reasoning[0].text, "I should search for sources on: How is solar doing?");
    const handed = reasoning.filter((r) => r.providerMetadata.masai.intermediate);
    assert.equal(handed.length, 2);
    assert.match(handed[0].text, /^Sources found: /);
    assert.equal(byType(message, "step-start").length, 3, "a step per agent");
  });

  test("a hierarchical run streams intermediate answers as reasoning, never as text", async () => {
    const { chunks, runId } = await postChunks(`${demo.url}/ai-sdk/supervised`, {
      id: "js-supervised",
      messages: [userMessage("How is the ocean doing?")],
    });
    const message = await buildMessage(chunks, (error) => assert.fail(error));
    const run = await getJSON(`${demo.url}/runs/${runId}`);
    const texts = byType(message, "text");
    assert.equal(texts.length, 1);
    assert.equal(texts[0].text, run.answer);
    const handed = byType(message, "reasoning").filter((r) => r.providerMetadata.masai.intermediate);
    assert.deepEqual(
      handed.map((r) => r.providerMetadata.masai.agent),
      ["researcher", "analyst", "writer"],
    );
    assert.match(handed[0].text, /^Here is what I found: Ocean heat content set a record/);
    assert.ok(!texts[0].text.includes("Here is what I found"));
  });
});

describe("the SDK's Chat (what useChat wraps) over DefaultChatTransport", () => {
  test("two turns: tools never handed to the client, the history goes back", async () => {
    const toolCalls = [];
    const data = [];
    const chat = new NodeChat({
      id: "js-chat",
      transport: new DefaultChatTransport({ api: `${support.url}/ai-sdk/echo` }),
      onToolCall: ({ toolCall }) => toolCalls.push(toolCall),
      onData: (part) => data.push(part),
    });
    await chat.sendMessage({ text: "remember 42" });
    assert.equal(chat.status, "ready", chat.error?.message);
    assert.equal(chat.messages.length, 2);
    assert.equal(byType(chat.lastMessage, "text")[0].text, "I saw: remember 42");
    await chat.sendMessage({ text: "what number?" });
    assert.equal(chat.status, "ready", chat.error?.message);
    const [reply] = byType(chat.lastMessage, "text");
    assert.equal(reply.text, "I saw: remember 42 | I saw: remember 42 | what number?");
    assert.equal(chat.messages.length, 4);
    assert.deepEqual(toolCalls, []);

    const tooled = new NodeChat({
      transport: new DefaultChatTransport({ api: `${demo.url}/ai-sdk/researcher` }),
      onToolCall: ({ toolCall }) => toolCalls.push(toolCall),
      // (copied: the SDK keeps the first chunk of an id as the message's part, and updates it)
      onData: (part) => data.push(structuredClone(part)),
    });
    await tooled.sendMessage({ text: "How is solar doing?" });
    assert.equal(tooled.status, "ready", tooled.error?.message);
    assert.deepEqual(toolCalls, [], "server-run tools are not the client's to answer");
    const [tool] = byType(tooled.lastMessage, "dynamic-tool");
    assert.equal(tool.state, "output-available");
    assert.deepEqual(
      data.filter((d) => d.type === "data-progress").map((d) => d.data.progress),
      [0.2, 0.4, 0.6, 0.8, 1],
    );
  });

  test("a failed run puts the chat in error with the public message", async () => {
    const errors = [];
    const chat = new NodeChat({
      transport: new DefaultChatTransport({ api: `${support.url}/ai-sdk/broken` }),
      onError: (error) => errors.push(error),
    });
    await chat.sendMessage({ text: "go" });
    assert.equal(chat.status, "error");
    assert.equal(chat.error.message, "The agent run failed.");
    assert.deepEqual(
      errors.map((e) => e.message),
      ["The agent run failed."],
    );
    // readUIMessageStream reports it the same way.
    const { chunks } = await postChunks(`${support.url}/ai-sdk/broken`, { messages: [userMessage("go")] });
    const seen = [];
    await buildMessage(chunks, (error) => seen.push(error.message));
    assert.deepEqual(seen, ["The agent run failed."]);
    assert.ok(!JSON.stringify(chunks).includes("hunter2"), "the exception's text stays in the server's log");
  });

  /**
   * A publisher chat up to its approval request, answered with addToolApprovalResponse: the
   * SDK posts the chat again by itself (sendAutomaticallyWhen) and the run goes on.
   */
  async function approvalChat(approved, reason) {
    const bodies = [];
    const finished = [];
    const chat = new NodeChat({
      id: `js-approval-${approved}`,
      transport: new DefaultChatTransport({
        api: `${support.url}/ai-sdk/publisher`,
        fetch: (url, init) => {
          bodies.push(JSON.parse(init.body));
          return fetch(url, init);
        },
      }),
      sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
      onFinish: ({ message, isError }) => finished.push({ id: message.id, isError }),
    });
    await chat.sendMessage({ text: "publish it" });
    // The response ended at the request (the SDK lets the user answer only then); the run waits.
    assert.equal(chat.status, "ready", chat.error?.message);
    const asked = structuredClone(chat.lastMessage);
    const [tool] = byType(asked, "dynamic-tool");
    assert.equal(tool.state, "approval-requested");
    assert.deepEqual(tool.input, { title: "Q3 report" });
    assert.equal(tool.approval.id, tool.toolCallId);
    assert.equal(byType(asked, "data-approval")[0].data.status, "pending");
    const runId = asked.metadata.run_id;
    const waiting = await getJSON(`${support.url}/runs/${runId}`);
    assert.equal(waiting.status, "waiting");
    assert.deepEqual(
      waiting.pending_approvals.map((a) => a.tool_call_id),
      [tool.toolCallId],
    );

    await chat.addToolApprovalResponse({ id: tool.approval.id, approved, reason });
    for (let i = 0; finished.length < 2 && i < 500; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(finished.length, 2, "the SDK sent the answer and read the rest");
    assert.equal(chat.status, "ready", chat.error?.message);
    assert.deepEqual(finished, [
      { id: asked.id, isError: false },
      { id: asked.id, isError: false },
    ]);
    // What the SDK posted: the assistant message, its tool part answered.
    assert.equal(bodies.length, 2);
    const sent = bodies[1].messages.at(-1);
    assert.equal(sent.role, "assistant");
    assert.equal(sent.metadata.run_id, runId);
    const sentTool = byType(sent, "dynamic-tool")[0];
    assert.equal(sentTool.state, "approval-responded");
    assert.deepEqual(sentTool.approval, { id: tool.toolCallId, approved, ...(reason && { reason }) });

    assert.equal(chat.messages.length, 2, "the answer continues the same message");
    const message = chat.lastMessage;
    assert.equal(message.id, asked.id);
    assert.equal(byType(message, "dynamic-tool").length, 1, "one tool part, updated in place");
    assert.deepEqual(
      byType(message, "reasoning").map((r) => r.text),
      ["I will call publish.", "I have what I need."],
      "nothing told twice",
    );
    assert.equal((await getJSON(`${support.url}/runs/${runId}`)).status, "completed");
    return { chat, message, tool: byType(message, "dynamic-tool")[0] };
  }

  test("an approval answered with addToolApprovalResponse: approved, the output and the reply", async () => {
    const { message, tool } = await approvalChat(true);
    assert.equal(tool.state, "output-available");
    assert.equal(tool.output, "published Q3 report");
    assert.equal(byType(message, "data-approval")[0].data.status, "approved");
    const texts = byType(message, "text");
    assert.equal(texts.length, 1);
    assert.equal(texts[0].text, "done: [publish]\npublished Q3 report");
  });

  test("an approval answered with addToolApprovalResponse: denied, with the reason", async () => {
    const { message, tool } = await approvalChat(false, "not today");
    assert.equal(tool.state, "output-denied");
    const [approval] = byType(message, "data-approval");
    assert.equal(approval.data.status, "denied");
    assert.equal(approval.data.reason, "not today");
    assert.match(byType(message, "text")[0].text, /the user denied it/);
  });

  test("resumeStream reconnects where the SDK looks: {api}/{chatId}/stream", async () => {
    const api = `${support.url}/ai-sdk/sleeper`;
    let stopping;
    const first = new NodeChat({
      id: "js-resume",
      transport: new DefaultChatTransport({ api, body: { on_disconnect: "continue" } }),
      onData: (part) => {
        if (part.type === "data-progress") stopping ??= first.stop(); // (a reload: the run goes on)
      },
    });
    await first.sendMessage({ text: "go" });
    await stopping;
    assert.ok(stopping, "the first page saw progress before it left");
    assert.equal(byType(first.lastMessage, "text").length, 0, "it left before the reply");

    const reloaded = new NodeChat({ id: "js-resume", transport: new DefaultChatTransport({ api }) });
    await reloaded.resumeStream();
    assert.equal(reloaded.status, "ready", reloaded.error?.message);
    const message = reloaded.lastMessage;
    assert.equal(message.id, first.lastMessage.id, "the same message, replayed whole");
    assert.equal(byType(message, "text")[0].text, "done: [crawl]\ncrawled 20 pages");
    const [progress] = byType(message, "data-progress");
    assert.equal(progress.data.page, 20);

    const later = new NodeChat({ id: "js-resume", transport: new DefaultChatTransport({ api }) });
    await later.resumeStream(); // 204: nothing going on
    assert.equal(later.status, "ready");
    assert.deepEqual(later.messages, []);
  });

  test("a tool failure is a tool part in output-error, and the chat goes on", async () => {
    const chat = new NodeChat({ transport: new DefaultChatTransport({ api: `${support.url}/ai-sdk/fumbler` }) });
    await chat.sendMessage({ text: "go" });
    assert.equal(chat.status, "ready", chat.error?.message);
    const [tool] = byType(chat.lastMessage, "dynamic-tool");
    assert.equal(tool.state, "output-error");
    assert.match(tool.errorText, /^fumble failed \(ValueError, error \w+\)\.$/);
  });
});

test("the Node example of docs/ai-sdk.md runs as written", async () => {
  const lines = readFileSync(DOC, "utf8").split("\n");
  const start = lines.indexOf("```js");
  assert.ok(start > 0, "docs/ai-sdk.md has a js example");
  const end = lines.indexOf("```", start);
  const expectations = [];
  for (let i = start - 1; lines[i].startsWith("<!-- test:"); i--) {
    const m = /^<!-- test: stdout matches \/(.*)\/([a-z]*) -->$/.exec(lines[i]);
    assert.ok(m, lines[i]);
    expectations.push(new RegExp(m[1], m[2]));
  }
  assert.ok(expectations.length >= 3);
  const code = lines
    .slice(start + 1, end)
    .join("\n")
    .replaceAll('from "ai"', `from ${JSON.stringify(import.meta.resolve("ai"))}`)
    .replaceAll("http://localhost:8000", demo.url);
  const dir = await mkdtemp(join(tmpdir(), "masai-ai-sdk-"));
  try {
    const file = join(dir, "example.mjs");
    await writeFile(file, code);
    const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 60_000 });
    for (const expectation of expectations) assert.match(stdout, expectation);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // The React page is shown, not run (it needs a React app): it still targets this route.
  const tsx = lines.slice(lines.indexOf("```tsx")).join("\n");
  assert.match(tsx, /useChat<MasaiMessage>/);
  assert.match(tsx, /\/ai-sdk\/research-team/);
});
