// The web UI and runs that outlive their connection, in headless Chromium against the real
// server: `?run=<id>` in the address, a reload mid-run that picks the run up again, a stream cut
// (and replayed from too early) that is resumed without showing anything twice, a run opened
// after it ended, and approvals: Approve / Deny on the tool's card, in one tab or another.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { followRun, startRun } from "../masai-client.js";
import { byTestId, openBrowser } from "./support/browser.js";
import { getJSON, startServer, waitFor } from "./support/server.js";

let server;
let browser;
let page;
let problems;
let violations;

before(async () => {
  server = await startServer();
  browser = await openBrowser(server.url);
  ({ page, problems, violations } = browser);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const byId = (id, p = page) => byTestId(p, id);
const health = () => getJSON(`${server.url}/healthz`);
const record = (runId) => getJSON(`${server.url}/runs/${runId}`);
const runInAddress = (p = page) => new URL(p.url()).searchParams.get("run");

/** About 3 s: three agents, three tools with progress, the answer token by token. */
const PIPELINE = ["system:pipeline", "How is solar energy doing?"];

async function openUI(path = "/") {
  await page.goto(`${server.url}${path}`);
  await page.waitForSelector('[data-testid="target"]:not([disabled])');
}

async function run([target, query], p = page) {
  await byId("target", p).selectOption(target);
  await byId("query", p).fill(query);
  await byId("run", p).click();
}

/** What the page shows of a run: its entries' seqs, and what the panel counted. */
async function shown(p = page) {
  const seqs = await p
    .locator('[data-testid="entry"][data-seq]')
    .evaluateAll((els) => els.map((el) => Number(el.dataset.seq)));
  const panel = byId("run-panel", p);
  return {
    seqs,
    rendered: Number(await panel.getAttribute("data-rendered")),
    lastSeq: Number(await panel.getAttribute("data-last-seq")),
    duplicates: Number(await panel.getAttribute("data-duplicates")),
  };
}

/** Every event of the run shown exactly once, in order, entries included. */
async function assertShownOnce(runId, p = page) {
  const r = await record(runId);
  const s = await shown(p);
  assert.equal(s.rendered, r.event_count, "every event shown, none twice");
  assert.equal(s.lastSeq, r.event_count - 1);
  assert.equal(s.duplicates, 0, "nothing reached the page twice");
  assert.deepEqual(s.seqs, [...new Set(s.seqs)].sort((a, b) => a - b), "entries: one per seq, in order");
  return r;
}

/** Record the connection badge's states, in the page (they come and go quickly). */
async function watchConnection(p = page) {
  await p.evaluate(() => {
    const el = document.querySelector('[data-testid="connection"]');
    window.connectionStates = [];
    new MutationObserver(() => {
      const last = window.connectionStates.at(-1);
      const now = `${el.dataset.state}${el.hidden ? "" : ":shown"}`;
      if (last !== now) window.connectionStates.push(now);
    }).observe(el, { attributes: true, childList: true, characterData: true, subtree: true });
  });
}

/** Read a run's event stream from Node: the raw SSE text, up to `frames` id'd frames (or the end). */
async function readStream(runId, { lastEventId = null, frames = Infinity } = {}) {
  const headers = { accept: "text/event-stream" };
  if (lastEventId !== null) headers["last-event-id"] = String(lastEventId);
  const controller = new AbortController();
  const response = await fetch(`${server.url}/runs/${runId}/events`, { headers, signal: controller.signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const complete = text.slice(0, text.lastIndexOf("\n\n") + 2);
      if ((complete.match(/^id: /gm) ?? []).length < frames) continue;
      // Enough: the frames up to the `frames`-th with an id (the role chunk and comments too).
      let out = "";
      let n = 0;
      for (const frame of complete.split(/(?<=\n\n)/)) {
        const hasId = /^id: /m.test(frame);
        if (hasId && n === frames) break;
        out += frame;
        if (hasId) n += 1;
      }
      return out;
    }
    return text;
  } finally {
    controller.abort();
  }
}

describe("runs in the web UI", () => {
  test("a run started here: ?run=<id> in the address; a reload mid-run picks it up, nothing twice", async () => {
    await openUI();
    const before = await health();
    await run(PIPELINE);
    await waitFor(() => runInAddress(), { what: "?run= in the address" });
    const runId = runInAddress();
    // Mid-run: the first tool has reported progress.
    await page.locator('[data-testid="progress"]').first().waitFor();
    assert.equal((await record(runId)).status, "running");
    const shownBefore = await shown();
    assert.ok(shownBefore.rendered > 0);

    await page.reload();
    assert.equal(runInAddress(), runId, "the reload keeps the run in the address");
    await page.waitForSelector('[data-testid="status"][data-state="completed"]', { timeout: 30_000 });
    const r = await assertShownOnce(runId);
    assert.equal(r.status, "completed");
    assert.equal(await byId("answer").textContent(), r.answer);
    assert.equal(await byId("run-panel").getAttribute("data-run-id"), runId);
    assert.match(await byId("run-id").textContent(), new RegExp(`^run ${runId} · pipeline$`));
    // Three tools, each with its bar at 100 % and its output.
    const tools = await page.locator('[data-testid="entry"][data-type="tool_call"]').evaluateAll((els) =>
      els.map((el) => [el.querySelectorAll('[data-testid="progress"]').length, el.querySelector('[data-testid="progress"]')?.dataset.value, el.querySelectorAll('[data-testid="tool-output"]').length]),
    );
    assert.deepEqual(tools, [[1, "1", 1], [1, "1", 1], [1, "1", 1]]);
    assert.deepEqual(await byId("chain").locator('[data-testid="chain-agent"]').allTextContents(), ["researcher", "analyst", "writer"]);
    // Leaving the page did not cancel the run.
    const h = await health();
    assert.equal(h.runs.cancelled, before.runs.cancelled);
    assert.equal(h.runs.completed, before.runs.completed + 1);
  });

  test("a cut stream: 'Reconnecting…', then resumed with Last-Event-ID; frames replayed twice are not shown twice", async () => {
    await openUI();
    await watchConnection();
    const requests = [];
    let runId = null;
    let cursor = null;
    await page.route("**/runs/*/events", async (route) => {
      const headers = route.request().headers();
      const n = requests.push(headers["last-event-id"] ?? null);
      runId = new URL(route.request().url()).pathname.split("/")[2];
      if (n === 1) {
        // The first connection: 6 frames, then the stream ends without [DONE] (a cut).
        return route.fulfill({ status: 200, contentType: "text/event-stream", body: await readStream(runId, { frames: 6 }) });
      }
      if (n === 2) return route.abort("connectionreset"); // the server unreachable, once
      // Then: the rest, but replayed from 3 frames too early (a server that got the cursor wrong).
      cursor = Number(headers["last-event-id"]);
      const body = await readStream(runId, { lastEventId: cursor - 3 });
      return route.fulfill({ status: 200, contentType: "text/event-stream", body });
    });
    try {
      await run(PIPELINE);
      await page.waitForSelector('[data-testid="status"][data-state="completed"]', { timeout: 30_000 });
    } finally {
      await page.unroute("**/runs/*/events");
    }
    assert.deepEqual(requests, [null, "5", "5"], "resumed after the last id seen");
    assert.equal(cursor, 5);
    const states = await page.evaluate(() => window.connectionStates);
    assert.ok(states.includes("reconnecting:shown"), states.join());
    assert.equal(states.at(-1), "closed");
    assert.equal(await byId("connection").getAttribute("data-reconnects"), "1");
    assert.equal(await byId("connection").isHidden(), true);
    const r = await assertShownOnce(runId);
    assert.equal(await byId("answer").textContent(), r.answer);
    // The browser logs the refused connection; nothing else.
    const mine = problems.filter((p) => /ERR_CONNECTION_RESET|net::/.test(p));
    for (const p of mine) problems.splice(problems.indexOf(p), 1);
  });

  test("/?run=<id> after the run ended shows it whole (no live timings for a replay)", async () => {
    const { run_id: runId } = await startRun(server.url, { query: "What are the trends in AI?", system: "research-team", token_events: true });
    const result = await followRun(server.url, runId).done;
    assert.equal(result.status, "completed");
    await openUI(`/?run=${runId}`);
    await page.waitForSelector('[data-testid="status"][data-state="completed"]');
    const r = await assertShownOnce(runId);
    assert.equal(await byId("answer").textContent(), r.answer);
    assert.equal(await byId("answer-agent").textContent(), "writer");
    assert.equal(await page.locator('[data-testid="entry"][data-type="handoff"]').count(), 2);
    assert.equal(await page.locator(".entry time.offset").count(), 0, "replayed entries have no live offsets");
    const seconds = (r.finished_at - r.started_at).toFixed(1);
    assert.equal(await byId("status").textContent(), `Completed in ${seconds} s`, "the run's own duration");
    assert.equal(await byId("stop").isDisabled(), true);
    assert.equal(await byId("run").isEnabled(), true);
  });

  test("/?run=<unknown>: 'No such run', and the address forgets it", async () => {
    const problemsBefore = problems.length;
    await openUI("/?run=run_does_not_exist");
    await page.waitForSelector('[data-testid="status"][data-state="failed"]');
    assert.equal(await byId("error-message").textContent(), "There is no run run_does_not_exist (or it is not yours).");
    assert.equal(runInAddress(), null);
    const mine = problems.splice(problemsBefore);
    assert.ok(mine.every((p) => /404/.test(p)), mine.join("\n"));
  });
});

describe("approvals in the web UI", () => {
  test("Approve, with edited arguments: the card says who approved, the tool runs with them, the run completes", async () => {
    await openUI();
    await run(["agent:publisher", "Publish the solar report"]);
    const card = page.locator('[data-testid="entry"][data-type="tool_call"]');
    await byId("approve").waitFor();
    const runId = runInAddress();
    assert.equal(await byId("status").getAttribute("data-state"), "waiting");
    assert.match(await byId("status").textContent(), /^Waiting for approval… /);
    assert.equal((await record(runId)).status, "waiting");
    assert.equal(await card.locator('[data-testid="tool-name"]').textContent(), "publish_report");
    assert.match(await byId("approval").textContent(), /publish_report waits for your approval/);
    const editor = byId("approval-arguments");
    assert.deepEqual(JSON.parse(await editor.inputValue()), { title: "Publish the solar report", channel: "team-blog" });

    // Not JSON: said at once, nothing sent.
    await card.locator("summary", { hasText: "Edit the arguments" }).click();
    await editor.fill("{ nope");
    await byId("approve").click();
    assert.equal(await byId("approval-error").textContent(), "The arguments must be a JSON object.");
    // Not what the tool takes: the server says 422, and the call keeps waiting.
    const problemsBefore = problems.length;
    await editor.fill(JSON.stringify({ title: 5 }));
    await byId("approve").click();
    await page.locator('[data-testid="approval-error"]', { hasText: "The server refused these arguments" }).waitFor();
    assert.equal(await byId("approve").isEnabled(), true);
    assert.equal((await record(runId)).status, "waiting");
    assert.ok(problems.splice(problemsBefore).every((p) => /422/.test(p)));

    await editor.fill(JSON.stringify({ title: "Solar, edited", channel: "newsroom" }));
    await byId("approval-reason").fill("checked the figures");
    await byId("approve").click();
    await page.waitForSelector('[data-testid="status"][data-state="completed"]');
    const verdict = card.locator('[data-testid="approval-verdict"]');
    assert.equal(await verdict.textContent(), "Approved by local: checked the figures");
    assert.equal(await card.locator('[data-testid="approval"]').getAttribute("data-state"), "approved");
    assert.equal(await card.locator('[data-testid="approval-edited"]').textContent(), "title: Solar, edited\nchannel: newsroom");
    assert.equal(await byId("approve").count(), 0, "the buttons are gone");
    assert.equal(await card.locator('[data-testid="tool-output"] pre').textContent(), "published 'Solar, edited' to newsroom");
    assert.equal(await byId("answer").textContent(), "published 'Solar, edited' to newsroom");
    await assertShownOnce(runId);
  });

  test("Deny, with a reason: the tool does not run", async () => {
    await openUI();
    await run(["agent:publisher", "Publish the ocean report"]);
    await byId("deny").waitFor();
    await byId("approval-reason").fill("not before Monday");
    await byId("deny").click();
    await page.waitForSelector('[data-testid="status"][data-state="completed"]');
    assert.equal(await byId("approval-verdict").textContent(), "Denied by local: not before Monday");
    assert.equal(await byId("approval").getAttribute("data-state"), "denied");
    assert.equal(await page.locator('[data-testid="progress"]').count(), 0, "publish_report never ran");
    assert.match(await byId("answer").textContent(), /not before Monday/);
  });

  test("two tabs on one waiting run: approving in one updates the other; a reload shows the buttons again", async () => {
    await openUI();
    await run(["agent:publisher", "Publish the AI report"]);
    await byId("approve").waitFor();
    const runId = runInAddress();
    // A reload while it waits: the run is read from the start, and the buttons are back.
    await page.reload();
    await byId("approve").waitFor();
    assert.equal(await byId("status").getAttribute("data-state"), "waiting");
    const other = await browser.context.newPage();
    try {
      other.on("pageerror", (error) => problems.push(`page error (2nd tab): ${error.message}`));
      await other.goto(`${server.url}/?run=${runId}`);
      await byId("approve", other).waitFor();
      await byId("approve", other).click();
      for (const p of [page, other]) {
        await p.waitForSelector('[data-testid="status"][data-state="completed"]');
        assert.equal(await byId("approval-verdict", p).textContent(), "Approved by local");
        await assertShownOnce(runId, p);
      }
    } finally {
      await other.close();
    }
  });

  test("Stop while it waits: the run is cancelled, the card says no decision came", async () => {
    await openUI();
    await run(["agent:publisher", "Publish the report"]);
    await byId("approve").waitFor();
    const runId = runInAddress();
    await byId("stop").click();
    await page.waitForSelector('[data-testid="status"][data-state="stopped"]');
    assert.equal(await byId("approval").getAttribute("data-state"), "undecided");
    assert.equal(await byId("approval-verdict").textContent(), "No decision: the run ended first.");
    assert.equal((await record(runId)).status, "cancelled");
  });
});

describe("the page", () => {
  test("no page errors, console errors, external requests or CSP violations", () => {
    assert.deepEqual(problems, []);
    assert.deepEqual(violations, []);
  });
});
