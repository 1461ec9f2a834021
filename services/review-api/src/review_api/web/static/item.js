// Renders one item (the ItemDetail of the API) into the item view. Every piece of data goes
// through textContent or a DOM property, never innerHTML: drafts and sources are untrusted.
const $ = (id) => document.getElementById(id);

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

const REASONS = {
  low_confidence: "low confidence: the score is under the content type's threshold",
  hard_rule: "a hard rule requires a human",
  audit: "audit sample: would have been auto-approved; judge it as you would any other",
  unknown_content_type: "unknown content type",
  review_all: "this content type is always reviewed",
  above_threshold: "above threshold",
  signal_failed: "a check could not run on this draft; judge it without that check",
};

export function routingReason(reason) {
  let text = REASONS[reason.kind] || reason.kind;
  if (reason.rule) text += ` (${reason.rule})`;
  if (reason.detail) text += `: ${reason.detail}`;
  return text;
}

// Span offsets count code points (Python's str indices), but a JS string is UTF-16: an emoji
// is one code point and two string units, so slicing the string itself would move every
// highlight after it. The draft is split into code points once and sliced by them.
function codePoints(text) {
  return Array.from(text);
}

function slicePoints(points, start, end) {
  return points.slice(start, end).join("");
}

// Splits the draft at every span boundary, so overlapping spans of several signals become
// segments each naming every signal that flagged it. Returns the spans, each with its text.
export function highlight(container, text, signals) {
  const chars = codePoints(text);
  const spans = [];
  for (const s of signals) {
    for (const sp of s.spans || []) {
      const start = Math.max(0, Math.min(sp.start, chars.length));
      const end = Math.max(start, Math.min(sp.end, chars.length));
      if (end > start) {
        spans.push({ start, end, name: s.name, label: sp.label, text: slicePoints(chars, start, end) });
      }
    }
  }
  const cuts = new Set([0, chars.length]);
  for (const sp of spans) { cuts.add(sp.start); cuts.add(sp.end); }
  const points = [...cuts].sort((x, y) => x - y);
  container.replaceChildren();
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const covering = spans.filter((sp) => sp.start <= a && sp.end >= b);
    const piece = slicePoints(chars, a, b);
    if (covering.length === 0) { container.append(document.createTextNode(piece)); continue; }
    const why = covering.map((sp) => `${sp.name}: ${sp.label}`).join("; ");
    const mark = el("mark", piece, { title: why, "aria-label": `${piece} (flagged by ${why})` });
    mark.dataset.signals = covering.map((sp) => sp.name).join(" ");
    container.append(mark);
  }
  return spans;
}

export function renderItem(item) {
  const draft = item.routed.draft;
  const score = item.routed.score;
  $("item-id").textContent = item.draft_id;
  $("item-type").textContent = item.content_type;
  $("item-tier").textContent = item.tier;
  $("item-priority").textContent = item.priority;
  $("score").textContent = `${item.confidence.toFixed(3)} (threshold ${item.routed.threshold.toFixed(3)})`;
  $("suggestion").textContent =
    `Suggested action: ${item.suggested_action}. Routed to review for ${routingReason(item.routed.reason)}.`;
  $("customer-message").textContent = draft.context.customer_message || "(none)";
  $("prompt").textContent = draft.context.prompt || "(none)";
  const sources = $("sources");
  sources.replaceChildren();
  if (draft.context.sources.length === 0) sources.append(el("p", "(none)"));
  for (const src of draft.context.sources) {
    const box = el("article", undefined, { class: "source" });
    box.append(el("h4", src.title || src.source_id), el("p", src.text, { class: "text" }));
    sources.append(box);
  }
  const spans = highlight($("draft"), draft.text, score.signals);
  const flags = $("flags");
  flags.replaceChildren();
  if (spans.length === 0) flags.append(el("li", "nothing flagged"));
  for (const sp of spans) {
    flags.append(el("li", `${sp.name}: “${sp.text}” (${sp.label})`));
  }
  const body = $("signals").tBodies[0];
  body.replaceChildren();
  for (const s of score.signals) {
    const row = el("tr");
    const contribution = s.details && typeof s.details.contribution === "number"
      ? s.details.contribution.toFixed(3) : "n/a";
    row.append(
      el("th", s.name, { scope: "row" }),
      el("td", s.failed ? `failed: ${s.error || "error"}` : s.value.toFixed(3)),
      el("td", contribution),
      el("td", String((s.spans || []).length)),
    );
    body.append(row);
  }
  const checklist = $("checklist");
  checklist.replaceChildren();
  item.checklist.forEach((line, i) => {
    const li = el("li");
    const box = el("input", undefined, { type: "checkbox", id: `check-${i}` });
    li.append(box, el("label", line, { for: `check-${i}` }));
    checklist.append(li);
  });
  const codes = $("reason-codes");
  codes.replaceChildren();
  for (const code of item.reason_codes) codes.append(el("option", code, { value: code }));
  $("note").value = "";
  $("edit-text").value = draft.text;
}

export function renderRows(tbody, rows) {
  tbody.replaceChildren();
  for (const cells of rows) {
    const tr = el("tr");
    for (const cell of cells) tr.append(cell instanceof Node ? wrap(cell) : el("td", cell));
    tbody.append(tr);
  }
}

function wrap(node) {
  const td = el("td");
  td.append(node);
  return td;
}

export { el };
