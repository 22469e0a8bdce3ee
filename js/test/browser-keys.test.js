// The web UI and /docs in headless Chromium against a server with API keys (MASAI_API_KEYS):
// the key form, the key kept per tab in sessionStorage and sent with every API call, refusals
// (a wrong key, 401 during a run, 429 too many runs), and no Content-Security-Policy violations.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { streamRun } from "../masai-client.js";
import { byTestId, openBrowser, probeViolation } from "./support/browser.js";
import { getJSON, startServer, waitFor } from "./support/server.js";

const ALICE = "alice-key-7f3c9a21";
const BOB = "bob-key-52e1d0b8";
const STORAGE = "masai.apiKey"; // what docs.js reads too

let server;
let browser;
let page;
let problems;
let violations;
let aliceRun = null; // a run of alice's, completed
const calls = []; // API requests, in order: promises of {method, path, authorization, status}

before(async () => {
  server = await startServer({
    env: { MASAI_API_KEYS: `alice:${ALICE},bob:${BOB}` },
    args: ["--max-runs-per-principal", "1"],
  });
  browser = await openBrowser(server.url);
  ({ page, problems, violations } = browser);
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (!/^\/(v1|agent|mas|openapi|runs)/.test(url.pathname)) return;
    const request = response.request();
    calls.push(
      request.headerValue("authorization").then((authorization) => ({
        method: request.method(),
        path: url.pathname,
        authorization: authorization ?? null,
        status: response.status(),
      })),
    );
  });
  // docs.js would prompt for a key it does not find in sessionStorage: that must not happen.
  page.on("dialog", (dialog) => {
    problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const byId = (id) => byTestId(page, id);
const stored = () => page.evaluate((name) => [sessionStorage.getItem(name), localStorage.length], STORAGE);
/** The `count` API calls made since there were `n` (waits for them). */
async function callsSince(n, count) {
  await waitFor(() => calls.length >= n + count, { what: `${count} API calls` });
  return Promise.all(calls.slice(n));
}
const idle = () =>
  waitFor(async () => (await getJSON(`${server.url}/healthz`)).runs.active === 0, { what: "no run in flight" });

/** Drop the browser's own console line for each expected refusal ("… status of 401 …"). */
function expectRefusals(...statuses) {
  const pattern = new RegExp(`Failed to load resource: the server responded with a status of (${statuses.join("|")})`);
  for (let i = problems.length - 1; i >= 0; i--) if (pattern.test(problems[i])) problems.splice(i, 1);
}

async function waitForTargets() {
  await page.waitForSelector('[data-testid="target"]:not([disabled])');
}

describe("the web UI with API keys", () => {
  test("asks for the key: a labelled password field, and nothing runs without one", async () => {
    const before = calls.length;
    await page.goto(server.url);
    await byId("api-key-form").waitFor();
    const input = page.getByLabel("API key", { exact: true });
    assert.equal(await input.getAttribute("data-testid"), "api-key");
    assert.equal(await input.getAttribute("type"), "password");
    assert.equal(await input.evaluate((el) => el === document.activeElement), true, "the field has focus");
    assert.equal(await page.getByRole("button", { name: "Save" }).getAttribute("data-testid"), "api-key-save");
    assert.equal(await page.getByRole("form", { name: "API key needed" }).count(), 1);
    assert.equal(await byId("api-key-error").isHidden(), true, "no key given yet: no error");
    assert.equal(await byId("target").isDisabled(), true);
    assert.equal(await byId("run").isDisabled(), true);
    assert.equal(await byId("api-key-change").isHidden(), true);
    assert.deepEqual(await callsSince(before, 1), [{ method: "GET", path: "/v1/models", authorization: null, status: 401 }]);
    assert.deepEqual(await stored(), [null, 0]);
    expectRefusals(401);
  });

  test("a wrong key is refused with a message, not kept, and the form asks again", async () => {
    const before = calls.length;
    // Not even shaped like a key: said at once, nothing is sent.
    await byId("api-key").fill("short");
    await byId("api-key-save").click();
    await byId("api-key-error").waitFor();
    assert.match(await byId("api-key-error").textContent(), /^That is not an API key: a key is 8 to 512 printable/);
    await byId("api-key").fill("not-the-right-key");
    await byId("api-key-save").click();
    const error = byId("api-key-error");
    await page.locator('[data-testid="api-key-error"]', { hasText: "The server refused" }).waitFor();
    assert.equal(await error.textContent(), "The server refused this API key. Check it and try again.");
    assert.equal(await error.getAttribute("role"), "alert");
    assert.equal(await byId("api-key").getAttribute("aria-invalid"), "true");
    assert.equal(await byId("api-key-form").isVisible(), true);
    assert.equal(await byId("run").isDisabled(), true);
    assert.deepEqual(await callsSince(before, 1), [
      { method: "GET", path: "/v1/models", authorization: "Bearer not-the-right-key", status: 401 },
    ]);
    assert.deepEqual(await stored(), [null, 0]);
    expectRefusals(401);
  });

  test("the right key: targets load, the key is kept for this tab, a full run sends it", async () => {
    await byId("api-key").fill(ALICE);
    await byId("api-key").press("Enter");
    await waitForTargets();
    assert.equal(await byId("api-key-form").isHidden(), true);
    assert.equal(await byId("api-key-change").isVisible(), true);
    assert.deepEqual(await stored(), [ALICE, 0], "in sessionStorage, never localStorage");
    const options = await byId("target").locator("option").evaluateAll((els) => els.map((o) => o.value));
    assert.equal(options.length, 7);

    const before = calls.length;
    await byId("target").selectOption("agent:researcher");
    await byId("query").fill("How is solar energy doing?");
    await byId("run").click();
    await page.waitForSelector('[data-testid="status"][data-state="completed"]', { timeout: 15_000 });
    assert.match(await byId("answer").textContent(), /solar/i);
    assert.ok((await page.locator('[data-testid="entry"][data-type="tool_call"]').count()) >= 1);
    const runId = new URL(page.url()).searchParams.get("run");
    aliceRun = runId;
    assert.deepEqual(await callsSince(before, 2), [
      { method: "POST", path: "/runs", authorization: `Bearer ${ALICE}`, status: 201 },
      { method: "GET", path: `/runs/${runId}/events`, authorization: `Bearer ${ALICE}`, status: 200 },
    ]);
  });

  test("after a reload in the same tab the key is remembered (and the run in the address shown)", async () => {
    const before = calls.length;
    const runId = new URL(page.url()).searchParams.get("run");
    await page.reload();
    await waitForTargets();
    assert.equal(await byId("api-key-form").isHidden(), true);
    assert.equal(await byId("api-key-change").isVisible(), true);
    await page.waitForSelector('[data-testid="status"][data-state="completed"]');
    assert.deepEqual(await callsSince(before, 3), [
      { method: "GET", path: "/v1/models", authorization: `Bearer ${ALICE}`, status: 200 },
      { method: "GET", path: `/runs/${runId}`, authorization: `Bearer ${ALICE}`, status: 200 },
      { method: "GET", path: `/runs/${runId}/events`, authorization: `Bearer ${ALICE}`, status: 200 },
    ]);
  });

  test("another principal's run is not found (404, like an unknown one)", async () => {
    const runId = new URL(page.url()).searchParams.get("run");
    const response = await fetch(`${server.url}/runs/${runId}`, { headers: { authorization: `Bearer ${BOB}` } });
    assert.equal(response.status, 404);
    await page.evaluate((key) => sessionStorage.setItem("masai.apiKey", key), BOB);
    try {
      await page.reload();
      await page.waitForSelector('[data-testid="status"][data-state="failed"]');
      assert.equal(await byId("error-message").textContent(), `There is no run ${runId} (or it is not yours).`);
      assert.equal(new URL(page.url()).searchParams.get("run"), null, "the address no longer names it");
    } finally {
      await page.evaluate((key) => sessionStorage.setItem("masai.apiKey", key), ALICE);
      await page.reload();
      await waitForTargets();
    }
    expectRefusals(404);
  });

  test("/?run=<id> in a tab without the key: the key form first, then the run", async () => {
    const runId = aliceRun;
    assert.ok(runId);
    await page.evaluate(() => sessionStorage.clear());
    await page.goto(`${server.url}/?run=${runId}`);
    await byId("api-key-form").waitFor();
    assert.equal(await byId("run-panel").isHidden(), true, "nothing shown before the key");
    await byId("api-key").fill(ALICE);
    await byId("api-key-save").click();
    await page.waitForSelector('[data-testid="status"][data-state="completed"]');
    assert.equal(await byId("run-panel").getAttribute("data-run-id"), runId);
    assert.match(await byId("answer").textContent(), /solar/i);
    expectRefusals(401);
  });

  test("too many runs (429): the UI says when to try again, from Retry-After", async () => {
    await idle();
    const before = calls.length;
    // alice may run one at a time (--max-runs-per-principal 1): hold her slot from here.
    const held = await streamRun(
      `${server.url}/agent/stream`,
      { query: "A thorough look at ocean health", agent: "researcher" },
      { apiKey: ALICE },
    );
    try {
      await byId("target").selectOption("agent:writer");
      await byId("query").fill("AI trends");
      await byId("run").click();
      await page.waitForSelector('[data-testid="status"][data-state="failed"]', { timeout: 5_000 });
    } finally {
      held.abort();
    }
    assert.deepEqual(await callsSince(before, 1), [
      { method: "POST", path: "/runs", authorization: `Bearer ${ALICE}`, status: 429 },
    ]);
    assert.equal(await byId("error-message").textContent(), "Too many runs: try again in 1 s");
    assert.match(await byId("status").textContent(), /^Failed after \d+\.\d s: Too many runs: try again in 1 s$/);
    assert.equal(await byId("api-key-form").isHidden(), true, "a busy server does not ask for the key");
    assert.equal(await byId("run").isEnabled(), true);
    expectRefusals(429);
    await idle();
  });

  test("a key refused during a run (401) is forgotten and asked for again", async () => {
    await page.route("**/runs", (route) =>
      route.fulfill({
        status: 401,
        contentType: "application/json",
        headers: { "WWW-Authenticate": 'Bearer realm="masai", error="invalid_token"' },
        body: JSON.stringify({ error: { message: "wrong API key", type: "authentication_error", code: "unauthorized" } }),
      }),
    );
    try {
      await byId("target").selectOption("agent:writer");
      await byId("query").fill("AI trends");
      await byId("run").click();
      await byId("api-key-form").waitFor();
    } finally {
      await page.unroute("**/runs");
    }
    assert.equal(await byId("status").getAttribute("data-state"), "failed");
    assert.equal(await byId("api-key-error").textContent(), "The server refused this API key. Enter a valid one.");
    assert.equal(await byId("run").isDisabled(), true);
    assert.deepEqual(await stored(), [null, 0]);
    expectRefusals(401);
    // Entering it again brings everything back.
    await byId("api-key").fill(ALICE);
    await byId("api-key-save").click();
    await waitForTargets();
    assert.deepEqual(await stored(), [ALICE, 0]);
  });

  test("Change API key forgets it and asks for one (another principal's key works)", async () => {
    await byId("api-key-change").click();
    assert.equal(await byId("api-key-form").isVisible(), true);
    assert.equal(await byId("api-key-error").isHidden(), true);
    assert.equal(await byId("run").isDisabled(), true);
    assert.deepEqual(await stored(), [null, 0]);
    await byId("api-key").fill(BOB);
    await byId("api-key-save").click();
    await waitForTargets();
    assert.deepEqual(await stored(), [BOB, 0]);
  });
});

describe("/docs with the key the UI kept", () => {
  /** Wait until Swagger UI rendered the operations, or said it could not. */
  async function swaggerOutcome() {
    await page.waitForFunction(
      () => document.querySelector(".opblock") || /Unable to render this definition/.test(document.body.innerText),
      null,
      { timeout: 10_000 },
    );
    return {
      operations: await page.locator(".opblock").count(),
      text: (await page.locator("#swagger-ui").innerText()).replace(/\s+/g, " ").slice(0, 300),
    };
  }

  test("Swagger UI runs under the CSP and uses the key from sessionStorage (spec served as OpenAPI 3.0)", async () => {
    // swagger-ui-bundle 1.1.0 ships Swagger UI 4.15.5, which renders OpenAPI 3.0 only (see the
    // next test): here the spec's version field is rewritten so the rest can be checked.
    const before = calls.length;
    await page.route("**/openapi.json", async (route) => {
      const response = await route.fetch();
      if (!response.ok()) return route.fulfill({ response });
      const spec = await response.json();
      return route.fulfill({ response, json: { ...spec, openapi: "3.0.3" } });
    });
    try {
      await page.goto(`${server.url}/docs`);
      const { operations, text } = await swaggerOutcome();
      assert.ok(operations >= 4, `${operations} operations: ${text}`);
      assert.ok((await page.locator(".opblock-summary-path", { hasText: "/v1/models" }).count()) === 1);
      // "Try it out" on GET /v1/models goes out with the key too.
      await page.locator(".opblock-summary", { hasText: "/v1/models" }).click();
      await page.getByRole("button", { name: "Try it out" }).click();
      await page.getByRole("button", { name: "Execute" }).click();
      await page.locator(".live-responses-table .response-col_status").first().waitFor();
    } finally {
      await page.unroute("**/openapi.json");
    }
    assert.deepEqual(await callsSince(before, 3), [
      { method: "GET", path: "/openapi.json", authorization: null, status: 401 },
      { method: "GET", path: "/openapi.json", authorization: `Bearer ${BOB}`, status: 200 },
      { method: "GET", path: "/v1/models", authorization: `Bearer ${BOB}`, status: 200 },
    ]);
    expectRefusals(401); // docs.js asks without a key first
  });

  test("the real /openapi.json renders", async () => {
    await page.goto(`${server.url}/docs`);
    const { operations, text } = await swaggerOutcome();
    expectRefusals(401);
    assert.ok(operations > 0, text);
  });
});

describe("Content-Security-Policy", () => {
  test("no violations, page errors, console errors or external requests on any page", async () => {
    assert.deepEqual(violations, []);
    assert.deepEqual(problems, []);
    // The detector works on both pages.
    for (const path of ["/", "/docs"]) {
      await page.goto(`${server.url}${path}`);
      const probe = await probeViolation(browser);
      assert.equal(probe.violations.length, 1, `${path}: ${JSON.stringify(probe)}`);
      expectRefusals(401);
    }
  });
});
