// streamRun against the real server (`masai serve`, the built-in demo).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { MasaiError, streamRun } from "../masai-client.js";
import { getJSON, startServer, waitFor } from "./support/server.js";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

const post = (path, body, options) => streamRun(`${server.url}${path}`, body, options);

async function collect(run) {
  const events = [];
  for await (const e of run) events.push(e);
  return { events, result: await run.done };
}

/** What every masai stream must look like, whatever ran. */
function checkStream(events) {
  assert.equal(events[0].type, "start");
  assert.equal(events.at(-1).type, "done");
  assert.ok(["finish", "error"].includes(events.at(-2).type), events.at(-2).type);
  const agentEvents = events.filter((e) => e.event_type);
  assert.deepEqual(
    agentEvents.map((e) => e.metadata.seq),
    agentEvents.map((_, i) => i),
    "seq is contiguous from 0",
  );
  assert.equal(new Set(agentEvents.map((e) => e.metadata.run_id)).size, 1);
  assert.equal(new Set(events.filter((e) => e.chunk).map((e) => e.chunk.id)).size, 1);
  assert.ok(!events.some((e) => e.type === "unknown"), "no event type unknown to the client");
  return agentEvents;
}

const health = () => getJSON(`${server.url}/healthz`);

describe("discovery", () => {
  test("/healthz and /v1/models", async () => {
    const h = await health();
    assert.equal(h.status, "ok");
    for (const key of ["active", "completed", "cancelled", "failed"]) {
      assert.equal(typeof h.runs[key], "number", key);
    }
    const models = await getJSON(`${server.url}/v1/models`);
    assert.equal(models.object, "list");
    const kinds = Object.fromEntries(models.data.map((m) => [m.id, [m.masai.kind, m.masai.mode]]));
    assert.deepEqual(kinds, {
      researcher: ["agent", null],
      analyst: ["agent", null],
      writer: ["agent", null],
      publisher: ["agent", null],
      "research-team": ["system", "decentralized"],
      pipeline: ["system", "sequential"],
      supervised: ["system", "hierarchical"],
    });
    for (const m of models.data) {
      assert.equal(m.object, "model");
      assert.equal(m.owned_by, "masai");
      assert.equal(typeof m.masai.description, "string");
    }
  });
});

describe("runs", () => {
  test("one agent: reasoning, a tool with progress, the answer token by token", async () => {
    const query = "How is solar energy doing?";
    const run = await post("/agent/stream", { query, agent: "researcher", token_events: true });
    assert.match(run.response.headers.get("content-type"), /^text\/event-stream/);
    const { events, result } = await collect(run);
    const agentEvents = checkStream(events);
    assert.ok(agentEvents.every((e) => e.metadata.agent === "researcher"));

    const call = events.find((e) => e.type === "tool_call");
    assert.equal(call.toolCall.name, "web_search");
    assert.deepEqual(call.toolCall.args, { query });
    assert.match(call.toolCall.id, /^call_/);
    const progress = events.filter((e) => e.type === "custom").map((e) => e.progress);
    assert.deepEqual(progress, [0.2, 0.4, 0.6, 0.8, 1]);
    for (const e of events.filter((x) => ["custom", "tool_output"].includes(x.type))) {
      assert.equal(e.metadata.tool_call_id, call.toolCall.id);
    }
    const output = events.find((e) => e.type === "tool_output");
    assert.equal(output.toolName, "web_search");
    assert.equal(output.isError, false);
    assert.match(JSON.parse(output.output)[0].snippet, /solar/i);

    const answer = events.find((e) => e.type === "answer");
    const tokens = events.filter((e) => e.type === "token");
    assert.ok(tokens.length > 5, `${tokens.length} tokens`);
    assert.equal(tokens.map((t) => t.content).join(""), answer.content);
    assert.equal(answer.stopReason, "completed");
    assert.ok(events.indexOf(tokens[0]) < events.indexOf(answer));

    assert.match(run.sessionId, /^\S{8,}$/);
    assert.equal(call.metadata.session_id, run.sessionId);
    assert.deepEqual(result, {
      status: "completed",
      runId: call.metadata.run_id,
      sessionId: run.sessionId,
      answer: answer.content,
      finishReason: "stop",
      error: null,
      events: events.length,
    });
  });

  test("node transitions when asked for; none otherwise", async () => {
    const { events } = await collect(
      await post("/agent/stream", { query: "AI trends", agent: "analyst", node_transitions: true }),
    );
    checkStream(events);
    const transitions = events.filter((e) => e.type === "node_transition").map((e) => e.content);
    assert.ok(transitions.includes("\n[Node: start → router]\n"), transitions.join());
    assert.ok(!events.some((e) => e.type === "token"), "no tokens unless asked for");
  });

  test("the simple stream: reasoning and the answer only", async () => {
    const { events, result } = await collect(await post("/agent/stream/simple", { query: "AI?", agent: "researcher" }));
    checkStream(events);
    const types = new Set(events.filter((e) => e.event_type).map((e) => e.type));
    assert.deepEqual([...types].sort(), ["answer", "reasoning"]);
    assert.equal(result.status, "completed");
  });

  test("research-team: hand-offs researcher → analyst → writer, shared memory", async () => {
    const seen = { handoffs: [], memory: [], tools: [] };
    const run = await post(
      "/mas/stream",
      { query: "What are the trends in AI?", system: "research-team", token_events: true },
      {
        on: {
          handoff: (e) => seen.handoffs.push([e.fromAgent, e.toAgent]),
          memory_update: (e) => seen.memory.push(e.key),
          tool_call: (e) => seen.tools.push(`${e.metadata.agent}:${e.toolCall.name}`),
        },
      },
    );
    const { events, result } = await collect(run);
    const agentEvents = checkStream(events);
    assert.deepEqual(seen.handoffs, [
      ["researcher", "analyst"],
      ["analyst", "writer"],
    ]);
    assert.deepEqual(seen.tools, ["researcher:web_search", "analyst:analyze_numbers", "writer:write_report"]);
    assert.deepEqual(seen.memory, ["answer:researcher", "answer:analyst", "answer:writer"]);
    const paths = Object.fromEntries(agentEvents.map((e) => [e.metadata.agent, e.metadata.agent_path]));
    assert.deepEqual(paths, {
      researcher: ["researcher"],
      analyst: ["researcher", "analyst"],
      writer: ["researcher", "analyst", "writer"],
    });
    const answers = events.filter((e) => e.type === "answer");
    assert.deepEqual(
      answers.map((a) => [a.metadata.agent, a.stopReason]),
      [
        ["researcher", "delegated"],
        ["analyst", "delegated"],
        ["writer", "completed"],
      ],
    );
    const tokens = events.filter((e) => e.type === "token");
    assert.ok(tokens.every((t) => t.metadata.agent === "writer"));
    assert.equal(tokens.map((t) => t.content).join(""), answers[2].content);
    assert.equal(result.answer, answers[2].content);
    assert.match(result.answer, /^## Report: What are the trends in AI\?/);
  });

  test("pipeline and supervised, at the same time", async () => {
    const query = "How is solar energy doing?";
    const [pipeline, supervised] = await Promise.all(
      ["pipeline", "supervised"].map(async (system) =>
        collect(await post("/mas/stream", { query, system, token_events: true })),
      ),
    );
    checkStream(pipeline.events);
    checkStream(supervised.events);
    assert.notEqual(pipeline.result.runId, supervised.result.runId);
    const handoffs = (events) => events.filter((e) => e.type === "handoff").map((e) => `${e.fromAgent}→${e.toAgent}`);
    assert.deepEqual(handoffs(pipeline.events), ["researcher→analyst", "analyst→writer"]);
    assert.deepEqual(handoffs(supervised.events), [
      "supervisor→researcher",
      "researcher→supervisor",
      "supervisor→analyst",
      "analyst→supervisor",
      "supervisor→writer",
      "writer→supervisor",
    ]);
    assert.equal(supervised.events.filter((e) => e.type === "answer").at(-1).metadata.agent, "supervisor");
    for (const { result } of [pipeline, supervised]) {
      assert.equal(result.status, "completed");
      assert.match(result.answer, /In short/);
    }
  });
});

describe("cancellation", () => {
  /** Start a "thorough" run and read until its slow tool reports progress. */
  async function startThorough(path, body, options) {
    const run = await post(path, { query: "A thorough look at AI adoption", token_events: true, ...body }, options);
    const iterator = run[Symbol.asyncIterator]();
    const seen = [];
    for (;;) {
      const { value, done } = await iterator.next();
      assert.ok(!done, "the run ended before its slow tool started");
      seen.push(value);
      if (value.type === "custom" && value.progress !== null) break;
    }
    const call = seen.find((e) => e.type === "tool_call");
    assert.equal(call.toolCall.name, "deep_research");
    return { run, iterator, seen };
  }

  async function serverSawCancel(before) {
    return waitFor(
      async () => {
        const h = await health();
        return h.runs.cancelled === before.runs.cancelled + 1 && h.runs.active === 0 && h;
      },
      { what: "/healthz to count the cancelled run", timeoutMs: 10_000 },
    );
  }

  test("aborting the signal stops reading at once and the server cancels the run", async () => {
    const before = await health();
    const controller = new AbortController();
    const { run, iterator } = await startThorough(
      "/agent/stream",
      { agent: "researcher" },
      { signal: controller.signal },
    );
    assert.equal((await health()).runs.active, before.runs.active + 1);
    const t0 = performance.now();
    controller.abort();
    let next;
    do next = await iterator.next();
    while (!next.done && next.value.type === "custom");
    assert.equal(next.done, true, "nothing but already-read progress after the abort");
    assert.ok(performance.now() - t0 < 500, "reading stopped promptly");
    const result = await run.done;
    assert.equal(result.status, "aborted");
    assert.equal(run.aborted, true);
    const h = await serverSawCancel(before);
    assert.equal(h.runs.completed, before.runs.completed);
    assert.equal(h.runs.failed, before.runs.failed);
  });

  test("run.abort() on a multi-agent run", async () => {
    const before = await health();
    const { run } = await startThorough("/mas/stream", { system: "research-team" });
    run.abort();
    assert.equal((await run.done).status, "aborted");
    await serverSawCancel(before);
  });

  test("leaving the loop early cancels the run", async () => {
    const before = await health();
    const run = await post("/agent/stream", { query: "A thorough look at ocean health", agent: "researcher" });
    for await (const e of run) if (e.type === "custom") break;
    assert.equal((await run.done).status, "aborted");
    await serverSawCancel(before);
  });
});

describe("errors", () => {
  test("unknown agent or system: 404 with the error body", async () => {
    for (const [path, body, name] of [
      ["/agent/stream", { query: "hi", agent: "ghost" }, "ghost"],
      ["/mas/stream", { query: "hi", system: "phantom" }, "phantom"],
    ]) {
      await assert.rejects(post(path, body), (error) => {
        assert.ok(error instanceof MasaiError);
        assert.equal(error.status, 404);
        assert.match(error.message, new RegExp(name));
        assert.equal(typeof error.code, "string");
        assert.equal(typeof error.type, "string");
        assert.deepEqual(Object.keys(JSON.parse(error.body).error).sort(), ["code", "message", "type"]);
        return true;
      });
    }
  });

  test("invalid requests: 400 for malformed JSON, 422 for the rest, 413 over 1 MB", async () => {
    const invalid = [
      { query: "" },
      { query: "   " },
      { agent: "researcher" },
      { query: 5 },
      { query: ["q"] },
      { query: "q", agent: 5 },
      { query: "q", token_events: [1] },
      { query: "q", token_events: "yes" },
      [1],
    ];
    for (const body of invalid) {
      await assert.rejects(post("/agent/stream", body), { name: "MasaiError", status: 422 }, JSON.stringify(body));
    }
    await assert.rejects(post("/agent/stream", "{not json"), {
      name: "MasaiError",
      status: 400,
      code: "invalid_json",
    });
    await assert.rejects(post("/agent/stream", { query: "x".repeat(1_100_000), agent: "researcher" }), {
      name: "MasaiError",
      status: 413,
    });
  });

  test("a failed request does not count as a run", async () => {
    const before = await health();
    await assert.rejects(post("/agent/stream", { query: "hi", agent: "ghost" }), { status: 404 });
    const h = await health();
    assert.deepEqual(h.runs, before.runs);
  });
});

describe("server options", () => {
  const KEY = "s3cret-key-for-tester";
  let guarded;
  before(async () => {
    guarded = await startServer({
      args: ["--ping-interval", "0.2", "--max-runs-per-principal", "1"],
      env: { MASAI_API_KEYS: `tester:${KEY},other:another-key-1` },
    });
  });
  after(async () => {
    await guarded?.stop();
  });

  const url = () => `${guarded.url}/agent/stream`;
  const slow = { query: "A thorough look at AI adoption", agent: "researcher" };
  const idle = () =>
    waitFor(async () => (await getJSON(`${guarded.url}/healthz`)).runs.active === 0, { what: "no run in flight" });

  test("without a key or with a wrong one: 401 unauthorized", async () => {
    for (const options of [{}, { apiKey: "not-the-key" }, { headers: { Authorization: `Basic ${KEY}` } }]) {
      await assert.rejects(streamRun(url(), slow, options), (error) => {
        assert.ok(error instanceof MasaiError);
        assert.deepEqual(
          [error.status, error.code, error.type, error.retryAfter],
          [401, "unauthorized", "authentication_error", null],
        );
        return true;
      });
    }
  });

  test("heartbeats reach onComment; apiKey and an Authorization header both work", async () => {
    for (const options of [{ apiKey: KEY }, { headers: { Authorization: `Bearer ${KEY}` } }]) {
      await idle();
      const comments = [];
      const types = [];
      const run = await streamRun(url(), slow, { ...options, onComment: (text) => comments.push(text) });
      for await (const e of run) {
        types.push(e.type);
        if (comments.length >= 2) break; // the slow tool reports every 0.5 s: pings in between
      }
      assert.deepEqual([...new Set(comments)], ["ping"]);
      assert.equal(types[0], "start");
      assert.ok(types.includes("custom"));
      assert.equal((await run.done).status, "aborted");
    }
  });

  test("sessionId: the X-Masai-Session-Id header, the events' session_id; sent back, it is kept", async () => {
    await idle();
    const body = { query: "AI trends", agent: "writer" };
    const run = await streamRun(url(), body, { apiKey: KEY });
    const { events, result } = await collect(run);
    assert.match(run.sessionId, /^\S{8,}$/);
    assert.equal(run.sessionId, run.response.headers.get("x-masai-session-id"));
    assert.equal(result.status, "completed");
    assert.equal(result.sessionId, run.sessionId);
    const sessions = new Set(events.filter((e) => e.metadata).map((e) => e.metadata.session_id));
    assert.deepEqual([...sessions], [run.sessionId]);

    const again = await streamRun(url(), { ...body, session_id: run.sessionId }, { apiKey: KEY });
    assert.equal(again.sessionId, run.sessionId);
    await again.done;
    const fresh = await streamRun(url(), body, { apiKey: KEY });
    assert.notEqual(fresh.sessionId, run.sessionId, "no session_id: a fresh session");
    await fresh.done;
  });

  test("a run over the principal's limit: 429 too_many_runs with retryAfter", async () => {
    await idle();
    const first = await streamRun(url(), slow, { apiKey: KEY });
    try {
      await assert.rejects(streamRun(url(), slow, { apiKey: KEY }), (error) => {
        assert.ok(error instanceof MasaiError);
        assert.equal(error.status, 429);
        assert.equal(error.code, "too_many_runs");
        assert.ok(Number.isInteger(error.retryAfter) && error.retryAfter >= 1, String(error.retryAfter));
        return true;
      });
      // The limit is per principal: another key may still run.
      const other = await streamRun(url(), { query: "AI trends", agent: "writer" }, { apiKey: "another-key-1" });
      assert.equal((await other.done).status, "completed");
    } finally {
      first.abort();
    }
    assert.equal((await first.done).status, "aborted");
  });
});
