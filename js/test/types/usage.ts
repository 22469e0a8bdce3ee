// Type-checked by types.test.js (tsc --noEmit): typical use must compile, misuse must not.
import {
  MasaiError,
  SSEParser,
  approve,
  cancelRun,
  decodeChunk,
  followRun,
  getRun,
  listRuns,
  startRun,
  streamRun,
  type EventMetadata,
  type EventOfType,
  type FollowResult,
  type FollowStatus,
  type MasaiEvent,
  type RunFollower,
  type RunInfo,
  type RunResult,
  type RunStatus,
  type RunStream,
  type SSEMessage,
  type StartedRun,
} from "masai-client";

// -- the parser ---------------------------------------------------------------------------------
const parser = new SSEParser({ onComment: (text: string) => void text });
const messages: SSEMessage[] = [
  ...parser.feed(new Uint8Array([100, 97])),
  ...parser.feed("ta: x\n\n"),
  ...parser.feed(new ArrayBuffer(0)),
];
const first: { event: string; data: string; lastEventId: string } = messages[0];
const retry: number | null = parser.retry;
const lastId: string = parser.lastEventId;
parser.end();

// -- every event type, exhaustively ---------------------------------------------------------------
export function describeEvent(e: MasaiEvent): string {
  switch (e.type) {
    case "start":
      return e.role;
    case "finish":
      return e.finish_reason;
    case "done":
      return "done";
    case "content":
      return e.content;
    case "usage":
      return String(e.usage.prompt_tokens + e.usage.completion_tokens === e.usage.total_tokens);
    case "reasoning":
    case "token":
      return `${e.metadata.agent ?? "?"}: ${e.content}`;
    case "answer": {
      const satisfied: boolean = e.satisfied;
      return `${e.content} (${e.stopReason ?? "-"}, ${satisfied})`;
    }
    case "tool_call": {
      const args: Record<string, unknown> | null = e.toolCall.args;
      const index: number = e.toolCall.index;
      return `${e.toolCall.name ?? "?"}(${e.toolCall.arguments}) #${index} ${args === null}`;
    }
    case "tool_output":
      return `${e.toolName ?? "?"} → ${e.output} ${e.isError} ${e.metadata.tool_call_id ?? ""}`;
    case "custom":
      return `${e.content} ${e.progress?.toFixed(2) ?? "-"} ${String(e.customData.stage)}`;
    case "node_transition":
      return e.content;
    case "handoff":
      return `${e.fromAgent ?? "?"} → ${e.toAgent ?? "?"}: ${e.reason}`;
    case "memory_update":
      return `${e.agent ?? "?"} set ${e.key ?? "?"} = ${JSON.stringify(e.value)}`;
    case "state":
      return JSON.stringify(e.state);
    case "error":
      return `${e.message} ${e.code ?? ""} ${e.metadata?.error_code ?? ""}`;
    case "approval_required": {
      const args: Record<string, unknown> | null = e.approval.arguments;
      return `${e.approval.toolName ?? "?"} (${e.approval.toolCallId ?? "?"}) waits: ${JSON.stringify(args)}`;
    }
    case "approval": {
      const { approved, reason, decidedBy, decidedAt } = e.approval;
      const at: number | null = decidedAt;
      return `${approved ? "approved" : "denied"} by ${decidedBy ?? "nobody"}: ${reason ?? ""} ${at ?? ""}`;
    }
    case "retracted": {
      const from: number | null = e.fromSeq;
      return `retract ${from ?? "?"}..${e.toSeq ?? "?"}`;
    }
    case "unknown":
      return `${e.event_type}: ${e.content ?? ""}`;
    default: {
      const unreachable: never = e;
      return unreachable;
    }
  }
}

export function metadataOf(md: EventMetadata): string {
  const seq: number = md.seq;
  const path: string[] = md.agent_path;
  const optional: Array<string | boolean | undefined> = [
    md.tool_call_id,
    md.tool_name,
    md.is_error,
    md.stop_reason,
    md.error_code,
  ];
  return `${md.run_id} ${seq} ${md.agent} ${md.node} ${path.join(">")} ${optional.length}`;
}

export const decoded: MasaiEvent[] = decodeChunk("[DONE]").concat(decodeChunk({ choices: [] }));

// -- streamRun ----------------------------------------------------------------------------------
export async function main(): Promise<RunResult> {
  const controller = new AbortController();
  const run: RunStream = await streamRun(
    new URL("http://localhost:8000/mas/stream"),
    { query: "q", system: "research-team", token_events: true },
    {
      signal: controller.signal,
      headers: { authorization: "Bearer x" },
      fetch: globalThis.fetch,
      onComment: (text) => void text.length,
      on: {
        tool_call: (e) => void e.toolCall.name,
        custom: (e) => void e.progress,
        handoff: (e) => void e.toAgent,
        error: (e) => void e.message,
        "*": (e) => void describeEvent(e),
      },
    },
  );
  for await (const event of run) describeEvent(event);
  const result = await run.done;
  const status: "completed" | "failed" | "aborted" = result.status;
  const answer: string | null = result.answer;
  const error: { message: string; code: string | null } | null = result.error;
  const http: number = run.response.status;
  const aborted: boolean = run.aborted;
  const session: string | null = run.sessionId;
  const resultSession: string | null = result.sessionId;
  run.abort("enough");
  void [status, answer, error, http, aborted, session, resultSession];
  try {
    await streamRun(
      "/v1/chat/completions",
      { model: "researcher", stream: true, messages: [] },
      { apiKey: "alice-key-1" },
    );
  } catch (e) {
    if (e instanceof MasaiError) {
      const parts: [number, string | null, string | null, string | null] = [e.status, e.code, e.type, e.body];
      const wait: number | null = e.retryAfter;
      void [parts, wait];
    }
  }
  return result;
}

// -- runs -----------------------------------------------------------------------------------------
export async function runs(): Promise<FollowResult> {
  const base = "http://localhost:8000";
  const started: StartedRun = await startRun(
    base,
    { query: "q", agent: "writer", run_id: "mine-1", on_disconnect: "continue" },
    { apiKey: "k" },
  );
  const status: RunStatus = started.status;
  const info: RunInfo = await getRun(base, started.run_id);
  const count: number = info.event_count;
  const finished: number | null = info.finished_at;
  const mine: RunInfo[] = await listRuns(base, { status: "waiting", apiKey: "k" });
  const controller = new AbortController();
  const statuses: FollowStatus[] = [];
  const run: RunFollower = followRun(base, started.run_id, {
    apiKey: "k",
    after: 3,
    signal: controller.signal,
    initialDelayMs: 100,
    maxDelayMs: 2000,
    maxAttempts: 5,
    jitter: false,
    idleTimeoutMs: 30_000,
    onStatus: (s) => {
      statuses.push(s);
      if (s.state === "reconnecting") void [s.attempt, s.delayMs, s.error];
    },
    on: {
      approval_required: async (e) => {
        const id: string | null = e.approval.toolCallId;
        if (id) await approve(base, started.run_id, id, { approved: true, reason: "ok", arguments: { a: 1 } });
      },
      approval: (e) => void e.approval.decidedBy,
    },
  });
  for await (const e of run) describeEvent(e);
  const result = await run.done;
  const last: number | null = result.lastSeq;
  const reconnects: number = result.reconnects + run.reconnects;
  const runId: string = run.runId;
  const cancelled: RunInfo = await cancelRun(base, runId, { wait: true });
  void [status, count, finished, mine, last, reconnects, cancelled, run.connected, run.lastSeq];
  return result;
}

// -- misuse that must not compile ----------------------------------------------------------------
declare const event: MasaiEvent;
if (event.type === "token") {
  // @ts-expect-error: a token event has no toolCall
  void event.toolCall;
}
// @ts-expect-error: progress may be null
export const progress: number = (event as EventOfType<"custom">).progress;
// @ts-expect-error: decodeChunk returns a list of events
void decodeChunk("[DONE]").type;
// @ts-expect-error: the parser takes text or bytes
void new SSEParser().feed(42);
// @ts-expect-error: a callback gets the event of its type
void streamRun("/x", { query: "q" }, { on: { tool_call: (e: EventOfType<"token">) => void e } });
// @ts-expect-error: there is no such event type
void streamRun("/x", { query: "q" }, { on: { tool_cal: () => undefined } });
// @ts-expect-error: the API key is a string
void streamRun("/x", { query: "q" }, { apiKey: true });
// @ts-expect-error: the session id is read-only
({} as RunStream).sessionId = "sess_x";
// @ts-expect-error: done is a promise of the result, not the result
export const notYet: RunResult = ({} as RunStream).done;

// @ts-expect-error: a decision needs `approved`
void approve("/", "r", "c", { reason: "why" });
// @ts-expect-error: `after` is a seq, not a string
void followRun("/", "r", { after: "3" });
// @ts-expect-error: followRun returns the follower, not a promise of it
void followRun("/", "r").then;
// @ts-expect-error: no such run status
export const badStatus: RunStatus = "done";

void [first, retry, lastId];
