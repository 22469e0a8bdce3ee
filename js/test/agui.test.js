// The official AG-UI client (`@ag-ui/client`'s HttpAgent) against masai's POST /ag-ui/{id}, on a
// real `masai serve`: the client validates every event (its schemas) and verifies the sequence,
// so a run that resolves without warnings is a run the protocol accepts. Then: what it built
// (messages, state) against what masai says happened (GET /runs/{id}, /runs/{id}/events).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { HttpAgent, buildResumeArray, isInterruptExpired } from "@ag-ui/client";

import { decodeChunk } from "../masai-client.js";
import { getJSON, startServer } from "./support/server.js";

const run = promisify(execFile);
const CLIENT = import.meta.resolve("@ag-ui/client");
const PAGE = new URL("../../docs/ag-ui.md", import.meta.url);

let server;
before(async () => {
  server = await startServer({ env: { MASAI_DEMO_PACE: "0" } });
});
after(async () => {
  await server?.stop();
});

/** Run `agent` once; every event the subscriber saw, the result, and the client's warnings. */
async function collect(agent, parameters = {}) {
  const events = [];
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => warnings.push(args.join(" "));
  try {
    const { result } = await agent.runAgent(parameters, {
      onEvent: ({ event }) => {
        events.push(event);
      },
    });
    return { events, result, warnings };
  } finally {
    console.warn = warn;
  }
}

/** The masai run behind an AG-UI run: its record and its events as the spec's stream has them. */
async function masaiRun(events) {
  const runId = events[0].metadata.masai.run_id;
  const record = await getJSON(`${server.url}/runs/${runId}`);
  const text = await (await fetch(`${server.url}/runs/${runId}/events`)).text();
  const log = text
    .split("\n")
    .filter((line) => line.startsWith("data: "))
    .flatMap((line) => decodeChunk(line.slice(6)))
    .filter((event) => event.event_type);
  return { record, log };
}

const agentFor = (id) =>
  new HttpAgent({ url: `${server.url}/ag-ui/${id}`, threadId: `thread-${crypto.randomUUID()}` });
const ofType = (events, type) => events.filter((e) => e.type === type);
const replies = (agent) =>
  agent.messages.filter((m) => m.role === "assistant" && typeof m.content === "string" && m.content);

describe("HttpAgent against /ag-ui/{id}", () => {
  test("a team run: one verified run, the final answer as the only reply, state = shared memory", async () => {
    const agent = agentFor("research-team");
    agent.messages = [{ id: "u1", role: "user", content: "How is solar doing?" }];
    agent.state = { leftover: "from an earlier run" };
    const { events, result, warnings } = await collect(agent);
    assert.deepEqual(warnings, [], "nothing was stripped or translated");
    assert.equal(events[0].type, "RUN_STARTED");
    assert.equal(events.at(-1).type, "RUN_FINISHED");
    assert.deepEqual(events.at(-1).outcome, { type: "success" });
    const { record, log } = await masaiRun(events);

    const [reply, ...more] = replies(agent);
    assert.equal(more.length, 0, "one assistant message with text");
    assert.equal(reply.content, record.answer);
    assert.equal(result, record.answer);
    const handedOn = log.filter((e) => e.event_type === "answer").slice(0, 2);
    const reasoning = agent.messages.filter((m) => m.role === "reasoning").map((m) => m.content);
    for (const answer of handedOn) assert.ok(reasoning.includes(answer.content), answer.content);

    const calls = log.filter((e) => e.event_type === "tool_call").map((e) => e.toolCall);
    const outputs = log.filter((e) => e.event_type === "tool_output");
    const asked = agent.messages.flatMap((m) => m.toolCalls ?? []);
    assert.deepEqual(
      asked.map((c) => [c.id, c.function.name, JSON.parse(c.function.arguments)]),
      calls.map((c) => [c.id, c.name, c.args]),
    );
    const results = agent.messages.filter((m) => m.role === "tool");
    assert.deepEqual(
      results.map((m) => [m.toolCallId, m.content]),
      outputs.map((e, i) => [calls[i].id, e.output]),
    );

    const progress = ofType(events, "CUSTOM").filter((e) => e.name === "masai.progress");
    const custom = log.filter((e) => e.event_type === "custom");
    assert.ok(progress.length >= 5);
    assert.deepEqual(
      progress.map((e) => e.value),
      custom.map((e) => ({ content: e.content, custom_data: e.customData, tool_call_id: e.metadata.tool_call_id })),
    );

    const memory = Object.fromEntries(
      log.filter((e) => e.event_type === "memory_update").map((e) => [e.key, e.value]),
    );
    assert.deepEqual(Object.keys(memory), ["answer:researcher", "answer:analyst", "answer:writer"]);
    assert.deepEqual(agent.state, memory);

    const started = ofType(events, "SUBAGENT_STARTED");
    assert.deepEqual(started.map((e) => e.name), ["analyst", "writer"]);
    const bySubagent = new Set(agent.messages.map((m) => m.subagentRunId).filter(Boolean));
    assert.deepEqual([...bySubagent], started.map((e) => e.subagentRunId));
    assert.equal(reply.subagentRunId, undefined, "the reply is the run's, not a subagent's");
    assert.ok(ofType(events, "STEP_STARTED").some((e) => e.stepName === "execute_tool"));
  });

  test("every demo agent and system streams runs the client accepts, replying with the answer", async () => {
    const { data } = await getJSON(`${server.url}/v1/models`);
    const ids = data.map((m) => m.id).filter((id) => id !== "publisher"); // (it asks first: below)
    assert.ok(ids.length >= 6);
    for (const id of ids) {
      const agent = agentFor(id);
      agent.messages = [{ id: "u1", role: "user", content: "How is ocean doing?" }];
      const { events, result, warnings } = await collect(agent);
      assert.deepEqual(warnings, [], id);
      assert.deepEqual(events.at(-1).outcome, { type: "success" }, id);
      const { record } = await masaiRun(events);
      assert.deepEqual(replies(agent).map((m) => m.content), [record.answer], id);
      assert.equal(result, record.answer, id);
    }
  });

  test("the next turn sends the whole conversation back, and is answered", async () => {
    const agent = agentFor("researcher");
    agent.messages = [{ id: "u1", role: "user", content: "How is solar doing?" }];
    await collect(agent);
    const before = agent.messages.length;
    assert.ok(agent.messages.some((m) => m.role === "tool") && agent.messages.some((m) => m.role === "reasoning"));
    agent.messages.push({ id: "u2", role: "user", content: "And ocean?" });
    const { events, warnings } = await collect(agent);
    assert.deepEqual(warnings, []);
    assert.deepEqual(events.at(-1).outcome, { type: "success" });
    const answers = replies(agent);
    assert.equal(answers.length, 2);
    assert.match(answers[1].content, /Ocean heat content/);
    assert.ok(agent.messages.length > before + 1);
  });

  test("an approval is an interrupt; a resume built by the client finishes the same run", async () => {
    const agent = agentFor("publisher");
    agent.messages = [{ id: "u1", role: "user", content: "Publish the Q3 report" }];
    const first = await collect(agent);
    assert.deepEqual(first.warnings, []);
    const finished = first.events.at(-1);
    assert.equal(finished.outcome.type, "interrupt");
    const [interrupt] = agent.pendingInterrupts;
    assert.equal(agent.pendingInterrupts.length, 1);
    assert.equal(interrupt.reason, "tool_call");
    assert.equal(isInterruptExpired(interrupt), false);
    assert.ok(new Date(interrupt.expiresAt) > new Date(Date.now() + 3_000_000));
    const [call] = agent.messages.flatMap((m) => m.toolCalls ?? []);
    assert.equal(interrupt.toolCallId, call.id);
    assert.equal(call.function.name, "publish_report");
    const runId = first.events[0].metadata.masai.run_id;
    assert.equal((await getJSON(`${server.url}/runs/${runId}`)).status, "waiting");

    const wrong = await collect(agent, {
      resume: buildResumeArray(agent.pendingInterrupts, {
        [interrupt.id]: { status: "resolved", payload: { approved: "yes" } },
      }),
    });
    assert.equal(wrong.events.at(-1).type, "RUN_ERROR");
    assert.equal(wrong.events.at(-1).code, "invalid_resume");
    assert.deepEqual(agent.pendingInterrupts, [interrupt], "still open: answer it again");

    const resume = buildResumeArray(agent.pendingInterrupts, {
      [interrupt.id]: { status: "resolved", payload: { approved: true, editedArgs: { title: "Q3", channel: "wiki" } } },
    });
    const second = await collect(agent, { resume });
    assert.deepEqual(second.warnings, []);
    assert.deepEqual(second.events.at(-1).outcome, { type: "success" });
    assert.equal(second.events[0].metadata.masai.run_id, runId, "the same masai run, continued");
    assert.deepEqual(agent.pendingInterrupts, []);
    const [published] = agent.messages.filter((m) => m.role === "tool");
    assert.equal(published.toolCallId, call.id);
    assert.equal(published.content, "published 'Q3' to wiki");
    assert.equal(second.result, "published 'Q3' to wiki");
    const record = await getJSON(`${server.url}/runs/${runId}`);
    assert.equal(record.status, "completed");
    assert.equal(replies(agent).at(-1).content, record.answer);
  });

  test("an unknown agent is an HTTP 404 the client raises", async () => {
    const agent = agentFor("nobody");
    agent.messages = [{ id: "u1", role: "user", content: "hello" }];
    const quiet = console.error;
    console.error = () => {};
    try {
      await assert.rejects(agent.runAgent(), (error) => error.status === 404 && /not_found/.test(error.message));
    } finally {
      console.error = quiet;
    }
  });
});

// The JavaScript examples of docs/ag-ui.md, run as written (expectations in the
// `<!-- test: stdout matches /…/ -->` comments above each block, as in js/README.md).
function pageBlocks() {
  const lines = readFileSync(PAGE, "utf8").split("\n");
  const blocks = [];
  let expectations = [];
  for (let i = 0; i < lines.length; i++) {
    const expectation = /^<!-- test: stdout matches \/(.*)\/([a-z]*) -->$/.exec(lines[i]);
    if (expectation) {
      expectations.push(new RegExp(expectation[1], expectation[2]));
      continue;
    }
    const fence = /^```(\w*)$/.exec(lines[i]);
    if (!fence) continue;
    const start = i + 1;
    do i++;
    while (lines[i] !== "```");
    if (fence[1] === "js") blocks.push({ line: start, code: lines.slice(start, i).join("\n") + "\n", expectations });
    expectations = [];
  }
  return blocks;
}

describe("docs/ag-ui.md", () => {
  let dir;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "masai-agui-"));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the page has JavaScript examples, each with expectations", () => {
    const blocks = pageBlocks();
    assert.ok(blocks.length >= 2);
    for (const block of blocks) assert.ok(block.expectations.length > 0, `line ${block.line}`);
  });

  for (const block of pageBlocks()) {
    test(`the example at line ${block.line}`, async () => {
      const code = block.code
        .replaceAll('from "@ag-ui/client"', `from ${JSON.stringify(CLIENT)}`)
        .replaceAll("http://localhost:8000", server.url);
      const file = join(dir, `example-${block.line}.mjs`);
      await writeFile(file, code);
      const { stdout, stderr } = await run(process.execPath, [file], { timeout: 30_000 });
      assert.doesNotMatch(stderr, /\[ag-ui\]/, "the client warned");
      for (const expectation of block.expectations) assert.match(stdout, expectation);
    });
  }
});
