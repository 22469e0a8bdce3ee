// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) for the web UI tests,
// with what a page must not do recorded: page errors, console errors, requests to anywhere but
// the server, and Content-Security-Policy violations (the server's CSP forbids inline styles,
// inline scripts and event handlers).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * A browser with one page (one tab) for `serverUrl`. `problems` collects page errors, console
 * errors and external requests as text; `violations` every `securitypolicyviolation` event
 * ({directive, blocked, source, line, sample}), reported from inside each page as it happens.
 */
export async function openBrowser(serverUrl) {
  const profile = await mkdtemp(join(tmpdir(), "masai-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    viewport: { width: 1280, height: 900 },
  });
  const problems = [];
  const violations = [];
  await context.exposeBinding("__masaiReportViolation", (_source, violation) => violations.push(violation));
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__masaiReportViolation({
        directive: e.effectiveDirective || e.violatedDirective,
        blocked: e.blockedURI,
        source: e.sourceFile,
        line: e.lineNumber,
        sample: e.sample,
      });
    });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()} (${m.location().url})`));
  // Nothing may be loaded from anywhere but the server (the machine may be offline).
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(serverUrl) && !url.startsWith("data:")) problems.push(`external request: ${url}`);
  });
  const close = async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  };
  return { context, page, problems, violations, close };
}

/** Locate by data-testid. */
export const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

/**
 * The detector is live: a style attribute set from script must be reported as a violation, so
 * "no violations" later means something. Returns what the probe caused (the event and the
 * browser's console message), taken out of `violations` and `problems`.
 */
export async function probeViolation({ page, violations, problems }) {
  const before = { violations: violations.length, problems: problems.length };
  await page.evaluate(() => {
    const probe = document.createElement("span");
    probe.setAttribute("style", "color: red");
    document.body.append(probe);
    probe.remove();
  });
  const deadline = Date.now() + 2000;
  while (
    (violations.length === before.violations || problems.length === before.problems) &&
    Date.now() < deadline
  ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { violations: violations.splice(before.violations), problems: problems.splice(before.problems) };
}
