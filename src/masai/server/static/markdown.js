// A small, safe Markdown renderer for the answers agents write (they are model text: never
// trusted). It builds DOM nodes with createElement and text nodes only: nothing is ever parsed
// as HTML, so `<img onerror=…>` or `<script>` in an answer is shown as those characters.
//
// The subset: ATX headings (#…######), paragraphs (a single line break stays a line break),
// bullet and numbered lists (nested by indentation), block quotes, horizontal rules, fenced code
// blocks (``` or ~~~), inline code, **strong** / __strong__, *emphasis* / _emphasis_, backslash
// escapes, [links](url) and <autolinks>. A link becomes an <a> only for an absolute http(s) or
// mailto URL (checked with the URL parser; javascript:, data:, relative and anything else stay
// plain text), and always opens in a new tab with rel="noopener noreferrer".
//
// Source-preserving: every character of the source is kept in the output, in order. The markup
// itself (`## `, `- `, `**`, the fences, a link's `(url)`) goes in <span class="md-src">, which
// the stylesheet hides. So the element's textContent is exactly the text the agent wrote
// (streamed answers only ever grow), while what a reader sees is the formatted answer.

/** Longer texts than this are shown as plain text (formatting them is not worth the time). */
export const MAX_MARKDOWN = 50_000;
/** How far (characters) a closing `code` or emphasis delimiter is looked for: keeps hostile
 * input (thousands of unmatched delimiters) from costing quadratic time. */
const REACH = 2_000;

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

/** Markup characters: kept (textContent), not shown. */
function mark(text) {
  const span = el("span", "md-src");
  span.textContent = text;
  return span;
}

// -- links -------------------------------------------------------------------------------------

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/** The URL to link to, or null when it is not an absolute http(s) / mailto URL. */
export function safeHref(raw) {
  const text = String(raw).trim();
  // Only these schemes, spelled plainly (no control characters or spaces hidden inside).
  if (!/^(?:https?:\/\/|mailto:)[^\s\u0000-\u001f\u007f]+$/i.test(text)) return null;
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

function link(href, title) {
  const a = el("a");
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.referrerPolicy = "no-referrer";
  if (title) a.title = title;
  return a;
}

// -- inline ------------------------------------------------------------------------------------

const ESCAPABLE = /[!-/:-@[-`{-~]/;
const LINK = /\[((?:\\.|[^\\\]\n])*)\]\((\s*)([^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*)((?:\s+"[^"\n]*")?\s*)\)/y;
const AUTOLINK = /<((?:https?:\/\/|mailto:)[^\s<>]+)>/iy;
const WORD = /[\p{L}\p{N}]/u;

/** The index of the closing run of exactly `n` backticks after `from`, or -1. */
function closingBackticks(text, from, n) {
  const re = /`+/g;
  re.lastIndex = from;
  for (let m; (m = re.exec(text)) && m.index - from <= REACH; ) if (m[0].length === n) return m.index;
  return -1;
}

/** The index of the delimiter closing an emphasis opened at `open` (`delim` is * or _ once or
 * twice), or -1: not right after the opener, not after white space, and for _ not inside a word. */
function closingDelimiter(text, open, delim) {
  const start = open + delim.length;
  if (start >= text.length || /\s/.test(text[start])) return -1;
  for (let i = text.indexOf(delim, start + 1); i !== -1 && i - start <= REACH; i = text.indexOf(delim, i + 1)) {
    if (text[i - 1] === "\\" || /\s/.test(text[i - 1])) continue;
    if (delim.length === 1 && text[i - 1] === delim) continue; // the end of a longer run
    // A longer run closes with its last characters (***x*** is strong around emphasis).
    if (delim.length === 2) while (text[i + 2] === delim[0]) i += 1;
    const after = text[i + delim.length];
    if (delim.length === 1 && after === delim) {
      i += 1; // part of a longer run: a ** inside *…*
      continue;
    }
    if (delim[0] === "_" && after !== undefined && WORD.test(after)) continue;
    // A code span between the delimiters keeps its characters: skip closers inside one.
    const between = text.slice(start, i);
    if ((between.match(/`/g) ?? []).length % 2 === 1) continue;
    return i;
  }
  return -1;
}

/** Append `text` with its inline formatting to `out` (no links inside a link's text). */
export function renderInline(text, out, inLink = false) {
  let plain = "";
  const flush = () => {
    if (plain) out.append(plain);
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];

    if (ch === "\\" && i + 1 < text.length && ESCAPABLE.test(text[i + 1])) {
      flush();
      out.append(mark("\\"));
      plain += text[i + 1];
      i += 2;
      continue;
    }

    if (ch === "`") {
      const run = /`+/y;
      run.lastIndex = i;
      const ticks = run.exec(text)[0];
      const close = closingBackticks(text, i + ticks.length, ticks.length);
      if (close === -1) {
        plain += ticks;
        i += ticks.length;
        continue;
      }
      flush();
      const code = el("code");
      code.append(mark(ticks), text.slice(i + ticks.length, close), mark(ticks));
      out.append(code);
      i = close + ticks.length;
      continue;
    }

    if (ch === "[" && !inLink) {
      LINK.lastIndex = i;
      const m = LINK.exec(text);
      const href = m && safeHref(m[3]);
      if (m && href && m[1].trim()) {
        flush();
        const title = /"([^"]*)"/.exec(m[4])?.[1];
        const a = link(href, title);
        a.append(mark("["));
        renderInline(m[1], a, true);
        a.append(mark(`](${m[2]}${m[3]}${m[4]})`));
        out.append(a);
        i += m[0].length;
        continue;
      }
      // Not a link, or not a safe one: the characters as they are.
    }

    if (ch === "<" && !inLink) {
      AUTOLINK.lastIndex = i;
      const m = AUTOLINK.exec(text);
      const href = m && safeHref(m[1]);
      if (href) {
        flush();
        const a = link(href);
        a.append(mark("<"), m[1], mark(">"));
        out.append(a);
        i += m[0].length;
        continue;
      }
    }

    if (ch === "*" || ch === "_") {
      let j = i;
      while (text[j] === ch) j += 1;
      const inWord = ch === "_" && i > 0 && WORD.test(text[i - 1]);
      let done = false;
      for (const delim of inWord ? [] : j - i >= 2 ? [ch + ch, ch] : [ch]) {
        const close = closingDelimiter(text, i, delim);
        if (close === -1) continue;
        flush();
        const node = el(delim.length === 2 ? "strong" : "em");
        node.append(mark(delim));
        renderInline(text.slice(i + delim.length, close), node, inLink);
        node.append(mark(delim));
        out.append(node);
        i = close + delim.length;
        done = true;
        break;
      }
      if (!done) {
        // No emphasis here: the whole run as text.
        plain += text.slice(i, j);
        i = j;
      }
      continue;
    }

    plain += ch;
    i += 1;
  }
  flush();
}

// -- blocks ------------------------------------------------------------------------------------

const FENCE = /^( {0,3})(`{3,}|~{3,})([^\n]*)$/;
const HEADING = /^( {0,3}(#{1,6})(?:[ \t]+|$))(.*)$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])([ \t]+|$)(.*)$/;
const QUOTE = /^( {0,3}> ?)(.*)$/;
const BLANK = /^[ \t]*$/;

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || ITEM.test(line) || QUOTE.test(line);
}

/**
 * The Markdown `source` as a DocumentFragment (see the top of this file). Its textContent is
 * `source`, character for character.
 */
export function renderMarkdown(source) {
  const text = String(source ?? "");
  const out = document.createDocumentFragment();
  if (text.length > MAX_MARKDOWN) {
    const p = el("p", "md-plain");
    p.textContent = text;
    out.append(p);
    return out;
  }
  const lines = text.split("\n");
  let i = 0;
  /** The line break after line `k` (none after the last line), at container level. */
  const newline = (parent, k) => {
    if (k < lines.length - 1) parent.append("\n");
  };

  while (i < lines.length) {
    const line = lines[i];

    if (BLANK.test(line)) {
      if (line) out.append(line);
      newline(out, i);
      i += 1;
      continue;
    }

    const fence = FENCE.exec(line);
    if (fence && !(fence[2][0] === "`" && fence[3].includes("`"))) {
      const pre = el("pre", "md-code");
      const code = el("code");
      const info = fence[3].trim().split(/\s+/)[0];
      if (info) code.dataset.lang = info;
      pre.append(mark(line + (i < lines.length - 1 ? "\n" : "")));
      const closer = new RegExp(`^ {0,3}${fence[2][0] === "`" ? "`" : "~"}{${fence[2].length},}[ \\t]*$`);
      let j = i + 1;
      const body = [];
      while (j < lines.length && !closer.test(lines[j])) body.push(lines[j++]);
      code.textContent = body.join("\n");
      pre.append(code);
      if (j < lines.length) {
        // The line break before the closing fence, then the fence: markup.
        pre.append(mark((body.length ? "\n" : "") + lines[j]));
        out.append(pre);
        newline(out, j);
        i = j + 1;
      } else {
        // Unclosed (still being written): the code runs to the end.
        out.append(pre);
        i = j;
      }
      continue;
    }

    const heading = HEADING.exec(line);
    if (heading) {
      const level = Math.min(6, heading[2].length + 2); // the page has h1 and h2 already
      const node = el(`h${level}`, `md-h md-h${heading[2].length}`);
      node.append(mark(heading[1]));
      renderInline(heading[3], node);
      out.append(node);
      newline(out, i);
      i += 1;
      continue;
    }

    if (RULE.test(line)) {
      const hr = el("div", "md-rule");
      hr.setAttribute("role", "separator");
      hr.append(mark(line));
      out.append(hr);
      newline(out, i);
      i += 1;
      continue;
    }

    if (ITEM.test(line)) {
      i = renderList(lines, i, out);
      newline(out, i - 1);
      continue;
    }

    if (QUOTE.test(line)) {
      const quote = el("blockquote");
      const p = el("p");
      quote.append(p);
      let first = true;
      for (let m; i < lines.length && (m = QUOTE.exec(lines[i])); i += 1) {
        if (!first) p.append("\n");
        first = false;
        p.append(mark(m[1]));
        renderInline(m[2], p);
      }
      out.append(quote);
      newline(out, i - 1);
      continue;
    }

    // A paragraph: this line and the next ones up to a blank line or another block.
    let j = i + 1;
    while (j < lines.length && !BLANK.test(lines[j]) && !startsBlock(lines[j])) j += 1;
    const p = el("p");
    for (let k = i; k < j; k += 1) {
      if (k > i) p.append("\n");
      renderInline(lines[k], p);
    }
    out.append(p);
    newline(out, j - 1);
    i = j;
  }
  return out;
}

/** A list starting at line `start` (nested lists by indentation), appended to `parent`;
 * returns the index of the line after it. */
function renderList(lines, start, parent) {
  const first = ITEM.exec(lines[start]);
  const ordered = /\d/.test(first[2]);
  const list = el(ordered ? "ol" : "ul");
  if (ordered) {
    const n = parseInt(first[2], 10);
    if (n !== 1) list.start = n;
  }
  const indent = first[1].length;
  let i = start;
  let item = null;
  while (i < lines.length) {
    const line = lines[i];
    const m = ITEM.exec(line);
    if (m && m[1].length >= indent && m[1].length < indent + 2 && /\d/.test(m[2]) === ordered) {
      // An item of this list.
      if (item) list.append("\n");
      item = el("li");
      item.append(mark(m[1] + m[2] + m[3]));
      renderInline(m[4], item);
      list.append(item);
      i += 1;
    } else if (item && m && m[1].length >= indent + 2) {
      // A list nested in the item above.
      item.append("\n");
      i = renderList(lines, i, item);
    } else if (item && !m && /^\s/.test(line) && !BLANK.test(line) && !startsBlock(line)) {
      // An indented continuation line of the item.
      item.append("\n");
      renderInline(line, item);
      i += 1;
    } else {
      break;
    }
  }
  parent.append(list);
  return i;
}
