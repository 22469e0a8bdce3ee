// The spec's own browser code ("Client-Side Integration" in docs/spec/ENHANCED_STREAMING.md),
// run as written against recorded masai streams: what masai sends is what it expects.
// (The snippet splits each read on "\n" and decodes without {stream: true}, so it needs every
// read to hold whole events; masai-client has no such limit, see sse-parser.test.js.)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { streamRun } from "../masai-client.js";
import { fakeFetch } from "./support/fake-fetch.js";
import { fixtureText } from "./support/fixtures.js";

const SPEC = new URL("../../docs/spec/ENHANCED_STREAMING.md", import.meta.url);

function specSnippet() {
  const text = readFileSync(SPEC, "utf8");
  const section = text.slice(text.indexOf("## Client-Side Integration"));
  const m = /```javascript\n([^]*?)\n```/.exec(section);
  assert.ok(m, "the spec has a JavaScript block under Client-Side Integration");
  return m[1];
}

/** The snippet's streamAgent, with its globals (fetch, console) supplied. */
function loadStreamAgent(fetch, logs) {
  const console = { log: (...args) => logs.push(args) };
  return new Function("fetch", "console", `${specSnippet()}\nreturn streamAgent;`)(fetch, console);
}

for (const name of ["agent-tool-progress", "mas-delegation-chain", "unicode"]) {
  test(`the spec's streamAgent reads ${name} as masai-client does`, async () => {
    // One SSE message per read, as masai writes them.
    const pieces = fixtureText(name)
      .split(/(?<=\n\n)/)
      .map((s) => new TextEncoder().encode(s));
    const logs = [];
    const server = fakeFetch(null, { pieces });
    await loadStreamAgent(server.fetch, logs)("What about AI?");
    assert.equal(server.requests[0].url, "/agent/stream");
    assert.deepEqual(JSON.parse(server.requests[0].body), { query: "What about AI?" });

    // What the snippet logs, from masai-client's events.
    const expected = [];
    const run = await streamRun("/agent/stream", {}, { fetch: fakeFetch(null, { pieces }).fetch });
    for await (const e of run) {
      if (e.type === "tool_call") expected.push(["🔧 Tool:", e.toolCall.name]);
      else if (e.type === "tool_output") expected.push(["📤 Output:", e.delta.content]);
      else if (e.type === "custom") expected.push(["✨ Progress:", e.customData.progress]);
      else if (e.type !== "done") expected.push(["💬 Content:", e.type === "start" || e.type === "finish" ? undefined : e.delta.content]);
    }
    assert.deepEqual(logs, expected);
    assert.ok(logs.some(([label]) => label === "🔧 Tool:"));
    assert.ok(logs.some(([label]) => label === "✨ Progress:"));
  });
}
