// The web UI and a scaled-out deployment's frames: a run taken over by another worker (the
// `retracted` event's range of earlier entries goes, the re-run shows them again, a note says
// what happened), and a server that lost its backend (a note, not "the run failed"). The
// server runs agents whose tools emit those frames themselves, so the page meets them exactly.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { byTestId, openBrowser } from "./support/browser.js";
import { REPO, startServer } from "./support/server.js";

let server;
let browser;

before(async () => {
  server = await startServer({
    args: ["--config", "tests.support.registries:retracting_registry"],
    env: { PYTHONPATH: REPO },
  });
  browser = await openBrowser(server.url);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("entries a take-over replaces are removed, with a note", async () => {
  const { page, problems } = browser;
  await page.goto(server.url);
  await page.waitForSelector('[data-testid="target"]:not([disabled])');
  await byTestId(page, "target").selectOption("agent:wobbler");
  await byTestId(page, "query").fill("wobble");
  await byTestId(page, "run").click();
  await page.waitForSelector('[data-testid="entry"][data-type="answer"]');
  const entries = await page
    .locator('[data-testid="entry"]')
    .evaluateAll((els) => els.map((el) => ({ type: el.dataset.type, seq: el.dataset.seq })));
  const seqs = entries.filter((e) => e.seq !== undefined).map((e) => Number(e.seq));
  assert.ok(!seqs.includes(0) && !seqs.includes(1), `retracted entries still shown: ${seqs}`);
  const notes = entries.filter((e) => e.type === "retracted");
  assert.equal(notes.length, 1);
  assert.ok(seqs.some((s) => s > 2), "what came after the retraction is shown");
  const note = await page.locator('[data-testid="entry"][data-type="retracted"]').innerText();
  assert.match(note, /2 earlier event\(s\) replaced/);
  assert.deepEqual(problems, []);
});

test("a server that lost its backend is a note, not a failed run", async () => {
  const { page, problems } = browser;
  await page.goto(server.url);
  await page.waitForSelector('[data-testid="target"]:not([disabled])');
  await byTestId(page, "target").selectOption("agent:hiccuper");
  await byTestId(page, "query").fill("hiccup");
  await byTestId(page, "run").click();
  await page.waitForSelector('[data-testid="entry"][data-type="answer"]');
  const types = await page
    .locator('[data-testid="entry"]')
    .evaluateAll((els) => els.map((el) => el.dataset.type));
  assert.ok(types.includes("unavailable"), `no note: ${types}`);
  assert.ok(!types.includes("error"), `shown as a failure: ${types}`);
  assert.deepEqual(problems, []);
});
