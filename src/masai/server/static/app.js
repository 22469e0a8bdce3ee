// The masai web UI: pick an agent or a system, ask, and watch the run stream in.
// Plain ES module, no build step; the client is the same file npm users get.
//
// A run is a resource on the server (POST /runs): the page follows its events (GET
// /runs/{id}/events), reconnecting by itself after a drop, and keeps `?run=<id>` in the address,
// so a reload, or the link opened elsewhere, shows the same run from its start and follows it on.
import { approve, cancelRun, followRun, getRun, startRun } from "/static/masai-client.js";
import { followEnd } from "/static/follow.js";
import { icon, withLeadingIcon } from "/static/icons.js";
import { renderInline, renderMarkdown } from "/static/markdown.js";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

const ui = {
  keyForm: $("api-key-form"),
  keyInput: $("api-key"),
  keySave: $("api-key-save"),
  keyError: $("api-key-error"),
  keyChange: $("api-key-change"),
  form: $("run-form"),
  query: $("query"),
  target: $("target"),
  targetInfo: $("target-info"),
  run: $("run"),
  stop: $("stop"),
  panel: $("run-panel"),
  status: $("status"),
  chain: $("chain"),
  runId: $("run-id"),
  connection: $("connection"),
  answer: $("answer"),
  answerAgent: $("answer-agent"),
  timeline: $("timeline"),
  jumpLatest: $("jump-latest"),
  announce: $("announce"),
};

/** The timeline follows the run until the reader scrolls up ("Jump to latest" follows again). */
const timelineFollow = followEnd(ui.timeline, ui.jumpLatest);
ui.jumpLatest.prepend(icon("latest"));

/** The run on screen: what the event handlers below update. */
let current = null;

// -- the API key -------------------------------------------------------------------------------
// A server started with API keys answers 401 until the request carries one. The key is kept in
// sessionStorage (this tab only, gone when it closes; never localStorage) under the name the
// API docs page (/docs) reads too, so entering it here also unlocks the docs in this tab.

const KEY_STORAGE = "masai.apiKey";

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || null;
  } catch {
    return null; // storage disabled: the key lives as long as the page
  }
}

function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled
  }
}

/** The key sent with every API call, or null (a server without keys needs none). */
let apiKey = storedKey();

function authHeaders(key) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** Show the key form (with why, when a key was refused); nothing runs until a key is saved. */
function askForKey(error = null) {
  ui.keyForm.hidden = false;
  ui.keyChange.hidden = true;
  ui.keyError.hidden = !error;
  ui.keyError.textContent = error ?? "";
  ui.keyInput.setAttribute("aria-invalid", error ? "true" : "false");
  ui.target.disabled = true;
  ui.run.disabled = true;
  ui.target.replaceChildren(h("option", {}, "API key needed"));
  ui.targetInfo.textContent = "Enter the server's API key above to load its agents.";
  ui.targetInfo.classList.remove("error-text");
  ui.keyInput.focus();
  ui.keyInput.select();
}

function keyAccepted(key) {
  apiKey = key;
  storeKey(key);
  ui.keyForm.hidden = true;
  ui.keyError.hidden = true;
  ui.keyError.textContent = "";
  ui.keyInput.value = "";
  ui.keyInput.setAttribute("aria-invalid", "false");
  ui.keyChange.hidden = !key;
}

/** Forget the key (after the server refused it, or when asked to) and ask for another. */
function forgetKey(error = null) {
  apiKey = null;
  storeKey(null);
  askForKey(error);
}

/** What a server accepts as a key (masai serve checks keys against the same rule). */
const KEY_SHAPE = /^[\x21-\x7e]{8,512}$/;

async function saveKey() {
  const key = ui.keyInput.value.trim();
  if (!key) return;
  if (!KEY_SHAPE.test(key)) {
    askForKey("That is not an API key: a key is 8 to 512 printable ASCII characters, without spaces.");
    return;
  }
  ui.keySave.disabled = true;
  try {
    const outcome = await loadTargets(key);
    if (outcome === "ok") {
      keyAccepted(key);
      ui.query.focus();
      openFromAddress();
    } else if (outcome === "unauthorized") {
      askForKey("The server refused this API key. Check it and try again.");
    } else {
      ui.keyError.hidden = false;
      ui.keyError.textContent = "Could not check the key: see the message below the form.";
    }
  } finally {
    ui.keySave.disabled = false;
  }
}

// -- small DOM helpers -----------------------------------------------------------------------

/**
 * An element with attributes and children (strings become text: nothing is parsed as HTML).
 * `style` is an object of properties, set through CSSOM: the server's Content-Security-Policy
 * (style-src 'self') blocks style attributes, but not el.style.setProperty().
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") {
      if (typeof value !== "object") throw new TypeError("h(): style must be an object");
      for (const [name, v] of Object.entries(value)) el.style.setProperty(name, String(v));
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

/** A stable colour per agent name, so the same agent looks the same everywhere. */
function hue(name) {
  let n = 0;
  for (const ch of name) n = (n * 31 + ch.codePointAt(0)) % 360;
  return n;
}

function agentBadge(name, testid) {
  const label = name ?? "run";
  return h("span", {
    class: "agent-badge",
    style: { "--hue": hue(label) },
    "data-testid": testid,
    title: name ? `agent ${name}` : "the run itself",
  }, label);
}

function pretty(value) {
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

/** Tool arguments one per line, text values as they are (their line breaks included). */
function argumentLines(args) {
  if (args === null || typeof args !== "object") return pretty(args);
  return Object.entries(args)
    .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join("\n");
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

// -- targets -----------------------------------------------------------------------------------

/**
 * Load the agents and systems with `key` (or none): "ok", "unauthorized" (the server wants a key,
 * or another one: the caller asks for it) or "failed" (shown below the form).
 */
async function loadTargets(key) {
  try {
    const response = await fetch("/v1/models", { headers: authHeaders(key) });
    if (response.status === 401) return "unauthorized";
    if (!response.ok) throw new Error(await errorText(response));
    const { data } = await response.json();
    const systems = data.filter((m) => m.masai?.kind === "system");
    const agents = data.filter((m) => m.masai?.kind === "agent");
    const group = (label, models) =>
      h("optgroup", { label }, ...models.map((m) => {
        const kind = m.masai.kind;
        const mode = m.masai.mode ?? "single agent";
        return h("option", {
          value: `${kind}:${m.id}`,
          title: m.masai.description ?? "",
          dataset: { kind, name: m.id, description: m.masai.description ?? "" },
        }, `${m.id} (${kind}, ${mode})`);
      }));
    ui.target.replaceChildren(
      ...(systems.length ? [group("Multi-agent systems", systems)] : []),
      ...(agents.length ? [group("Single agents", agents)] : []),
    );
    ui.target.disabled = false;
    ui.run.disabled = Boolean(current?.running);
    ui.targetInfo.classList.remove("error-text");
    showTargetInfo();
    return "ok";
  } catch (error) {
    ui.target.replaceChildren(h("option", {}, "No agents available"));
    ui.targetInfo.textContent = `Could not load the agents: ${error.message}`;
    ui.targetInfo.classList.add("error-text");
    return "failed";
  }
}

/** The server's error message (`{"error": {"message"}}`), else the status line. */
async function errorText(response) {
  const status = `GET /v1/models answered ${response.status}`;
  try {
    const body = await response.json();
    return typeof body?.error?.message === "string" ? `${body.error.message} (${response.status})` : status;
  } catch {
    return status;
  }
}

/** At start: the targets, with the key this tab kept (if any); ask for one if the server wants it. */
async function connect() {
  const key = apiKey;
  const outcome = await loadTargets(key);
  if (outcome === "ok") {
    keyAccepted(key);
    openFromAddress();
  } else if (outcome === "unauthorized") {
    forgetKey(key ? "The server refused the saved API key. Enter it again." : null);
  }
}

/** `/?run=<id>`: show that run (once the server lets us in). */
function openFromAddress() {
  const runId = runParam();
  if (runId && !current) openRun(runId);
}

function showTargetInfo() {
  const option = ui.target.selectedOptions[0];
  ui.targetInfo.textContent = option?.dataset.description ?? "";
}

// -- running -----------------------------------------------------------------------------------

/** The run in the address (`?run=<id>`), or null. */
function runParam() {
  return new URL(location.href).searchParams.get("run");
}

function setRunParam(runId) {
  const url = new URL(location.href);
  if (runId) url.searchParams.set("run", runId);
  else url.searchParams.delete("run");
  history.replaceState(history.state, "", url);
}

async function start() {
  const option = ui.target.selectedOptions[0];
  const query = ui.query.value.trim();
  if (!option?.dataset.kind || !query || current?.running) return;
  const { kind, name } = option.dataset;
  const body = { query, [kind === "system" ? "system" : "agent"]: name, token_events: true };

  const run = newRun();
  let started;
  try {
    started = await startRun("", body, { apiKey });
  } catch (error) {
    if (current === run) requestFailed(run, error);
    return;
  }
  if (current !== run) return;
  showRunId(run, started.run_id);
  setRunParam(started.run_id);
  if (run.stopRequested) stop();
  await follow(run);
}

/** Show the run in the address (`/?run=<id>`): from its start, then live. */
async function openRun(runId) {
  if (current?.runId === runId) return;
  const run = newRun();
  showRunId(run, runId);
  try {
    const info = await getRun("", runId, { apiKey });
    if (current !== run) return;
    run.info = info;
    // The events the log held when we asked are a replay: no live timing for them.
    run.replayUntil = info.event_count ?? 0;
    const startedAt = info.started_at ?? info.created_at;
    if (startedAt) run.startedAt = startedAt * 1000;
    if (info.finished_at && startedAt) run.finishedAt = info.finished_at * 1000;
    ui.runId.textContent = `run ${runId} · ${info.target}`;
    showStatus(run, statusState(run));
  } catch (error) {
    if (current === run) requestFailed(run, error);
    return;
  }
  await follow(run);
}

/** Follow the run's events to the end (after `run.lastSeq`, when resuming by hand). */
async function follow(run) {
  const controller = new AbortController();
  run.controller = controller;
  run.follower = followRun("", run.runId, {
    apiKey,
    after: run.lastSeq >= 0 ? run.lastSeq : null,
    signal: controller.signal,
    maxAttempts: 30, // about two and a half minutes of trying before "Lost the connection"
    on: handlers(run),
    onStatus: (status) => showConnection(run, status),
  });
  try {
    const result = await run.follower.done;
    if (current !== run || result.status === "aborted") return;
    if (result.error?.code === "cancelled") finish(run, "stopped");
    else if (result.status === "failed") finish(run, "failed", result.error?.message);
    else finish(run, "completed");
  } catch (error) {
    if (current === run) requestFailed(run, error);
  } finally {
    if (current === run) showConnection(run, { state: "closed" });
  }
}

/** A request the server refused, or a connection lost for good: say so on the timeline. */
function requestFailed(run, error) {
  const entry = (title, message) =>
    addEntry(run, "error", null, title, h("p", { class: "error-text", "data-testid": "error-message" }, message));
  if (error.status === 401) {
    const message = apiKey ? "The server refused the API key" : "The server needs an API key";
    entry("Not authorized", `${message}: enter it above, then run again.`);
    finish(run, "failed", message);
    forgetKey(apiKey ? "The server refused this API key. Enter a valid one." : null);
  } else if (error.status === 429) {
    const when = Number.isFinite(error.retryAfter) ? `in ${error.retryAfter} s` : "later";
    const message = `Too many runs: try again ${when}`;
    entry("The server is busy", message);
    finish(run, "failed", message);
  } else if (error.status === 404 && run.runId && !run.started) {
    entry("No such run", `There is no run ${run.runId} (or it is not yours).`);
    finish(run, "failed", "no such run");
    setRunParam(null);
  } else if (error.code === "gone") {
    entry("This run is gone", "The server no longer keeps this run's events (they expire after a while).");
    finish(run, "failed", "the run's events have expired");
  } else if (error.code === "reconnect_failed") {
    const resume = h("button", { type: "button", "data-testid": "resume" }, "Reconnect");
    entry("Lost the connection", `${error.message}. The run may still be going on the server.`).append(
      h("div", { class: "entry-actions" }, resume),
    );
    resume.addEventListener("click", () => {
      resume.disabled = true;
      run.running = true;
      ui.stop.disabled = false;
      ui.run.disabled = true;
      run.timer = setInterval(() => showStatus(run, statusState(run)), 100);
      follow(run);
    });
    finish(run, "disconnected", "lost the connection");
  } else {
    entry("The request failed", error.message);
    finish(run, "failed", error.message);
  }
}

function newRun() {
  current?.controller?.abort(); // stop following the previous run (it goes on on the server)
  ui.panel.hidden = false;
  ui.chain.replaceChildren();
  ui.timeline.replaceChildren();
  timelineFollow.reset();
  ui.answer.replaceChildren();
  ui.answer.classList.remove("complete");
  ui.answerAgent.hidden = true;
  ui.runId.textContent = "";
  ui.run.disabled = true;
  ui.stop.disabled = false;
  delete ui.panel.dataset.runId;
  ui.panel.dataset.lastSeq = "-1";
  ui.panel.dataset.rendered = "0";
  ui.panel.dataset.duplicates = "0";
  const run = {
    runId: null,
    controller: null,
    follower: null,
    running: true,
    started: false, // an event arrived
    startedAt: Date.now(), // wall clock (ms): the server's started_at when known
    finishedAt: null,
    replayUntil: 0, // events with a lower seq were in the log when the page asked: a replay
    lastSeq: -1, // the last event shown: anything at or before it is not shown again
    rendered: 0,
    duplicates: 0,
    event: null, // the event being shown
    chain: [],
    calls: new Map(), // tool_call_id → the tool call's card
    pending: new Set(), // tool calls waiting for approval
    answer: null, // the answer being written: {agent, text (Markdown source), complete}
    stopRequested: false,
    stoppedShown: false,
    timer: null,
  };
  current = run;
  run.timer = setInterval(() => showStatus(run, statusState(run)), 100);
  showConnection(run, { state: "closed" });
  showStatus(run, "running");
  return run;
}

function showRunId(run, runId) {
  run.runId = runId;
  ui.panel.dataset.runId = runId;
  ui.runId.textContent = `run ${runId}`;
}

/** Stop: the server cancels the run; its stream ends with the cancellation, for every viewer. */
async function stop() {
  const run = current;
  if (!run?.running) return;
  if (!run.runId) {
    run.stopRequested = true; // once the run has an id
    return;
  }
  ui.stop.disabled = true;
  try {
    await cancelRun("", run.runId, { apiKey });
  } catch (error) {
    if (error.status === 409) return; // it had finished already: its stream says how
    if (current !== run || !run.running) return;
    ui.stop.disabled = false;
    addEntry(run, "error", null, "Could not stop the run",
      h("p", { class: "error-text", "data-testid": "error-message" }, error.message));
  }
}

function finish(run, state, message) {
  if (!run.running) return;
  run.running = false;
  clearInterval(run.timer);
  ui.answer.setAttribute("aria-busy", "false");
  showStatus(run, state, message);
  for (const call of run.calls.values()) {
    if (!call.done) call.card.classList.add(state === "completed" ? "done" : "interrupted");
  }
  if (state === "stopped" && !run.stoppedShown) {
    run.stoppedShown = true;
    addEntry(run, "stopped", null, "Stopped: the server cancelled the run");
  }
  for (const call of run.pending) settleApproval(run, call, null);
  ui.run.disabled = ui.target.disabled; // (no targets while the key form is up)
  ui.stop.disabled = true;
}

function statusState(run) {
  return run.pending.size > 0 ? "waiting" : "running";
}

function showStatus(run, state, message) {
  const end = run.running ? Date.now() : (run.finishedAt ?? Date.now());
  const elapsed = seconds(Math.max(0, end - run.startedAt));
  const text = {
    running: `Running… ${elapsed}`,
    waiting: `Waiting for approval… ${elapsed}`,
    completed: `Completed in ${elapsed}`,
    stopped: `Stopped after ${elapsed}`,
    failed: `Failed after ${elapsed}${message ? `: ${message}` : ""}`,
    disconnected: `Disconnected after ${elapsed}${message ? `: ${message}` : ""}`,
  }[state];
  ui.status.textContent = text;
  if (ui.status.dataset.state !== state) ui.announce.textContent = text; // not every tick
  ui.status.dataset.state = state;
}

/** The connection badge: hidden while all is well, "Reconnecting…" while the follower retries. */
function showConnection(run, status) {
  if (current !== run) return;
  const el = ui.connection;
  if (status.state === "reconnecting") {
    el.hidden = false;
    el.dataset.state = "reconnecting";
    el.textContent = status.attempt > 1 ? `Reconnecting… (try ${status.attempt})` : "Reconnecting…";
    el.title = `Lost the connection${status.error?.message ? ` (${status.error.message})` : ""}; trying again.`;
    if (status.attempt === 1) ui.announce.textContent = "Connection lost: reconnecting";
  } else {
    if (status.state === "reconnected") {
      el.dataset.reconnects = String(Number(el.dataset.reconnects ?? 0) + 1);
      ui.announce.textContent = "Reconnected";
    }
    el.hidden = true;
    el.dataset.state = status.state === "closed" ? "closed" : "connected";
    el.textContent = "";
    el.removeAttribute("title");
  }
}

// -- the timeline ------------------------------------------------------------------------------

/** Append an entry; the timeline follows it (and its growth) unless the reader scrolled up. */
function addEntry(run, type, agent, title, ...body) {
  const list = ui.timeline;
  const seq = run.event?.metadata?.seq;
  const replayed = typeof seq === "number" && seq < run.replayUntil;
  const entry = h(
    "li",
    {
      class: `entry entry-${type}`,
      "data-testid": "entry",
      dataset: { type, agent: agent ?? "", ...(typeof seq === "number" ? { seq: String(seq) } : {}) },
    },
    h(
      "div",
      { class: "entry-head" },
      icon(type),
      agentBadge(agent, "entry-agent"),
      h("span", { class: "entry-title" }, title),
      replayed ? null : h("time", { class: "offset" }, `+${seconds(Math.max(0, Date.now() - run.startedAt))}`),
    ),
    ...body,
  );
  list.append(entry);
  timelineFollow.watch(entry);
  return entry;
}

function handlers(run) {
  // Each event is shown once: one the page has shown already (by seq) is dropped. Every event
  // names its agent: the first one starts the hand-off chain.
  const live = (fn) => (event) => {
    if (current !== run) return;
    const seq = event.metadata?.seq;
    if (typeof seq === "number") {
      if (seq <= run.lastSeq) {
        run.duplicates += 1;
        ui.panel.dataset.duplicates = String(run.duplicates);
        return;
      }
      run.lastSeq = seq;
      run.rendered += 1;
      ui.panel.dataset.lastSeq = String(seq);
      ui.panel.dataset.rendered = String(run.rendered);
    }
    run.started = true;
    noteAgent(run, event.metadata?.agent);
    run.event = event;
    try {
      fn(event);
    } finally {
      run.event = null;
    }
  };
  return {
    reasoning: live((e) => {
      addEntry(run, "reasoning", e.metadata.agent, "Reasoning", h("p", { class: "text" }, e.content));
    }),
    tool_call: live((e) => addToolCall(run, e)),
    custom: live((e) => addProgress(run, e)),
    tool_output: live((e) => addToolOutput(run, e)),
    handoff: live((e) => addHandoff(run, e)),
    memory_update: live((e) => {
      addEntry(
        run,
        "memory_update",
        e.metadata.agent,
        h("span", {}, "Shared memory: set ", h("code", {}, String(e.key))),
        h("pre", { class: "memory-value", "data-testid": "memory-value" }, pretty(e.value)),
      );
    }),
    token: live((e) => addToken(run, e)),
    answer: live((e) => addAnswer(run, e)),
    approval_required: live((e) => askApproval(run, e)),
    retracted: live((e) => retract(run, e)),
    approval: live((e) => showDecision(run, e)),
    node_transition: live((e) => {
      addEntry(run, "node_transition", e.metadata.agent, e.content.trim());
    }),
    error: live((e) => {
      if (e.code === "backend_unavailable") {
        // This connection's end, not the run's: the server lost its backend (Redis); the
        // client reconnects and the run goes on.
        addEntry(run, "unavailable", e.metadata?.agent ?? null,
          "The server lost its backend for a moment: reconnecting (the run goes on)");
        return;
      }
      if (e.code === "cancelled") {
        run.stoppedShown = true;
        addEntry(run, "stopped", e.metadata?.agent ?? null, "Stopped: the server cancelled the run");
        return;
      }
      addEntry(run, "error", e.metadata?.agent ?? null, "The run failed",
        h("p", { class: "error-text", "data-testid": "error-message" }, e.message),
        e.code ? h("p", { class: "muted" }, `code: ${e.code}`) : null);
    }),
    unknown: live((e) => {
      addEntry(run, "unknown", e.metadata.agent, e.event_type, e.content ? h("p", {}, e.content) : null);
    }),
  };
}

/** The run was taken over by another worker: the entries of the events its re-run replaces
 * go (the re-run shows them again), and a note says so. */
function retract(run, e) {
  const { fromSeq, toSeq } = e;
  if (fromSeq === null || toSeq === null) return;
  for (const entry of ui.timeline.querySelectorAll('[data-testid="entry"][data-seq]')) {
    const seq = Number(entry.dataset.seq);
    if (seq >= fromSeq && seq <= toSeq) entry.remove();
  }
  for (const [id, call] of run.calls) if (!call.card.isConnected) run.calls.delete(id);
  const count = toSeq - fromSeq + 1;
  addEntry(run, "retracted", null, `Resumed on another worker: ${count} earlier event(s) replaced`);
}

// -- approvals ---------------------------------------------------------------------------------

/** A tool call waits for a decision: Approve / Deny on its card (and its arguments to edit). */
function askApproval(run, e) {
  const { toolCallId, toolName } = e.approval;
  const id = toolCallId ?? e.metadata.tool_call_id;
  let call = run.calls.get(id);
  if (!call) {
    const card = addEntry(run, "tool_call", e.metadata.agent,
      h("span", {}, "Calling ", h("code", { "data-testid": "tool-name" }, toolName ?? "?")));
    call = { card, bar: null, message: null, done: false };
    run.calls.set(id, call);
  }
  const original = JSON.stringify(e.approval.arguments ?? {}, null, 2);
  const editor = h("textarea", {
    class: "approval-arguments",
    rows: Math.min(12, original.split("\n").length + 1),
    spellcheck: "false",
    "aria-label": `Arguments for ${toolName}`,
    "data-testid": "approval-arguments",
  });
  editor.value = original;
  const reason = h("input", {
    type: "text",
    class: "approval-reason",
    placeholder: "Reason (optional)",
    "aria-label": "Reason",
    maxlength: 10000,
    "data-testid": "approval-reason",
  });
  const approveButton = h("button", { type: "button", class: "primary", "data-testid": "approve" }, "Approve");
  const denyButton = h("button", { type: "button", "data-testid": "deny" }, "Deny");
  const error = h("p", { class: "error-text approval-error", role: "alert", "data-testid": "approval-error", hidden: true });
  const box = h(
    "div",
    { class: "approval", role: "group", "aria-label": `Approval for ${toolName}`, "data-testid": "approval", dataset: { state: "pending", toolCallId: id } },
    h("p", { class: "approval-title" }, h("strong", {}, toolName ?? "This tool"), " waits for your approval before it runs."),
    h("details", { class: "approval-edit" }, h("summary", {}, "Edit the arguments"), editor),
    h("div", { class: "approval-actions" }, reason, approveButton, denyButton),
    error,
  );
  call.card.classList.add("waiting");
  call.card.append(box);
  call.approval = { box, editor, reason, buttons: [approveButton, denyButton], error, original, toolName };
  run.pending.add(id);
  showStatus(run, "waiting");
  ui.announce.textContent = `Waiting for approval: ${toolName}`;
  approveButton.addEventListener("click", () => decide(run, id, true));
  denyButton.addEventListener("click", () => decide(run, id, false));
}

async function decide(run, id, approved) {
  const call = run.calls.get(id);
  const a = call?.approval;
  if (!a || a.box.dataset.state !== "pending") return;
  const decision = { approved };
  const reason = a.reason.value.trim();
  if (reason) decision.reason = reason;
  if (approved && a.editor.value.trim() !== a.original.trim()) {
    let edited;
    try {
      edited = JSON.parse(a.editor.value);
    } catch {
      edited = undefined;
    }
    if (edited === null || typeof edited !== "object" || Array.isArray(edited)) {
      showApprovalError(a, "The arguments must be a JSON object.");
      return;
    }
    decision.arguments = edited;
  }
  a.box.dataset.state = "sending";
  for (const b of a.buttons) b.disabled = true;
  a.error.hidden = true;
  try {
    await approve("", run.runId, id, decision, { apiKey });
    if (a.box.dataset.state === "sending") a.box.dataset.state = "sent"; // the approval event says the rest
  } catch (error) {
    if (a.box.dataset.state !== "sending") return;
    if (error.status === 409) {
      a.box.dataset.state = "sent"; // someone decided already: their decision is on its way
      return;
    }
    a.box.dataset.state = "pending";
    for (const b of a.buttons) b.disabled = false;
    if (error.status === 401) forgetKey(apiKey ? "The server refused this API key. Enter a valid one." : null);
    showApprovalError(a, error.status === 422 ? `The server refused these arguments: ${error.message}` : error.message);
  }
}

function showApprovalError(a, message) {
  a.error.textContent = message;
  a.error.hidden = false;
}

/** The decision (from this page, another viewer, or the server): shown on the tool's card. */
function showDecision(run, e) {
  const { approved, reason, decidedBy, arguments: edited } = e.approval;
  const id = e.approval.toolCallId ?? e.metadata.tool_call_id;
  let call = run.calls.get(id);
  if (!call) {
    const card = addEntry(run, "approval", e.metadata.agent, `Approval of ${e.approval.toolName ?? "a tool"}`);
    call = { card, bar: null, message: null, done: false };
    run.calls.set(id, call);
  }
  settleApproval(run, id, { approved, reason, decidedBy, edited });
}

/** Replace the Approve / Deny buttons with the outcome (null: the run ended undecided). */
function settleApproval(run, id, outcome) {
  const call = run.calls.get(id);
  run.pending.delete(id);
  if (!call) return;
  call.card.classList.remove("waiting");
  const state = outcome === null ? "undecided" : outcome.approved ? "approved" : "denied";
  const verdict =
    outcome === null
      ? "No decision: the run ended first."
      : `${outcome.approved ? "Approved" : "Denied"}${outcome.decidedBy ? ` by ${outcome.decidedBy}` : ""}` +
        `${outcome.reason ? `: ${outcome.reason}` : ""}`;
  const result = h(
    "div",
    { class: "approval", "data-testid": "approval", dataset: { state, toolCallId: id } },
    h("p", { class: "approval-verdict", "data-testid": "approval-verdict" }, verdict),
    outcome?.edited ? h("pre", { class: "tool-args", "data-testid": "approval-edited" }, argumentLines(outcome.edited)) : null,
  );
  if (call.approval?.box) {
    if (outcome === null && call.approval.box.dataset.state !== "pending") return;
    call.approval.box.replaceWith(result);
  } else if (outcome !== null) {
    call.card.append(result);
  }
  call.approval = { box: result };
  if (outcome && !outcome.approved) call.card.classList.add("denied");
  if (run.running) showStatus(run, statusState(run));
}

function addToolCall(run, e) {
  const { toolCall } = e;
  const card = addEntry(
    run,
    "tool_call",
    e.metadata.agent,
    h("span", {}, "Calling ", h("code", { "data-testid": "tool-name" }, toolCall.name ?? "?")),
    h("pre", { class: "tool-args", "data-testid": "tool-args" }, argumentLines(toolCall.args ?? toolCall.arguments)),
  );
  run.calls.set(toolCall.id ?? e.metadata.tool_call_id, { card, bar: null, message: null, done: false });
}

/** Progress and messages from inside a tool: one bar per tool call, updated in place. */
function addProgress(run, e) {
  const call = run.calls.get(e.metadata.tool_call_id);
  if (!call) {
    const entry = addEntry(run, "custom", e.metadata.agent, h("span", {}, ...withLeadingIcon(e.content ?? "")));
    if (e.progress !== null) entry.append(progressBar(e.progress));
    return;
  }
  if (e.progress !== null) {
    call.bar ??= call.card.appendChild(progressBar(0));
    setProgress(call.bar, e.progress);
  }
  if (e.content) {
    call.message ??= call.card.appendChild(h("p", { class: "progress-message", "data-testid": "progress-message" }));
    call.message.replaceChildren(...withLeadingIcon(e.content));
  }
}

function progressBar(value) {
  const bar = h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "data-testid": "progress" },
    h("div", { class: "progress-track" }, h("div", { class: "progress-fill" })),
    h("span", { class: "progress-label", "data-testid": "progress-label" }),
  );
  setProgress(bar, value);
  return bar;
}

function setProgress(bar, value) {
  const percent = Math.round(value * 100);
  bar.dataset.value = String(value);
  bar.setAttribute("aria-valuenow", String(percent));
  bar.querySelector(".progress-fill").style.width = `${percent}%`;
  bar.querySelector(".progress-label").textContent = `${percent} %`;
}

function addToolOutput(run, e) {
  const output = h(
    "details",
    { class: `tool-output${e.isError ? " failed" : ""}`, "data-testid": "tool-output", dataset: { error: String(e.isError) } },
    h("summary", {}, e.isError ? `${e.toolName} failed` : `Output of ${e.toolName}`),
    h("pre", {}, e.output),
  );
  if (e.isError) output.open = true;
  const call = run.calls.get(e.metadata.tool_call_id);
  if (call) {
    call.done = true;
    call.card.classList.add(e.isError ? "failed" : "done");
    call.card.append(output);
  } else {
    addEntry(run, "tool_output", e.metadata.agent, `Output of ${e.toolName}`, output);
  }
}

/** The hand-off chain: the first agent, then every agent the task was handed to. */
function noteAgent(run, agent) {
  if (agent && run.chain.length === 0) extendChain(run, agent);
}

function extendChain(run, agent) {
  run.chain.push(agent);
  for (const li of ui.chain.children) li.classList.remove("active");
  ui.chain.append(h("li", { class: "active", "data-testid": "chain-agent" }, agentBadge(agent)));
}

function addHandoff(run, e) {
  noteAgent(run, e.fromAgent);
  extendChain(run, e.toAgent);
  addEntry(
    run,
    "handoff",
    e.metadata.agent,
    h("span", {}, "Hand-off ", h("strong", {}, e.fromAgent), " → ", h("strong", {}, e.toAgent)),
    e.reason ? h("p", { class: "text" }, e.reason) : null,
  );
}

/** Tokens of the answer being written; a new agent's answer (or a new answer) starts afresh. */
function addToken(run, e) {
  const agent = e.metadata.agent;
  if (!run.answer || run.answer.complete || run.answer.agent !== agent) {
    run.answer = { agent, text: "", complete: false };
    ui.answer.classList.remove("complete");
    showAnswerAgent(agent);
  }
  run.answer.text += e.content;
  ui.answer.replaceChildren(renderMarkdown(run.answer.text)); // (a few kB at most: cheap)
  ui.answer.setAttribute("aria-busy", "true"); // read out once written
}

function addAnswer(run, e) {
  const agent = e.metadata.agent;
  const handedOn = e.stopReason === "delegated";
  addEntry(
    run,
    "answer",
    agent,
    handedOn ? "Answer, handed on" : `Answer (${e.stopReason ?? "done"})`,
    h("details", { class: "answer-detail" },
      h("summary", {}, firstLine(e.content)),
      h("div", { class: "md answer-text", "data-testid": "answer-text" }, renderMarkdown(e.content))),
  );
  if (handedOn) return;
  run.answer = { agent, text: e.content, complete: true };
  ui.answer.replaceChildren(renderMarkdown(e.content));
  ui.answer.setAttribute("aria-busy", "false");
  ui.answer.classList.add("complete");
  showAnswerAgent(agent);
}

function showAnswerAgent(agent) {
  ui.answerAgent.textContent = agent ?? "run";
  ui.answerAgent.style.setProperty("--hue", hue(agent ?? "run"));
  ui.answerAgent.hidden = false;
}

/** The answer's first line, its block markup (`## `, `- `, `> `) left out, its inline
 * formatting shown: the summary of an answer's entry. */
function firstLine(text) {
  const line = (text.split("\n").find((l) => l.trim()) ?? "").replace(/^\s*(?:#{1,6}|[-*+>]|\d{1,9}[.)])\s+/, "");
  const summary = document.createDocumentFragment();
  if (line.length > 90) summary.append(`${line.slice(0, 89)}…`);
  else renderInline(line, summary);
  return summary;
}

// -- wiring ------------------------------------------------------------------------------------

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  start();
});
ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  saveKey();
});
ui.keyChange.addEventListener("click", () => forgetKey());
ui.stop.addEventListener("click", stop);
ui.target.addEventListener("change", showTargetInfo);
ui.query.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    ui.form.requestSubmit();
  }
});
for (const example of document.querySelectorAll('[data-testid="example"]')) {
  example.addEventListener("click", () => {
    ui.query.value = example.textContent;
    ui.query.focus();
  });
}

connect();
