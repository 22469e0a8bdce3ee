// The masai web UI: pick an agent or a system, ask, and watch the run stream in.
// Plain ES module, no build step; the client is the same file npm users get.
import { streamRun } from "/static/masai-client.js";

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
  answer: $("answer"),
  answerAgent: $("answer-agent"),
  timeline: $("timeline"),
  announce: $("announce"),
};

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
  if (outcome === "ok") keyAccepted(key);
  else if (outcome === "unauthorized") {
    forgetKey(key ? "The server refused the saved API key. Enter it again." : null);
  }
}

function showTargetInfo() {
  const option = ui.target.selectedOptions[0];
  ui.targetInfo.textContent = option?.dataset.description ?? "";
}

// -- running -----------------------------------------------------------------------------------

async function start() {
  const option = ui.target.selectedOptions[0];
  const query = ui.query.value.trim();
  if (!option?.dataset.kind || !query || current?.running) return;
  const { kind, name } = option.dataset;
  const url = kind === "system" ? "/mas/stream" : "/agent/stream";
  const body = { query, [kind === "system" ? "system" : "agent"]: name, token_events: true };

  const controller = new AbortController();
  current = newRun(controller);
  const run = current;
  try {
    const stream = await streamRun(url, body, { apiKey, signal: controller.signal, on: handlers(run) });
    const result = await stream.done;
    if (result.status === "aborted") finish(run, "stopped");
    else if (result.status === "failed") finish(run, "failed", result.error?.message);
    else finish(run, "completed");
  } catch (error) {
    if (error.name === "AbortError") {
      finish(run, "stopped");
    } else if (error.status === 401) {
      const message = apiKey ? "The server refused the API key" : "The server needs an API key";
      addEntry(run, "error", null, "Not authorized",
        h("p", { class: "error-text", "data-testid": "error-message" }, `${message}: enter it above, then run again.`));
      finish(run, "failed", message);
      forgetKey(apiKey ? "The server refused this API key. Enter a valid one." : null);
    } else if (error.status === 429) {
      const when = Number.isFinite(error.retryAfter) ? `in ${error.retryAfter} s` : "later";
      const message = `Too many runs: try again ${when}`;
      addEntry(run, "error", null, "The server is busy",
        h("p", { class: "error-text", "data-testid": "error-message" }, message));
      finish(run, "failed", message);
    } else {
      addEntry(run, "error", null, "The request failed",
        h("p", { class: "error-text", "data-testid": "error-message" }, error.message));
      finish(run, "failed", error.message);
    }
  }
}

function newRun(controller) {
  ui.panel.hidden = false;
  ui.chain.replaceChildren();
  ui.timeline.replaceChildren();
  ui.answer.replaceChildren();
  ui.answer.classList.remove("complete");
  ui.answerAgent.hidden = true;
  ui.runId.textContent = "";
  ui.run.disabled = true;
  ui.stop.disabled = false;
  const run = {
    controller,
    running: true,
    started: performance.now(),
    chain: [],
    calls: new Map(), // tool_call_id → the tool call's card
    answer: null, // the answer being written: {agent, text: Text node, complete}
    timer: setInterval(() => showStatus(run, "running"), 100),
  };
  showStatus(run, "running");
  return run;
}

function stop() {
  current?.controller.abort();
}

function finish(run, state, message) {
  if (!run.running) return;
  run.running = false;
  clearInterval(run.timer);
  showStatus(run, state, message);
  for (const call of run.calls.values()) {
    if (!call.done) call.card.classList.add(state === "completed" ? "done" : "interrupted");
  }
  if (state === "stopped") addEntry(run, "stopped", null, "Stopped: the server cancels the run");
  ui.run.disabled = ui.target.disabled; // (no targets while the key form is up)
  ui.stop.disabled = true;
}

function showStatus(run, state, message) {
  const elapsed = seconds(performance.now() - run.started);
  const text = {
    running: `Running… ${elapsed}`,
    completed: `Completed in ${elapsed}`,
    stopped: `Stopped after ${elapsed}`,
    failed: `Failed after ${elapsed}${message ? `: ${message}` : ""}`,
  }[state];
  ui.status.textContent = text;
  if (ui.status.dataset.state !== state) ui.announce.textContent = text; // not every tick
  ui.status.dataset.state = state;
}

// -- the timeline ------------------------------------------------------------------------------

const ICONS = {
  reasoning: "💭",
  tool_call: "🔧",
  custom: "✨",
  handoff: "🤝",
  memory_update: "🧠",
  answer: "📝",
  node_transition: "➡️",
  error: "⚠️",
  stopped: "⏹",
  unknown: "•",
};

/** Append an entry; keeps the timeline scrolled to the end unless the user scrolled up. */
function addEntry(run, type, agent, title, ...body) {
  const list = ui.timeline;
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const entry = h(
    "li",
    { class: `entry entry-${type}`, "data-testid": "entry", dataset: { type, agent: agent ?? "" } },
    h(
      "div",
      { class: "entry-head" },
      h("span", { class: "icon", "aria-hidden": "true" }, ICONS[type] ?? "•"),
      agentBadge(agent, "entry-agent"),
      h("span", { class: "entry-title" }, title),
      h("time", { class: "offset" }, `+${seconds(performance.now() - run.started)}`),
    ),
    ...body,
  );
  list.append(entry);
  if (atEnd) list.scrollTop = list.scrollHeight;
  return entry;
}

function handlers(run) {
  // Every event names its agent: the first one starts the hand-off chain.
  const live = (fn) => (event) => {
    if (current !== run) return;
    noteAgent(run, event.metadata?.agent);
    fn(event);
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
    node_transition: live((e) => {
      addEntry(run, "node_transition", e.metadata.agent, e.content.trim());
    }),
    error: live((e) => {
      addEntry(run, "error", e.metadata?.agent ?? null, "The run failed",
        h("p", { class: "error-text", "data-testid": "error-message" }, e.message),
        e.code ? h("p", { class: "muted" }, `code: ${e.code}`) : null);
    }),
    unknown: live((e) => {
      addEntry(run, "unknown", e.metadata.agent, e.event_type, e.content ? h("p", {}, e.content) : null);
    }),
    "*": live((e) => {
      if (!ui.runId.textContent && e.metadata?.run_id) ui.runId.textContent = `run ${e.metadata.run_id}`;
    }),
  };
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
    const entry = addEntry(run, "custom", e.metadata.agent, e.content);
    if (e.progress !== null) entry.append(progressBar(e.progress));
    return;
  }
  if (e.progress !== null) {
    call.bar ??= call.card.appendChild(progressBar(0));
    setProgress(call.bar, e.progress);
  }
  if (e.content) {
    call.message ??= call.card.appendChild(h("p", { class: "progress-message", "data-testid": "progress-message" }));
    call.message.textContent = e.content;
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
    run.answer = { agent, text: document.createTextNode(""), complete: false };
    ui.answer.replaceChildren(run.answer.text);
    ui.answer.classList.remove("complete");
    showAnswerAgent(agent);
  }
  run.answer.text.appendData(e.content);
}

function addAnswer(run, e) {
  const agent = e.metadata.agent;
  const handedOn = e.stopReason === "delegated";
  addEntry(
    run,
    "answer",
    agent,
    handedOn ? "Answer, handed on" : `Answer (${e.stopReason ?? "done"})`,
    h("details", { class: "answer-detail" }, h("summary", {}, firstLine(e.content)), h("pre", {}, e.content)),
  );
  if (handedOn) return;
  run.answer = { agent, text: document.createTextNode(e.content), complete: true };
  ui.answer.replaceChildren(run.answer.text);
  ui.answer.classList.add("complete");
  showAnswerAgent(agent);
}

function showAnswerAgent(agent) {
  ui.answerAgent.textContent = agent ?? "run";
  ui.answerAgent.style.setProperty("--hue", hue(agent ?? "run"));
  ui.answerAgent.hidden = false;
}

function firstLine(text) {
  const line = text.split("\n").find((l) => l.trim()) ?? "";
  return line.length > 90 ? `${line.slice(0, 89)}…` : line;
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
