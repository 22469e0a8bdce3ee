// A loopback HTTP server that plays a run's event stream the way `GET /runs/{id}/events` does
// (the role chunk without an id, then `id: <seq>` on every event frame and on the terminal frame,
// then `data: [DONE]`), honouring Last-Event-ID and ?after=, and misbehaving on purpose, one
// connection at a time, as its `plan` says: drop the connection after some frames, end the
// response cleanly without [DONE], stall, answer an HTTP error, or ignore the cursor and replay
// from an earlier point (duplicates the client must drop). It also answers the other /runs
// routes with canned JSON and records every request.
import { once } from "node:events";
import { createServer } from "node:http";

export const RUN_ID = "run_fake_0001";

/** The run's frames: `count` token events (seq 0..count-1), then the terminal frame. */
export function runFrames(count, { runId = RUN_ID, terminal = "finish" } = {}) {
  const frames = [];
  const chunk = (extra) => ({
    id: `chatcmpl-${runId}`,
    object: "chat.completion.chunk",
    created: 1700000000,
    model: "mas-ai-general",
    ...extra,
  });
  for (let seq = 0; seq < count; seq++) {
    frames.push({
      seq,
      data: JSON.stringify(
        chunk({
          choices: [{ index: 0, delta: { content: `t${seq} ` }, finish_reason: null }],
          event_type: "token",
          metadata: { run_id: runId, seq, agent: "writer", node: "router", agent_path: ["writer"] },
        }),
      ),
    });
  }
  const end =
    terminal === "finish"
      ? chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })
      : chunk({
          choices: [{ index: 0, delta: { content: "\n[Error: The run was cancelled.]\n" }, finish_reason: "stop" }],
          event_type: "error",
          metadata: { run_id: runId, seq: count, agent: null, node: null, agent_path: [], error_code: terminal },
        });
  frames.push({ seq: count, data: JSON.stringify(end) });
  return frames;
}

const ROLE = JSON.stringify({
  id: "chatcmpl-role",
  object: "chat.completion.chunk",
  created: 1700000000,
  model: "mas-ai-general",
  choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: null }],
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Start the server. `frames`: from runFrames(). `plan`: one entry per events connection, in
 * order (later connections behave normally):
 *   {status, body?, headers?}  answer an HTTP error instead
 *   {drop: n}                  send n event frames after the cursor, then destroy the socket
 *   {end: n}                   send n event frames, then end the response (no [DONE])
 *   {stall: n}                 send n event frames, then nothing (the connection stays open)
 *   {from: seq}                replay from `seq` whatever the cursor says (duplicates)
 *   {noDone: true}             send every frame but not [DONE] (end cleanly)
 * `frameDelayMs` paces the frames. `json`: canned answers for the other routes, by "METHOD path".
 */
export async function startFakeRuns({ frames, plan = [], frameDelayMs = 0, json = {} } = {}) {
  const requests = [];
  const sockets = new Set();
  let connections = 0;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://fake");
    let body = "";
    for await (const piece of req) body += piece;
    const record = {
      method: req.method,
      path: url.pathname,
      search: url.search,
      lastEventId: req.headers["last-event-id"] ?? null,
      authorization: req.headers.authorization ?? null,
      accept: req.headers.accept ?? null,
      contentType: req.headers["content-type"] ?? null,
      body: body || null,
      at: Date.now(),
    };
    requests.push(record);
    if (!/^\/runs\/[^/]+\/events$/.test(url.pathname)) {
      const answer = json[`${req.method} ${url.pathname}${url.search}`] ?? json[`${req.method} ${url.pathname}`];
      if (!answer) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "no such run", type: "invalid_request_error", code: "not_found" } }));
        return;
      }
      res.writeHead(answer.status ?? 200, { "content-type": "application/json", ...(answer.headers ?? {}) });
      res.end(JSON.stringify(typeof answer.body === "function" ? answer.body(record) : answer.body));
      return;
    }
    const step = plan[connections] ?? {};
    record.connection = connections;
    connections += 1;
    if (step.status) {
      res.writeHead(step.status, { "content-type": "application/json", ...(step.headers ?? {}) });
      res.end(JSON.stringify(step.body ?? { error: { message: `status ${step.status}`, code: "x" } }));
      return;
    }
    const header = req.headers["last-event-id"] ?? url.searchParams.get("after");
    const cursor = header === null || header === undefined ? -1 : Number(header);
    const from = step.from ?? cursor + 1;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(`: connection ${record.connection}\n\ndata: ${ROLE}\n\n`);
    let sent = 0;
    const limit = step.drop ?? step.end ?? step.stall ?? Infinity;
    for (const frame of frames) {
      if (frame.seq < from) continue;
      if (sent === limit) break;
      if (frameDelayMs) await sleep(frameDelayMs);
      if (res.destroyed) return;
      res.write(`id: ${frame.seq}\ndata: ${frame.data}\n\n`);
      sent += 1;
    }
    if (step.drop !== undefined) {
      await sleep(10); // let the frames go out first
      req.socket.destroy();
      return;
    }
    if (step.stall !== undefined) return; // keep it open, silent, until the client leaves
    if (step.end !== undefined || step.noDone) {
      res.end();
      return;
    }
    res.end("data: [DONE]\n\n");
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${server.address().port}`;
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, "close");
  };
  const eventRequests = () => requests.filter((r) => r.path.endsWith("/events"));
  return { url, requests, eventRequests, close };
}
