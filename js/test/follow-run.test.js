// followRun offline, against a loopback server that drops, stalls, refuses and replays on
// purpose (support/fake-runs.js): it reconnects with Last-Event-ID, backs off, gives up when told,
// and never delivers an event twice. Plus the small runs calls (startRun, getRun, …).
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { MasaiError, approve, cancelRun, followRun, getRun, listRuns, startRun } from "../masai-client.js";
import { RUN_ID, runFrames, startFakeRuns } from "./support/fake-runs.js";

let fake = null;
afterEach(async () => {
  await fake?.close();
  fake = null;
});

async function serve(options) {
  fake = await startFakeRuns(options);
  return fake;
}

/** Quick retries, no jitter: the tests stay fast and the delays exact. */
const FAST = { initialDelayMs: 10, maxDelayMs: 80, jitter: false };

/** Follow to the end; every delivered event, the statuses, and the result. */
async function follow(options = {}) {
  const events = [];
  const statuses = [];
  const run = followRun(fake.url, RUN_ID, {
    ...FAST,
    onStatus: (s) => statuses.push(s),
    on: { "*": (e) => events.push(e) },
    ...options,
  });
  const result = await run.done;
  return { run, events, statuses, result };
}

/** The ids (seq) of the delivered frames: events' metadata.seq, the terminal frame's too. */
function seqs(events, count) {
  return events.filter((e) => e.type !== "start" && e.type !== "done").map((e) => e.metadata?.seq ?? count);
}

const range = (n) => [...Array(n).keys()];

describe("followRun: reading a run to the end", () => {
  test("no trouble: the role, every event once, the terminal frame, done; one request", async () => {
    await serve({ frames: runFrames(6) });
    const { run, events, statuses, result } = await follow();
    assert.deepEqual(events.map((e) => e.type), ["start", ...range(6).map(() => "token"), "finish", "done"]);
    assert.deepEqual(seqs(events, 6), range(7));
    assert.equal(result.status, "completed");
    assert.equal(result.runId, RUN_ID);
    assert.equal(result.lastSeq, 6);
    assert.equal(result.reconnects, 0);
    assert.equal(result.events, events.length);
    assert.equal(result.finishReason, "stop");
    assert.equal(run.lastSeq, 6);
    assert.equal(run.runId, RUN_ID);
    assert.deepEqual(statuses, [{ state: "connected", attempt: 0, lastSeq: null }]);
    const [request] = fake.eventRequests();
    assert.equal(fake.eventRequests().length, 1);
    assert.equal(request.path, `/runs/${RUN_ID}/events`);
    assert.equal(request.lastEventId, null, "from the start: no cursor");
    assert.equal(request.accept, "text/event-stream");
  });

  test("iterating works too, with the same events", async () => {
    await serve({ frames: runFrames(4), plan: [{ drop: 2 }] });
    const run = followRun(fake.url, RUN_ID, FAST);
    const types = [];
    for await (const e of run) types.push(e.type);
    assert.deepEqual(types, ["start", "token", "token", "token", "token", "finish", "done"]);
    assert.equal((await run.done).status, "completed");
  });

  test("`after`: starts after that seq (sent as Last-Event-ID)", async () => {
    await serve({ frames: runFrames(6) });
    const { events, result } = await follow({ after: 3 });
    assert.deepEqual(seqs(events, 6), [4, 5, 6]);
    assert.equal(fake.eventRequests()[0].lastEventId, "3");
    assert.equal(result.status, "completed");
  });

  test("apiKey goes as a bearer token on every connection", async () => {
    await serve({ frames: runFrames(3), plan: [{ drop: 1 }] });
    await follow({ apiKey: "k-123456789" });
    assert.deepEqual(
      fake.eventRequests().map((r) => r.authorization),
      ["Bearer k-123456789", "Bearer k-123456789"],
    );
  });

  test("a failed run: the error event is the terminal frame", async () => {
    await serve({ frames: runFrames(2, { terminal: "cancelled" }) });
    const { events, result } = await follow();
    assert.equal(events.at(-2).type, "error");
    assert.equal(result.status, "failed");
    assert.deepEqual(result.error, { message: "The run was cancelled.", code: "cancelled" });
  });
});

describe("followRun: reconnecting", () => {
  test("dropped mid-run, twice: reconnects from the last id seen, nothing missed or repeated", async () => {
    const count = 20;
    await serve({ frames: runFrames(count), plan: [{ drop: 5 }, { drop: 7 }] });
    const { events, statuses, result } = await follow();
    assert.deepEqual(seqs(events, count), range(count + 1), "every frame exactly once, in order");
    assert.equal(events.filter((e) => e.type === "start").length, 1, "the role chunk once");
    assert.equal(events.filter((e) => e.type === "done").length, 1);
    assert.deepEqual(
      fake.eventRequests().map((r) => r.lastEventId),
      [null, "4", "11"],
    );
    assert.deepEqual(
      statuses.map((s) => [s.state, s.attempt, s.lastSeq]),
      [
        ["connected", 0, null],
        ["reconnecting", 1, 4],
        ["reconnected", 1, 4],
        ["reconnecting", 1, 11],
        ["reconnected", 1, 11],
      ],
    );
    assert.equal(statuses[1].delayMs, 10);
    assert.ok(statuses[1].error, "the reason is passed on");
    assert.equal(result.reconnects, 2);
    assert.equal(result.status, "completed");
  });

  test("a response that ends cleanly without [DONE] is resumed as well", async () => {
    await serve({ frames: runFrames(8), plan: [{ end: 3 }] });
    const { events, statuses } = await follow();
    assert.deepEqual(seqs(events, 8), range(9));
    assert.equal(statuses[1].error.code, "incomplete_stream");
    assert.deepEqual(fake.eventRequests().map((r) => r.lastEventId), [null, "2"]);
  });

  test("dropped between the terminal frame and [DONE]: reconnects for the [DONE] only", async () => {
    await serve({ frames: runFrames(3), plan: [{ noDone: true }] });
    const { events, result } = await follow();
    assert.deepEqual(events.map((e) => e.type), ["start", "token", "token", "token", "finish", "done"]);
    assert.deepEqual(fake.eventRequests().map((r) => r.lastEventId), [null, "3"]);
    assert.equal(result.status, "completed");
  });

  test("frames at or before the last id seen are dropped (a server replaying from too early)", async () => {
    await serve({ frames: runFrames(10), plan: [{ drop: 6 }, { from: 0, drop: 8 }, { from: 2 }] });
    const { events } = await follow();
    assert.deepEqual(seqs(events, 10), range(11), "no duplicates although the server sent some");
    assert.deepEqual(fake.eventRequests().map((r) => r.lastEventId), [null, "5", "7"]);
  });

  test("HTTP 503 and refused connections: backs off, doubling up to maxDelayMs, then succeeds", async () => {
    const busy = { status: 503, body: { error: { message: "shutting down", code: "shutting_down" } } };
    await serve({ frames: runFrames(3), plan: [{ drop: 1 }, busy, busy, busy, busy, busy] });
    const { events, statuses } = await follow();
    assert.deepEqual(seqs(events, 3), range(4));
    const waits = statuses.filter((s) => s.state === "reconnecting");
    assert.deepEqual(waits.map((s) => [s.attempt, s.delayMs]), [
      [1, 10],
      [2, 20],
      [3, 40],
      [4, 80],
      [5, 80],
      [6, 80],
    ]);
    assert.equal(waits[1].error.status, 503);
    assert.equal(waits[1].error.code, "shutting_down");
    assert.deepEqual(statuses.at(-1), { state: "reconnected", attempt: 6, lastSeq: 0 });
    // It really waited in between.
    const times = fake.eventRequests().map((r) => r.at);
    assert.ok(times.at(-1) - times[0] >= 10 + 20 + 40 + 80 + 80 + 80 - 20, `${times.at(-1) - times[0]} ms`);
  });

  test("jittered delays stay within [half, full] of the backoff", async () => {
    const busy = { status: 502 };
    await serve({ frames: runFrames(1), plan: [busy, busy, busy, busy] });
    const { statuses } = await follow({ initialDelayMs: 40, maxDelayMs: 100, jitter: true });
    const waits = statuses.filter((s) => s.state === "reconnecting").map((s) => s.delayMs);
    const full = [40, 80, 100, 100];
    assert.equal(waits.length, 4);
    waits.forEach((d, i) => assert.ok(d >= full[i] / 2 && d <= full[i], `${d} for ${full[i]}`));
  });

  test("bounded: gives up after maxAttempts reconnects in a row without progress", async () => {
    const busy = { status: 503 };
    await serve({ frames: runFrames(3), plan: Array(10).fill(busy) });
    const statuses = [];
    const run = followRun(fake.url, RUN_ID, { ...FAST, maxAttempts: 3, onStatus: (s) => statuses.push(s) });
    await assert.rejects(run.done, (error) => {
      assert.ok(error instanceof MasaiError);
      assert.equal(error.code, "reconnect_failed");
      assert.equal(error.status, 503);
      assert.equal(error.cause.status, 503);
      return true;
    });
    assert.equal(fake.eventRequests().length, 4, "the first try and 3 more");
    assert.equal(statuses.filter((s) => s.state === "reconnecting").length, 3);
  });

  test("progress resets the count: many drops, each after new events, never give up", async () => {
    const count = 12;
    await serve({ frames: runFrames(count), plan: Array(count).fill({ drop: 1 }) });
    const { events, result } = await follow({ maxAttempts: 2 });
    assert.deepEqual(seqs(events, count), range(count + 1));
    assert.equal(result.reconnects, count);
  });

  test("a silent connection is given up after idleTimeoutMs and resumed", async () => {
    await serve({ frames: runFrames(5), plan: [{ stall: 2 }] });
    const t0 = Date.now();
    const { events, statuses } = await follow({ idleTimeoutMs: 150 });
    assert.deepEqual(seqs(events, 5), range(6));
    assert.equal(statuses[1].error.code, "idle_timeout");
    assert.ok(Date.now() - t0 >= 150);
    assert.deepEqual(fake.eventRequests().map((r) => r.lastEventId), [null, "1"]);
  });

  test("a slow consumer is not an idle connection", async () => {
    await serve({ frames: runFrames(4) });
    const run = followRun(fake.url, RUN_ID, { ...FAST, idleTimeoutMs: 150 });
    const types = [];
    for await (const e of run) {
      types.push(e.type);
      await new Promise((resolve) => setTimeout(resolve, 60)); // 7 events: 420 ms >> 150 ms
    }
    assert.equal(types.at(-1), "done");
    assert.equal(run.reconnects, 0);
  });
});

describe("followRun: errors and stopping", () => {
  test("410 Gone: a MasaiError with code 'gone', no retry", async () => {
    const gone = { status: 410, body: { error: { message: "the run's log has expired", type: "invalid_request_error", code: "gone" } } };
    await serve({ frames: runFrames(3), plan: [gone] });
    const run = followRun(fake.url, RUN_ID, FAST);
    await assert.rejects(run.done, { name: "MasaiError", status: 410, code: "gone", message: "the run's log has expired" });
    assert.equal(fake.eventRequests().length, 1);
  });

  test("410 on a reconnect (the cursor fell out of the log) is 'gone' too", async () => {
    await serve({ frames: runFrames(5), plan: [{ drop: 2 }, { status: 410, body: {} }] });
    const seen = [];
    const run = followRun(fake.url, RUN_ID, { ...FAST, on: { "*": (e) => seen.push(e.type) } });
    await assert.rejects(run.done, { status: 410, code: "gone" });
    assert.deepEqual(seen, ["start", "token", "token"], "what came before stays delivered");
  });

  test("404 (unknown run, or another owner's) and 401: thrown at once", async () => {
    for (const status of [404, 401]) {
      await serve({ frames: runFrames(1), plan: [{ status, body: { error: { message: `no ${status}`, code: `c${status}` } } }] });
      await assert.rejects(followRun(fake.url, RUN_ID, FAST).done, { status, code: `c${status}` });
      assert.equal(fake.eventRequests().length, 1);
      await fake.close();
      fake = null;
    }
  });

  test("a 404 on iteration rejects the loop", async () => {
    await serve({ frames: runFrames(1), plan: [{ status: 404 }] });
    await assert.rejects(async () => {
      for await (const e of followRun(fake.url, RUN_ID, FAST)) void e;
    }, { status: 404 });
  });

  test("abort while waiting to reconnect: ends at once, 'aborted', no more requests", async () => {
    await serve({ frames: runFrames(5), plan: [{ drop: 1 }] });
    const controller = new AbortController();
    const run = followRun(fake.url, RUN_ID, {
      initialDelayMs: 5000,
      jitter: false,
      signal: controller.signal,
      onStatus: (s) => s.state === "reconnecting" && setTimeout(() => controller.abort(), 20),
    });
    const t0 = Date.now();
    const result = await run.done;
    assert.ok(Date.now() - t0 < 2000, "did not sit out the 5 s delay");
    assert.equal(result.status, "aborted");
    assert.equal(run.aborted, true);
    assert.equal(fake.eventRequests().length, 1);
  });

  test("abort mid-stream, and leaving a loop early, close the connection", async () => {
    await serve({ frames: runFrames(50), frameDelayMs: 20 });
    const run = followRun(fake.url, RUN_ID, FAST);
    let n = 0;
    for await (const e of run) if (e.type === "token" && ++n === 3) break;
    const result = await run.done;
    assert.equal(result.status, "aborted");
    assert.equal(result.lastSeq, 2);
    assert.equal(fake.eventRequests().length, 1);
    const aborted = followRun(fake.url, RUN_ID, FAST);
    aborted.abort();
    assert.equal((await aborted.done).status, "aborted");
  });

  test("a callback that throws ends the follow (no reconnecting around it)", async () => {
    await serve({ frames: runFrames(5) });
    const run = followRun(fake.url, RUN_ID, {
      ...FAST,
      on: { token: (e) => { if (e.metadata.seq === 2) throw new Error("boom"); } },
    });
    await assert.rejects(run.done, /boom/);
    assert.equal(fake.eventRequests().length, 1);
  });

  test("not an event stream: a MasaiError, no retry", async () => {
    let calls = 0;
    const notSse = followRun("http://masai.test", RUN_ID, {
      ...FAST,
      fetch: async () => {
        calls += 1;
        return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
      },
    });
    await assert.rejects(notSse.done, { code: "not_event_stream" });
    assert.equal(calls, 1);
  });

  test("fetch is called unbound (a browser's fetch throws 'Illegal invocation' when it has a `this`)", async () => {
    await serve({ frames: runFrames(2) });
    const thisValues = [];
    const result = await followRun(fake.url, RUN_ID, {
      ...FAST,
      fetch: function (url, init) {
        thisValues.push(this);
        return globalThis.fetch(url, init);
      },
    }).done;
    assert.equal(result.status, "completed");
    assert.deepEqual(thisValues, [undefined]);
  });

  test("argument checks", () => {
    assert.throws(() => followRun("http://x", "r", { after: "3" }), TypeError);
    assert.throws(() => followRun("http://x", "r", { after: 1.5 }), TypeError);
    assert.throws(() => followRun("http://x", "r", { fetch: null }), TypeError);
  });
});

describe("the runs calls", () => {
  const RUN = {
    run_id: RUN_ID,
    target: "writer",
    status: "running",
    created_at: 1.5,
    started_at: 1.6,
    finished_at: null,
    stop_reason: null,
    answer: null,
    event_count: 3,
  };

  test("startRun: POST /runs with the body as JSON → {run_id, status, events_url}", async () => {
    const created = { run_id: RUN_ID, status: "queued", events_url: `/runs/${RUN_ID}/events` };
    await serve({ json: { "POST /runs": { status: 201, body: created } } });
    const answer = await startRun(`${fake.url}/`, { query: "q", agent: "writer" }, { apiKey: "key-12345678" });
    assert.deepEqual(answer, created);
    const [request] = fake.requests;
    assert.deepEqual(
      [request.method, request.path, request.contentType, request.authorization, JSON.parse(request.body)],
      ["POST", "/runs", "application/json", "Bearer key-12345678", { query: "q", agent: "writer" }],
    );
  });

  test("startRun: errors as MasaiError (429 with retryAfter)", async () => {
    const busy = { error: { message: "too many runs", type: "rate_limit_error", code: "too_many_runs" } };
    await serve({ json: { "POST /runs": { status: 429, body: busy, headers: { "retry-after": "3" } } } });
    await assert.rejects(startRun(fake.url, { query: "q" }), {
      name: "MasaiError",
      status: 429,
      code: "too_many_runs",
      retryAfter: 3,
    });
  });

  test("getRun, listRuns, cancelRun (wait), approve: paths, methods, bodies", async () => {
    const id = "run/with space"; // escaped in the path
    const path = `/runs/${encodeURIComponent(id)}`;
    await serve({
      json: {
        [`GET ${path}`]: { body: RUN },
        "GET /runs?status=running": { body: { runs: [RUN] } },
        "GET /runs": { body: { runs: [] } },
        [`POST ${path}/cancel?wait=true`]: { body: { ...RUN, status: "cancelled" } },
        [`POST ${path}/cancel`]: { status: 202, body: { run: { ...RUN, status: "running" } } },
        [`POST ${path}/approvals/call_1`]: { body: { ...RUN, status: "running" } },
      },
    });
    assert.deepEqual(await getRun(fake.url, id), RUN);
    assert.deepEqual(await listRuns(fake.url, { status: "running" }), [RUN]);
    assert.deepEqual(await listRuns(fake.url), []);
    assert.equal((await cancelRun(fake.url, id, { wait: true })).status, "cancelled");
    assert.equal((await cancelRun(fake.url, id)).status, "running", "{run: …} is unwrapped");
    const decided = await approve(fake.url, id, "call_1", { approved: false, reason: "not now", arguments: { a: 1 } });
    assert.equal(decided.run_id, RUN_ID);
    await approve(fake.url, id, "call_1", { approved: true });
    const posts = fake.requests.filter((r) => r.path.endsWith("call_1")).map((r) => JSON.parse(r.body));
    assert.deepEqual(posts, [{ approved: false, reason: "not now", arguments: { a: 1 } }, { approved: true }]);
    await assert.rejects(getRun(fake.url, "ghost"), { status: 404, code: "not_found" });
    await assert.rejects(approve(fake.url, id, "c", { approved: "yes" }), TypeError);
  });

  test("a relative base URL ('' in a page) makes root-relative paths", async () => {
    const seen = [];
    const fetch = async (url, init) => {
      seen.push([init.method, String(url)]);
      return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
    };
    await getRun("", "r1", { fetch });
    await startRun("", { query: "q" }, { fetch });
    await approve("/", "r1", "c1", { approved: true }, { fetch });
    assert.deepEqual(seen, [
      ["GET", "/runs/r1"],
      ["POST", "/runs"],
      ["POST", "/runs/r1/approvals/c1"],
    ]);
  });
});
