// The JSON API client: every error becomes an ApiError carrying the server's code and message.

export class ApiError extends Error {
  constructor(status, code, message, param) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

async function request(path, init) {
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', 'The llmops ui server does not answer. Is it still running?');
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    if (res.ok) throw new ApiError(res.status, 'internal', `The server sent something that is not JSON for ${path}.`);
  }
  if (!res.ok) {
    const e = (body && body.error) || {};
    throw new ApiError(res.status, e.code || 'internal', e.message || `HTTP ${res.status} for ${path}`, e.param);
  }
  return body;
}

export const get = (path, signal) => request(path, { signal, headers: { Accept: 'application/json' } });

const TOKEN_KEY = 'llmops-ui-token';
export const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// Actions: POST with the bearer token the user typed (kept in sessionStorage, never in the URL).
export function post(path, body) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  return request(path, { method: 'POST', headers, body: JSON.stringify(body || { actor: 'ui' }) });
}

// Query-string helpers: path + params, leaving out empty values.
export function url(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v == null || v === '' || (Array.isArray(v) && !v.length)) continue;
    q.set(k, Array.isArray(v) ? v.join(',') : v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export const enc = encodeURIComponent;

// /api/meta, fetched once per page load.
let metaPromise = null;
export function meta() {
  if (!metaPromise) metaPromise = get('/api/meta').catch((e) => ({ error: e, actions: false }));
  return metaPromise;
}
