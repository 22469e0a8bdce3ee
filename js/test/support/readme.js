// The code blocks of js/README.md, each with the expectations written above it as
// <!-- test: stdout matches /regex/flags --> comments, and the environment of the server it
// needs as <!-- test: server env NAME=VALUE --> (e.g. API keys; default: a plain server).
import { readFileSync } from "node:fs";

export const README = new URL("../../README.md", import.meta.url);

export function readmeBlocks() {
  const lines = readFileSync(README, "utf8").split("\n");
  const blocks = [];
  let expectations = [];
  let serverEnv = {};
  for (let i = 0; i < lines.length; i++) {
    const env = /^<!-- test: server env (\w+)=(\S+) -->$/.exec(lines[i]);
    if (env) {
      serverEnv[env[1]] = env[2];
      continue;
    }
    const expectation = /^<!-- test: stdout matches \/(.*)\/([a-z]*) -->$/.exec(lines[i]);
    if (expectation) {
      expectations.push(new RegExp(expectation[1], expectation[2]));
      continue;
    }
    const fence = /^```(\w*)$/.exec(lines[i]);
    if (!fence || !fence[1]) continue;
    const start = i + 1;
    do i++;
    while (lines[i] !== "```");
    const code = lines.slice(start, i).join("\n") + "\n";
    blocks.push({ lang: fence[1], line: start, code, expectations, serverEnv });
    expectations = [];
    serverEnv = {};
  }
  return blocks;
}
