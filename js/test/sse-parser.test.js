// SSEParser against the WHATWG rules ("event stream interpretation") and the recorded streams.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { SSEParser } from "../masai-client.js";
import { FIXTURES, fixtureBytes, fixturePayloads } from "./support/fixtures.js";

const utf8 = new TextEncoder();

/** Parse `pieces` (strings or byte arrays) in order; everything dispatched, and the parser. */
function parse(pieces, options) {
  const parser = new SSEParser(options);
  const messages = [];
  for (const piece of pieces) messages.push(...parser.feed(piece));
  parser.end();
  return { messages, parser };
}

const msg = (data, event = "message", lastEventId = "") => ({ event, data, lastEventId });

describe("WHATWG examples", () => {
  // §9.2.1 Introduction.
  test("three messages, one with two data lines", () => {
    const stream =
      "data: This is the first message.\n\n" +
      "data: This is the second message, it\ndata: has two lines.\n\n" +
      "data: This is the third message.\n\n";
    assert.deepEqual(parse([stream]).messages, [
      msg("This is the first message."),
      msg("This is the second message, it\nhas two lines."),
      msg("This is the third message."),
    ]);
  });

  test("event types add and remove", () => {
    const stream =
      "event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n";
    assert.deepEqual(parse([stream]).messages, [
      msg("73857293", "add"),
      msg("2153", "remove"),
      msg("113411", "add"),
    ]);
  });

  // §9.2.6 Interpreting an event stream.
  test("YHOO +2 10: data lines joined with LF", () => {
    assert.deepEqual(parse(["data: YHOO\ndata: +2\ndata: 10\n\n"]).messages, [
      msg("YHOO\n+2\n10"),
    ]);
  });

  test("four blocks: a comment, id set, id reset, a leading space kept", () => {
    const stream =
      ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n";
    const comments = [];
    const { messages, parser } = parse([stream], { onComment: (c) => comments.push(c) });
    assert.deepEqual(messages, [
      msg("first event", "message", "1"),
      msg("second event", "message", ""),
      msg(" third event", "message", ""),
    ]);
    assert.deepEqual(comments, ["test stream"]);
    assert.equal(parser.lastEventId, "");
  });

  test("four blocks: the last one is not dispatched without its blank line", () => {
    const stream =
      ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n";
    assert.deepEqual(
      parse([stream]).messages.map((m) => m.data),
      ["first event", "second event"],
    );
  });

  test("empty data, a single newline, and a trailing block that is discarded", () => {
    assert.deepEqual(parse(["data\n\ndata\ndata\n\ndata:"]).messages, [msg(""), msg("\n")]);
  });

  test("data:test and data: test are identical", () => {
    assert.deepEqual(parse(["data:test\n\ndata: test\n\n"]).messages, [msg("test"), msg("test")]);
  });
});

describe("the recorded streams", () => {
  const endings = { LF: "\n", CRLF: "\r\n", CR: "\r" };
  for (const name of FIXTURES) {
    const expected = fixturePayloads(name);
    for (const [label, eol] of Object.entries(endings)) {
      const bytes = fixtureBytes(name, eol);
      const check = (messages) => {
        assert.equal(messages.length, expected.length);
        for (let i = 0; i < expected.length; i++) {
          if (messages[i].data !== expected[i] || messages[i].event !== "message") {
            assert.deepEqual(messages[i], msg(expected[i]), `message ${i}`);
          }
        }
      };

      test(`${name}, ${label}: whole`, () => {
        check(parse([bytes]).messages);
        check(parse([new TextDecoder().decode(bytes)]).messages);
      });

      test(`${name}, ${label}: one byte at a time`, () => {
        const pieces = [];
        for (let i = 0; i < bytes.length; i++) pieces.push(bytes.subarray(i, i + 1));
        check(parse(pieces).messages);
      });

      test(`${name}, ${label}: split in two at every byte`, () => {
        for (let cut = 0; cut <= bytes.length; cut++) {
          const { messages } = parse([bytes.subarray(0, cut), bytes.subarray(cut)]);
          if (messages.length !== expected.length) {
            assert.fail(`split at ${cut}: ${messages.length} messages`);
          }
          for (let i = 0; i < expected.length; i++) {
            if (messages[i].data !== expected[i]) {
              assert.equal(messages[i].data, expected[i], `split at ${cut}, message ${i}`);
            }
          }
        }
      });
    }
  }

  test("the fixtures have multi-byte UTF-8 the splits land inside", () => {
    const bytes = fixtureBytes("unicode");
    const lengths = new Set();
    for (const ch of new TextDecoder().decode(bytes)) lengths.add(utf8.encode(ch).length);
    assert.deepEqual([...lengths].sort(), [1, 2, 3, 4]);
  });

  test("as strings split at every UTF-16 position (surrogate pairs too)", () => {
    const text = new TextDecoder().decode(fixtureBytes("unicode", "\r\n"));
    const expected = fixturePayloads("unicode");
    for (let cut = 0; cut <= text.length; cut++) {
      const { messages } = parse([text.slice(0, cut), text.slice(cut)]);
      assert.deepEqual(
        messages.map((m) => m.data),
        expected,
        `split at ${cut}`,
      );
    }
  });
});

describe("line ends", () => {
  test("CRLF, LF and CR mixed in one stream", () => {
    const { messages } = parse(["data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\rdata: e\n\n"]);
    assert.deepEqual(messages, [msg("a\nb\nc"), msg("d"), msg("e")]);
  });

  test("a CRLF split between two pieces ends one line, not two", () => {
    const { messages } = parse(["data: a\r", "\ndata: b\r", "\n\r", "\n"]);
    assert.deepEqual(messages, [msg("a\nb")]);
  });

  test("a CR at the end of a piece followed by something else", () => {
    assert.deepEqual(parse(["data: a\r", "\r"]).messages, [msg("a")]);
    assert.deepEqual(parse(["data: a\r", "data: b\r\r"]).messages, [msg("a\nb")]);
  });

  test("a CR ends the line at once (the message is not held back for a LF)", () => {
    const parser = new SSEParser();
    assert.deepEqual(parser.feed("data: x\r\r"), [msg("x")]);
    assert.deepEqual(parser.feed("\ndata: y\n\n"), [msg("y")]);
  });

  test("empty pieces change nothing", () => {
    const { messages } = parse(["", "data: a\r", "", new Uint8Array(0), "\n", "", "\n"]);
    assert.deepEqual(messages, [msg("a")]);
  });

  test("U+2028, U+2029 and NEL are not line ends", () => {
    const { messages } = parse(["data: a\u2028b\u2029c\u0085d\n\n"]);
    assert.deepEqual(messages, [msg("a\u2028b\u2029c\u0085d")]);
  });
});

describe("fields", () => {
  test("comments are ignored, and reported for heartbeats", () => {
    const comments = [];
    const { messages } = parse([": ping\n\ndata: x\n:\n: keep", "-alive\n\n:no-space\n"], {
      onComment: (text) => comments.push(text),
    });
    assert.deepEqual(messages, [msg("x")]);
    assert.deepEqual(comments, ["ping", "", "keep-alive", "no-space"]);
  });

  test("a heartbeat alone dispatches nothing", () => {
    assert.deepEqual(parse([": ping\n\n: ping\n\n"]).messages, []);
  });

  test("multi-line data keeps empty lines and colons", () => {
    const { messages } = parse(["data: {\ndata\ndata:  \"a\": 1\ndata: }\n\n"]);
    assert.deepEqual(messages, [msg('{\n\n "a": 1\n}')]);
  });

  test("only one space after the colon is removed, only a space", () => {
    const { messages } = parse(["data:   x \n\ndata:\tx\n\n"]);
    assert.deepEqual(messages, [msg("  x "), msg("\tx")]);
  });

  test("event: names the message; it is reset after each dispatch", () => {
    const { messages } = parse(["event: add\ndata: 1\n\ndata: 2\n\nevent: x\nevent\ndata: 3\n\n"]);
    assert.deepEqual(messages, [msg("1", "add"), msg("2"), msg("3")]);
  });

  test("event: without data dispatches nothing and does not leak into the next message", () => {
    assert.deepEqual(parse(["event: add\n\ndata: 1\n\n"]).messages, [msg("1")]);
  });

  test("id: persists across messages, is set even without data, and refuses NUL", () => {
    const { messages, parser } = parse([
      "id: 7\ndata: a\n\ndata: b\n\nid: 8\n\ndata: c\n\nid: 9\0x\ndata: d\n\nid:\ndata: e\n\n",
    ]);
    assert.deepEqual(messages, [
      msg("a", "message", "7"),
      msg("b", "message", "7"),
      msg("c", "message", "8"),
      msg("d", "message", "8"),
      msg("e", "message", ""),
    ]);
    assert.equal(parser.lastEventId, "");
  });

  test("retry: only ASCII digits set the reconnection time", () => {
    const parser = new SSEParser();
    parser.feed("retry: 2500\n\n");
    assert.equal(parser.retry, 2500);
    for (const bad of ["retry: 1.5\n", "retry: -1\n", "retry: 10s\n", "retry\n", "retry: \n"]) {
      parser.feed(bad);
      assert.equal(parser.retry, 2500, bad);
    }
    parser.feed("retry:0\n");
    assert.equal(parser.retry, 0);
  });

  test("unknown fields and wrong case are ignored; a field name may contain spaces", () => {
    const { messages } = parse(["Data: x\nfoo: bar\ndata : y\ndata: z\n\n"]);
    assert.deepEqual(messages, [msg("z")]);
  });

  test("a field without a colon has an empty value", () => {
    assert.deepEqual(parse(["data\ndata\n\n"]).messages, [msg("\n")]);
  });
});

describe("start and end of the stream", () => {
  test("a leading BOM is dropped, only one, only at the start", () => {
    assert.deepEqual(parse(["\uFEFFdata: a\n\n"]).messages, [msg("a")]);
    assert.deepEqual(parse([utf8.encode("\uFEFFdata: a\n\n")]).messages, [msg("a")]);
    // A second BOM makes the first line's field name "\uFEFFdata": an unknown field.
    assert.deepEqual(parse(["\uFEFF\uFEFFdata: a\n\ndata: b\n\n"]).messages, [msg("b")]);
    assert.deepEqual(parse(["data: \uFEFFa\n\n"]).messages, [msg("\uFEFFa")]);
  });

  test("a BOM split across byte pieces", () => {
    const bytes = utf8.encode("\uFEFFdata: a\n\n");
    const pieces = [bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)];
    assert.deepEqual(parse(pieces).messages, [msg("a")]);
  });

  test("an incomplete trailing event is not dispatched", () => {
    for (const tail of ["data: partial", "data: partial\n", "data: partial\r\n", "data: p\r"]) {
      const { messages } = parse(["data: whole\n\n", tail]);
      assert.deepEqual(messages, [msg("whole")], JSON.stringify(tail));
    }
  });

  test("end() discards what is pending; the parser then reads a new stream", () => {
    const parser = new SSEParser();
    assert.deepEqual(parser.feed("id: 3\ndata: a\n\ndata: lost\nid: 4\n"), [msg("a", "message", "3")]);
    parser.end();
    assert.equal(parser.lastEventId, "3");
    assert.deepEqual(parser.feed(utf8.encode("\uFEFFdata: b\n\n")), [msg("b", "message", "3")]);
  });

  test("invalid UTF-8 becomes U+FFFD; a character cut at the end is dropped", () => {
    const { messages } = parse([new Uint8Array([0x64, 0x61, 0x74, 0x61, 0x3a, 0xff, 0x0a, 0x0a])]);
    assert.deepEqual(messages, [msg("\uFFFD")]);
    const parser = new SSEParser();
    parser.feed(new Uint8Array([0x64, 0x61, 0x74, 0x61, 0x3a, 0xf0, 0x9f]));
    parser.end();
    assert.deepEqual(parser.feed("data: ok\n\n"), [msg("ok")]);
  });

  test("bytes then a string: the decoder's pending bytes are flushed first", () => {
    const euro = utf8.encode("data: €");
    const parser = new SSEParser();
    assert.deepEqual(parser.feed(euro), []);
    assert.deepEqual(parser.feed("\n\n"), [msg("€")]);
  });
});
