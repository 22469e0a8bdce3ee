// The web UI's presentation in real headless Chromium: the timeline follows the run (and stops
// following when the reader scrolls up), answers are Markdown rendered safely (hostile text from
// an agent, its tools and their progress never becomes markup), and the icons are inline SVG, not
// emoji.
import assert from "node:assert/strict";
import { delimiter } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { openBrowser } from "./support/browser.js";
import { startServer, waitFor } from "./support/server.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** A small window: the timeline scrolls long before the research-team run ends. */
const SMALL = { width: 1000, height: 640 };

function helpers(page) {
  const byId = (id) => page.locator(`[data-testid="${id}"]`);
  return {
    byId,
    async openUI() {
      await page.goto(page.serverUrl);
      await page.waitForSelector('[data-testid="target"]:not([disabled])');
    },
    async run(target, query) {
      await byId("target").selectOption(target);
      await byId("query").fill(query);
      await byId("run").click();
    },
    /** The timeline's scroll state and where its last entry is. */
    timeline: () =>
      page.evaluate(() => {
        const list = document.querySelector('[data-testid="timeline"]');
        const last = list.lastElementChild;
        const box = list.getBoundingClientRect();
        const lastBox = last?.getBoundingClientRect();
        return {
          entries: list.children.length,
          scrollTop: list.scrollTop,
          fromEnd: list.scrollHeight - list.scrollTop - list.clientHeight,
          scrollable: list.scrollHeight - list.clientHeight,
          lastType: last?.dataset.type ?? null,
          // The last answer entry is wholly inside the list's visible box.
          answerInView: (() => {
            const answers = list.querySelectorAll('[data-testid="entry"][data-type="answer"]');
            const b = answers[answers.length - 1]?.getBoundingClientRect();
            return Boolean(b) && b.top >= box.top - 1 && b.bottom <= box.bottom + 1;
          })(),
          lastAnswerIsFinal: (() => {
            const answers = list.querySelectorAll('[data-testid="entry"][data-type="answer"]');
            return /^Answer \(/.test(answers[answers.length - 1]?.querySelector(".entry-title")?.textContent ?? "");
          })(),
          tail: [...list.children].slice(-3).map((e) => e.dataset.type),
          // The last entry's end is inside the list's visible box.
          lastInView: Boolean(lastBox) && lastBox.bottom <= box.bottom + 1 && lastBox.bottom > box.top,
          pinned: list.dataset.pinned,
        };
      }),
  };
}

describe("the timeline follows the run", () => {
  let server;
  let browser;
  let page;
  let ui;

  before(async () => {
    server = await startServer();
    browser = await openBrowser(server.url);
    page = browser.page;
    page.serverUrl = server.url;
    await page.setViewportSize(SMALL);
    ui = helpers(page);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("research-team to the end in a small window: every entry, hand-offs included, seen as it comes; the answer last and in view", async () => {
    await ui.openUI();
    // Record, as each change to the timeline is done (an entry added, or one growing: output,
    // progress), whether the newest entry is in view and the list at its end. (This observer
    // comes after the page's own, so it sees the page's answer to each change.)
    await page.evaluate(() => {
      const list = document.querySelector('[data-testid="timeline"]');
      window.followSamples = [];
      window.addedEntries = [];
      new MutationObserver((records) => {
        const last = list.lastElementChild;
        if (!last) return;
        const box = list.getBoundingClientRect();
        const lastBox = last.getBoundingClientRect();
        // Every entry added (several may come in one network chunk): on screen as it arrives.
        for (const r of records) {
          if (r.target !== list) continue;
          for (const node of r.addedNodes) {
            if (!node.isConnected || node.nodeType !== 1) continue;
            const b = node.getBoundingClientRect();
            window.addedEntries.push({ type: node.dataset.type, inView: b.top >= box.top - 1 && b.bottom <= box.bottom + 1 });
          }
        }
        window.followSamples.push({
          why: records.some((r) => r.target === list && r.addedNodes.length > 0) ? "added" : "grew",
          type: last.dataset.type,
          fromEnd: list.scrollHeight - list.scrollTop - list.clientHeight,
          scrollable: list.scrollHeight - list.clientHeight,
          inView: lastBox.bottom <= box.bottom + 1 && lastBox.bottom > box.top,
        });
      }).observe(list, { childList: true, subtree: true, characterData: true, attributes: true });
    });
    await ui.run("system:research-team", "How is solar energy doing?");
    await page.waitForSelector('[data-testid="status"][data-state="completed"]', { timeout: 60_000 });
    // A frame for the last growth to be followed.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

    const end = await ui.timeline();
    assert.ok(end.entries >= 15, `${end.entries} entries`);
    assert.ok(end.scrollable > 300, `the list scrolls (${end.scrollable} px more than it shows)`);
    assert.ok(end.tail.includes("answer"), `the final answer is among the last entries (${end.tail})`);
    assert.ok(end.lastAnswerIsFinal, "(the writer's final answer, not one handed on)");
    assert.ok(end.answerInView, "the final answer is in view");
    assert.ok(end.lastInView, "the last entry is in view");
    assert.ok(end.fromEnd <= 1, `scrolled to the end (${end.fromEnd} px from it)`);
    assert.equal(end.pinned, "true");
    assert.equal(await ui.byId("jump-latest").isHidden(), true);

    const samples = await page.evaluate(() => window.followSamples);
    assert.ok(samples.length >= 5, `${samples.length} changes sampled`);
    const behind = samples.filter((s) => !s.inView || s.fromEnd > 1);
    assert.deepEqual(behind, [], "the newest entry was in view and the list at its end after every change");
    const added = await page.evaluate(() => window.addedEntries);
    assert.equal(added.length, end.entries, "every entry sampled as it came");
    // (Several entries can arrive at once, more than the small list shows: the newest is in view,
    // checked above.) The hand-offs were on screen as they happened.
    const handoffs = added.filter((a) => a.type === "handoff");
    assert.deepEqual(handoffs, [{ type: "handoff", inView: true }, { type: "handoff", inView: true }]);
    assert.ok(samples.some((s) => s.scrollable > 0 && s.why === "grew"), "entries grew after they were added");
  });

  test("scrolling up mid-run stops following; Jump to latest follows again", async () => {
    await ui.openUI();
    await ui.run("system:research-team", "How is solar energy doing?");
    await waitFor(async () => (await ui.timeline()).scrollable > 60, {
      what: "the timeline to scroll",
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    assert.equal(await ui.byId("status").getAttribute("data-state"), "running");
    assert.equal(await ui.byId("jump-latest").isHidden(), true, "no button while following");

    // The reader scrolls up with the mouse wheel, over the timeline.
    const list = ui.byId("timeline");
    await list.scrollIntoViewIfNeeded();
    await list.hover({ position: { x: 60, y: 40 } });
    await page.mouse.wheel(0, -150);
    await ui.byId("jump-latest").waitFor({ state: "visible", timeout: 5000 });
    const left = await ui.timeline();
    assert.equal(left.pinned, "false");
    assert.ok(left.fromEnd > 1, "not at the end any more");

    // The run goes on; the list stays where the reader put it.
    await waitFor(async () => (await ui.timeline()).entries >= left.entries + 2, {
      what: "more entries",
      timeoutMs: 30_000,
    });
    const later = await ui.timeline();
    assert.ok(Math.abs(later.scrollTop - left.scrollTop) <= 1, `stayed at ${left.scrollTop} (now ${later.scrollTop})`);
    assert.ok(later.fromEnd > left.fromEnd, "the new entries are below, out of view");
    assert.equal(later.lastInView, false);
    assert.equal(await ui.byId("jump-latest").isVisible(), true);
    assert.equal(await ui.byId("status").getAttribute("data-state"), "running", "(still running: the test means something)");

    // Jump to latest: at the end again, the button gone, and following to the run's end.
    await ui.byId("jump-latest").click();
    const jumped = await ui.timeline();
    assert.ok(jumped.fromEnd <= 1, `at the end (${jumped.fromEnd} px from it)`);
    assert.equal(jumped.pinned, "true");
    await ui.byId("jump-latest").waitFor({ state: "hidden", timeout: 2000 });
    await page.waitForSelector('[data-testid="status"][data-state="completed"]', { timeout: 60_000 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const end = await ui.timeline();
    assert.ok(end.answerInView && end.lastInView && end.fromEnd <= 1, "followed to the final answer");
    assert.equal(await ui.byId("jump-latest").isHidden(), true);
  });

  test("scrolling back down to the end by hand follows again", async () => {
    await ui.openUI();
    await ui.run("system:research-team", "What are the trends in AI?");
    await waitFor(async () => (await ui.timeline()).scrollable > 200, { what: "the timeline to scroll", timeoutMs: 30_000, intervalMs: 20 });
    const list = ui.byId("timeline");
    await list.scrollIntoViewIfNeeded();
    await list.hover({ position: { x: 60, y: 40 } });
    await page.mouse.wheel(0, -150);
    await ui.byId("jump-latest").waitFor({ state: "visible", timeout: 5000 });
    await list.hover({ position: { x: 60, y: 40 } }); // over the list again (not the button)
    await page.mouse.wheel(0, 100_000);
    await ui.byId("jump-latest").waitFor({ state: "hidden", timeout: 5000 });
    assert.equal((await ui.timeline()).pinned, "true");
    await page.waitForSelector('[data-testid="status"][data-state="completed"]', { timeout: 60_000 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const end = await ui.timeline();
    assert.ok(end.answerInView && end.lastInView && end.fromEnd <= 1, "followed to the final answer");
  });

  test("icons: inline SVG (aria-hidden), and no emoji anywhere in the page's text", async () => {
    // The last run (research-team) is on screen, complete.
    const icons = await page.locator('[data-testid="entry"] .entry-head').evaluateAll((heads) =>
      heads.map((head) => {
        const first = head.firstElementChild;
        return {
          tag: first.tagName.toLowerCase(),
          ns: first.namespaceURI,
          hidden: first.getAttribute("aria-hidden"),
          shapes: first.childElementCount,
          name: first.dataset.icon,
          type: head.parentElement.dataset.type,
        };
      }),
    );
    assert.ok(icons.length >= 15);
    for (const i of icons) {
      assert.equal(i.tag, "svg", `${i.type}: ${i.tag}`);
      assert.equal(i.ns, "http://www.w3.org/2000/svg");
      assert.equal(i.hidden, "true");
      assert.ok(i.shapes > 0);
      assert.equal(i.name, i.type, "each kind of entry has its own icon");
    }
    const kinds = new Set(icons.map((i) => i.type));
    for (const kind of ["reasoning", "tool_call", "handoff", "memory_update", "answer"]) assert.ok(kinds.has(kind), kind);
    // The emoji the demo's tools start their progress messages with: icons too.
    const progressIcons = await page.locator('[data-testid="progress-message"] > svg.inline-icon').evaluateAll((svgs) =>
      svgs.map((svg) => [svg.dataset.icon, svg.dataset.emoji, svg.getAttribute("aria-hidden"), svg.nextSibling.data]),
    );
    // (research-team: web_search 🔍, analyze_numbers 🧮, write_report ✍️)
    assert.deepEqual([...new Set(progressIcons.map(([name]) => name))].sort(), ["figures", "search", "writing"]);
    for (const [, emoji, hidden, rest] of progressIcons) {
      assert.equal(hidden, "true");
      assert.match(emoji, /^\p{Extended_Pictographic}/u);
      assert.doesNotMatch(rest, /\p{Extended_Pictographic}/u);
    }
    // The jump button's icon too.
    assert.equal(await ui.byId("jump-latest").locator("svg[aria-hidden='true']").count(), 1);

    const text = await page.evaluate(() => ({ inner: document.body.innerText, content: document.body.textContent }));
    const emoji = /\p{Extended_Pictographic}/gu;
    assert.deepEqual(text.inner.match(emoji), null, "no emoji in the rendered text");
    assert.deepEqual(text.content.match(emoji), null, "nor in any text node");
    // Nor in generated content (::before / ::after) of anything on the page.
    const generated = await page.evaluate(() => {
      const found = [];
      for (const el of document.querySelectorAll("*")) {
        for (const pseudo of ["::before", "::after"]) {
          const content = getComputedStyle(el, pseudo).content;
          if (content && content !== "none" && /\p{Extended_Pictographic}/u.test(content)) found.push(content);
        }
      }
      return found;
    });
    assert.deepEqual(generated, []);
  });

  test("no page errors, console errors, external requests or CSP violations", () => {
    assert.deepEqual(browser.problems, []);
    assert.deepEqual(browser.violations, []);
  });
});

describe("answers are Markdown, rendered safely", () => {
  let server;
  let browser;
  let page;
  let ui;

  before(async () => {
    const pythonPath = [FIXTURES, process.env.PYTHONPATH].filter(Boolean).join(delimiter);
    server = await startServer({ args: ["--config", "xss_registry:registry"], env: { PYTHONPATH: pythonPath } });
    browser = await openBrowser(server.url);
    page = browser.page;
    page.serverUrl = server.url;
    ui = helpers(page);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("hostile text in a tool's progress, its output and the answer stays text", async () => {
    await ui.openUI();
    await ui.run("agent:mallory", "Read this page");
    await page.waitForSelector('[data-testid="status"][data-state="completed"]', { timeout: 30_000 });

    assert.equal(await page.evaluate(() => window.__pwned), undefined, "nothing ran");
    const panel = ui.byId("run-panel");
    assert.equal(await panel.locator("img, script, iframe, object, embed, frame, svg image, form, input").count(), 0);
    const handlers = await panel.evaluate((root) =>
      [...root.querySelectorAll("*")].flatMap((el) =>
        [...el.attributes].filter((a) => /^on/i.test(a.name) || /javascript:|data:/i.test(a.value)).map((a) => `${el.tagName} ${a.name}=${a.value}`),
      ),
    );
    assert.deepEqual(handlers, [], "no event handler attributes, no javascript: or data: URLs");

    // Every payload is on screen as the characters it is.
    const img = '<img src=x onerror="window.__pwned=1">';
    const script = "<script>window.__pwned=2</script>";
    assert.match(await ui.byId("progress-message").textContent(), /^almost \[click me\]\(javascript:window\.__pwned=4\) <a href="javascript:window\.__pwned=6">raw link<\/a>$/);
    const output = await page.locator('[data-testid="tool-output"] pre').textContent();
    assert.ok(output.startsWith(`page ${img} ${script}`), output);
    const args = await ui.byId("tool-args").textContent();
    assert.equal(args, `url: https://example.com/${img}`);

    // The answer: formatted, the payloads as text, every character of it kept.
    const answer = ui.byId("answer");
    const shown = await answer.innerText();
    for (const payload of [img, script, '<iframe src="javascript:window.__pwned=3"></iframe>', '<a href="javascript:window.__pwned=6">raw link</a>']) {
      assert.ok(shown.includes(payload), `shown as text: ${payload}`);
    }
    assert.ok(shown.includes("[click me](javascript:window.__pwned=4)"), "an unsafe link stays text");
    assert.ok(shown.includes("[data](data:text/html,"), "a data: link stays text");
    assert.ok(shown.includes("[tab](JaVaScRiPt:window.__pwned=7)"));
    assert.ok(!shown.includes("## ") && !shown.includes("**") && !shown.includes("```"), "the markup is not shown");
    const structure = await answer.evaluate((el) => ({
      heading: el.querySelector("h4")?.innerText,
      strong: el.querySelector("strong")?.innerText,
      em: el.querySelector("em")?.innerText,
      code: el.querySelector("p code")?.innerText,
      items: el.querySelectorAll("ul > li").length,
      block: el.querySelector("pre > code")?.textContent,
      lang: el.querySelector("pre > code")?.dataset.lang,
      quote: el.querySelector("blockquote")?.innerText,
      text: el.textContent,
    }));
    assert.equal(structure.heading, `Report ${img}`);
    assert.equal(structure.strong, `bold ${script}`);
    assert.equal(structure.em, "emphasis");
    assert.equal(structure.code, 'inline <iframe src="javascript:window.__pwned=3"></iframe>');
    assert.equal(structure.items, 5);
    assert.equal(structure.block, `${img}\n${script}`);
    assert.equal(structure.lang, "html");
    assert.equal(structure.quote, `quoted ${img}`);
    assert.match(structure.text, /^## Report <img src=x onerror=/, "textContent is the answer as written");

    // Links: only the safe ones, opening in a new tab without opener or referrer.
    await panel.evaluate((root) => root.querySelectorAll("details").forEach((d) => (d.open = true)));
    const links = await panel.locator("a").evaluateAll((as) =>
      as.map((a) => ({ href: a.getAttribute("href"), rel: a.rel, target: a.target, text: a.innerText })),
    );
    const expected = [
      { href: "https://example.com/a?b=1", rel: "noopener noreferrer", target: "_blank", text: "safe link" },
      { href: "https://example.org/auto", rel: "noopener noreferrer", target: "_blank", text: "https://example.org/auto" },
      { href: "mailto:someone@example.com", rel: "noopener noreferrer", target: "_blank", text: "mail" },
    ];
    // Once in the answer, once in the timeline's answer entry.
    assert.deepEqual(links, [...expected, ...expected]);
    const entryText = await page.locator('[data-testid="answer-text"]').evaluate((el) => ({
      items: el.querySelectorAll("li").length,
      text: el.textContent,
    }));
    assert.equal(entryText.items, 5);
    assert.equal(entryText.text, structure.text);
    const summary = await page.locator('[data-testid="entry"][data-type="answer"] summary').innerText();
    assert.equal(summary, `Report ${img}`);

    assert.deepEqual(browser.problems, []);
    assert.deepEqual(browser.violations, []);
  });

  test("the renderer: source kept character for character (every prefix, as it streams), the subset, the link rules", async () => {
    const result = await page.evaluate(async () => {
      const { renderMarkdown, safeHref } = await import("/static/markdown.js");
      const box = document.createElement("div");
      box.className = "md";
      document.body.append(box);
      const render = (source) => {
        box.replaceChildren(renderMarkdown(source));
        return box;
      };
      const docs = [
        "## Report: How is solar energy doing?\n- Global solar capacity grew 29%\n- Module prices fell 40%\n\nIn short: the evidence points to steady growth.",
        "# One\n### Three\n\nA *b* **c** ***d*** _e_ __f__ snake_case_name 2 * 3 * 4 `x` ``a ` b`` \\*not\\*\n\n1. one\n2. two\n   - nested *x*\n   - nested y\n3. three\n\n---\n\n> quote\n> more\n\n```js\nconst a = 1 < 2;\n```\n~~~\nunclosed",
        "[a](https://x.test/p_(q)) [b](http://y.test \"title\") <mailto:a@b.c> [c](javascript:alert(1)) [d](data:text/html,x) [e](/relative) [f](  https://ok.test  ) [g](java\tscript:x)",
        "<img src=x onerror=alert(1)>\n<script>alert(1)</script>\n**<b>bold</b>**",
        "Grüße 👋🏽! こんにちは — ok\u2028next\u0085end 🎉",
        "\n\n  \n* a\n+ b\n\n7) seven\n8) eight\ntext\n    - deep\n",
      ];
      const mismatches = [];
      for (const doc of docs) {
        for (let n = 0; n <= doc.length; n += 1) {
          const prefix = doc.slice(0, n);
          if (render(prefix).textContent !== prefix) mismatches.push(prefix);
        }
      }
      const shape = (source) => {
        const el = render(source);
        return [...el.children].map((c) => {
          const inner = [...c.children].filter((k) => !k.classList.contains("md-src")).map((k) => k.tagName.toLowerCase());
          return c.tagName.toLowerCase() + (inner.length ? `(${inner.join(",")})` : "");
        });
      };
      const links = [...render(docs[2]).querySelectorAll("a")].map((a) => [a.getAttribute("href"), a.innerText, a.title]);
      const out = {
        mismatches,
        shapes: {
          solar: shape(docs[0]),
          mixed: shape(docs[1]),
        },
        inline: [...render("A *b* **c** ***d*** _e_ __f__ snake_case_name 2 * 3 * 4 `x` ``a ` b`` \\*not\\*").querySelectorAll("em, strong, code")].map((n) => `${n.tagName.toLowerCase()}:${n.innerText}`),
        visible: render("A *b* **c** ***d*** _e_ __f__ snake_case_name 2 * 3 * 4 `x` ``a ` b`` \\*not\\*").innerText,
        nested: render("1. one\n2. two\n   - nested *x*\n   - nested y\n3. three").querySelectorAll("ol > li").length,
        nestedItems: [...render("1. one\n2. two\n   - nested *x*\n   - nested y\n3. three").querySelectorAll("ol > li > ul > li")].map((li) => li.innerText),
        start: render("7) seven\n8) eight").querySelector("ol").start,
        links,
        elements: [...render(docs[3]).querySelectorAll("*")].map((n) => n.tagName.toLowerCase()),
        nestedEmphasis: render("*a **b** c* and **x *y* z**").innerHTML,
        linkInLink: render("[<https://a.test>](https://b.test)").querySelectorAll("a").length,
        // Hostile input (many unmatched delimiters) renders quickly, kept whole.
        slow: (() => {
          const hostile = "*a _b `c [d](e ".repeat(3_000);
          const t0 = performance.now();
          const kept = render(hostile).textContent === hostile;
          return { kept, ms: performance.now() - t0 };
        })(),
        safe: ["https://a.test", "HTTP://A.TEST/x", "mailto:x@y.z", "javascript:alert(1)", " javascript:alert(1)", "JAVASCRIPT:x", "data:text/html,x", "vbscript:x", "/x", "//evil.test", "https://a.test/\u0000", "file:///etc/passwd", "ftp://a.test"].map((u) => safeHref(u)),
      };
      box.remove();
      return out;
    });
    assert.deepEqual(result.mismatches, [], "textContent is the source for every prefix");
    assert.deepEqual(result.shapes.solar, ["h4", "ul(li,li)", "p"]);
    assert.deepEqual(result.shapes.mixed, ["h3", "h5", "p(em,strong,strong,em,strong,code,code)", "ol(li,li,li)", "div", "blockquote(p)", "pre(code)", "pre(code)"]);
    assert.deepEqual(result.inline, ["em:b", "strong:c", "strong:d", "em:d", "em:e", "strong:f", "code:x", "code:a ` b"]);
    assert.equal(result.visible, "A b c d e f snake_case_name 2 * 3 * 4 x a ` b *not*");
    assert.equal(result.nested, 3);
    assert.deepEqual(result.nestedItems, ["nested x", "nested y"]);
    assert.equal(result.start, 7);
    assert.equal(
      result.nestedEmphasis,
      '<p><em><span class="md-src">*</span>a <strong><span class="md-src">**</span>b<span class="md-src">**</span></strong> c<span class="md-src">*</span></em> and ' +
        '<strong><span class="md-src">**</span>x <em><span class="md-src">*</span>y<span class="md-src">*</span></em> z<span class="md-src">**</span></strong></p>',
    );
    assert.equal(result.linkInLink, 1, "no link inside a link");
    assert.ok(result.slow.kept);
    assert.ok(result.slow.ms < 2000, `hostile input took ${result.slow.ms} ms`);
    assert.deepEqual(result.links, [
      ["https://x.test/p_(q)", "a", ""],
      ["http://y.test/", "b", "title"],
      ["mailto:a@b.c", "mailto:a@b.c", ""],
      ["https://ok.test/", "f", ""],
    ]);
    assert.deepEqual(result.elements, ["p", "strong", "span", "span"], "tags in the text are text");
    assert.deepEqual(result.safe, ["https://a.test/", "http://a.test/x", "mailto:x@y.z", null, null, null, null, null, null, null, null, null, null]);
  });
});
