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
 * A run being streamed. Reading starts at once: events go to the `on` callbacks as they arrive
 * and are queued for the async iterator. While you iterate, the next read waits until you have
 * taken what was read, so a slow consumer slows the server down instead of filling memory.
 */
class RunStream {
  #controller;
  #release;
  #on;
  #queue = [];
  #head = 0;
  #waiter = null; // the iterator's pending next()
  #drained = null; // resolves the pump's wait for the iterator
  #iterated = false;
  #finished = false;
  #failure = null;
  #status = null; // set when reading ends: "completed", "failed", "aborted", or "broken"
  #result = {
    status: null,
    runId: null,
    sessionId: null,
    answer: null,
    finishReason: null,
    error: null,
    events: 0,
  };

  constructor(response, controller, { on, onComment, release }) {
    this.response = response;
    /** The session the run belongs to (the `X-Masai-Session-Id` header), or null. */
    this.sessionId = response.headers.get("x-masai-session-id");
    this.#result.sessionId = this.sessionId;
    this.#controller = controller;
    this.#release = release;
    this.#on = on ?? {};
    this.done = this.#pump(response.body, onComment);
    this.done.catch(() => {}); // rejections reach whoever awaits `done`, never "unhandled"
  }

  /** Whether the run was aborted (by `abort()`, the `signal`, or leaving a loop early). */
  get aborted() {
    return this.#status === "aborted" || (this.#status === null && this.#controller.signal.aborted);
  }

  /** Stop reading and close the connection; the server cancels the run. */
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

  async #pump(body, onComment) {
    const reader = body.getReader();
    const parser = new SSEParser({ onComment });
    const signal = this.#controller.signal;
    let sawDone = false;
    try {
      while (!sawDone) {
        // While someone iterates, read on only once they have taken what we have.
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
        if (signal.aborted) break;
        let chunk;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (signal.aborted) break;
          throw error;
        }
        if (chunk.done) break;
        for (const message of parser.feed(chunk.value)) {
          for (const event of decodeChunk(message.data)) {
            this.#deliver(event);
            if (event.type === "done") sawDone = true;
          }
          if (sawDone) break; // anything after [DONE] is not part of the run
        }
      }
      if (sawDone) {
        this.#status = this.#result.error ? "failed" : "completed";
      } else if (signal.aborted) {
        this.#status = "aborted";
      } else {
        throw new MasaiError("the stream ended before [DONE]", {
          status: this.response.status,
          code: "incomplete_stream",
        });
      }
      return { ...this.#result, status: this.#status };
    } catch (error) {
      this.#status = "broken";
      this.#failure = error;
      throw error;
    } finally {
      this.#finished = true;
      this.#release();
      if (!sawDone || signal.aborted) this.#controller.abort();
      reader.cancel().catch(() => {});
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
