// streamRun offline: the recorded streams served by a fake fetch.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { MasaiError, SSEParser, decodeChunk, streamRun } from "../masai-client.js";
import { errorFetch, fakeFetch } from "./support/fake-fetch.js";
import { fixtureBytes, fixtureText } from "./support/fixtures.js";

const URL_ = "http://masai.test/mas/stream";
const BODY = { query: "q", system: "research-team", token_events: true };

function expectedEvents(name) {
  const parser = new SSEParser();
  return parser.feed(fixtureBytes(name)).flatMap((m) => decodeChunk(m.data));
}

/** The fixture's messages, one per piece (so each read yields exactly one message). */
function messagePieces(name) {
  return fixtureText(name)
    .split(/(?<=\n\n)/)
    .map((s) => new TextEncoder().encode(s));
}

const strip = ({ chunk, ...rest }) => rest;

describe("reading a run", () => {
  for (const name of ["agent-tool-progress", "mas-delegation-chain", "unicode"]) {
    test(`${name}: iteration yields every decoded event in order`, async () => {
      const server = fakeFetch(fixtureBytes(name, "\r\n"), { pieceSize: 5 });
      const run = await streamRun(URL_, BODY, { fetch: server.fetch });
      const got = [];
      for await (const event of run) got.push(event);
      assert.deepEqual(got.map(strip), expectedEvents(name).map(strip));
      const result = await run.done;
      const answers = got.filter((e) => e.type === "answer");
      assert.deepEqual(result, {
        status: "completed",
        runId: "00000000000000000000000000000001",
        sessionId: null,
        answer: answers.at(-1).content,
        finishReason: "stop",
        error: null,
        events: got.length,
      });
      assert.equal(run.aborted, false);
      assert.equal(run.response.status, 200);
    });
  }

  test("callbacks per type and '*', without iterating", async () => {
    const server = fakeFetch(fixtureBytes("mas-delegation-chain"));
    const seen = { all: [], handoffs: [], tools: [], tokens: "" };
    const run = await streamRun(URL_, BODY, {
      fetch: server.fetch,
      on: {
        handoff: (e) => seen.handoffs.push(`${e.fromAgent}→${e.toAgent}`),
        tool_call: (e) => seen.tools.push(e.toolCall.name),
        token: (e) => {
          seen.tokens += e.content;
        },
        "*": (e) => seen.all.push(e.type),
      },
    });
    const result = await run.done;
    assert.deepEqual(seen.handoffs, ["researcher→analyst", "analyst→writer"]);
    assert.deepEqual(seen.tools, ["web_search", "note"]);
    assert.equal(seen.tokens, "The AI market is growing strongly: up 30% in 2024.");
    assert.deepEqual(
      seen.all,
      expectedEvents("mas-delegation-chain").map((e) => e.type),
    );
    assert.equal(result.answer, seen.tokens);
  });

  test("callbacks and iteration together see the same events, callbacks first", async () => {
    const server = fakeFetch(fixtureBytes("agent-tool-progress"), { pieceSize: 300 });
    const order = [];
    const run = await streamRun(URL_, BODY, {
      fetch: server.fetch,
      on: { "*": (e) => order.push(["on", e.metadata?.seq ?? e.type]) },
    });
    for await (const e of run) {
      order.push(["loop", e.metadata?.seq ?? e.type]);
      const mine = order.filter(([, id]) => id === (e.metadata?.seq ?? e.type));
      assert.deepEqual(mine.map(([who]) => who), ["on", "loop"]);
    }
    assert.equal(order.length, 2 * expectedEvents("agent-tool-progress").length);
  });

  test("a run that failed: the error event, then done", async () => {
    const server = fakeFetch(fixtureBytes("run-error"));
    const run = await streamRun(URL_, BODY, { fetch: server.fetch });
    const types = [];
    for await (const e of run) types.push(e.type);
    assert.deepEqual(types, ["start", "reasoning", "tool_call", "tool_output", "error", "done"]);
    assert.deepEqual(await run.done, {
      status: "failed",
      runId: "00000000000000000000000000000001",
      sessionId: null,
      answer: null,
      finishReason: "stop",
      error: { message: "The scripted model ran out of turns.", code: "script_exhausted" },
      events: 6,
    });
  });

  test("heartbeat comments go to onComment", async () => {
    const text = fixtureText("run-error").replace(/\n\n/g, "\n\n: ping\n\n");
    const server = fakeFetch(new TextEncoder().encode(`: hello\n\n${text}`), { pieceSize: 3 });
    const comments = [];
    const run = await streamRun(URL_, BODY, { fetch: server.fetch, onComment: (c) => comments.push(c) });
    assert.equal((await run.done).status, "failed");
    assert.deepEqual(comments, ["hello", "ping", "ping", "ping", "ping", "ping"]);
  });

  test("anything after [DONE] is ignored and the body released", async () => {
    const bytes = new TextEncoder().encode(`${fixtureText("run-error")}data: {"bogus": true}\n\n`);
    const server = fakeFetch(bytes, { pieces: [bytes], hang: true });
    const run = await streamRun(URL_, BODY, { fetch: server.fetch });
    const result = await run.done;
    assert.equal(result.events, 6);
    assert.equal(server.cancelled, true);
  });

  test("a vanilla chat completion stream", async () => {
    const chunk = (delta, finish = null, extra = {}) =>
      `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
    const usage = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };
    const text =
      chunk({ role: "assistant", content: "" }) +
      chunk({ content: "Hello" }) +
      chunk({ content: ", wörld 🌍" }) +
      chunk({}, "stop") +
      `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [], usage })}\n\n` +
      "data: [DONE]\n\n";
    const server = fakeFetch(new TextEncoder().encode(text), { pieceSize: 1 });
    const run = await streamRun("http://masai.test/v1/chat/completions", { model: "m", stream: true }, { fetch: server.fetch });
    const types = [];
    for await (const e of run) types.push(e.type);
    assert.deepEqual(types, ["start", "content", "content", "finish", "usage", "done"]);
    const result = await run.done;
    assert.equal(result.answer, "Hello, wörld 🌍");
    assert.equal(result.runId, null);
  });
});

describe("the session", () => {
  test("sessionId: the X-Masai-Session-Id header, on the run and on its result", async () => {
    const server = fakeFetch(fixtureBytes("run-error"), {
      headers: { "X-Masai-Session-Id": "sess_0123456789abcdef01234567" },
    });
    const run = await streamRun(URL_, BODY, { fetch: server.fetch });
    assert.equal(run.sessionId, "sess_0123456789abcdef01234567");
    assert.equal((await run.done).sessionId, "sess_0123456789abcdef01234567");
  });

  test("without the header: the events' metadata.session_id, else null", async () => {
    const text = fixtureText("run-error").replaceAll('"metadata":{"run_id"', '"metadata":{"session_id":"sess_meta","run_id"');
    assert.notEqual(text, fixtureText("run-error"));
    const run = await streamRun(URL_, BODY, { fetch: fakeFetch(new TextEncoder().encode(text)).fetch });
    assert.equal(run.sessionId, null);
    assert.equal((await run.done).sessionId, "sess_meta");

    const plain = await streamRun(URL_, BODY, { fetch: fakeFetch(fixtureBytes("run-error")).fetch });
    assert.equal(plain.sessionId, null);
    assert.equal((await plain.done).sessionId, null);
  });
});

describe("the request", () => {
  test("POSTs the body as JSON with SSE headers; extra headers are added", async () => {
    const server = fakeFetch(fixtureBytes("run-error"));
    const run = await streamRun(new URL(URL_), BODY, {
      fetch: server.fetch,
      headers: { authorization: "Bearer t", "x-trace": "1" },
    });
    await run.done;
    const [request] = server.requests;
    assert.equal(request.url, URL_);
    assert.equal(request.method, "POST");
    assert.deepEqual(JSON.parse(request.body), BODY);
    assert.deepEqual(request.headers, {
      accept: "text/event-stream",
      authorization: "Bearer t",
      "content-type": "application/json",
      "x-trace": "1",
    });
  });

  test("apiKey is sent as a Bearer token", async () => {
    const server = fakeFetch(fixtureBytes("run-error"));
    await (await streamRun(URL_, BODY, { fetch: server.fetch, apiKey: "alice-key-0001" })).done;
    assert.equal(server.requests[0].headers.authorization, "Bearer alice-key-0001");
  });

  test("an Authorization header given in headers wins over apiKey; no key, no header", async () => {
    const server = fakeFetch(fixtureBytes("run-error"));
    const options = { fetch: server.fetch, apiKey: "alice-key-0001" };
    await (await streamRun(URL_, BODY, { ...options, headers: { Authorization: "Bearer explicit" } })).done;
    await (await streamRun(URL_, BODY, { ...options, headers: new Headers({ authorization: "Basic x" }) })).done;
    await (await streamRun(URL_, BODY, { fetch: server.fetch, apiKey: "" })).done;
    await (await streamRun(URL_, BODY, { fetch: server.fetch })).done;
    assert.deepEqual(
      server.requests.map((r) => r.headers.authorization),
      ["Bearer explicit", "Basic x", undefined, undefined],
    );
  });

  test("a string body is sent as is; given headers win", async () => {
    const server = fakeFetch(fixtureBytes("run-error"));
    const headers = new Headers({ "Content-Type": "application/json; charset=utf-8" });
    await (await streamRun(URL_, '{"query":"raw"}', { fetch: server.fetch, headers })).done;
    assert.equal(server.requests[0].body, '{"query":"raw"}');
    assert.equal(server.requests[0].headers["content-type"], "application/json; charset=utf-8");
  });
});

describe("errors", () => {
  test("a non-2xx answer throws the server's message, status, code and type", async () => {
    const body = JSON.stringify({
      error: { message: "no agent or system named 'ghost'", type: "not_found", code: "agent_not_found" },
    });
    await assert.rejects(streamRun(URL_, BODY, { fetch: errorFetch(404, body) }), (error) => {
      assert.ok(error instanceof MasaiError);
      assert.deepEqual(
        [error.message, error.status, error.code, error.type, error.body],
        ["no agent or system named 'ghost'", 404, "agent_not_found", "not_found", body],
      );
      return true;
    });
  });

  test("a missing or wrong API key: 401, code unauthorized, no retryAfter", async () => {
    const body = JSON.stringify({
      error: { message: "wrong API key", type: "authentication_error", code: "unauthorized" },
    });
    const fetch = errorFetch(401, body, "application/json", {
      "www-authenticate": 'Bearer realm="masai", error="invalid_token"',
    });
    await assert.rejects(streamRun(URL_, BODY, { fetch, apiKey: "wrong-key-1" }), (error) => {
      assert.ok(error instanceof MasaiError);
      assert.deepEqual(
        [error.message, error.status, error.code, error.type, error.retryAfter],
        ["wrong API key", 401, "unauthorized", "authentication_error", null],
      );
      return true;
    });
  });

  test("429 too many runs: retryAfter is Retry-After in seconds (a number or a date)", async () => {
    const body = JSON.stringify({
      error: { message: "runs are being started too fast", type: "rate_limit_error", code: "too_many_runs" },
    });
    const refused = (retryAfter) =>
      streamRun(URL_, BODY, { fetch: errorFetch(429, body, "application/json", { "retry-after": retryAfter }) });
    await assert.rejects(refused("7"), (error) => {
      assert.ok(error instanceof MasaiError);
      assert.deepEqual(
        [error.message, error.status, error.code, error.type, error.retryAfter],
        ["runs are being started too fast", 429, "too_many_runs", "rate_limit_error", 7],
      );
      return true;
    });
    const inTwentySeconds = new Date(Date.now() + 20_000).toUTCString();
    await assert.rejects(refused(inTwentySeconds), (error) => {
      assert.ok(error.retryAfter >= 18 && error.retryAfter <= 21, String(error.retryAfter));
      return true;
    });
    await assert.rejects(refused(new Date(Date.now() - 60_000).toUTCString()), { retryAfter: 0 });
    await assert.rejects(refused("soon"), { status: 429, retryAfter: null });
  });

  test("503 shutting down, with and without Retry-After", async () => {
    const body = JSON.stringify({
      error: { message: "the server is shutting down", type: "server_error", code: "shutting_down" },
    });
    await assert.rejects(
      streamRun(URL_, BODY, { fetch: errorFetch(503, body, "application/json", { "retry-after": "30" }) }),
      { name: "MasaiError", status: 503, code: "shutting_down", retryAfter: 30 },
    );
    await assert.rejects(streamRun(URL_, BODY, { fetch: errorFetch(503, body) }), {
      status: 503,
      code: "shutting_down",
      retryAfter: null,
    });
  });

  test("an error body that is not masai's", async () => {
    await assert.rejects(
      streamRun(URL_, BODY, { fetch: errorFetch(502, "<html>Bad gateway</html>", "text/html") }),
      { name: "MasaiError", status: 502, code: null, message: /^HTTP 502/ },
    );
    await assert.rejects(streamRun(URL_, BODY, { fetch: errorFetch(422, '{"detail":"query is required"}') }), {
      status: 422,
      message: "query is required",
    });
  });

  test("a 200 that is not an event stream", async () => {
    const server = fakeFetch(new TextEncoder().encode('{"ok":true}'), { contentType: "application/json" });
    await assert.rejects(streamRun(URL_, BODY, { fetch: server.fetch }), {
      name: "MasaiError",
      code: "not_event_stream",
      status: 200,
    });
    assert.equal(server.cancelled, true);
  });

  test("a stream that ends before [DONE] fails after its events", async () => {
    const text = fixtureText("agent-tool-progress");
    const cut = text.indexOf("data: ", text.length / 2);
    const server = fakeFetch(new TextEncoder().encode(text.slice(0, cut + 40)));
    const run = await streamRun(URL_, BODY, { fetch: server.fetch });
    const got = [];
    await assert.rejects(
      (async () => {
        for await (const e of run) got.push(e);
      })(),
      { name: "MasaiError", code: "incomplete_stream" },
    );
    assert.ok(got.length > 10);
    assert.equal(got.at(-1).type !== "done", true);
    await assert.rejects(run.done, { code: "incomplete_stream" });
  });

  test("a callback that throws aborts the run and rejects done", async () => {
    const server = fakeFetch(fixtureBytes("agent-tool-progress"), { hang: true, pieceSize: 200 });
    const boom = new Error("handler bug");
    const run = await streamRun(URL_, BODY, {
      fetch: server.fetch,
      on: {
        tool_call() {
          throw boom;
        },
      },
    });
    await assert.rejects(run.done, (e) => e === boom);
    assert.equal(server.requests[0].signal.aborted, true);
    assert.equal(run.aborted, false);
  });

  test("a run can be iterated only once", async () => {
    const run = await streamRun(URL_, BODY, { fetch: fakeFetch(fixtureBytes("run-error")).fetch });
    const iterator = run[Symbol.asyncIterator]();
    assert.throws(() => run[Symbol.asyncIterator](), TypeError);
    while (!(await iterator.next()).done);
    assert.equal((await run.done).status, "failed");
  });
});

describe("cancellation and back-pressure", () => {
  // The run's events so far, then nothing: a run still going.
  const unfinished = new TextEncoder().encode(
    fixtureText("agent-tool-progress").split(/(?<=\n\n)/).slice(0, -2).join(""),
  );

  const unfinishedEvents = expectedEvents("agent-tool-progress").length - 2;

  async function hangingRun(options = {}) {
    const server = fakeFetch(unfinished, { hang: true, pieceSize: 97 });
    const run = await streamRun(URL_, BODY, { fetch: server.fetch, ...options });
    return { server, run };
  }

  test("aborting the signal ends the loop quietly and closes the connection", async () => {
    const controller = new AbortController();
    const { server, run } = await hangingRun({ signal: controller.signal });
    const got = [];
    let abortedAt = 0;
    for await (const e of run) {
      got.push(e.type);
      if (e.type === "done") break;
      if (got.length === 5) {
        await sleep(30);
        controller.abort();
        abortedAt = performance.now();
      }
    }
    assert.ok(performance.now() - abortedAt < 100);
    // Back-pressure: only what was read before the abort (at most one piece ahead) arrives.
    assert.ok(got.length >= 5 && got.length < 8, `${got.length} events`);
    assert.ok(!got.includes("done"));
    assert.deepEqual(await run.done, { ...(await run.done), status: "aborted" });
    assert.equal(run.aborted, true);
    assert.equal(server.requests[0].signal.aborted, true);
  });

  test("abort() while nobody iterates", async () => {
    const seen = [];
    const { server, run } = await hangingRun({ on: { "*": (e) => seen.push(e.type) } });
    await sleep(30);
    assert.equal(seen.length, unfinishedEvents);
    run.abort();
    const result = await run.done;
    assert.equal(result.status, "aborted");
    assert.equal(result.events, seen.length);
    assert.equal(server.requests[0].signal.aborted, true);
    run.abort(); // a no-op once ended
  });

  test("leaving the loop early aborts the run", async () => {
    const { server, run } = await hangingRun();
    for await (const e of run) if (e.type === "tool_call") break;
    assert.equal((await run.done).status, "aborted");
    assert.equal(server.requests[0].signal.aborted, true);
    assert.equal(run.aborted, true);
  });

  test("a signal that already fired: no run", async () => {
    const server = fakeFetch(fixtureBytes("run-error"));
    await assert.rejects(
      streamRun(URL_, BODY, { fetch: server.fetch, signal: AbortSignal.abort() }),
      { name: "AbortError" },
    );
  });

  test("aborting after the end changes nothing", async () => {
    const controller = new AbortController();
    const run = await streamRun(URL_, BODY, {
      fetch: fakeFetch(fixtureBytes("run-error")).fetch,
      signal: controller.signal,
    });
    assert.equal((await run.done).status, "failed");
    controller.abort();
    run.abort();
    assert.equal(run.aborted, false);
  });

  test("while iterating, nothing more is read until the events read are taken", async () => {
    const pieces = messagePieces("agent-tool-progress");
    const server = fakeFetch(null, { pieces });
    const run = await streamRun(URL_, BODY, { fetch: server.fetch });
    const iterator = run[Symbol.asyncIterator]();
    await iterator.next();
    await sleep(50);
    assert.ok(server.served <= 2, `${server.served} pieces served to a paused consumer`);
    let n = 1;
    while (!(await iterator.next()).done) n += 1;
    assert.equal(n, pieces.length);
    assert.equal(server.served, pieces.length);
  });

  test("without an iterator, reading goes on by itself", async () => {
    const pieces = messagePieces("agent-tool-progress");
    const server = fakeFetch(null, { pieces });
    const run = await streamRun(URL_, BODY, { fetch: server.fetch });
    await sleep(50);
    assert.equal(server.served, pieces.length);
    // Events stay queued for a late iterator.
    const late = [];
    for await (const e of run) late.push(e.type);
    assert.equal(late.length, pieces.length);
  });
});
