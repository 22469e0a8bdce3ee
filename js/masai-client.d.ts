// Types for masai-client.js: the SSE parser, every event of a masai run, and streamRun.

// -- SSE parsing ---------------------------------------------------------------------------------

/** One dispatched Server-Sent Events message. */
export interface SSEMessage {
  /** The `event:` field, or "message" when the message had none. */
  event: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last event ID in effect when the message was dispatched ("" if none was set). */
  lastEventId: string;
}

export interface SSEParserOptions {
  /** Called with each comment line's text (after ":" and one optional space), e.g. "ping". */
  onComment?: (text: string) => void;
}

/**
 * An incremental parser following the WHATWG "event stream interpretation" rules: pieces of any
 * size (even splitting a UTF-8 character), CRLF / LF / CR line ends, a leading BOM ignored.
 */
export class SSEParser {
  constructor(options?: SSEParserOptions);
  /** The last event ID set by the stream (sent back as Last-Event-ID by EventSource). */
  lastEventId: string;
  /** The reconnection time (ms) set by a `retry:` field, or null. */
  retry: number | null;
  /** Parse the next piece of the stream; returns the messages it completes. */
  feed(chunk: string | Uint8Array | ArrayBuffer | ArrayBufferView): SSEMessage[];
  /** End of stream: discards an unfinished line or event; the parser can then start over. */
  end(): void;
}

// -- the wire format -----------------------------------------------------------------------------

/** Where an event happened. Extra keys a tool adds pass through. */
export interface EventMetadata {
  /** The run (stream) the event belongs to; one per stream. */
  run_id: string;
  /** 0, 1, 2 … in delivery order, without gaps. */
  seq: number;
  /** The agent that emitted it (null for a run-level error). */
  agent: string | null;
  /** The graph node: "router", "execute_tool", "evaluator", … */
  node: string | null;
  /** The enclosing agents, outermost first (the delegation chain so far). */
  agent_path: string[];
  /** Set on events inside a tool call (tool_call, custom, tool_output, memory writes). */
  tool_call_id?: string;
  /** Set on tool_call and tool_output. */
  tool_name?: string;
  /** true on the output of a failed tool call. */
  is_error?: boolean;
  /** On answers: why the agent stopped. */
  stop_reason?: StopReason;
  /** On error events: a stable code such as "script_exhausted", "model_error", "cancelled". */
  error_code?: string;
  /** The conversation the run belongs to. */
  session_id?: string;
  [key: string]: unknown;
}

/** Known values of `metadata.stop_reason`; others may appear. */
export type StopReason =
  | "completed"
  | "delegated"
  | "max_tool_calls"
  | "max_reflections"
  | "max_steps"
  | "max_hops"
  | "max_rounds"
  | "delegation_cycle"
  | "timeout"
  | "return_direct"
  | (string & {});

export interface ToolCallDelta {
  index: number;
  id: string | null;
  type: "function";
  function: { name: string | null; arguments: string };
}

/** `choices[0].delta` of a chunk; which keys are set depends on the event type. */
export interface ChunkDelta {
  role?: string;
  content?: string | null;
  satisfied?: boolean;
  tool_calls?: ToolCallDelta[];
  custom_data?: Record<string, unknown>;
  handoff?: { from_agent: string; to_agent: string; reason: string };
  memory_update?: { key: string; value: unknown; agent: string | null };
  /** On approval_required and approval events: the call and (on approval) the decision. */
  approval?: Record<string, unknown>;
  /** On retracted events: the range of earlier events to discard. */
  retracted?: { from_seq: number; to_seq: number };
  [key: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [key: string]: unknown;
}

/** A `chat.completion.chunk` as masai sends it (and the plain OpenAI one). */
export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: Array<{ index: number; delta: ChunkDelta; finish_reason: string | null }>;
  /** masai's extension: which step of the run this chunk is. */
  event_type?: string;
  metadata?: EventMetadata;
  usage?: Usage | null;
  /** `/v1/chat/completions` with `stream_options.include_agent_events`: one agent event. */
  masai_event?: { event_type: string; data: Record<string, unknown>; metadata: EventMetadata };
  [key: string]: unknown;
}

// -- decoded events ------------------------------------------------------------------------------

/** What every agent event has: the raw pieces it was decoded from. */
export interface AgentEventBase<T extends string> {
  type: T;
  /** The chunk's `event_type` (equal to `type`, except for UnknownEvent). */
  event_type: string;
  delta: ChunkDelta;
  metadata: EventMetadata;
  /** The whole chunk. */
  chunk: ChatCompletionChunk;
  /** Only on events from `masai_event` (`/v1/chat/completions`): the event's own data. */
  data?: Record<string, unknown>;
}

/** The model's reasoning for a decision. */
export interface ReasoningEvent extends AgentEventBase<"reasoning"> {
  content: string;
}

/** A piece of the final answer as it is generated (request with `token_events: true`). */
export interface TokenEvent extends AgentEventBase<"token"> {
  content: string;
}

/** An agent's answer. In a multi-agent run, answers that hand the task on say "delegated". */
export interface AnswerEvent extends AgentEventBase<"answer"> {
  content: string;
  satisfied: boolean;
  stopReason: StopReason | null;
}

export interface ToolCall {
  /** "call_…": the same id is in `metadata.tool_call_id` of the call's other events. */
  id: string | null;
  /** The call's position among the run's tool calls. */
  index: number;
  name: string | null;
  /** The arguments as the JSON text sent. */
  arguments: string;
  /** The arguments parsed, or null if they are not a JSON object. */
  args: Record<string, unknown> | null;
}

/** A tool is being called. */
export interface ToolCallEvent extends AgentEventBase<"tool_call"> {
  toolCall: ToolCall;
}

/** A tool returned (or failed: `isError`). */
export interface ToolOutputEvent extends AgentEventBase<"tool_output"> {
  toolName: string | null;
  /** The output text, without the "\n[Tool: NAME]\n" prefix and the final "\n". */
  output: string;
  isError: boolean;
}

/** Anything a tool reports, typically progress. (Not "CustomEvent": that is the DOM's.) */
export interface CustomDataEvent extends AgentEventBase<"custom"> {
  content: string;
  customData: Record<string, unknown>;
  /** `customData.progress` clamped to 0..1, or null when the event has no progress. */
  progress: number | null;
}

/** The agent moved between graph nodes (request with `node_transitions: true`). */
export interface NodeTransitionEvent extends AgentEventBase<"node_transition"> {
  /** "\n[Node: A → B]\n" */
  content: string;
}

/** One agent handed the task to another. */
export interface HandoffEvent extends AgentEventBase<"handoff"> {
  fromAgent: string | null;
  toAgent: string | null;
  reason: string;
}

/** Shared memory was written. */
export interface MemoryUpdateEvent extends AgentEventBase<"memory_update"> {
  key: string | null;
  value: unknown;
  agent: string | null;
}

/** A state snapshot; `content` is its JSON text. */
export interface StateEvent extends AgentEventBase<"state"> {
  content: string;
  state: Record<string, unknown> | null;
}

/**
 * The run failed (not "ErrorEvent": that is the DOM's). From masai's streams it is the last
 * event before "done"; decoded from an OpenAI-style `{"error": {...}}` chunk it has no delta
 * and no metadata.
 */
export interface RunErrorEvent extends Omit<AgentEventBase<"error">, "delta" | "metadata"> {
  delta: ChunkDelta | null;
  metadata: EventMetadata | null;
  /** The message shown to clients (never internals unless the server runs with debug on). */
  message: string;
  /** `metadata.error_code`, e.g. "script_exhausted", "model_error", "cancelled". */
  code: string | null;
}

/**
 * A tool call waits for a person's approval (the run's status is "waiting"); nothing runs until
 * someone decides with `approve()`. `metadata.tool_call_id` is the call's id too.
 */
export interface ApprovalRequiredEvent extends AgentEventBase<"approval_required"> {
  /** "\n[Approval required: NAME]\n" */
  content: string;
  approval: {
    toolCallId: string | null;
    toolName: string | null;
    /** The call's arguments (validated, defaults filled in), or null if there were none. */
    arguments: Record<string, unknown> | null;
  };
}

/** A decision on a tool call that waited for approval: who, when, and with what. */
export interface ApprovalEvent extends AgentEventBase<"approval"> {
  /** "\n[Approved: NAME]\n" or "\n[Denied: NAME]\n" */
  content: string;
  approval: {
    toolCallId: string | null;
    toolName: string | null;
    approved: boolean;
    reason: string | null;
    /** Edited arguments the tool runs with instead; null: as requested. */
    arguments: Record<string, unknown> | null;
    /** The principal who decided; null when no one could be asked. */
    decidedBy: string | null;
    /** When, in Unix seconds. */
    decidedAt: number | null;
  };
}

/**
 * A run resumed after its worker died: the events with `metadata.seq` from `fromSeq` to `toSeq`
 * were sent by the interrupted attempt and are sent again after this one; discard them.
 */
export interface RetractedEvent extends AgentEventBase<"retracted"> {
  fromSeq: number | null;
  toSeq: number | null;
}

/** An event type this client does not know (from a newer server); `event_type` names it. */
export interface UnknownEvent extends AgentEventBase<"unknown"> {
  content: string | null;
}

/** The role chunk that opens a stream. */
export interface StartEvent {
  type: "start";
  role: string;
  chunk: ChatCompletionChunk;
}

/** The chunk with `finish_reason` (masai: the last one before "done" unless the run failed). */
export interface FinishEvent {
  type: "finish";
  finish_reason: string;
  chunk: ChatCompletionChunk;
}

/** `data: [DONE]`: the stream is complete. */
export interface DoneEvent {
  type: "done";
}

/** Vanilla chat completion chunks (`/v1/chat/completions`): a piece of the answer text. */
export interface ContentEvent {
  type: "content";
  content: string;
  chunk: ChatCompletionChunk;
}

/** Vanilla chunks with `stream_options.include_usage`: token usage, after the finish chunk. */
export interface UsageEvent {
  type: "usage";
  usage: Usage;
  chunk: ChatCompletionChunk;
}

/** Events of a run's agents (chunks with `event_type`). */
export type AgentEvent =
  | ReasoningEvent
  | TokenEvent
  | AnswerEvent
  | ToolCallEvent
  | ToolOutputEvent
  | CustomDataEvent
  | NodeTransitionEvent
  | HandoffEvent
  | MemoryUpdateEvent
  | StateEvent
  | ApprovalRequiredEvent
  | ApprovalEvent
  | RetractedEvent
  | RunErrorEvent
  | UnknownEvent;

/** Everything a stream decodes to: a union discriminated by `type`. */
export type MasaiEvent = AgentEvent | StartEvent | FinishEvent | DoneEvent | ContentEvent | UsageEvent;

export type MasaiEventType = MasaiEvent["type"];

/** The event with the given `type`. */
export type EventOfType<T extends MasaiEventType> = Extract<MasaiEvent, { type: T }>;

/**
 * Decode one SSE `data` payload (text, or a parsed chunk). A masai chunk gives exactly one
 * event; a vanilla chunk gives zero or more (role, content, finish, usage).
 * @throws MasaiError (code "invalid_chunk") when the payload is not a JSON object.
 */
export function decodeChunk(payload: string | object): MasaiEvent[];

// -- streamRun -----------------------------------------------------------------------------------

/** Callbacks per event type; "*" gets every event. Called in order, as events arrive. */
export type EventHandlers = {
  [T in MasaiEventType]?: (event: EventOfType<T>) => void;
} & {
  "*"?: (event: MasaiEvent) => void;
};

export interface StreamRunOptions {
  /** A fetch implementation (default: globalThis.fetch). */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /** Aborting it stops the run: reading ends, the connection closes, the server cancels. */
  signal?: AbortSignal;
  /** Extra request headers (content-type and accept are set unless given). */
  headers?: HeadersInit;
  /**
   * The server's API key (`masai serve --api-key NAME:KEY`), sent as
   * `Authorization: Bearer <apiKey>`. An Authorization header in `headers` wins.
   */
  apiKey?: string;
  /** Callbacks per event type. A callback that throws aborts the run and rejects `done`. */
  on?: EventHandlers;
  /** Called with the text of each SSE comment, e.g. "ping" for the server's heartbeats. */
  onComment?: (text: string) => void;
}

/** The body of POST /agent/stream and /mas/stream (extra keys are sent as given). */
export interface StreamRequest {
  query: string;
  agent?: string;
  system?: string;
  entry_agent?: string;
  session_id?: string;
  token_events?: boolean;
  node_transitions?: boolean;
  [key: string]: unknown;
}

/** How a run ended (what `done` resolves with). */
export interface RunResult {
  /** "completed": [DONE] arrived; "failed": an error event came first; "aborted": stopped. */
  status: "completed" | "failed" | "aborted";
  /** `metadata.run_id` of the run's events (null for vanilla streams). */
  runId: string | null;
  /**
   * The session the run belongs to: the `X-Masai-Session-Id` header, else the events'
   * `metadata.session_id` (null when neither is there, e.g. vanilla streams).
   */
  sessionId: string | null;
  /** The last answer event's text (masai streams) or the joined content (vanilla streams). */
  answer: string | null;
  finishReason: string | null;
  error: { message: string; code: string | null } | null;
  /** How many events were delivered (all types, "done" included). */
  events: number;
}

/**
 * A streaming run. Iterate it once (`for await`), and/or use the `on` callbacks; both see every
 * event, in order. Leaving the loop early aborts the run.
 */
export interface RunStream extends AsyncIterable<MasaiEvent> {
  /** The HTTP response (status and headers; its body is being read). */
  readonly response: Response;
  /**
   * The session the run belongs to (the `X-Masai-Session-Id` response header), or null. Send it
   * back as `session_id` to continue the conversation; without one, each run gets a fresh
   * private session.
   */
  readonly sessionId: string | null;
  /**
   * Settles when the stream ends: resolves with the outcome (also when aborted), rejects on a
   * network failure, a stream without [DONE], or a callback that threw.
   */
  readonly done: Promise<RunResult>;
  /** Whether the run was aborted (by abort(), the signal, or leaving the loop early). */
  readonly aborted: boolean;
  /** Stop reading and close the connection; the server cancels the run. No-op once ended. */
  abort(reason?: unknown): void;
  [Symbol.asyncIterator](): AsyncIterator<MasaiEvent, undefined>;
}

/**
 * POST `body` as JSON to `url` and stream the run. Resolves when the response headers are in.
 * @throws MasaiError for a non-2xx answer (with the server's message, `status`, `code` and, when
 *   the server said when to retry, `retryAfter`) or a response that is not an event stream;
 *   the fetch error (AbortError if aborted) otherwise.
 */
export function streamRun(
  url: string | URL,
  body: StreamRequest | Record<string, unknown> | string,
  options?: StreamRunOptions,
): Promise<RunStream>;

/** An HTTP error answer or a broken stream. */
export class MasaiError extends Error {
  constructor(
    message: string,
    options?: {
      status?: number;
      code?: string | null;
      type?: string | null;
      body?: string | null;
      retryAfter?: number | null;
      cause?: unknown;
    },
  );
  name: "MasaiError";
  /** The HTTP status (0 when the error is not an HTTP answer). */
  status: number;
  /**
   * The server's `error.code` ("agent_not_found", "unauthorized" for a missing or wrong API
   * key, "too_many_runs", "shutting_down", "gone" for a run whose log expired, …) or the
   * client's ("incomplete_stream", "not_event_stream", "reconnect_failed": followRun gave up,
   * with the last failure as `cause`).
   */
  code: string | null;
  /** The server's `error.type` ("authentication_error", "rate_limit_error", …). */
  type: string | null;
  /** The raw response body of an HTTP error. */
  body: string | null;
  /**
   * Seconds to wait before trying again, from the answer's `Retry-After` header (a 429 "too
   * many runs" has one); null when there was none.
   */
  retryAfter: number | null;
}

// -- runs: resources that outlive their connection -------------------------------------------------

/** Options of the runs calls (startRun, getRun, listRuns, cancelRun, approve). */
export interface RunsRequestOptions {
  /** A fetch implementation (default: globalThis.fetch). */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  signal?: AbortSignal;
  /** Extra request headers. */
  headers?: HeadersInit;
  /** Sent as `Authorization: Bearer <apiKey>` (an Authorization header in `headers` wins). */
  apiKey?: string;
}

/** The body of POST /runs: a StreamRequest, plus the run's id if you choose it. */
export interface StartRunRequest extends StreamRequest {
  /** Yours to choose, unique per owner (409 if taken); the server makes one otherwise. */
  run_id?: string;
  /** What happens when the last viewer leaves early: "continue" (the default) or "cancel". */
  on_disconnect?: "continue" | "cancel";
}

export type RunStatus = "queued" | "running" | "waiting" | "completed" | "failed" | "cancelled";

/** What POST /runs answers (201), at once. */
export interface StartedRun {
  run_id: string;
  status: RunStatus;
  /** "/runs/{run_id}/events" */
  events_url: string;
}

/** A tool call waiting for a decision. */
export interface PendingApproval {
  tool_call_id: string;
  tool_name: string;
  arguments: Record<string, unknown>;
  [key: string]: unknown;
}

/** A run's record (GET /runs/{id}). Times are Unix seconds, or null. */
export interface RunInfo {
  run_id: string;
  /** The agent or system it runs. */
  target: string;
  status: RunStatus;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  stop_reason: string | null;
  answer: string | null;
  /** Tokens the run's models used, once it finished. */
  usage?: { input_tokens: number; output_tokens: number } | null;
  event_count: number;
  pending_approvals?: PendingApproval[];
  [key: string]: unknown;
}

/** A decision on a tool call waiting for approval. */
export interface ApprovalDecision {
  approved: boolean;
  /** Why (a denial's reason reaches the model as the tool's result). */
  reason?: string | null;
  /** Run the call with these arguments instead (checked against the tool's schema: 422). */
  arguments?: Record<string, unknown> | null;
}

/** What `onStatus` hears while following a run. */
export type FollowStatus =
  | { state: "connected"; attempt: 0; lastSeq: number | null }
  | {
      state: "reconnecting";
      /** 1 for the first try after a drop (or after progress), 2, 3 … while tries fail. */
      attempt: number;
      /** How long it waits before trying. */
      delayMs: number;
      /** Why: the network error, the HTTP error (a MasaiError), or "incomplete_stream". */
      error: unknown;
      lastSeq: number | null;
    }
  | { state: "reconnected"; attempt: number; lastSeq: number | null };

export interface FollowRunOptions extends RunsRequestOptions {
  /** Start after this seq (what a previous viewer saw last); null or omitted: from the start. */
  after?: number | null;
  /** Callbacks per event type. A callback that throws ends the follow and rejects `done`. */
  on?: EventHandlers;
  /** Called with the text of each SSE comment, e.g. "ping". */
  onComment?: (text: string) => void;
  /** Connected, reconnecting (after a drop), reconnected. */
  onStatus?: (status: FollowStatus) => void;
  /** The first wait before reconnecting, in ms (default 250); it doubles on each failed try. */
  initialDelayMs?: number;
  /** The longest wait between tries, in ms (default 5000). */
  maxDelayMs?: number;
  /** Reconnect tries in a row without a new event before giving up (default 10). */
  maxAttempts?: number;
  /** Wait a random 50–100 % of each delay (default true), so viewers do not reconnect in step. */
  jitter?: boolean;
  /**
   * Reconnect when nothing (not even the server's `: ping`) arrived for this long, in ms
   * (default 60000; 0: never). The server pings every 15 s by default.
   */
  idleTimeoutMs?: number;
}

/** How following a run ended (what `done` resolves with). */
export interface FollowResult extends RunResult {
  runId: string;
  /** The seq of the last frame delivered. */
  lastSeq: number | null;
  /** How many times the follower reconnected. */
  reconnects: number;
}

/**
 * A run being followed. Iterate it once (`for await`), and/or use the `on` callbacks. It outlives
 * its connections: it reconnects by itself and never delivers a frame twice.
 */
export interface RunFollower extends AsyncIterable<MasaiEvent> {
  readonly runId: string;
  /**
   * Settles when the run's stream ended with [DONE] (resolves, also when aborted), or when
   * following failed: 404 (an unknown run, or another owner's), 410 `gone` (the log expired, or
   * the cursor is older than what the log keeps), `reconnect_failed` (gave up), a callback threw.
   */
  readonly done: Promise<FollowResult>;
  /** The seq of the last frame delivered (a reconnect sends it as Last-Event-ID), or null. */
  readonly lastSeq: number | null;
  /** How many times it reconnected. */
  readonly reconnects: number;
  /** Whether a connection is open right now. */
  readonly connected: boolean;
  readonly aborted: boolean;
  /** Stop following. The run goes on on the server: stop it with cancelRun(). */
  abort(reason?: unknown): void;
  [Symbol.asyncIterator](): AsyncIterator<MasaiEvent, undefined>;
}

/**
 * Start a run (POST {baseUrl}/runs); resolves at once with its id. `baseUrl` is the server's
 * root ("" for the page's own server).
 * @throws MasaiError 409 (the run_id is taken), 422, 429 (too many runs), 401 …
 */
export function startRun(
  baseUrl: string | URL,
  body: StartRunRequest | Record<string, unknown> | string,
  options?: RunsRequestOptions,
): Promise<StartedRun>;

/**
 * Follow a run's events (GET {baseUrl}/runs/{runId}/events) from the start or from `after`,
 * then live to the end, reconnecting with Last-Event-ID after a drop (backing off
 * `initialDelayMs` doubling to `maxDelayMs`). Returns at once.
 */
export function followRun(baseUrl: string | URL, runId: string, options?: FollowRunOptions): RunFollower;

/** A run's record (GET {baseUrl}/runs/{runId}). @throws MasaiError 404, 410 */
export function getRun(baseUrl: string | URL, runId: string, options?: RunsRequestOptions): Promise<RunInfo>;

/** The caller's runs, newest first (GET {baseUrl}/runs[?status=…]). */
export function listRuns(
  baseUrl: string | URL,
  options?: RunsRequestOptions & { status?: RunStatus },
): Promise<RunInfo[]>;

/**
 * Cancel a run (POST {baseUrl}/runs/{runId}/cancel); with `wait`, resolves once it stopped.
 * @throws MasaiError 409 when it has finished already
 */
export function cancelRun(
  baseUrl: string | URL,
  runId: string,
  options?: RunsRequestOptions & { wait?: boolean },
): Promise<RunInfo>;

/**
 * Approve or deny a tool call that waits (POST {baseUrl}/runs/{runId}/approvals/{toolCallId}).
 * @throws MasaiError 404 (no such call waits), 409 (decided already), 422 (edited arguments
 *   that do not fit the tool: the call keeps waiting)
 */
export function approve(
  baseUrl: string | URL,
  runId: string,
  toolCallId: string,
  decision: ApprovalDecision,
  options?: RunsRequestOptions,
): Promise<RunInfo>;
