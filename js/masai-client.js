// masai-client: stream masai agent runs to a browser or to Node (>= 20).
//
// masai streams every step of a run as Server-Sent Events whose data are OpenAI-style
// `chat.completion.chunk` objects with two extension fields, `event_type` and `metadata`.
// This module has three layers, each usable on its own:
//
//   SSEParser    bytes or text in, SSE messages out (WHATWG "event stream interpretation")
//   decodeChunk  one message's data in, typed events out ({type: "tool_call", toolCall, ...})
//   streamRun    POST a request, then iterate the run's events or get callbacks per type
//
// and runs as resources on the server (POST /runs), which outlive any connection:
//
//   startRun     start one; followRun: read its events from any point, reconnecting by itself
//   getRun, listRuns, cancelRun, approve (a tool call waiting for a person's decision)
//
// No dependencies; types are in masai-client.d.ts.

// -- SSE parsing ---------------------------------------------------------------------------------

const LF = 10;
const CR = 13;
const BOM = 0xfeff;

/**
 * An incremental event-stream parser. Feed it the body as it arrives, in pieces of any size
 * (bytes or strings); it returns the messages each piece completes.
 */
export class SSEParser {
  #decoder = null; // a streaming UTF-8 decoder, made on the first bytes fed
  #line = ""; // the unfinished line carried over from the previous piece
  #skipLF = false; // the previous piece ended with CR: a LF opening the next one ends no line
  #started = false; // past the (optional) leading byte order mark
  #data = "";
  #eventType = "";
  #idBuffer = "";
  #onComment;

  /** The last event ID the stream set (what EventSource sends back as Last-Event-ID). */
  lastEventId = "";
  /** The reconnection time in milliseconds, if the stream set one with `retry:`. */
  retry = null;

  constructor({ onComment } = {}) {
    this.#onComment = onComment ?? null;
  }

  /** Parse a piece of the stream; returns the messages it completes, in order. */
  feed(chunk) {
    let text;
    if (typeof chunk === "string") {
      // A string after bytes: first finish any character the decoder holds.
      text = this.#decoder ? this.#decoder.decode() + chunk : chunk;
    } else {
      this.#decoder ??= new TextDecoder("utf-8", { ignoreBOM: true });
      text = this.#decoder.decode(chunk, { stream: true });
    }
    return this.#text(text);
  }

  /**
   * The end of the stream: whatever is pending (an unfinished line or event) is discarded, as
   * the standard says. The parser can then parse a new stream; `lastEventId` is kept.
   */
  end() {
    this.#decoder?.decode(); // drop an incomplete UTF-8 sequence
    this.#decoder = null;
    this.#line = "";
    this.#skipLF = false;
    this.#started = false;
    this.#data = "";
    this.#eventType = "";
    this.#idBuffer = this.lastEventId; // an id: in the discarded event does not count
  }

  #text(text) {
    const messages = [];
    if (text.length === 0) return messages;
    let start = 0;
    if (!this.#started) {
      this.#started = true;
      if (text.charCodeAt(0) === BOM) start = 1;
    }
    if (this.#skipLF) {
      this.#skipLF = false;
      if (text.charCodeAt(start) === LF) start += 1;
    }
    const n = text.length;
    for (let i = start; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      const line = this.#line + text.slice(start, i);
      this.#line = "";
      if (c === CR) {
        if (i + 1 < n) {
          if (text.charCodeAt(i + 1) === LF) i += 1;
        } else {
          this.#skipLF = true; // a CRLF split between two pieces still ends one line
        }
      }
      start = i + 1;
      this.#processLine(line, messages);
    }
    if (start < n) this.#line += text.slice(start);
    return messages;
  }

  #processLine(line, messages) {
    if (line.length === 0) {
      this.#dispatch(messages);
      return;
    }
    const colon = line.indexOf(":");
    if (colon === 0) {
      if (this.#onComment) this.#onComment(stripSpace(line.slice(1)));
      return;
    }
    let field;
    let value;
    if (colon > 0) {
      field = line.slice(0, colon);
      value = stripSpace(line.slice(colon + 1));
    } else {
      field = line;
      value = "";
    }
    switch (field) {
      case "event":
        this.#eventType = value;
        break;
      case "data":
        this.#data += value + "\n";
        break;
      case "id":
        if (!value.includes("\0")) this.#idBuffer = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retry = Number.parseInt(value, 10);
        break;
      default: // unknown fields are ignored
    }
  }

  #dispatch(messages) {
    this.lastEventId = this.#idBuffer;
    if (this.#data === "") {
      this.#eventType = "";
      return;
    }
    messages.push({
      event: this.#eventType || "message",
      data: this.#data.slice(0, -1),
      lastEventId: this.lastEventId,
    });
    this.#data = "";
    this.#eventType = "";
  }
}

function stripSpace(value) {
  return value.charCodeAt(0) === 32 ? value.slice(1) : value;
}

// -- decoding chunks into events -----------------------------------------------------------------

/** An error from the server (HTTP status, error body) or a broken stream. */
export class MasaiError extends Error {
  constructor(
    message,
    { status = 0, code = null, type = null, body = null, retryAfter = null, cause } = {},
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "MasaiError";
    this.status = status;
    this.code = code;
    this.type = type;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

/**
 * The events one SSE `data` payload carries (a string, or an already parsed chunk). A masai
 * chunk carries exactly one; a vanilla chat completion chunk may carry a role, text, a finish
 * reason and usage at once, and may carry none.
 */
export function decodeChunk(payload) {
  let chunk = payload;
  if (typeof payload === "string") {
    if (payload === "[DONE]") return [{ type: "done" }];
    try {
      chunk = JSON.parse(payload);
    } catch (cause) {
      throw new MasaiError(`not a JSON chunk: ${payload.slice(0, 120)}`, {
        code: "invalid_chunk",
        cause,
      });
    }
  }
  if (chunk === null || typeof chunk !== "object" || Array.isArray(chunk)) {
    throw new MasaiError("a chunk must be a JSON object", { code: "invalid_chunk" });
  }
  if (typeof chunk.event_type === "string") {
    const delta = chunk.choices?.[0]?.delta ?? {};
    return [agentEvent(chunk.event_type, delta, chunk.metadata ?? {}, chunk)];
  }
  const events = [];
  const extension = chunk.masai_event;
  if (extension && typeof extension.event_type === "string") {
    const metadata = extension.metadata ?? {};
    const data = extension.data ?? {};
    const delta = deltaFromData(extension.event_type, data, metadata);
    events.push({ ...agentEvent(extension.event_type, delta, metadata, chunk), data });
  }
  if (chunk.error && typeof chunk.error === "object" && !chunk.choices) {
    events.push(openaiError(chunk));
  }
  const choice = chunk.choices?.[0];
  if (choice) {
    const delta = choice.delta ?? {};
    if (typeof delta.role === "string") events.push({ type: "start", role: delta.role, chunk });
    if (typeof delta.content === "string" && delta.content !== "") {
      events.push({ type: "content", content: delta.content, chunk });
    }
    if (choice.finish_reason) {
      events.push({ type: "finish", finish_reason: choice.finish_reason, chunk });
    }
  }
  if (chunk.usage && typeof chunk.usage === "object") {
    events.push({ type: "usage", usage: chunk.usage, chunk });
  }
  return events;
}

function agentEvent(eventType, delta, metadata, chunk) {
  const base = { type: eventType, event_type: eventType, delta, metadata, chunk };
  const content = typeof delta.content === "string" ? delta.content : "";
  switch (eventType) {
    case "token":
    case "reasoning":
    case "node_transition":
      return { ...base, content };
    case "answer":
      return {
        ...base,
        content,
        satisfied: delta.satisfied !== false,
        stopReason: metadata.stop_reason ?? null,
      };
    case "tool_call": {
      const call = delta.tool_calls?.[0] ?? {};
      const args = typeof call.function?.arguments === "string" ? call.function.arguments : "";
      return {
        ...base,
        toolCall: {
          id: call.id ?? metadata.tool_call_id ?? null,
          index: call.index ?? 0,
          name: call.function?.name ?? metadata.tool_name ?? null,
          arguments: args,
          args: parseObject(args),
        },
      };
    }
    case "tool_output": {
      const { name, output } = splitToolOutput(content, metadata.tool_name);
      return { ...base, toolName: name, output, isError: metadata.is_error === true };
    }
    case "custom": {
      const customData = isObject(delta.custom_data) ? delta.custom_data : {};
      return { ...base, content, customData, progress: progressOf(customData.progress) };
    }
    case "handoff": {
      const h = isObject(delta.handoff) ? delta.handoff : {};
      return {
        ...base,
        fromAgent: h.from_agent ?? null,
        toAgent: h.to_agent ?? null,
        reason: h.reason ?? "",
      };
    }
    case "memory_update": {
      const m = isObject(delta.memory_update) ? delta.memory_update : {};
      return { ...base, key: m.key ?? null, value: m.value ?? null, agent: m.agent ?? null };
    }
    case "error":
      return { ...base, message: errorMessage(content), code: metadata.error_code ?? null };
    case "state":
      return { ...base, content, state: parseObject(content) };
    case "approval_required":
      return { ...base, content, approval: approvalCall(delta, metadata) };
    case "retracted": {
      const r = isObject(delta.retracted) ? delta.retracted : {};
      return {
        ...base,
        fromSeq: typeof r.from_seq === "number" ? r.from_seq : null,
        toSeq: typeof r.to_seq === "number" ? r.to_seq : null,
      };
    }
    case "approval": {
      const a = isObject(delta.approval) ? delta.approval : {};
      return {
        ...base,
        content,
        approval: {
          ...approvalCall(delta, metadata),
          approved: a.approved === true,
          reason: typeof a.reason === "string" ? a.reason : null,
          arguments: argumentsOf(a.arguments),
          decidedBy: typeof a.decided_by === "string" ? a.decided_by : null,
          decidedAt: typeof a.decided_at === "number" ? a.decided_at : null,
        },
      };
    }
    default:
      // A type this client does not know (a newer server): passed through with its delta and
      // metadata; `type` is "unknown" so that `type` stays a closed set to switch over.
      return {
        ...base,
        type: "unknown",
        content: typeof delta.content === "string" ? delta.content : null,
      };
  }
}

function splitToolOutput(content, toolName) {
  if (typeof toolName === "string") {
    const prefix = `\n[Tool: ${toolName}]\n`;
    if (content.startsWith(prefix) && content.endsWith("\n")) {
      return { name: toolName, output: content.slice(prefix.length, -1) };
    }
    return { name: toolName, output: content };
  }
  const m = /^\n\[Tool: ([^\]\n]*)\]\n([\s\S]*)\n$/.exec(content);
  return m ? { name: m[1], output: m[2] } : { name: null, output: content };
}

function errorMessage(content) {
  const m = /^\n\[Error: ([\s\S]*)\]\n$/.exec(content);
  return m ? m[1] : content.trim();
}

function progressOf(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return null;
  return Math.min(1, Math.max(0, value));
}

function parseObject(text) {
  try {
    const value = JSON.parse(text);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

/** Tool arguments: an object as sent, or JSON text of one; null otherwise. */
/** The call an approval event is about: `{toolCallId, toolName, arguments}`. */
function approvalCall(delta, metadata) {
  const a = isObject(delta.approval) ? delta.approval : {};
  return {
    toolCallId: a.tool_call_id ?? metadata.tool_call_id ?? null,
    toolName: a.tool_name ?? metadata.tool_name ?? null,
    arguments: argumentsOf(a.arguments),
  };
}

function argumentsOf(value) {
  if (isObject(value)) return value;
  return typeof value === "string" ? parseObject(value) : null;
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// Python's f"{value}", which the server's content strings are made with.
function py(value) {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  return String(value);
}

// The delta a spec chunk would have carried, for events that arrive as `masai_event` (the
// `/v1/chat/completions` extension), so both transports decode to the same events.
function deltaFromData(eventType, d, metadata) {
  switch (eventType) {
    case "custom":
      return { content: d.content ?? "", custom_data: d.custom_data ?? {} };
    case "token":
      return { content: d.content ?? "" };
    case "reasoning":
      return { content: d.reasoning ?? "" };
    case "answer":
      return { content: d.answer ?? "", satisfied: d.satisfied ?? true };
    case "tool_call": {
      let args = d.tool_input;
      if (typeof args !== "string" || parseJSON(args) === undefined) {
        args = JSON.stringify(args ?? {});
      }
      const call = {
        index: 0,
        id: metadata.tool_call_id ?? null,
        type: "function",
        function: { name: d.tool_name ?? null, arguments: args },
      };
      return { tool_calls: [call] };
    }
    case "tool_output":
      return { content: `\n[Tool: ${py(d.tool_name)}]\n${d.output ?? ""}\n` };
    case "node_transition":
      return { content: `\n[Node: ${py(d.from_node)} → ${py(d.to_node)}]\n` };
    case "handoff": {
      const handoff = { from_agent: d.from_agent, to_agent: d.to_agent, reason: d.reason ?? "" };
      return { content: `\n[Handoff: ${py(d.from_agent)} → ${py(d.to_agent)}]\n`, handoff };
    }
    case "memory_update": {
      const update = { key: d.key, value: d.value, agent: d.agent };
      return { content: `\n[Memory: ${py(d.agent)} set ${py(d.key)}]\n`, memory_update: update };
    }
    case "approval_required": {
      const approval = isObject(d.approval) ? d.approval : {};
      return { content: `\n[Approval required: ${py(approval.tool_name)}]\n`, approval };
    }
    case "approval": {
      const approval = isObject(d.approval) ? d.approval : {};
      const verdict = approval.approved ? "Approved" : "Denied";
      return { content: `\n[${verdict}: ${py(approval.tool_name)}]\n`, approval };
    }
    case "retracted":
      return { retracted: { from_seq: d.from_seq, to_seq: d.to_seq } };
    case "error":
      return { content: `\n[Error: ${d.error ?? "Unknown error"}]\n` };
    default:
      return { content: JSON.stringify(d) };
  }
}

function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function openaiError(chunk) {
  const e = chunk.error;
  return {
    type: "error",
    event_type: "error",
    delta: null,
    metadata: null,
    chunk,
    message: typeof e.message === "string" ? e.message : "error",
    code: e.code ?? null,
  };
}

// -- streaming a run -----------------------------------------------------------------------------

/**
 * POST `body` (JSON) to `url` and stream the run. Resolves once the response headers are in,
 * with a RunStream: iterate it (`for await (const e of run)`), and/or pass `on` callbacks.
 * `apiKey` is sent as `Authorization: Bearer <apiKey>` (an Authorization in `headers` wins).
 * Rejects with a MasaiError on a non-2xx answer (the server's `error.message`, `status`,
 * `code`, and `retryAfter` when the server said when to come back), or with the fetch error
 * (an AbortError if `signal` fired first).
 */
export async function streamRun(url, body, options = {}) {
  const { fetch: fetchImpl = globalThis.fetch, signal, headers, apiKey, on, onComment } = options;
  if (typeof fetchImpl !== "function") throw new TypeError("no fetch implementation");
  const controller = new AbortController();
  const forward = () => controller.abort(signal.reason);
  if (signal) {
    if (signal.aborted) forward();
    else signal.addEventListener("abort", forward, { once: true });
  }
  const release = () => signal?.removeEventListener("abort", forward);

  const requestHeaders = new Headers(headers);
  if (!requestHeaders.has("content-type")) requestHeaders.set("content-type", "application/json");
  if (!requestHeaders.has("accept")) requestHeaders.set("accept", "text/event-stream");
  if (apiKey && !requestHeaders.has("authorization")) {
    requestHeaders.set("authorization", `Bearer ${apiKey}`);
  }
  let response;
  try {
    response = await fetchImpl(url, {
      method: "POST",
      headers: requestHeaders,
      body: typeof body === "string" ? body : JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok) throw await httpError(response);
    const contentType = response.headers.get("content-type") ?? "";
    if (!/^text\/event-stream\b/i.test(contentType)) {
      await response.body?.cancel().catch(() => {});
      throw new MasaiError(`expected an event stream, got ${contentType || "no content type"}`, {
        status: response.status,
        code: "not_event_stream",
      });
    }
    if (!response.body) {
      throw new MasaiError("the response has no body", { status: response.status });
    }
  } catch (error) {
    release();
    throw error;
  }
  return new RunStream(response, controller, { on, onComment, release });
}

async function httpError(response) {
  const status = response.status;
  let message = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ""}`;
  let code = null;
  let type = null;
  let body = null;
  try {
    body = await response.text();
    const json = JSON.parse(body);
    if (isObject(json?.error)) {
      if (typeof json.error.message === "string") message = json.error.message;
      code = json.error.code ?? null;
      type = json.error.type ?? null;
    } else if (typeof json?.detail === "string") {
      message = json.detail;
    }
  } catch {
    // not JSON: keep the status line
  }
  const retryAfter = retryAfterSeconds(response.headers.get("retry-after"));
  return new MasaiError(message, { status, code, type, body, retryAfter });
}

/** A Retry-After header in whole seconds from now (it is a number of seconds or a date). */
function retryAfterSeconds(value) {
  if (value === null) return null;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) return Number.parseInt(text, 10);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/**
 * What streamRun and followRun hand out: events go to the `on` callbacks as they arrive and are
 * queued for the async iterator. While you iterate, the next read waits until you have taken
 * what was read, so a slow consumer slows the reading down instead of filling memory. The
 * reading itself is a `pump(sink)` the subclass gives: it calls `sink.deliver(event)` for each
 * event, awaits `sink.room()` before each read, and resolves with "done" (the stream ended with
 * [DONE]) or "aborted"; it throws when the stream broke.
 */
class EventStream {
  #controller;
  #on;
  #queue = [];
  #head = 0;
  #waiter = null; // the iterator's pending next()
  #drained = null; // resolves the pump's wait for the iterator
  #iterated = false;
  #finished = false;
  #failure = null;
  #status = null; // set when reading ends: "completed", "failed", "aborted", or "broken"
  #result;

  constructor(controller, { on, release, result, pump }) {
    this.#controller = controller;
    this.#on = on ?? {};
    this.#result = result;
    this.done = this.#run(pump, release);
    this.done.catch(() => {}); // rejections reach whoever awaits `done`, never "unhandled"
  }

  /** Whether reading was aborted (by `abort()`, the `signal`, or leaving a loop early). */
  get aborted() {
    return this.#status === "aborted" || (this.#status === null && this.#controller.signal.aborted);
  }

  /** Stop reading and close the connection. */
  abort(reason) {
    if (!this.#finished) this.#controller.abort(reason);
  }

  [Symbol.asyncIterator]() {
    if (this.#iterated) throw new TypeError("a run's events can be iterated only once");
    this.#iterated = true;
    return {
      next: () => this.#next(),
      return: () => {
        this.abort();
        this.#queue = [];
        this.#head = 0;
        this.#wake();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  #next() {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
        this.#wake();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#finished) {
      if (this.#failure) {
        const failure = this.#failure;
        this.#failure = null;
        return Promise.reject(failure);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #wake() {
    const drained = this.#drained;
    this.#drained = null;
    drained?.();
  }

  /** Resolves once the iterator took everything read so far (at once when nobody iterates). */
  async #room() {
    const signal = this.#controller.signal;
    while (this.#iterated && this.#head < this.#queue.length && !signal.aborted) {
      await new Promise((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.#drained = wake;
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  #deliver(event) {
    this.#result.events += 1;
    this.#track(event);
    const handler = this.#on[event.type];
    if (typeof handler === "function") handler(event);
    const any = this.#on["*"];
    if (typeof any === "function") any(event);
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter.resolve({ value: event, done: false });
    } else {
      this.#queue.push(event);
    }
  }

  #track(event) {
    const result = this.#result;
    if (result.runId === null && event.metadata?.run_id) result.runId = event.metadata.run_id;
    if (result.sessionId === null && event.metadata?.session_id) {
      result.sessionId = event.metadata.session_id;
    }
    switch (event.type) {
      case "answer":
        result.answer = event.content;
        break;
      case "content":
        result.answer = (result.answer ?? "") + event.content;
        break;
      case "finish":
        result.finishReason = event.finish_reason;
        break;
      case "error":
        result.error = { message: event.message, code: event.code };
        result.finishReason = event.chunk?.choices?.[0]?.finish_reason ?? result.finishReason;
        break;
      default:
    }
  }

  async #run(pump, release) {
    const signal = this.#controller.signal;
    let outcome = null;
    const sink = {
      signal,
      deliver: (event) => this.#deliver(event),
      room: () => this.#room(),
    };
    try {
      outcome = await pump(sink);
      this.#status = outcome === "done" ? (this.#result.error ? "failed" : "completed") : "aborted";
      return { ...this.#result, status: this.#status };
    } catch (error) {
      this.#status = "broken";
      this.#failure = error;
      throw error;
    } finally {
      this.#finished = true;
      release?.();
      if (outcome !== "done" || signal.aborted) this.#controller.abort();
      this.#settleWaiter();
    }
  }

  #settleWaiter() {
    const waiter = this.#waiter;
    if (!waiter) return;
    this.#waiter = null;
    if (this.#failure) {
      const failure = this.#failure;
      this.#failure = null;
      waiter.reject(failure);
    } else {
      waiter.resolve({ value: undefined, done: true });
    }
  }
}

function emptyResult() {
  return {
    status: null,
    runId: null,
    sessionId: null,
    answer: null,
    finishReason: null,
    error: null,
    events: 0,
  };
}

/**
 * A run being streamed over the connection that started it. Reading starts at once; aborting
 * closes the connection and the server cancels the run.
 */
class RunStream extends EventStream {
  constructor(response, controller, { on, onComment, release }) {
    const sessionId = response.headers.get("x-masai-session-id");
    const result = emptyResult();
    result.sessionId = sessionId;
    super(controller, { on, release, result, pump: (sink) => pumpResponse(response, sink, onComment) });
    this.response = response;
    /** The session the run belongs to (the `X-Masai-Session-Id` header), or null. */
    this.sessionId = sessionId;
  }
}

async function pumpResponse(response, sink, onComment) {
  const reader = response.body.getReader();
  const parser = new SSEParser({ onComment });
  const { signal } = sink;
  try {
    for (;;) {
      await sink.room();
      if (signal.aborted) return "aborted";
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal.aborted) return "aborted";
        throw error;
      }
      if (chunk.done) break;
      for (const message of parser.feed(chunk.value)) {
        for (const event of decodeChunk(message.data)) {
          sink.deliver(event);
          if (event.type === "done") return "done"; // anything after [DONE] is not part of the run
        }
      }
    }
    if (signal.aborted) return "aborted";
    throw new MasaiError("the stream ended before [DONE]", {
      status: response.status,
      code: "incomplete_stream",
    });
  } finally {
    reader.cancel().catch(() => {});
  }
}

// -- runs: resources that outlive their connection -------------------------------------------------
//
// POST /runs starts a run and answers at once with its id; GET /runs/{id}/events streams its
// events from any point (every frame has `id: <seq>`), so a viewer that lost its connection
// reads on from the last seq it saw. followRun does that by itself.

function runsUrl(baseUrl, ...parts) {
  const base = String(baseUrl ?? "").replace(/\/+$/, "");
  return `${base}/runs${parts.map((p) => `/${encodeURIComponent(p)}`).join("")}`;
}

function requestHeaders({ headers, apiKey }, json) {
  const out = new Headers(headers);
  if (json && !out.has("content-type")) out.set("content-type", "application/json");
  if (!out.has("accept")) out.set("accept", "application/json");
  if (apiKey && !out.has("authorization")) out.set("authorization", `Bearer ${apiKey}`);
  return out;
}

/** One JSON request to the runs API; a non-2xx answer throws a MasaiError. */
async function requestJSON(method, url, body, options = {}) {
  const { fetch: fetchImpl = globalThis.fetch, signal } = options;
  if (typeof fetchImpl !== "function") throw new TypeError("no fetch implementation");
  const response = await fetchImpl(url, {
    method,
    headers: requestHeaders(options, body !== undefined),
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await httpError(response);
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new MasaiError(`expected JSON, got: ${text.slice(0, 120)}`, {
      status: response.status,
      code: "invalid_response",
      body: text,
      cause,
    });
  }
}

/** `{run}` or the run itself: the run. */
function runOf(body) {
  return isObject(body?.run) ? body.run : body;
}

/**
 * Start a run (POST {baseUrl}/runs) and resolve at once with `{run_id, status, events_url}`;
 * follow it with followRun. The run keeps going when nobody watches (unless `body.on_disconnect`
 * is "cancel"). Rejects with a MasaiError on a non-2xx answer (409: the `run_id` you chose is
 * taken; 429: too many runs, see `retryAfter`).
 */
export async function startRun(baseUrl, body, options = {}) {
  return requestJSON("POST", runsUrl(baseUrl), body, options);
}

/** A run's record (GET {baseUrl}/runs/{runId}): status, times, stop_reason, answer, event_count. */
export async function getRun(baseUrl, runId, options = {}) {
  return runOf(await requestJSON("GET", runsUrl(baseUrl, runId), undefined, options));
}

/** The caller's runs, newest first (GET {baseUrl}/runs), optionally of one `status`. */
export async function listRuns(baseUrl, options = {}) {
  const status = options.status ? `?status=${encodeURIComponent(options.status)}` : "";
  const body = await requestJSON("GET", `${runsUrl(baseUrl)}${status}`, undefined, options);
  return Array.isArray(body?.runs) ? body.runs : [];
}

/**
 * Cancel a run (POST {baseUrl}/runs/{runId}/cancel) and resolve with its record; with
 * `wait: true`, once it has stopped. Its viewers get an `error` event with code "cancelled",
 * then [DONE]. A run that has finished already: MasaiError 409.
 */
export async function cancelRun(baseUrl, runId, options = {}) {
  const url = `${runsUrl(baseUrl, runId, "cancel")}${options.wait ? "?wait=true" : ""}`;
  return runOf(await requestJSON("POST", url, undefined, options));
}

/**
 * Decide on a tool call waiting for approval (POST {baseUrl}/runs/{runId}/approvals/{toolCallId})
 * and resolve with the run's record. `decision`: `{approved, reason?, arguments?}` (edited
 * arguments the tool runs with instead). MasaiError 404: no such call waits; 409: decided
 * already; 422: the edited arguments do not fit the tool (the call keeps waiting).
 */
export async function approve(baseUrl, runId, toolCallId, decision, options = {}) {
  if (!isObject(decision) || typeof decision.approved !== "boolean") {
    throw new TypeError("approve(): decision.approved must be true or false");
  }
  const body = { approved: decision.approved };
  if (decision.reason !== undefined && decision.reason !== null) body.reason = decision.reason;
  if (decision.arguments !== undefined && decision.arguments !== null) body.arguments = decision.arguments;
  const url = runsUrl(baseUrl, runId, "approvals", toolCallId);
  return runOf(await requestJSON("POST", url, body, options));
}

/** HTTP statuses worth trying again: the server is busy, restarting or briefly unreachable. */
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);

const FOLLOW_DEFAULTS = {
  initialDelayMs: 250,
  maxDelayMs: 5000,
  maxAttempts: 10,
  jitter: true,
};

function seqOf(id) {
  return /^[0-9]{1,15}$/.test(id) ? Number(id) : null;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Follow a run's events (GET {baseUrl}/runs/{runId}/events): from the start, or from after the
 * seq `after`, then live, to the end. When the connection drops, or the stream ends without
 * [DONE], it reconnects by itself with `Last-Event-ID` set to the last seq it delivered, waiting
 * `initialDelayMs` doubling to `maxDelayMs` (jittered) in between, up to `maxAttempts` tries in a
 * row without progress; `onStatus` hears of it. No event is delivered twice: a frame whose id is
 * not past the last one delivered is dropped. Aborting stops reading only: the run goes on (stop
 * it with cancelRun). Returns the follower at once; connecting and reading happen in the
 * background, and errors (404 unknown run, 410 `gone`: the log expired, giving up) reject `done`
 * and the iteration.
 */
export function followRun(baseUrl, runId, options = {}) {
  return new RunFollower(baseUrl, runId, options);
}

class RunFollower extends EventStream {
  #state;

  constructor(baseUrl, runId, options) {
    const {
      fetch: fetchImpl = globalThis.fetch,
      signal,
      on,
      onComment,
      onStatus,
      after = null,
      idleTimeoutMs = 60_000,
    } = options;
    if (typeof fetchImpl !== "function") throw new TypeError("no fetch implementation");
    if (after !== null && !(Number.isInteger(after) && after >= -1)) {
      throw new TypeError("followRun(): `after` must be a seq (an integer >= 0) or null");
    }
    const controller = new AbortController();
    const forward = () => controller.abort(signal.reason);
    if (signal) {
      if (signal.aborted) forward();
      else signal.addEventListener("abort", forward, { once: true });
    }
    const state = {
      runId: String(runId),
      lastSeq: after === null || after < 0 ? null : after,
      connections: 0,
      reconnects: 0,
      duplicates: 0,
      started: false, // the role chunk was delivered
      terminal: false, // the terminal frame (finish or error) was delivered
      connected: false,
    };
    const config = {
      url: runsUrl(baseUrl, runId, "events"),
      fetchImpl,
      headers: options.headers,
      apiKey: options.apiKey,
      onComment,
      onStatus: typeof onStatus === "function" ? onStatus : () => {},
      idleTimeoutMs,
      ...FOLLOW_DEFAULTS,
      ...Object.fromEntries(
        ["initialDelayMs", "maxDelayMs", "maxAttempts", "jitter"]
          .filter((k) => options[k] !== undefined)
          .map((k) => [k, options[k]]),
      ),
    };
    const result = emptyResult();
    result.runId = state.runId;
    Object.defineProperties(result, {
      lastSeq: { get: () => state.lastSeq, enumerable: true },
      reconnects: { get: () => state.reconnects, enumerable: true },
    });
    super(controller, {
      on,
      result,
      release: () => signal?.removeEventListener("abort", forward),
      pump: (sink) => followPump(sink, state, config),
    });
    this.#state = state;
  }

  /** The run followed. */
  get runId() {
    return this.#state.runId;
  }

  /** The seq of the last frame delivered (what a reconnect sends as Last-Event-ID), or null. */
  get lastSeq() {
    return this.#state.lastSeq;
  }

  /** How many times the follower reconnected. */
  get reconnects() {
    return this.#state.reconnects;
  }

  /** Whether a connection is open right now. */
  get connected() {
    return this.#state.connected;
  }
}

async function followPump(sink, state, config) {
  const { signal } = sink;
  let attempt = 0; // failed tries in a row
  for (;;) {
    if (signal.aborted) return "aborted";
    const outcome = await followOnce(sink, state, config, attempt);
    if (outcome.kind !== "retry") return outcome.kind;
    if (signal.aborted) return "aborted";
    attempt = outcome.progressed ? 1 : attempt + 1;
    if (attempt > config.maxAttempts) {
      const cause = outcome.error;
      throw new MasaiError(
        `gave up following run ${state.runId} after ${config.maxAttempts} attempts: ${cause?.message ?? cause}`,
        { status: cause?.status ?? 0, code: "reconnect_failed", cause },
      );
    }
    let delayMs = Math.min(config.maxDelayMs, config.initialDelayMs * 2 ** (attempt - 1));
    if (config.jitter) delayMs = delayMs / 2 + Math.random() * (delayMs / 2);
    if (Number.isFinite(outcome.error?.retryAfter)) {
      delayMs = Math.max(delayMs, outcome.error.retryAfter * 1000);
    }
    delayMs = Math.round(delayMs);
    config.onStatus({
      state: "reconnecting",
      attempt,
      delayMs,
      error: outcome.error ?? null,
      lastSeq: state.lastSeq,
    });
    await sleep(delayMs, signal);
  }
}

/**
 * One connection: resolves {kind: "done"} after [DONE], {kind: "aborted"}, or {kind: "retry",
 * error, progressed} when it failed in a way worth trying again; throws what is not (an HTTP
 * error such as 404 or 410, a malformed chunk, a callback that threw).
 */
async function followOnce(sink, state, config, attempt) {
  const { signal } = sink;
  const connection = new AbortController();
  const forward = () => connection.abort(signal.reason);
  signal.addEventListener("abort", forward, { once: true });
  let idleTimer = null;
  let idled = null;
  const arm = () => {
    if (!(config.idleTimeoutMs > 0)) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      idled = new MasaiError(`no data for ${config.idleTimeoutMs} ms`, { code: "idle_timeout" });
      connection.abort(idled);
    }, config.idleTimeoutMs);
  };
  const disarm = () => clearTimeout(idleTimer);
  let reader = null;
  let progressed = false;
  const retry = (error) => ({ kind: "retry", error: idled ?? error, progressed });
  try {
    const headers = requestHeaders(config, false);
    headers.set("accept", "text/event-stream");
    if (state.lastSeq !== null) headers.set("last-event-id", String(state.lastSeq));
    let response;
    arm();
    try {
      const fetchImpl = config.fetchImpl; // called unbound: a browser's fetch wants no `this`
      response = await fetchImpl(config.url, {
        method: "GET",
        headers,
        cache: "no-store",
        signal: connection.signal,
      });
    } catch (error) {
      if (signal.aborted) return { kind: "aborted" };
      return retry(error);
    } finally {
      disarm();
    }
    if (!response.ok) {
      const error = await httpError(response);
      if (response.status === 410) {
        if (state.terminal) return { kind: "done" }; // only [DONE] was missing
        error.code = "gone";
        throw error;
      }
      if (RETRYABLE.has(response.status)) return retry(error);
      throw error;
    }
    const contentType = response.headers.get("content-type") ?? "";
    if (!/^text\/event-stream\b/i.test(contentType) || !response.body) {
      await response.body?.cancel().catch(() => {});
      throw new MasaiError(`expected an event stream, got ${contentType || "no content type"}`, {
        status: response.status,
        code: "not_event_stream",
      });
    }
    state.connections += 1;
    state.connected = true;
    if (state.connections > 1) state.reconnects += 1;
    config.onStatus(
      state.connections === 1
        ? { state: "connected", attempt: 0, lastSeq: state.lastSeq }
        : { state: "reconnected", attempt, lastSeq: state.lastSeq },
    );
    reader = response.body.getReader();
    const parser = new SSEParser({ onComment: config.onComment });
    const openedAt = Date.now();
    for (;;) {
      await sink.room();
      if (signal.aborted) return { kind: "aborted" };
      let chunk;
      arm();
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal.aborted) return { kind: "aborted" };
        return retry(error);
      } finally {
        disarm();
      }
      if (chunk.done) {
        // A long quiet connection that the other end closed counts as progress too.
        progressed ||= Date.now() - openedAt >= config.maxDelayMs;
        return retry(
          new MasaiError("the stream ended before [DONE]", { status: response.status, code: "incomplete_stream" }),
        );
      }
      for (const message of parser.feed(chunk.value)) {
        if (message.data === "[DONE]") {
          sink.deliver({ type: "done" });
          return { kind: "done" };
        }
        const seq = seqOf(message.lastEventId);
        if (seq !== null && state.lastSeq !== null && seq <= state.lastSeq) {
          state.duplicates += 1; // seen already (a server replaying from too early): dropped
          continue;
        }
        for (const event of decodeChunk(message.data)) {
          if (event.type === "start") {
            if (state.started) continue; // every connection opens with the role chunk
            state.started = true;
          }
          if (event.type === "finish" || event.type === "error") state.terminal = true;
          sink.deliver(event);
        }
        if (seq !== null) {
          state.lastSeq = seq;
          progressed = true;
        }
      }
    }
  } finally {
    disarm();
    state.connected = false;
    signal.removeEventListener("abort", forward);
    reader?.cancel().catch(() => {});
    connection.abort();
  }
}
