// A small word-level diff (longest common subsequence over words and whitespace runs), enough
// to show a reviewer what their edit changed. Drafts are at most a few thousand words; beyond
// a size cap the diff degrades to "all removed, all added" rather than freezing the tab.
const CAP = 4_000_000;

export function wordDiff(before, after) {
  const a = before.split(/(\s+)/).filter((t) => t !== "");
  const b = after.split(/(\s+)/).filter((t) => t !== "");
  if (a.length * b.length > CAP) {
    return [{ op: "del", text: before }, { op: "ins", text: after }];
  }
  const n = a.length, m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  // A run of changes separated only by whitespace is shown as one deletion then one insertion,
  // which reads better than word-by-word interleaving.
  const out = [];
  let del = "", ins = "", gap = "";
  const flush = () => {
    if (del) out.push({ op: "del", text: del });
    if (ins) out.push({ op: "ins", text: ins });
    if (gap) out.push({ op: "same", text: gap });
    del = ins = gap = "";
  };
  const same = (t) => {
    if ((del || ins) && /^\s+$/.test(t)) { gap += t; return; }
    flush();
    const last = out[out.length - 1];
    if (last && last.op === "same") last.text += t;
    else out.push({ op: "same", text: t });
  };
  const change = (op, t) => {
    if (gap) { del += gap; ins += gap; gap = ""; }
    if (op === "del") del += t; else ins += t;
  };
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { same(a[i]); i++; j++; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) { change("del", a[i]); i++; }
    else { change("ins", b[j]); j++; }
  }
  while (i < n) change("del", a[i++]);
  while (j < m) change("ins", b[j++]);
  flush();
  return out;
}

// Renders with textContent only: the draft is untrusted text.
export function renderDiff(container, parts) {
  container.replaceChildren();
  for (const part of parts) {
    const tag = part.op === "ins" ? "ins" : part.op === "del" ? "del" : "span";
    const el = document.createElement(tag);
    el.textContent = part.text;
    container.append(el);
  }
}
