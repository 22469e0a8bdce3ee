// Runs as resources, against the real server (`masai serve`, the built-in demo): startRun and
// followRun from the start, from any point, after the end, and across connections cut by a
// proxy in between; cancelRun; approvals (the demo's `publisher` asks before publish_report);
// 404 and 410.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { MasaiError, approve, cancelRun, followRun, getRun, listRuns, startRun } from "../masai-client.js";
import { startProxy } from "./support/proxy.js";
import { getJSON, startServer, waitFor } from "./support/server.js";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

/** About 3 s: three agents, a tool each with 5 progress reports, the answer token by token. */
const PIPELINE = { query: "How is solar energy doing?", system: "pipeline", token_events: true };
/** Its tool takes 30 s: for runs that are cancelled. */
const SLOW = { query: "A thorough look at AI adoption", agent: "researcher", token_events: true };
const health = () => getJSON(`${server.url}/healthz`);

/** Follow to the end: the delivered events (and each frame's raw chunk), statuses, result. */
async function followAll(base, runId, options = {}) {
  const events = [];
  const statuses = [];
  const run = followRun(base, runId, {
    initialDelayMs: 50,
    maxDelayMs: 400,
    onStatus: (s) => statuses.push(s),
    ...options,
    on: { "*": (e) => events.push(e), ...(options.on ?? {}) },
  });
  const result = await run.done;
  return { run, events, statuses, result };
}

/** The frames with an id (every event and the terminal frame), as [seq, raw chunk]. */
function frames(events, terminalSeq) {
  return events
    .filter((e) => e.type !== "start" && e.type !== "done")
    .map((e) => [e.metadata?.seq ?? terminalSeq, JSON.stringify(e.chunk)]);
}

const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i);

describe("followRun against masai serve", () => {
  test("startRun answers at once; followRun reads the whole run: seq 0…n-1, the terminal frame n", async () => {
    const t0 = Date.now();
    const started = await startRun(server.url, { query: "How is solar energy doing?", system: "pipeline", token_events: true });
    assert.ok(Date.now() - t0 < 1000, "201 before the run is done");
    assert.match(started.run_id, /^run_/);
    assert.ok(["queued", "running"].includes(started.status));
    assert.equal(started.events_url, `/runs/${started.run_id}/events`);

    const { events, result, statuses } = await followAll(server.url, started.run_id);
    const record = await getRun(server.url, started.run_id);
    assert.equal(record.status, "completed");
    assert.equal(events[0].type, "start");
    assert.equal(events.at(-1).type, "done");
    assert.equal(events.at(-2).type, "finish");
    const agentEvents = events.filter((e) => e.event_type);
    assert.deepEqual(agentEvents.map((e) => e.metadata.seq), range(0, record.event_count));
    assert.ok(agentEvents.every((e) => e.metadata.run_id === started.run_id));
    assert.deepEqual(result, {
      status: "completed",
      runId: started.run_id,
      sessionId: agentEvents[0].metadata.session_id,
      answer: record.answer,
      finishReason: "stop",
      error: null,
      events: events.length,
      lastSeq: record.event_count, // the terminal frame's id
      reconnects: 0,
    });
    assert.deepEqual(statuses, [{ state: "connected", attempt: 0, lastSeq: null }]);
    assert.ok((await listRuns(server.url)).some((r) => r.run_id === started.run_id));
    assert.ok((await listRuns(server.url, { status: "completed" })).every((r) => r.status === "completed"));
  });

  test("connections cut mid-run (and the server unreachable for a while): resumed, nothing lost or repeated", async () => {
    const proxy = await startProxy(server.url);
    try {
      const before = await health();
      const { run_id: runId } = await startRun(proxy.url, PIPELINE);
      const cuts = [];
      let reports = 0;
      const { events, statuses, result } = await followAll(proxy.url, runId, {
        on: {
          custom: (e) => {
            // Cut after the 2nd progress report; after the 8th, also refuse new connections a while.
            const n = ++reports;
            if (n === 2 || n === 8) {
              cuts.push(e.metadata.seq);
              setTimeout(() => {
                if (n === 8) {
                  proxy.refusing = true;
                  setTimeout(() => (proxy.refusing = false), 400);
                }
                proxy.drop();
              }, 0);
            }
          },
        },
      });
      assert.equal(cuts.length, 2);
      assert.equal(result.status, "completed");
      assert.ok(result.reconnects >= 2, `${result.reconnects} reconnects`);
      const retries = statuses.filter((s) => s.state === "reconnecting");
      assert.ok(retries.some((s) => s.attempt >= 2), "refused connections were retried with backoff");
      assert.ok(statuses.filter((s) => s.state === "reconnected").every((s) => s.lastSeq >= cuts[0]));

      // The concatenation equals the whole run as a viewer that never lost its connection reads it.
      const whole = await followAll(server.url, runId);
      const record = await getRun(server.url, runId);
      assert.deepEqual(frames(events, record.event_count), frames(whole.events, record.event_count));
      assert.equal(events.filter((e) => e.type === "start").length, 1);
      assert.deepEqual(
        events.filter((e) => e.event_type).map((e) => e.metadata.seq),
        range(0, record.event_count),
      );
      // A dropped viewer does not stop a run.
      const h = await health();
      assert.equal(h.runs.cancelled, before.runs.cancelled);
      assert.equal(record.status, "completed");
    } finally {
      await proxy.close();
    }
  });

  test("a second viewer joining mid-run with `after` gets the rest; both together are the whole", async () => {
    const { run_id: runId } = await startRun(server.url, PIPELINE);
    let second = null;
    let joinedAfter = null;
    const first = await followAll(server.url, runId, {
      on: {
        custom: (e) => {
          if (second) return;
          joinedAfter = e.metadata.seq;
          second = followAll(server.url, runId, { after: joinedAfter });
        },
      },
    });
    const rest = await second;
    const record = await getRun(server.url, runId);
    const head = frames(first.events, record.event_count).filter(([seq]) => seq <= joinedAfter);
    assert.deepEqual([...head, ...frames(rest.events, record.event_count)], frames(first.events, record.event_count));
    assert.equal(rest.result.status, "completed");
    assert.equal(rest.events[0].type, "start", "a resumed stream opens with the role chunk too");
  });

  test("after the run ended: the whole log from the start, or the tail after a seq", async () => {
    const { run_id: runId } = await startRun(server.url, { query: "AI trends", agent: "writer" });
    const live = await followAll(server.url, runId);
    const record = await getRun(server.url, runId);
    const again = await followAll(server.url, runId);
    assert.deepEqual(frames(again.events, record.event_count), frames(live.events, record.event_count));
    const tail = await followAll(server.url, runId, { after: record.event_count - 2 });
    assert.deepEqual(frames(tail.events, record.event_count).map(([seq]) => seq), [
      record.event_count - 1,
      record.event_count,
    ]);
    const nothing = await followAll(server.url, runId, { after: record.event_count });
    assert.deepEqual(nothing.events.map((e) => e.type), ["start", "done"]);
  });

  test("cancelRun: every viewer's stream ends with the 'cancelled' error; a second cancel is 409", async () => {
    const { run_id: runId } = await startRun(server.url, SLOW);
    const viewer = followAll(server.url, runId, {
      on: { custom: () => cancelRun(server.url, runId).catch(() => {}) },
    });
    const { events, result } = await viewer;
    assert.equal(result.status, "failed");
    assert.deepEqual(result.error, { message: "The run was cancelled.", code: "cancelled" });
    assert.equal(events.at(-2).type, "error");
    const record = await getRun(server.url, runId);
    assert.equal(record.status, "cancelled");
    await assert.rejects(cancelRun(server.url, runId), { name: "MasaiError", status: 409 });
  });

  test("cancelRun with wait: the run has stopped when it answers", async () => {
    const { run_id: runId } = await startRun(server.url, SLOW);
    await waitFor(async () => (await getRun(server.url, runId)).status === "running", { what: "the run to start" });
    const record = await cancelRun(server.url, runId, { wait: true });
    assert.equal(record.status, "cancelled");
  });

  test("unknown run: 404 for getRun and followRun (no retry)", async () => {
    await assert.rejects(getRun(server.url, "run_nope"), { name: "MasaiError", status: 404, code: "not_found" });
    const statuses = [];
    await assert.rejects(followRun(server.url, "run_nope", { onStatus: (s) => statuses.push(s) }).done, {
      status: 404,
    });
    assert.deepEqual(statuses, []);
  });
});

describe("approvals against masai serve (the demo's publisher)", () => {
  const PUBLISH = { query: "Publish the solar report", agent: "publisher" };

  test("approve with edited arguments: the tool runs with them; the approval event says who", async () => {
    const { run_id: runId } = await startRun(server.url, PUBLISH);
    const decisions = [];
    const { events, result } = await followAll(server.url, runId, {
      on: {
        approval_required: async (e) => {
          const record = await getRun(server.url, runId);
          decisions.push(["waiting", record.status, record.pending_approvals.map((p) => p.tool_call_id)]);
          // Not a valid argument for the tool: 422, and the call keeps waiting.
          await assert.rejects(
            approve(server.url, runId, e.approval.toolCallId, { approved: true, arguments: { title: 5 } }),
            (error) => error instanceof MasaiError && error.status === 422,
          );
          await assert.rejects(approve(server.url, runId, "call_nope", { approved: true }), { status: 404 });
          const after = await approve(server.url, runId, e.approval.toolCallId, {
            approved: true,
            reason: "looks good",
            arguments: { title: "Solar, edited", channel: "newsroom" },
          });
          decisions.push(["decided", after.run_id]);
          await assert.rejects(approve(server.url, runId, e.approval.toolCallId, { approved: false }), { status: 409 });
        },
      },
    });
    const required = events.find((e) => e.type === "approval_required");
    const call = events.find((e) => e.type === "tool_call");
    assert.equal(required.approval.toolCallId, call.toolCall.id);
    assert.equal(required.approval.toolName, "publish_report");
    assert.deepEqual(required.approval.arguments, { title: "Publish the solar report", channel: "team-blog" });
    assert.deepEqual(decisions, [
      ["waiting", "waiting", [call.toolCall.id]],
      ["decided", runId],
    ]);
    const approval = events.find((e) => e.type === "approval");
    assert.equal(approval.approval.approved, true);
    assert.equal(approval.approval.reason, "looks good");
    assert.equal(approval.approval.decidedBy, "local");
    assert.deepEqual(approval.approval.arguments, { title: "Solar, edited", channel: "newsroom" });
    assert.ok(Math.abs(approval.approval.decidedAt - Date.now() / 1000) < 60);
    const output = events.find((e) => e.type === "tool_output");
    assert.equal(output.output, "published 'Solar, edited' to newsroom");
    assert.ok(events.indexOf(required) < events.indexOf(approval) && events.indexOf(approval) < events.indexOf(output));
    assert.equal(result.status, "completed");
  });

  test("deny: the tool does not run; the model gets the reason", async () => {
    const { run_id: runId } = await startRun(server.url, PUBLISH);
    const { events, result } = await followAll(server.url, runId, {
      on: {
        approval_required: (e) =>
          approve(server.url, runId, e.approval.toolCallId, { approved: false, reason: "not before Monday" }),
      },
    });
    const approval = events.find((e) => e.type === "approval");
    assert.deepEqual([approval.approval.approved, approval.approval.reason], [false, "not before Monday"]);
    assert.ok(!events.some((e) => e.type === "custom"), "publish_report never ran");
    assert.match(result.answer ?? "", /not before Monday/);
  });

  test("a waiting run needs no viewer: decided while nobody watches, then read whole", async () => {
    const { run_id: runId } = await startRun(server.url, PUBLISH);
    const record = await waitFor(async () => {
      const r = await getRun(server.url, runId);
      return r.status === "waiting" && r;
    }, { what: "the run to wait for approval" });
    await approve(server.url, runId, record.pending_approvals[0].tool_call_id, { approved: true });
    const { events, result } = await followAll(server.url, runId);
    assert.deepEqual(
      events.filter((e) => e.type.startsWith("approval")).map((e) => e.type),
      ["approval_required", "approval"],
    );
    assert.equal(result.status, "completed");
  });
});

describe("retention", () => {
  let small;
  before(async () => {
    small = await startServer({ args: ["--run-log-max-events", "3"] });
  });
  after(async () => {
    await small?.stop();
  });

  test("a cursor older than the log keeps: 410 gone, never a silent gap", async () => {
    const { run_id: runId } = await startRun(small.url, { query: "AI trends", agent: "writer" });
    await waitFor(async () => (await getRun(small.url, runId)).finished_at !== null, { what: "the run to end" });
    const { event_count: count } = await getRun(small.url, runId);
    assert.ok(count > 3);
    await assert.rejects(followRun(small.url, runId).done, (error) => {
      assert.ok(error instanceof MasaiError);
      assert.equal(error.status, 410);
      assert.equal(error.code, "gone");
      return true;
    });
    // What the log still holds can be read.
    const tail = await followAll(small.url, runId, { after: count - 2 });
    assert.equal(tail.result.status, "completed");
  });
});

describe("a run that waits", () => {
  let quick;
  before(async () => {
    quick = await startServer({ args: ["--approval-timeout", "1.5", "--ping-interval", "0.2"] });
  });
  after(async () => {
    await quick?.stop();
  });

  test("its quiet stream carries pings (no idle reconnect); undecided, it fails with approval_timeout", async () => {
    const { run_id: runId } = await startRun(quick.url, { query: "Publish it", agent: "publisher" });
    const comments = [];
    const { events, statuses, result } = await followAll(quick.url, runId, {
      idleTimeoutMs: 700,
      onComment: (text) => comments.push(text),
    });
    assert.ok(comments.filter((c) => c === "ping").length >= 4, comments.join());
    assert.deepEqual(statuses.map((s) => s.state), ["connected"], "the pings kept it from looking idle");
    assert.ok(events.some((e) => e.type === "approval_required"));
    assert.equal(result.status, "failed");
    assert.equal(result.error.code, "approval_timeout");
    const record = await getRun(quick.url, runId);
    assert.deepEqual([record.status, record.stop_reason], ["failed", "approval_timeout"]);
  });
});
