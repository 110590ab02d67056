// The dashboard's client of /api/v1: the bearer token (kept in localStorage), JSON
// calls, ETag polling, and authorized downloads as blob: URLs (so <img>, the GLB
// viewer and download links never need the token in a URL).
const TOKEN_KEY = 'kiln.token';

export function token() { return localStorage.getItem(TOKEN_KEY) || ''; }
export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value); else localStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const h = { ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

export class ApiError extends Error {
  constructor(status, error) {
    super(error && error.message ? error.message : `HTTP ${status}`);
    this.status = status;
    this.parameter = error && error.parameter;
  }
}

async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  return new ApiError(response.status, body && body.error);
}

export async function getJSON(url) {
  const response = await fetch(url, { headers: headers(), cache: 'no-store' });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export async function post(url) {
  const response = await fetch(url, { method: 'POST', headers: headers() });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

// Calls onData(json) now and whenever the resource changes (If-None-Match: unchanged
// answers are 304 with no body); onError(error) on failures. Returns stop().
export function poll(url, onData, onError, intervalMs = 1000) {
  let etag = null;
  let stopped = false;
  let timer = null;
  async function tick() {
    try {
      const extra = etag ? { 'If-None-Match': etag } : {};
      const response = await fetch(url, { headers: headers(extra), cache: 'no-store' });
      if (stopped) return;
      if (response.status === 304) {
        // unchanged
      } else if (response.ok) {
        etag = response.headers.get('ETag');
        onData(await response.json());
      } else {
        onError(await errorOf(response));
      }
    } catch (error) {
      if (!stopped) onError(error);
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  }
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

export async function fetchBlob(url) {
  const response = await fetch(url, { headers: headers() });
  if (!response.ok) throw await errorOf(response);
  return response.blob();
}

export async function blobURL(url) { return URL.createObjectURL(await fetchBlob(url)); }

export async function download(url, name) {
  const href = await blobURL(url);
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60000);
}
