// The recorded streams are what masai's handlers produce today (test/record.py --check), and
// they hold what the other tests rely on.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { FIXTURES, fixtureText } from "./support/fixtures.js";
import { PYTHON, REPO } from "./support/server.js";

const run = promisify(execFile);
const RECORD = fileURLToPath(new URL("./record.py", import.meta.url));

test("the fixtures are up to date with masai's stream handlers", async () => {
  try {
    await run(PYTHON, [RECORD, "--check"], { cwd: REPO, timeout: 60_000 });
  } catch (error) {
    assert.fail(`${error.stderr || error.message}`);
  }
});

test("the four recordings: progress, a delegation chain, an error, unicode", () => {
  assert.deepEqual(FIXTURES, ["agent-tool-progress", "mas-delegation-chain", "run-error", "unicode"]);
  assert.match(fixtureText("agent-tool-progress"), /"custom_data":\{"progress":0\.5/);
  assert.match(fixtureText("mas-delegation-chain"), /"event_type":"handoff"[^]*"event_type":"handoff"/);
  assert.match(fixtureText("mas-delegation-chain"), /"event_type":"memory_update"/);
  assert.match(fixtureText("run-error"), /"event_type":"error"[^\n]*\n\ndata: \[DONE\]\n\n$/);
  const unicode = fixtureText("unicode");
  for (const s of ["👨‍👩‍👧‍👦", "こんにちは", "مرحبا", "𝔁", "\u2028", "\u0085"]) assert.ok(unicode.includes(s), s);
});
