// The recorded streams in test/fixtures (written by test/record.py) and ways to cut them up.
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const DIR = fileURLToPath(new URL("../fixtures/", import.meta.url));

export const FIXTURES = readdirSync(DIR)
  .filter((name) => name.endsWith(".sse"))
  .map((name) => name.slice(0, -4))
  .sort();

/** A fixture's bytes, with its line ends ("\n" as recorded) changed to `eol`. */
export function fixtureBytes(name, eol = "\n") {
  const bytes = readFileSync(`${DIR}${name}.sse`);
  if (eol === "\n") return new Uint8Array(bytes);
  // LF bytes only ever end lines: JSON escapes newlines in strings, and 0x0A never occurs
  // inside a multi-byte UTF-8 sequence.
  const eolBytes = Buffer.from(eol, "latin1");
  const parts = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a) {
      parts.push(bytes.subarray(start, i), eolBytes);
      start = i + 1;
    }
  }
  parts.push(bytes.subarray(start));
  return new Uint8Array(Buffer.concat(parts));
}

/** The fixture's data payloads, found without the parser: blocks split on blank lines. */
export function fixturePayloads(name) {
  const text = readFileSync(`${DIR}${name}.sse`, "utf8");
  if (!text.endsWith("\n\n")) throw new Error(`${name}: does not end with a blank line`);
  return text
    .slice(0, -2)
    .split("\n\n")
    .map((block) => {
      if (!block.startsWith("data: ") || block.includes("\n")) {
        throw new Error(`${name}: unexpected block ${JSON.stringify(block.slice(0, 40))}`);
      }
      return block.slice(6);
    });
}

export function fixtureText(name) {
  return readFileSync(`${DIR}${name}.sse`, "utf8");
}
