// The TypeScript declarations: tsc --noEmit over a typed usage file (typical use compiles,
// misuse marked @ts-expect-error must not) and over the README's TypeScript example.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import * as client from "../masai-client.js";
import { readmeBlocks } from "./support/readme.js";

const run = promisify(execFile);
const JS = fileURLToPath(new URL("../", import.meta.url));
const TSC = join(JS, "node_modules", "typescript", "bin", "tsc");
const DTS = join(JS, "masai-client.d.ts");

let dir;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "masai-types-"));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Run tsc over `files` with strict settings; returns its exit code and output. */
async function tsc(name, files) {
  const config = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: "es2022",
      module: "nodenext",
      moduleResolution: "nodenext",
      lib: ["es2023", "dom", "dom.iterable", "dom.asynciterable"],
      types: [],
      skipLibCheck: false,
      noUnusedLocals: false,
      paths: { "masai-client": [DTS] },
    },
    files: [DTS, ...files],
  };
  const project = join(dir, `${name}.tsconfig.json`);
  await writeFile(project, JSON.stringify(config, null, 2));
  try {
    const { stdout } = await run(process.execPath, [TSC, "--pretty", "false", "-p", project], { timeout: 60_000 });
    return { code: 0, output: stdout };
  } catch (error) {
    if (typeof error.code !== "number") throw error;
    return { code: error.code, output: `${error.stdout}${error.stderr}` };
  }
}

test("the typed usage file compiles, and every misuse in it is an error", async () => {
  const usage = fileURLToPath(new URL("./types/usage.ts", import.meta.url));
  const { code, output } = await tsc("usage", [usage]);
  assert.equal(code, 0, output);
  // The misuses are marked @ts-expect-error: tsc fails if one of them compiles.
  assert.equal(readFileSync(usage, "utf8").match(/@ts-expect-error/g).length, 13);
});

test("tsc really checks: a wrong use is reported", async () => {
  const bad = join(dir, "bad.ts");
  await writeFile(
    bad,
    'import { decodeChunk } from "masai-client";\n' +
      'for (const e of decodeChunk("[DONE]")) if (e.type === "token") e.toolCall;\n',
  );
  const { code, output } = await tsc("bad", [bad]);
  assert.notEqual(code, 0);
  assert.match(output, /bad\.ts\(2,\d+\): error TS2339: Property 'toolCall' does not exist/);
});

test("the README's TypeScript example compiles", async () => {
  const blocks = readmeBlocks().filter((b) => b.lang === "ts");
  assert.equal(blocks.length, 1);
  const file = join(dir, "readme-example.mts"); // an ES module, for its top-level await
  await writeFile(file, `${blocks[0].code}\nexport {};\n`);
  const { code, output } = await tsc("readme", [file]);
  assert.equal(code, 0, output);
});

test("the declarations name exactly the module's runtime exports", () => {
  const dts = readFileSync(DTS, "utf8");
  const declared = [...dts.matchAll(/^export (?:declare )?(?:class|function|const) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(declared.sort(), Object.keys(client).sort());
});
