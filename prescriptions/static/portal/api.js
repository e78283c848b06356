// The portal's only way to the server: JSON to and from /api/v1/, with the session cookie and, on every unsafe
// method, the CSRF token from <meta name="csrf-token"> (the page never reads the CSRF cookie).

const BASE = "/api/v1/";
export const LOGIN_PATH = "/portal/login";

export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status; // 0: the request never reached the server
    this.problem = problem || { detail: "", errors: {} };
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After, or null
    this.leaving = false; // true when the page is on its way to the login screen
  }

  // A 403 because the CSRF token this page holds is no longer the session's (a login or logout in another tab).
  get csrf() {
    return this.status === 403 && isCsrfFailure(this.problem);
  }

  // Field name -> its messages (a 400's "errors"); the server writes them for people.
  get fieldErrors() {
    return this.problem.errors || {};
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// DRF words a CSRF refusal "CSRF Failed: <reason>" (a 403 problem of type …/permission-denied); a type of its own
// (…/csrf-failed) is recognised too.
export function isCsrfFailure(problem) {
  if (!problem) {
    return false;
  }
  return String(problem.type || "").endsWith("/csrf-failed") || /\bcsrf\b/i.test(String(problem.detail || ""));
}

// Set once the page is on its way elsewhere (logging out, or already sent to log in): a request still in flight
// that then answers 401 must not send it somewhere else.
let leavingPage = false;

export function startLeaving() {
  leavingPage = true;
}

// To the login screen; with `next` (a 401: signed out), back to this screen after logging in.
export function goToLogin({ next = false } = {}) {
  const here = window.location.pathname;
  if (here === LOGIN_PATH || leavingPage) {
    return;
  }
  leavingPage = true;
  const back = next ? `?next=${encodeURIComponent(here + window.location.search)}` : "";
  window.location.assign(LOGIN_PATH + back);
}

// Where to go after logging in: `next` only when it is a path of the portal on this site, else the portal's home.
export function safeNext(next) {
  const home = "/portal/";
  if (typeof next !== "string" || !next.startsWith("/portal/") || next.startsWith("//") || next.includes("\\")) {
    return home;
  }
  if (/[\u0000-\u001f\u007f]/.test(next)) {
    return home;
  }
  try {
    const url = new URL(next, window.location.origin);
    if (url.origin !== window.location.origin || url.pathname === LOGIN_PATH) {
      return home;
    }
    return url.pathname + url.search + url.hash;
  } catch {
    return home;
  }
}

// Logging in or out rotates the CSRF token: read the new one from a fresh copy of the shell (parsed, never run)
// so this page can make its next unsafe request without a reload.
export async function refreshCsrfToken() {
  const response = await fetch(LOGIN_PATH, {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "text/html" },
  });
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.querySelector('meta[name="csrf-token"]');
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (fresh && meta) {
    meta.content = fresh.content;
  }
}

// method, path under /api/v1/, an optional JSON body. `signedIn: false` for the calls made before logging in
// (a 401/403 there is the answer to show, not a reason to go to the login screen).
export async function call(method, path, body, { signedIn = true } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET" && method !== "HEAD") {
    headers["X-CSRFToken"] = csrfToken();
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, null, null);
  }
  if (response.status === 204) {
    return null;
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (signedIn && response.status === 401) {
    goToLogin({ next: true });
    throw leaving(new ApiError(401, data, null));
  }
  if (signedIn && response.status === 403 && !isCsrfFailure(data)) {
    goToLogin(); // a login that is not a portal one (staff): the login screen says whose the portal is
    throw leaving(new ApiError(403, data, null));
  }
  if (!response.ok) {
    const wait = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ApiError(response.status, data, Number.isFinite(wait) ? wait : null);
  }
  return data;
}

function leaving(error) {
  error.leaving = true;
  return error;
}

export const get = (path, options) => call("GET", path, undefined, options);
export const post = (path, body, options) => call("POST", path, body ?? {}, options);
export const patch = (path, body, options) => call("PATCH", path, body, options);

// "?patient=<id>" when a patient is chosen: the API needs it for a login that may see several.
export function withPatient(path, patientId) {
  if (!patientId) {
    return path;
  }
  const joiner = path.includes("?") ? "&" : "?";
  return `${path}${joiner}patient=${encodeURIComponent(patientId)}`;
}
