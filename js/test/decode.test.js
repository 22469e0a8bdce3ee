// decodeChunk over the recorded streams (exact event sequences) and over hand-made chunks.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { MasaiError, SSEParser, decodeChunk } from "../masai-client.js";
import { FIXTURES, fixtureBytes } from "./support/fixtures.js";

function decodeFixture(name) {
  const parser = new SSEParser();
  const events = parser.feed(fixtureBytes(name)).flatMap((m) => decodeChunk(m.data));
  parser.end();
  return events;
}

/** The fields that matter per type, in a compact form. */
function brief(e) {
  const agent = e.metadata?.agent;
  switch (e.type) {
    case "start":
      return ["start", e.role];
    case "finish":
      return ["finish", e.finish_reason];
    case "done":
      return ["done"];
    case "reasoning":
    case "token":
    case "node_transition":
      return [e.type, agent, e.content];
    case "tool_call":
      return ["tool_call", agent, e.toolCall.name, e.toolCall.args, e.toolCall.id];
    case "custom":
      return ["custom", agent, e.content, e.progress];
    case "tool_output":
      return ["tool_output", agent, e.toolName, e.output, e.isError];
    case "answer":
      return ["answer", agent, e.content, e.satisfied, e.stopReason];
    case "handoff":
      return ["handoff", agent, e.fromAgent, e.toAgent, e.reason];
    case "memory_update":
      return ["memory_update", agent, e.key, e.value, e.agent];
    case "error":
      return ["error", agent, e.message, e.code];
    default:
      return [e.type];
  }
}

const CALL1 = "call_000000000000000000000001";
const CALL2 = "call_000000000000000000000002";
const tokens = (agent, words) => words.map((w) => ["token", agent, w]);

const EXPECTED = {
  "agent-tool-progress": [
    ["start", "assistant"],
    ["node_transition", "researcher", "\n[Node: start → router]\n"],
    ["reasoning", "researcher", "I need the aggregate first"],
    ["node_transition", "researcher", "\n[Node: router → execute_tool]\n"],
    ["tool_call", "researcher", "crunch_numbers", { dataset: "sales-2024", rows: 400 }, CALL1],
    ["custom", "researcher", "📦 Loaded sales-2024", null],
    ["custom", "researcher", "Crunching rows 0/400", 0],
    ["custom", "researcher", "Crunching rows 100/400", 0.25],
    ["custom", "researcher", "Crunching rows 200/400", 0.5],
    ["custom", "researcher", "Crunching rows 300/400", 0.75],
    ["custom", "researcher", "Crunching rows 400/400", 1],
    [
      "tool_output",
      "researcher",
      "crunch_numbers",
      '{"dataset":"sales-2024","rows":400,"mean":42.5}',
      false,
    ],
    ["node_transition", "researcher", "\n[Node: execute_tool → evaluator]\n"],
    ["reasoning", "researcher", "The mean answers it"],
    ...tokens("researcher", [
      "The",
      " mean",
      " of",
      " sales-2024",
      " is",
      " 42.5",
      " over",
      " 400",
      " rows.",
    ]),
    [
      "answer",
      "researcher",
      "The mean of sales-2024 is 42.5 over 400 rows.",
      true,
      "completed",
    ],
    ["node_transition", "researcher", "\n[Node: evaluator → end]\n"],
    ["finish", "stop"],
    ["done"],
  ],
  "mas-delegation-chain": [
    ["start", "assistant"],
    ["reasoning", "researcher", "Search first"],
    ["tool_call", "researcher", "web_search", { query: "AI market" }, CALL1],
    ["custom", "researcher", "🔍 Searching…", 0.5],
    ["custom", "researcher", "✅ Done", 1],
    [
      "tool_output",
      "researcher",
      "web_search",
      '["AI market: market grew 30% in 2024","AI market: adoption doubled"]',
      false,
    ],
    ["reasoning", "researcher", "Record the key fact"],
    [
      "tool_call",
      "researcher",
      "note",
      { key: "fact", value: "AI market grew 30% in 2024" },
      CALL2,
    ],
    ["memory_update", "researcher", "fact", "AI market grew 30% in 2024", "researcher"],
    ["tool_output", "researcher", "note", "noted", false],
    ["reasoning", "researcher", "An analyst should interpret this"],
    ["answer", "researcher", "Fact: the AI market grew 30% in 2024", true, "delegated"],
    [
      "memory_update",
      "researcher",
      "answer:researcher",
      "Fact: the AI market grew 30% in 2024",
      "researcher",
    ],
    ["handoff", "researcher", "researcher", "analyst", "An analyst should interpret this"],
    ["reasoning", "analyst", "The writer should phrase it"],
    ["answer", "analyst", "Strong, sustained growth", true, "delegated"],
    ["memory_update", "analyst", "answer:analyst", "Strong, sustained growth", "analyst"],
    ["handoff", "analyst", "analyst", "writer", "The writer should phrase it"],
    ["reasoning", "writer", "Write it up"],
    ...tokens("writer", [
      "The",
      " AI",
      " market",
      " is",
      " growing",
      " strongly:",
      " up",
      " 30%",
      " in",
      " 2024.",
    ]),
    ["answer", "writer", "The AI market is growing strongly: up 30% in 2024.", true, "completed"],
    [
      "memory_update",
      "writer",
      "answer:writer",
      "The AI market is growing strongly: up 30% in 2024.",
      "writer",
    ],
    ["finish", "stop"],
    ["done"],
  ],
  "run-error": [
    ["start", "assistant"],
    ["reasoning", "researcher", "Look it up"],
    ["tool_call", "researcher", "flaky_lookup", { key: "q3-revenue" }, CALL1],
    [
      "tool_output",
      "researcher",
      "flaky_lookup",
      "flaky_lookup failed (ConnectionError, error 0badc0de).",
      true,
    ],
    ["error", null, "The scripted model ran out of turns.", "script_exhausted"],
    ["done"],
  ],
  unicode: [
    ["start", "assistant"],
    ["reasoning", "übersetzer", "Ich übersetze zuerst 🤔 — 先に翻訳します"],
    ["tool_call", "übersetzer", "translate", { text: "Hello world 👋", target: "日本語" }, CALL1],
    ["custom", "übersetzer", "🌍 Übersetze… 翻訳中 🚀", 0.5],
    ["custom", "übersetzer", "🏁 fertig — 完了", 1],
    [
      "tool_output",
      "übersetzer",
      "translate",
      "こんにちは世界 👋🏽 — Grüße aus Zürich; مرحبا بالعالم; 👨‍👩‍👧‍👦 family",
      false,
    ],
    ["reasoning", "übersetzer", "Fertig ✅; مكتمل"],
    ...tokens("übersetzer", [
      "Grüße",
      " 👋🏽!",
      " こんにちは世界",
      " —",
      " 你好，世界。",
      " مرحبا",
      " بالعالم",
      " 🇺🇳",
      " naïve",
      " café",
      " x̂",
      " ≠",
      " 𝔁",
      " ∑",
      " 🧑‍🚀",
      " 👨‍👩‍👧‍👦",
      " ok",
      "\u2028next",
      "\u0085end",
      " 🎉",
    ]),
    [
      "answer",
      "übersetzer",
      "Grüße 👋🏽! こんにちは世界 — 你好，世界。 مرحبا بالعالم 🇺🇳 naïve café x̂ ≠ 𝔁 ∑ 🧑‍🚀 👨‍👩‍👧‍👦 ok\u2028next\u0085end 🎉",
      true,
      "completed",
    ],
    ["finish", "stop"],
    ["done"],
  ],
};

describe("recorded streams decode to exact event sequences", () => {
  test("every fixture has an expected sequence", () => {
    assert.deepEqual(FIXTURES, Object.keys(EXPECTED).sort());
  });

  for (const name of FIXTURES) {
    test(name, () => {
      const events = decodeFixture(name);
      assert.deepEqual(events.map(brief), EXPECTED[name]);

      const agentEvents = events.filter((e) => "event_type" in e);
      // seq is 0, 1, 2 … without gaps; one run id and one chunk id for the whole stream.
      assert.deepEqual(
        agentEvents.map((e) => e.metadata.seq),
        agentEvents.map((_, i) => i),
      );
      assert.equal(new Set(agentEvents.map((e) => e.metadata.run_id)).size, 1);
      const chunks = events.filter((e) => e.chunk).map((e) => e.chunk);
      assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
      assert.equal(new Set(chunks.map((c) => c.created)).size, 1);
      for (const e of agentEvents) {
        assert.equal(e.event_type, e.type);
        assert.equal(e.delta, e.chunk.choices[0].delta);
        assert.equal(e.metadata, e.chunk.metadata);
        assert.ok(Array.isArray(e.metadata.agent_path));
      }
      // The tokens of the final answer add up to it exactly.
      const answers = events.filter((e) => e.type === "answer");
      const text = events
        .filter((e) => e.type === "token")
        .map((e) => e.content)
        .join("");
      if (answers.length) assert.equal(text, answers.at(-1).content);
    });
  }

  test("events inside a tool call carry its id; outputs name the tool", () => {
    for (const name of FIXTURES) {
      let open = null;
      for (const e of decodeFixture(name)) {
        if (e.type === "tool_call") {
          assert.equal(e.metadata.tool_call_id, e.toolCall.id);
          assert.equal(e.metadata.tool_name, e.toolCall.name);
          assert.equal(e.toolCall.arguments, e.delta.tool_calls[0].function.arguments);
          open = e.toolCall;
        } else if (e.type === "custom" || e.type === "tool_output") {
          assert.equal(e.metadata.tool_call_id, open.id, `${name} seq ${e.metadata.seq}`);
          if (e.type === "tool_output") {
            assert.equal(e.toolName, open.name);
            open = null;
          }
        }
      }
    }
  });

  test("tool call indexes count the run's calls", () => {
    const calls = decodeFixture("mas-delegation-chain").filter((e) => e.type === "tool_call");
    assert.deepEqual(
      calls.map((e) => e.toolCall.index),
      [0, 1],
    );
  });

  test("the delegation chain follows agent_path and the hand-offs", () => {
    const events = decodeFixture("mas-delegation-chain").filter((e) => e.metadata);
    const paths = Object.fromEntries(events.map((e) => [e.metadata.agent, e.metadata.agent_path]));
    assert.deepEqual(paths, {
      researcher: ["researcher"],
      analyst: ["researcher", "analyst"],
      writer: ["researcher", "analyst", "writer"],
    });
    const chain = ["researcher"];
    for (const e of events) if (e.type === "handoff") chain.push(e.toAgent);
    assert.deepEqual(chain, ["researcher", "analyst", "writer"]);
  });

  test("the error event is the last before done and has the error fields", () => {
    const events = decodeFixture("run-error");
    const error = events.at(-2);
    assert.equal(error.type, "error");
    assert.equal(error.metadata.error_code, "script_exhausted");
    assert.equal(error.chunk.choices[0].finish_reason, "stop");
    assert.equal(error.delta.content, "\n[Error: The scripted model ran out of turns.]\n");
    assert.equal(events.find((e) => e.type === "tool_output").metadata.is_error, true);
    assert.equal(events.filter((e) => e.type === "finish").length, 0);
  });
});

// -- hand-made chunks -----------------------------------------------------------------------------

const META = { run_id: "r1", seq: 0, agent: "a", node: "router", agent_path: ["a"] };

function chunk(delta, extra = {}, finish = null) {
  return {
    id: "chatcmpl-x",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...extra,
  };
}

const one = (payload) => {
  const events = decodeChunk(payload);
  assert.equal(events.length, 1);
  return events[0];
};

describe("decodeChunk", () => {
  test("accepts text or a parsed chunk alike", () => {
    const c = chunk({ content: "hi" }, { event_type: "reasoning", metadata: META });
    const fromText = one(JSON.stringify(c));
    const fromObject = one(c);
    assert.deepEqual(fromText, fromObject);
    assert.equal(fromObject.chunk, c);
  });

  test("[DONE], and bad payloads", () => {
    assert.deepEqual(decodeChunk("[DONE]"), [{ type: "done" }]);
    for (const bad of ["[DONE", "{", "", "null", "42", "[1]"]) {
      assert.throws(() => decodeChunk(bad), (e) => e instanceof MasaiError && e.code === "invalid_chunk");
    }
  });

  test("tool_call: arguments that are not a JSON object give args null", () => {
    for (const [args, parsed] of [
      ['{"a":[1,{"b":null}]}', { a: [1, { b: null }] }],
      ["[1,2]", null],
      ['"text"', null],
      ["not json", null],
      ["", null],
    ]) {
      const call = { index: 2, id: "call_9", type: "function", function: { name: "t", arguments: args } };
      const e = one(chunk({ tool_calls: [call] }, { event_type: "tool_call", metadata: META }));
      assert.deepEqual(e.toolCall, { id: "call_9", index: 2, name: "t", arguments: args, args: parsed });
    }
  });

  test("tool_output: the prefix comes off by tool name, also for names with brackets or no metadata", () => {
    const out = (content, metadata) =>
      one(chunk({ content }, { event_type: "tool_output", metadata: { ...META, ...metadata } }));
    let e = out("\n[Tool: fetch]\nline 1\nline 2\n\n", { tool_name: "fetch", is_error: true });
    assert.deepEqual([e.toolName, e.output, e.isError], ["fetch", "line 1\nline 2\n", true]);
    e = out("\n[Tool: odd]name]\nx\n", { tool_name: "odd]name" });
    assert.deepEqual([e.toolName, e.output, e.isError], ["odd]name", "x", false]);
    e = out("\n[Tool: fetch]\nok\n", {});
    assert.deepEqual([e.toolName, e.output], ["fetch", "ok"]);
    e = out("\n[Tool: other]\nok\n", { tool_name: "fetch" }); // not the shape: left as is
    assert.deepEqual([e.toolName, e.output], ["fetch", "\n[Tool: other]\nok\n"]);
    e = out("\n[Tool: fetch]\n\n", { tool_name: "fetch" });
    assert.equal(e.output, "");
  });

  test("custom: progress is a number clamped to 0..1, else null", () => {
    const progress = (custom_data) =>
      one(chunk({ content: "c", custom_data }, { event_type: "custom", metadata: META })).progress;
    assert.equal(progress({ progress: 0.3 }), 0.3);
    assert.equal(progress({ progress: 1.5 }), 1);
    assert.equal(progress({ progress: -2 }), 0);
    assert.equal(progress({ progress: "0.5" }), null);
    assert.equal(progress({ progress: Number.NaN }), null);
    assert.equal(progress({}), null);
    assert.equal(progress(undefined), null);
    const e = one(chunk({ content: "c" }, { event_type: "custom", metadata: META }));
    assert.deepEqual(e.customData, {});
  });

  test("answer, handoff, memory_update, state, node_transition", () => {
    const ev = (type, delta, metadata = {}) =>
      one(chunk(delta, { event_type: type, metadata: { ...META, ...metadata } }));
    let e = ev("answer", { content: "x", satisfied: false }, { stop_reason: "max_steps" });
    assert.deepEqual([e.content, e.satisfied, e.stopReason], ["x", false, "max_steps"]);
    e = ev("answer", { content: "x" });
    assert.deepEqual([e.satisfied, e.stopReason], [true, null]);
    e = ev("handoff", {
      content: "\n[Handoff: a → b]\n",
      handoff: { from_agent: "a", to_agent: "b", reason: "why" },
    });
    assert.deepEqual([e.fromAgent, e.toAgent, e.reason], ["a", "b", "why"]);
    e = ev("memory_update", {
      content: "\n[Memory: a set k]\n",
      memory_update: { key: "k", value: { n: [1] }, agent: "a" },
    });
    assert.deepEqual([e.key, e.value, e.agent], ["k", { n: [1] }, "a"]);
    e = ev("state", { content: '{"reasoning":"r","satisfied":true}' });
    assert.deepEqual(e.state, { reasoning: "r", satisfied: true });
    e = ev("node_transition", { content: "\n[Node: a → b]\n" });
    assert.equal(e.content, "\n[Node: a → b]\n");
  });

  test("error: message from the content, code from the metadata", () => {
    const e = one(
      chunk(
        { content: "\n[Error: Boom: [nested] ]\n" },
        { event_type: "error", metadata: { ...META, error_code: "model_error" } },
        "stop",
      ),
    );
    assert.deepEqual([e.type, e.message, e.code], ["error", "Boom: [nested] ", "model_error"]);
  });

  test("approval_required and approval: the call, then the decision, from delta.approval", () => {
    const md = { ...META, tool_call_id: "call_7", tool_name: "publish_report" };
    const asked = { tool_call_id: "call_7", tool_name: "publish_report", arguments: { title: "Q3", draft: true } };
    const required = one(
      chunk({ content: "\n[Approval required: publish_report]\n", approval: asked }, { event_type: "approval_required", metadata: md }),
    );
    assert.equal(required.type, "approval_required");
    assert.deepEqual(required.approval, { toolCallId: "call_7", toolName: "publish_report", arguments: { title: "Q3", draft: true } });
    const decided = {
      ...asked,
      approved: false,
      reason: "not yet",
      arguments: null,
      decided_by: "alice",
      decided_at: 1700000001.5,
    };
    const approval = one(chunk({ content: "\n[Denied: publish_report]\n", approval: decided }, { event_type: "approval", metadata: md }));
    assert.deepEqual(approval.approval, {
      toolCallId: "call_7",
      toolName: "publish_report",
      approved: false,
      reason: "not yet",
      arguments: null,
      decidedBy: "alice",
      decidedAt: 1700000001.5,
    });
    // Without delta.approval, the ids come from the metadata; arguments as JSON text are parsed.
    const bare = one(chunk({ content: "", approval: { arguments: '{"a":1}' } }, { event_type: "approval_required", metadata: md }));
    assert.deepEqual(bare.approval, { toolCallId: "call_7", toolName: "publish_report", arguments: { a: 1 } });
    const approved = one(chunk({ approval: { approved: true } }, { event_type: "approval", metadata: md }));
    assert.deepEqual([approved.approval.approved, approved.approval.decidedBy, approved.approval.reason], [true, null, null]);
    // The same events as /v1/chat/completions carries them (masai_event) decode alike.
    for (const [type, data, spec] of [
      ["approval_required", { approval: asked }, required],
      ["approval", { approval: decided }, approval],
    ]) {
      const ext = one({ ...chunk({}), choices: [], masai_event: { event_type: type, data, metadata: md } });
      assert.deepEqual([ext.type, ext.approval, ext.content], [type, spec.approval, spec.content]);
    }
  });

  test("unknown event types pass through as type 'unknown'", () => {
    const e = one(chunk({ content: "p", plan: [1] }, { event_type: "plan", metadata: META }));
    assert.deepEqual(
      [e.type, e.event_type, e.content, e.delta.plan, e.metadata.agent],
      ["unknown", "plan", "p", [1], "a"],
    );
    const bare = one(chunk({ other: 1 }, { event_type: "x", metadata: META }));
    assert.equal(bare.content, null);
  });

  test("vanilla chat completion chunks", () => {
    assert.deepEqual(
      decodeChunk(chunk({ role: "assistant", content: "" })).map((e) => e.type),
      ["start"],
    );
    assert.deepEqual(
      decodeChunk(chunk({ role: "assistant", content: "Hel" })).map((e) => [e.type, e.role ?? e.content]),
      [
        ["start", "assistant"],
        ["content", "Hel"],
      ],
    );
    assert.deepEqual(decodeChunk(chunk({ content: "lo" })).map((e) => [e.type, e.content]), [["content", "lo"]]);
    assert.deepEqual(
      decodeChunk(chunk({}, {}, "length")).map((e) => [e.type, e.finish_reason]),
      [["finish", "length"]],
    );
    const usage = { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 };
    assert.deepEqual(
      decodeChunk({ ...chunk({}), choices: [], usage }).map((e) => [e.type, e.usage]),
      [["usage", usage]],
    );
    assert.deepEqual(decodeChunk(chunk({ content: null }, { usage: null })), []);
    const error = one({ error: { message: "Rate limited", type: "rate_limit", code: "429" } });
    assert.deepEqual(
      [error.type, error.message, error.code, error.metadata, error.delta],
      ["error", "Rate limited", "429", null, null],
    );
  });

  test("masai_event chunks decode like the same events from the spec stream", () => {
    // Every agent event of every fixture, re-sent the way /v1/chat/completions carries it.
    const dataOf = {
      reasoning: (e) => ({ reasoning: e.content }),
      token: (e) => ({ content: e.content }),
      answer: (e) => ({ answer: e.content, satisfied: e.satisfied }),
      tool_call: (e) => ({ tool_name: e.toolCall.name, tool_input: e.toolCall.args }),
      tool_output: (e) => ({ tool_name: e.toolName, output: e.output }),
      custom: (e) => ({ content: e.content, custom_data: e.customData }),
      node_transition: (e) => {
        const [, from, to] = /\[Node: (.*) → (.*)\]/.exec(e.content);
        return { from_node: from, to_node: to };
      },
      handoff: (e) => ({ from_agent: e.fromAgent, to_agent: e.toAgent, reason: e.reason }),
      memory_update: (e) => ({ key: e.key, value: e.value, agent: e.agent }),
      error: (e) => ({ error: e.message, code: e.code }),
    };
    let checked = 0;
    for (const name of FIXTURES) {
      for (const e of decodeFixture(name)) {
        if (!e.event_type) continue;
        const data = dataOf[e.type](e);
        const masaiEvent = { event_type: e.event_type, data, metadata: e.metadata };
        const ext = one({ ...chunk({}), choices: [], masai_event: masaiEvent });
        const { chunk: c1, data: d1, ...viaExtension } = ext;
        const { chunk: c2, ...viaSpec } = e;
        if (e.type === "tool_call") {
          viaSpec.toolCall = { ...viaSpec.toolCall, index: 0 }; // not carried by masai_event
          viaSpec.delta = structuredClone(viaSpec.delta);
          viaSpec.delta.tool_calls[0].index = 0;
        }
        assert.deepEqual(viaExtension, viaSpec, `${name} seq ${e.metadata.seq}`);
        assert.equal(d1, data);
        checked += 1;
      }
    }
    assert.ok(checked > 80, `${checked} events`);
  });
});
