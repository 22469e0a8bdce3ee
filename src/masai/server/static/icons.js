// The UI's icons: small inline SVG line drawings, built as DOM nodes (no emoji, which show as
// empty boxes where no emoji font is installed; no markup parsed; nothing fetched). Each icon is
// drawn on a 24 × 24 grid with the current text colour, and hidden from assistive technology
// (the text next to it says what it means).

const SVG = "http://www.w3.org/2000/svg";

/**
 * Each icon: a list of shapes, [tag, attributes]. Strokes use the text colour; shapes marked
 * `fill: "currentColor"` are solid.
 */
const SHAPES = {
  // A speech bubble with three dots: the agent thinking.
  reasoning: [
    ["path", { d: "M4 5.5h16a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H10l-5 4v-4H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1z" }],
    ["circle", { cx: 8, cy: 11, r: 0.9, fill: "currentColor" }],
    ["circle", { cx: 12, cy: 11, r: 0.9, fill: "currentColor" }],
    ["circle", { cx: 16, cy: 11, r: 0.9, fill: "currentColor" }],
  ],
  // A wrench: a tool call.
  tool_call: [
    ["path", { d: "M14.5 4.2a4.6 4.6 0 0 0-5 6.3L3.6 16.4a1.8 1.8 0 0 0 2.6 2.6l5.9-5.9a4.6 4.6 0 0 0 6.3-5l-2.8 2.8-2.5-.5-.5-2.5z" }],
  ],
  // A four-pointed sparkle: progress or a message from inside a tool.
  custom: [
    ["path", { d: "M12 3.5l1.9 5.6 5.6 1.9-5.6 1.9L12 18.5l-1.9-5.6-5.6-1.9 5.6-1.9z" }],
    ["path", { d: "M19 16.5v4M17 18.5h4" }],
  ],
  // Two arrows passing each other: a hand-off.
  handoff: [
    ["path", { d: "M4 8h15M15 4l4 4-4 4" }],
    ["path", { d: "M20 16H5M9 12l-4 4 4 4" }],
  ],
  // A stack of disks: the shared memory.
  memory_update: [
    ["ellipse", { cx: 12, cy: 6, rx: 7, ry: 2.5 }],
    ["path", { d: "M5 6v12c0 1.4 3.1 2.5 7 2.5s7-1.1 7-2.5V6" }],
    ["path", { d: "M5 12c0 1.4 3.1 2.5 7 2.5s7-1.1 7-2.5" }],
  ],
  // A written page: an answer.
  answer: [
    ["path", { d: "M6 3h8.5L19 7.5V21H6z" }],
    ["path", { d: "M14 3v5h5M9 12.5h7M9 16.5h7" }],
  ],
  // An arrow: the system moved on to another step.
  node_transition: [["path", { d: "M4 12h15M13 6l6 6-6 6" }]],
  // A padlock: a decision on a tool call.
  approval: [
    ["rect", { x: 5, y: 10.5, width: 14, height: 10, rx: 1.5 }],
    ["path", { d: "M8 10.5V7.5a4 4 0 0 1 8 0v3" }],
  ],
  // A warning triangle: the run failed.
  error: [
    ["path", { d: "M12 3.5L2.5 20h19z" }],
    ["path", { d: "M12 9.5v5" }],
    ["circle", { cx: 12, cy: 17.3, r: 0.9, fill: "currentColor" }],
  ],
  // A square: stopped.
  stopped: [["rect", { x: 6, y: 6, width: 12, height: 12, rx: 1.5, fill: "currentColor" }]],
  // An arrow turning back: earlier events replaced.
  retracted: [
    ["path", { d: "M4.5 12a7.5 7.5 0 1 0 2.2-5.3L4 9.4" }],
    ["path", { d: "M4 4.5v4.9h4.9" }],
  ],
  // A clock: waiting for the server.
  unavailable: [
    ["circle", { cx: 12, cy: 12, r: 8.5 }],
    ["path", { d: "M12 7.5V12l3 2" }],
  ],
  // A dot: anything else.
  unknown: [["circle", { cx: 12, cy: 12, r: 3, fill: "currentColor" }]],
  // A magnifying glass: searching.
  search: [
    ["circle", { cx: 10.5, cy: 10.5, r: 6 }],
    ["path", { d: "M15 15l5.5 5.5" }],
  ],
  // An open book: reading.
  reading: [
    ["path", { d: "M3 5.5c3-1.3 6-1.3 9 .8v13.2c-3-2.1-6-2.1-9-.8z" }],
    ["path", { d: "M21 5.5c-3-1.3-6-1.3-9 .8v13.2c3-2.1 6-2.1 9-.8z" }],
  ],
  // Bars of a chart: working on figures.
  figures: [["path", { d: "M4 20h16M7 16.5V11M12 16.5V6M17 16.5v-3.5" }]],
  // A pen: writing.
  writing: [
    ["path", { d: "M15.5 4.5l4 4L9 19l-5 1 1-5z" }],
    ["path", { d: "M13.5 6.5l4 4" }],
  ],
  // An arrow down to a line: jump to the latest entry.
  latest: [["path", { d: "M12 4v12M6 10.5l6 6 6-6M5 20h14" }]],
};

/** The names icon() draws. */
export const ICON_NAMES = Object.freeze(Object.keys(SHAPES));

/** An `<svg>` icon (aria-hidden); an unknown name draws the "unknown" dot. */
export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "18");
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", "1.8");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", className);
  svg.dataset.icon = SHAPES[name] ? name : "unknown";
  for (const [tag, attrs] of SHAPES[name] ?? SHAPES.unknown) {
    const shape = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) shape.setAttribute(key, String(value));
    if (attrs.fill) shape.setAttribute("stroke", "none");
    svg.append(shape);
  }
  return svg;
}

// A tool's progress message often starts with an emoji standing for what it does ("🔍 querying
// the index"): shown as one of the icons above instead (the emoji kept in data-emoji).
const LEADING = /^(\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier}|\u200D\p{Extended_Pictographic}\uFE0F?)*)[ \t]*/u;
const BY_EMOJI = [
  [/^[\u{1F50D}\u{1F50E}]/u, "search"], // magnifying glasses
  [/^[\u{1F4DA}\u{1F4D6}\u{1F4C4}\u{1F4D1}\u{1F4F0}]/u, "reading"], // books, pages, newspaper
  [/^[\u{1F9EE}\u{1F4CA}\u{1F4C8}\u{1F4C9}\u{1F522}]/u, "figures"], // abacus, charts, numbers
  [/^[\u270D\u270F\u2712\u{1F58A}\u{1F58B}\u{1F4DD}]/u, "writing"], // writing hand, pencil, pens, memo
];

/**
 * `text` for display: a leading emoji (and the space after it) becomes an icon, the rest stays
 * text. Returns the nodes to append.
 */
export function withLeadingIcon(text) {
  const m = LEADING.exec(text);
  if (!m) return [text];
  const name = BY_EMOJI.find(([re]) => re.test(m[1]))?.[1] ?? "custom";
  const svg = icon(name, "icon inline-icon");
  svg.dataset.emoji = m[1];
  return [svg, text.slice(m[0].length)];
}
