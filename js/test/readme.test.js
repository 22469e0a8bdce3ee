// Every JavaScript example in js/README.md, run as written against the real server.
// (The TypeScript example is type-checked by types.test.js.)
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { readmeBlocks } from "./support/readme.js";
import { startServer } from "./support/server.js";

const run = promisify(execFile);
const CLIENT = new URL("../masai-client.js", import.meta.url).href;

let server;
let dir;
const servers = new Map(); // other server environments (API keys), started when a block needs one
before(async () => {
  server = await startServer();
  dir = await mkdtemp(join(tmpdir(), "masai-readme-"));
});
after(async () => {
  await server?.stop();
  for (const other of servers.values()) await (await other).stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function serverFor(env) {
  if (Object.keys(env).length === 0) return server;
  const key = JSON.stringify(env);
  if (!servers.has(key)) servers.set(key, startServer({ env }));
  return servers.get(key);
}

const blocks = readmeBlocks();

test("the README has examples, each with expectations, in js and ts only", () => {
  assert.ok(blocks.filter((b) => b.lang === "js").length >= 5);
  for (const block of blocks) {
    assert.ok(["js", "ts"].includes(block.lang), `line ${block.line}: ${block.lang}`);
    if (block.lang === "js") assert.ok(block.expectations.length > 0, `line ${block.line} has no expectation`);
  }
});

describe("README examples", { concurrency: true }, () => {
  for (const block of blocks.filter((b) => b.lang === "js")) {
    test(`the example at line ${block.line}`, async () => {
      assert.match(block.code, /from "masai-client"/);
      const { url } = await serverFor(block.serverEnv);
      const code = block.code
        .replaceAll('from "masai-client"', `from ${JSON.stringify(CLIENT)}`)
        .replaceAll("http://localhost:8000", url);
      const file = join(dir, `example-${block.line}.mjs`);
      await writeFile(file, code);
      const { stdout } = await run(process.execPath, [file], { timeout: 30_000 });
      const output = stdout.trimEnd();
      for (const expectation of block.expectations) assert.match(output, expectation);
    });
  }
});
