// The reviewer page: sign in, queue, item, lead view, keyboard shortcuts.
import { api, ApiError, credential } from "/ui/api.js";
import { renderDiff, wordDiff } from "/ui/diff.js";
import { el, renderItem, renderRows, routingReason } from "/ui/item.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["signin", "queue", "item", "lead"];
const state = { item: null, editing: false, leaseTimer: null, isLead: false, busy: false };

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  $("nav").hidden = view === "signin";
  state.view = view;
}

function describe(err) {
  if (err instanceof ApiError) {
    if (err.status === 401) {
      credential.clear();
      show("signin");
      return "Your key or token was not accepted; sign in again.";
    }
    return `The server said ${err.status}: ${err.detail}`;
  }
  return `Request failed: ${err.message}`;
}

async function guarded(action) {
  if (state.busy) return;
  state.busy = true;
  try {
    await action();
  } catch (err) {
    say(describe(err), true);
  } finally {
    state.busy = false;
  }
}

// --- sign in ---------------------------------------------------------------------------------

async function signIn() {
  await api("GET", "/v1/items?limit=1");
  // /v1/stats answers only leads and admins: that is how the page learns the role.
  try {
    await api("GET", "/v1/stats");
    state.isLead = true;
  } catch {
    state.isLead = false;
  }
  await loadQueue();
  $("nav-lead").hidden = !state.isLead;
}

// --- queue -----------------------------------------------------------------------------------

async function loadQueue() {
  const params = new URLSearchParams({ limit: "100" });
  if ($("f-tier").value) params.set("tier", $("f-tier").value);
  if ($("f-type").value.trim()) params.set("content_type", $("f-type").value.trim());
  if ($("f-overdue").checked) params.set("overdue", "true");
  const page = await api("GET", `/v1/items?${params}`);
  stopLease();
  renderRows($("queue-table").tBodies[0], page.items.map((i) => {
    const claim = el("button", "Claim", { type: "button", "aria-label": `Claim ${i.draft_id}` });
    claim.addEventListener("click", () => guarded(() => claim_(i.draft_id)));
    return [i.draft_id, i.content_type, i.tier, i.priority, i.confidence.toFixed(3),
      routingReason({ kind: i.reason }), new Date(i.due_at).toLocaleString(),
      i.overdue ? `${i.status}, overdue` : i.status, claim];
  }));
  show("queue");
  say(`${page.items.length} item(s) in your queue.`);
}

// --- item ------------------------------------------------------------------------------------

function openItem(item) {
  state.item = item;
  setEditing(false);
  renderItem(item);
  show("item");
  startLease(item.lease_expires_at);
  $("item-h").focus();
  say(`Claimed ${item.draft_id} (${item.content_type}).`);
}

async function claimNext() {
  const item = await api("POST", "/v1/items/claim-next");
  if (item === null) {
    await loadQueue();
    say("The queue is empty: nothing to claim.");
    return;
  }
  openItem(item);
}

async function claim_(draftId) {
  openItem(await api("POST", `/v1/items/${encodeURIComponent(draftId)}/claim`));
}

function startLease(expiresAt) {
  stopLease();
  const end = expiresAt ? Date.parse(expiresAt) : NaN;
  const tick = () => {
    if (Number.isNaN(end)) { $("lease").textContent = "none"; return; }
    const left = Math.max(0, Math.round((end - Date.now()) / 1000));
    const text = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} left`;
    $("lease").textContent = left > 0 ? text : "expired";
    $("lease").classList.toggle("warn", left < 60);
    if (left === 0) {
      stopLease();
      say("Your lease expired: the item went back to the queue. Press n for the next one.", true);
    }
  };
  tick();
  state.leaseTimer = setInterval(tick, 1000);
}

function stopLease() {
  if (state.leaseTimer) clearInterval(state.leaseTimer);
  state.leaseTimer = null;
}

function setEditing(on) {
  state.editing = on;
  $("editor").hidden = !on;
  $("draft").hidden = on;
  $("btn-edit").hidden = on;
  $("btn-submit-edit").hidden = !on;
  $("btn-cancel-edit").hidden = !on;
  if (on) {
    updateDiff();
    $("edit-text").focus();
  }
}

function updateDiff() {
  if (!state.item) return;
  renderDiff($("diff"), wordDiff(state.item.routed.draft.text, $("edit-text").value));
  scheduleEditCheck();
}

// The edit re-read by the scorer's checks (POST .../edit-check), once typing pauses: a figure
// the sources do not have, or personal data, is listed here; it never blocks the decision.
let editCheckTimer = null;
let editCheckSeq = 0;

function scheduleEditCheck() {
  clearTimeout(editCheckTimer);
  editCheckTimer = setTimeout(() => checkEdit().catch(() => {}), 400);
}

async function checkEdit() {
  const item = state.item;
  if (!item || !state.editing) return;
  const text = $("edit-text").value;
  const seq = ++editCheckSeq;
  const out = await api("POST", `/v1/items/${encodeURIComponent(item.draft_id)}/edit-check`,
    { body: { final_text: text } });
  if (seq !== editCheckSeq || state.item !== item) return; // a newer check, or another item
  const list = $("edit-warnings");
  list.replaceChildren();
  for (const w of out.warnings) {
    const li = document.createElement("li");
    li.className = w.new ? "warning new" : "warning";
    const quoted = [...text].slice(w.start, w.end).join(""); // offsets count code points
    li.textContent = `${w.new ? "New: " : ""}${quoted ? `“${quoted}”: ` : ""}${w.label}`;
    list.append(li);
  }
  if (out.left_out) {
    const li = document.createElement("li");
    li.textContent = `and ${out.left_out} more`;
    list.append(li);
  }
}

function selectedCodes() {
  return Array.from($("reason-codes").selectedOptions, (o) => o.value);
}

async function decide(verdict) {
  const item = state.item;
  if (!item || state.view !== "item") return;
  const body = { verdict, reason_codes: selectedCodes(), note: $("note").value };
  if (verdict === "edit") body.final_text = $("edit-text").value;
  if (verdict !== "approve" && body.reason_codes.length === 0) {
    say(`Choose at least one reason code to ${verdict}.`, true);
    $("reason-codes").focus();
    return;
  }
  const out = await api("POST", `/v1/items/${encodeURIComponent(item.draft_id)}/decision`,
    { body, idempotent: true });
  const what = { approve: "Approved", reject: "Rejected", edit: "Edited" }[verdict];
  const extra = out.status === "decided" ? "" : ` (${out.status.replaceAll("_", " ")})`;
  state.item = null;
  await claimNext();
  // After loading the next item, so the announcement names the decision, then the new item.
  say(`${what} ${item.draft_id}${extra}. ${$("status").textContent}`);
}

async function escalate() {
  const item = state.item;
  if (!item || state.view !== "item") return;
  const reason = $("escalate-reason").value;
  await api("POST", `/v1/items/${encodeURIComponent(item.draft_id)}/escalate`,
    { body: { reason, note: $("note").value } });
  state.item = null;
  await claimNext();
  say(`Escalated ${item.draft_id} (${reason}). ${$("status").textContent}`);
}

// --- lead view -------------------------------------------------------------------------------

async function loadLead() {
  if (!state.isLead) return;
  const [stats, thresholds] = await Promise.all([
    api("GET", "/v1/stats"), api("GET", "/v1/thresholds"),
  ]);
  stopLease();
  $("lead-summary").textContent = `Overdue: ${stats.overdue} · SLA breached: ${stats.sla_breached} · `
    + `decisions: ${Object.entries(stats.decisions_by_verdict).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`;
  renderRows($("depth").tBodies[0], stats.queue.map((q) =>
    [q.tier, q.content_type, String(q.items), q.oldest_age_seconds.toFixed(0)]));
  renderRows($("reviewers").tBodies[0], stats.reviewers.map((r) =>
    [r.reviewer_id, String(r.verdicts),
      r.median_seconds_per_item === null ? "n/a" : r.median_seconds_per_item.toFixed(1)]));
  renderRows($("thresholds").tBodies[0], thresholds.map((t) =>
    [t.content_type, t.threshold.toFixed(3),
      `${t.mode}, v${t.version}, target ${t.target_escape_rate}`]));
  if (thresholds.length === 0) renderRows($("thresholds").tBodies[0], [["(none yet)", "", ""]]);
  show("lead");
  say("Lead view loaded.");
}

// --- wiring ----------------------------------------------------------------------------------

function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function onKey(event) {
  if (state.view === "signin" || event.altKey || event.metaKey) return;
  if (state.editing && event.target === $("edit-text")) {
    if (event.key === "Enter" && event.ctrlKey) { event.preventDefault(); guarded(() => decide("edit")); }
    if (event.key === "Escape") { event.preventDefault(); setEditing(false); $("btn-edit").focus(); }
    return;
  }
  // Shortcuts never fire while the reviewer types in a field.
  if (event.ctrlKey || typing(event.target) || $("help").open) return;
  const inItem = state.view === "item" && state.item;
  const actions = {
    n: () => guarded(claimNext),
    q: () => guarded(loadQueue),
    l: () => guarded(loadLead),
    "?": () => $("help").showModal(),
    a: inItem ? () => guarded(() => decide("approve")) : null,
    r: inItem ? () => guarded(() => decide("reject")) : null,
    e: inItem ? () => setEditing(true) : null,
    s: inItem ? () => guarded(escalate) : null,
  };
  const action = actions[event.key];
  if (action) { event.preventDefault(); action(); }
}

function wire() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    credential.set($("api-key").value.trim());
    $("api-key").value = "";
    guarded(signIn);
  });
  $("sign-out").addEventListener("click", () => {
    credential.clear();
    stopLease();
    show("signin");
    say("Signed out.");
  });
  $("queue-filters").addEventListener("submit", (e) => { e.preventDefault(); guarded(loadQueue); });
  $("nav-queue").addEventListener("click", () => guarded(loadQueue));
  $("nav-next").addEventListener("click", () => guarded(claimNext));
  $("nav-lead").addEventListener("click", () => guarded(loadLead));
  $("nav-help").addEventListener("click", () => $("help").showModal());
  $("btn-approve").addEventListener("click", () => guarded(() => decide("approve")));
  $("btn-reject").addEventListener("click", () => guarded(() => decide("reject")));
  $("btn-edit").addEventListener("click", () => setEditing(true));
  $("btn-submit-edit").addEventListener("click", () => guarded(() => decide("edit")));
  $("btn-cancel-edit").addEventListener("click", () => setEditing(false));
  $("btn-escalate").addEventListener("click", () => guarded(escalate));
  $("edit-text").addEventListener("input", updateDiff);
  $("decide").addEventListener("submit", (e) => e.preventDefault());
  $("item-h").tabIndex = -1;
  document.addEventListener("keydown", onKey);
  if (credential.get()) guarded(signIn);
  else show("signin");
}

wire();
