// The only way this page gets data: the authenticated JSON API of review-api.
const KEY = "hitl.credential";

export const credential = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export async function api(method, path, { body, idempotent = false } = {}) {
  const headers = { Authorization: `Bearer ${credential.get() || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // One key per decision attempt: a network retry of the same request returns the first result.
  if (idempotent) headers["Idempotency-Key"] = newKey();
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    throw new ApiError(res.status, detail || res.statusText);
  }
  return data;
}
