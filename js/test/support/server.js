// Starts the real masai server (`masai serve --port 0`, the built-in demo) for live tests.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const MASAI_BIN = process.env.MASAI_BIN || `${REPO}.venv/bin/masai`;
export const PYTHON = process.env.MASAI_PYTHON || `${REPO}.venv/bin/python`;

// Model settings in the environment would make the demo call a real model: keep it offline.
// MASAI_API_KEY(S) would make it require a key; MASAI_DEMO_PACE would change its timing.
const UNSET = [
  "OPENAI_API_KEY",
  "OPENAI_BASE_URL",
  "ANTHROPIC_API_KEY",
  "MASAI_MODEL",
  "MASAI_API_KEY",
  "MASAI_API_KEYS",
  "MASAI_DEMO_PACE",
];

/**
 * Start a server on 127.0.0.1 and an ephemeral port (extra `masai serve` options in `args`,
 * extra environment variables in `env`, e.g. `{MASAI_API_KEYS: "alice:KEY"}`); resolves once it
 * printed "masai serving on http://HOST:PORT". Call `stop()` when done.
 */
export async function startServer({ args = [], env: extraEnv = {}, timeoutMs = 30_000 } = {}) {
  const env = { ...process.env };
  for (const name of UNSET) delete env[name];
  Object.assign(env, extraEnv);
  const child = spawn(MASAI_BIN, ["serve", "--host", "127.0.0.1", "--port", "0", ...args], {
    cwd: REPO,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text) => {
    stderr = (stderr + text).slice(-4000);
  });
  const exited = once(child, "exit");
  const spawnError = once(child, "error").then(([error]) => {
    throw new Error(`could not start ${MASAI_BIN}: ${error.message}`);
  });

  let timer;
  const url = await Promise.race([
    new Promise((resolve) => {
      let stdout = "";
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (text) => {
        stdout += text;
        const m = /^masai serving on (http:\/\/\S+)$/m.exec(stdout);
        if (m) resolve(m[1]);
      });
    }),
    exited.then(([code]) => {
      throw new Error(`masai serve exited (${code}) before listening:\n${stderr}`);
    }),
    spawnError,
    new Promise((_, reject) => {
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`masai serve did not print its URL within ${timeoutMs} ms:\n${stderr}`));
      }, timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(killer);
  };
  process.once("exit", () => child.kill("SIGKILL"));
  return { url, stop, child, stderr: () => stderr };
}

export async function getJSON(url, { apiKey } = {}) {
  const response = await fetch(url, apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.json();
}

/** Poll until `check()` returns something truthy (returned), or fail after `timeoutMs`. */
export async function waitFor(check, { timeoutMs = 10_000, intervalMs = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}
