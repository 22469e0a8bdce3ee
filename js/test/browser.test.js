// The web UI in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core),
// against a server without API keys (browser-keys.test.js has the one with keys).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { openBrowser, probeViolation } from "./support/browser.js";
import { fixtureBytes } from "./support/fixtures.js";
import { getJSON, startServer, waitFor } from "./support/server.js";

let server;
let browser;
let page;
let problems; // page errors, console errors, failed requests
let violations; // Content-Security-Policy violations

before(async () => {
  server = await startServer();
  browser = await openBrowser(server.url);
  ({ page, problems, violations } = browser);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const byId = (id) => page.locator(`[data-testid="${id}"]`);
const health = () => getJSON(`${server.url}/healthz`);

async function openUI() {
  await page.goto(server.url);
  await page.waitForSelector('[data-testid="target"]:not([disabled])');
}

/** Record, in the page, the answer's length and the run state at every change. */
async function watchAnswer() {
  await page.evaluate(() => {
    const answer = document.querySelector('[data-testid="answer"]');
    const status = document.querySelector('[data-testid="status"]');
    window.answerSamples = [];
    new MutationObserver(() => {
      window.answerSamples.push({ length: answer.textContent.length, state: status.dataset.state });
    }).observe(answer, { childList: true, characterData: true, subtree: true });
  });
}

async function run(target, query) {
  await byId("target").selectOption(target);
  await byId("query").fill(query);
  await byId("run").click();
}

/**
 * Serve a recorded stream as a run: POST /runs answers 201 with a made-up id and the run's events
 * are the recording (whose frames carry no ids: the page shows them as they come). Returns a
 * function that removes the routes.
 */
async function fakeRun(body) {
  const runId = "run_recorded_0001";
  const create = (route) =>
    route.request().method() === "POST"
      ? route.fulfill({
          status: 201,
          contentType: "application/json",
          body: JSON.stringify({ run_id: runId, status: "queued", events_url: `/runs/${runId}/events` }),
        })
      : route.continue();
  const events = (route) => route.fulfill({ status: 200, contentType: "text/event-stream", body });
  await page.route("**/runs", create);
  await page.route(`**/runs/${runId}/events`, events);
  return async () => {
    await page.unroute("**/runs", create);
    await page.unroute(`**/runs/${runId}/events`, events);
  };
}

describe("the web UI", () => {
  test("the page: no external resources, targets from /v1/models", async () => {
    await openUI();
    assert.equal(await page.title(), "masai · live agent runs");
    const options = await byId("target").locator("option").evaluateAll((els) =>
      els.map((o) => [o.value, o.textContent, o.parentElement.label]),
    );
    assert.deepEqual(options, [
      ["system:research-team", "research-team (system, decentralized)", "Multi-agent systems"],
      ["system:pipeline", "pipeline (system, sequential)", "Multi-agent systems"],
      ["system:supervised", "supervised (system, hierarchical)", "Multi-agent systems"],
      ["agent:researcher", "researcher (agent, single agent)", "Single agents"],
      ["agent:analyst", "analyst (agent, single agent)", "Single agents"],
      ["agent:writer", "writer (agent, single agent)", "Single agents"],
      ["agent:publisher", "publisher (agent, single agent)", "Single agents"],
    ]);
    assert.match(await byId("target-info").textContent(), /researcher → analyst → writer/);
    assert.equal(await byId("stop").isDisabled(), true);
    assert.equal(await byId("run-panel").isHidden(), true);
    // No keys on this server: no key form, nothing to forget, nothing stored.
    assert.equal(await byId("api-key-form").isHidden(), true);
    assert.equal(await byId("api-key-change").isHidden(), true);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("masai.apiKey")), null);
  });

  test("research-team: tool calls, progress to 100 %, the hand-off chain, the answer streaming in", async () => {
    await openUI();
    await watchAnswer();
    await run("system:research-team", "How is solar energy doing?");
    assert.equal(await byId("stop").isEnabled(), true);
    await page.waitForSelector('[data-testid="status"][data-state="running"]');
    // The first progress bar moves in place while the tool runs.
    const firstBar = page.locator('[data-testid="progress"]').first();
    await firstBar.waitFor();
    const seenValues = new Set();
    await waitFor(
      async () => {
        seenValues.add(await firstBar.getAttribute("data-value"));
        return seenValues.has("1");
      },
      { what: "the first progress bar to reach 100 %", intervalMs: 20, timeoutMs: 15_000 },
    );
    await page.waitForSelector('[data-testid="status"][data-state="completed"]', { timeout: 30_000 });
    assert.ok(seenValues.size >= 3, `the bar went through ${[...seenValues]}`);
    // The run is a resource: its id is in the address, and every event was shown once.
    const runId = new URL(page.url()).searchParams.get("run");
    assert.match(runId, /^run_/);
    assert.equal(await byId("run-panel").getAttribute("data-run-id"), runId);
    const record = await getJSON(`${server.url}/runs/${runId}`);
    assert.equal(record.status, "completed");
    assert.equal(await byId("run-panel").getAttribute("data-rendered"), String(record.event_count));
    assert.equal(await byId("run-panel").getAttribute("data-duplicates"), "0");
    assert.equal(await byId("connection").isHidden(), true);

    const tools = await page.locator('[data-testid="entry"][data-type="tool_call"]').evaluateAll((els) =>
      els.map((el) => ({
        agent: el.querySelector('[data-testid="entry-agent"]').textContent,
        name: el.querySelector('[data-testid="tool-name"]').textContent,
        args: el.querySelector('[data-testid="tool-args"]').textContent,
        bars: [...el.querySelectorAll('[data-testid="progress"]')].map((b) => [
          b.dataset.value,
          b.getAttribute("aria-valuenow"),
          b.textContent,
        ]),
        output: el.querySelector('[data-testid="tool-output"]')?.dataset.error,
      })),
    );
    assert.deepEqual(
      tools.map((t) => [t.agent, t.name, t.output]),
      [
        ["researcher", "web_search", "false"],
        ["analyst", "analyze_numbers", "false"],
        ["writer", "write_report", "false"],
      ],
    );
    assert.equal(tools[0].args, "query: How is solar energy doing?");
    for (const t of tools) assert.deepEqual(t.bars, [["1", "100", "100 %"]], `${t.name}: one bar, full`);

    const chain = await byId("chain").locator('[data-testid="chain-agent"]').allTextContents();
    assert.deepEqual(chain, ["researcher", "analyst", "writer"]);
    // Each agent's colour (--hue, set through CSSOM: the CSP blocks style attributes) applies.
    const hues = await byId("chain").locator(".agent-badge").evaluateAll((els) =>
      els.map((el) => [getComputedStyle(el).getPropertyValue("--hue").trim(), getComputedStyle(el).color]),
    );
    const expectedHue = (name) => [...name].reduce((n, ch) => (n * 31 + ch.codePointAt(0)) % 360, 0);
    assert.deepEqual(hues.map(([h]) => h), ["researcher", "analyst", "writer"].map((n) => String(expectedHue(n))));
    assert.equal(new Set(hues.map(([, color]) => color)).size, 3, "three agents, three colours");
    const handoffs = await page.locator('[data-testid="entry"][data-type="handoff"]').count();
    assert.equal(handoffs, 2);

    // Every entry says which agent produced it.
    const agents = await page
      .locator('[data-testid="entry"]')
      .evaluateAll((els) => els.map((el) => [el.dataset.type, el.querySelector('[data-testid="entry-agent"]').textContent]));
    assert.ok(agents.length > 10);
    for (const [type, agent] of agents) assert.ok(["researcher", "analyst", "writer"].includes(agent), `${type}: ${agent}`);
    assert.ok(agents.some(([type]) => type === "memory_update"));
    assert.ok(agents.some(([type]) => type === "reasoning"));

    const answer = await byId("answer").textContent();
    assert.equal(answer, record.answer);
    assert.match(answer, /^## Report: How is solar energy doing\?\n/);
    assert.match(answer, /In short: the evidence points to steady growth\.$/);
    assert.equal(await byId("answer-agent").textContent(), "writer");

    // The answer grew token by token while the run was still going.
    const samples = await page.evaluate(() => window.answerSamples);
    const partial = samples.filter((s) => s.state === "running" && s.length > 0 && s.length < answer.length);
    assert.ok(partial.length >= 5, `${partial.length} partial answers seen while running`);
    const lengths = partial.map((s) => s.length);
    assert.deepEqual(lengths, [...lengths].sort((a, b) => a - b), "it only grew");

    assert.equal(await byId("run").isEnabled(), true);
    assert.equal(await byId("stop").isDisabled(), true);
    assert.match(await byId("status").textContent(), /^Completed in \d+\.\d s$/);
  });

  test("Stop: the server cancels the run (POST /runs/{id}/cancel), the UI says stopped", async () => {
    await openUI();
    const before = await health();
    await run("system:research-team", "A thorough look at ocean health");
    const bar = page.locator('[data-testid="entry"][data-type="tool_call"] [data-testid="progress"]');
    await bar.waitFor();
    assert.equal((await health()).runs.active, before.runs.active + 1);
    await byId("stop").click();
    await page.waitForSelector('[data-testid="status"][data-state="stopped"]', { timeout: 5_000 });
    await waitFor(
      async () => {
        const h = await health();
        return h.runs.cancelled === before.runs.cancelled + 1 && h.runs.active === 0;
      },
      { what: "/healthz to count the run as cancelled" },
    );
    assert.match(await byId("status").textContent(), /^Stopped after/);
    assert.equal(await page.locator('[data-testid="entry"][data-type="stopped"]').count(), 1);
    assert.equal(await page.locator('[data-testid="entry"][data-type="error"]').count(), 0);
    const runId = new URL(page.url()).searchParams.get("run");
    const record = await getJSON(`${server.url}/runs/${runId}`);
    assert.deepEqual([record.status, record.stop_reason], ["cancelled", "cancelled"]);
    assert.ok(Number(await bar.getAttribute("data-value")) < 1, "the slow tool did not finish");
    assert.equal(await byId("run").isEnabled(), true);
    assert.equal(await byId("stop").isDisabled(), true);
    const { runs } = await health();
    assert.equal(runs.completed, before.runs.completed);
  });

  test("a failing tool and a failed run (the recorded error stream)", async () => {
    await openUI();
    const unroute = await fakeRun(Buffer.from(fixtureBytes("run-error")));
    try {
      await run("agent:researcher", "What was Q3 revenue?");
      await page.waitForSelector('[data-testid="status"][data-state="failed"]');
    } finally {
      await unroute();
    }
    const output = byId("tool-output");
    assert.equal(await output.getAttribute("data-error"), "true");
    assert.equal(await output.evaluate((el) => el.open), true, "a failure is shown opened");
    assert.match(await output.textContent(), /flaky_lookup failed \(ConnectionError/);
    const error = page.locator('[data-testid="entry"][data-type="error"]');
    assert.equal(await error.count(), 1);
    assert.equal(await error.locator('[data-testid="error-message"]').textContent(), "The scripted model ran out of turns.");
    assert.match(await byId("status").textContent(), /^Failed after .*: The scripted model ran out of turns\.$/);
  });

  test("an HTTP error before the stream (unknown agent) is shown as a failure", async () => {
    await openUI();
    const problemsBefore = problems.length;
    await page.route("**/runs", (route) =>
      route.continue({ postData: JSON.stringify({ query: "hi", agent: "ghost", token_events: true }) }),
    );
    try {
      await run("agent:researcher", "hello");
      await page.waitForSelector('[data-testid="status"][data-state="failed"]');
    } finally {
      await page.unroute("**/runs");
    }
    assert.match(await byId("status").textContent(), /no agent named 'ghost'/);
    assert.equal(await page.locator('[data-testid="entry"][data-type="error"]').count(), 1);
    // The browser logs the expected 404 as a console error: drop that one only.
    const mine = problems.splice(problemsBefore);
    assert.ok(mine.some((p) => /404/.test(p)), mine.join("\n"));
    problems.push(...mine.filter((p) => !/404/.test(p)));
  });

  test("unicode streamed through the browser arrives intact", async () => {
    await openUI();
    const unroute = await fakeRun(Buffer.from(fixtureBytes("unicode", "\r\n")));
    try {
      await run("agent:researcher", "Übersetze");
      await page.waitForSelector('[data-testid="status"][data-state="completed"]');
    } finally {
      await unroute();
    }
    assert.equal(
      await byId("answer").textContent(),
      "Grüße 👋🏽! こんにちは世界 — 你好，世界。 مرحبا بالعالم 🇺🇳 naïve café x̂ ≠ 𝔁 ∑ 🧑‍🚀 👨‍👩‍👧‍👦 ok\u2028next\u0085end 🎉",
    );
    assert.equal(await byId("answer-agent").textContent(), "übersetzer");
    assert.deepEqual(await byId("chain").locator('[data-testid="chain-agent"]').allTextContents(), ["übersetzer"]);
  });

  test("no page errors, console errors or external requests", () => {
    assert.deepEqual(problems, []);
  });

  test("no Content-Security-Policy violations (and the detector does see one)", async () => {
    assert.deepEqual(violations, []);
    await openUI();
    const probe = await probeViolation(browser);
    assert.equal(probe.violations.length, 1, JSON.stringify(probe));
    assert.match(probe.violations[0].directive, /^style-src/);
    assert.match(probe.problems.join("\n"), /Content Security Policy/);
  });
});
