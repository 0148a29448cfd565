// The one way to the admin and report APIs: JSON in and out, the session's CSRF token on every
// unsafe request, the API's `{"error":{"code","message","field"}}` turned into an ApiError, and
// a 401 (session ended or expired) handed to the app, which goes back to the login page.

let csrf = null;
let expired = () => {};

/** Remembers the CSRF token from login, a password change or GET /api/v1/me. */
export function setCsrf(token) {
  csrf = token || null;
}

/** What to do when a request finds the session gone. */
export function onSessionExpired(f) {
  expired = f;
}

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.field = field || null;
    this.retryAfter = retryAfter ? Number(retryAfter) : null;
  }
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** One request; resolves to the parsed JSON (null for an empty body), rejects with ApiError.
 *  `extra` adds headers (`If-Match` on a replace or delete). */
export async function api(method, path, body, extra) {
  const headers = { Accept: 'application/json', ...(extra || {}) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (!SAFE.has(method) && csrf) headers['X-CSRF-Token'] = csrf;
  let r;
  try {
    r = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (!r.ok) {
    const e = (data && data.error) || {};
    const err = new ApiError(r.status, e.code || `http_${r.status}`, e.message || text, e.field,
      r.headers.get('Retry-After'));
    if (r.status === 401 && path !== '/api/v1/login') expired(err);
    throw err;
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);

/** A same-origin image as a data: URL, fetched past the cache (the CSP allows data: images). */
export async function freshImage(path) {
  const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (r.status === 401) expired(new ApiError(401, 'unauthorized'));
  if (!r.ok) throw new ApiError(r.status, `http_${r.status}`, await r.text());
  const blob = await r.blob();
  return new Promise((resolve, reject) => {
    const fr = new FileReader();
    fr.onload = () => resolve(fr.result);
    fr.onerror = () => reject(fr.error);
    fr.readAsDataURL(blob);
  });
}

/** The admin API's path of one entity: `/api/v1/<kind>/<id>`. */
export const entityPath = (seg, id) => `/api/v1/${seg}/${encodeURIComponent(id)}`;

/** Creates (no `version`: POST with the id) or replaces (PUT, If-Match the version read) an
 *  entity of the admin API; resolves to its answer (the entity in its envelope). */
export function saveEntity(seg, id, body, version) {
  if (version) return api('PUT', entityPath(seg, id), body, { 'If-Match': `"${version}"` });
  return api('POST', `/api/v1/${seg}`, { id, ...body });
}

/** Deletes an entity at the version read (If-Match). */
export function deleteEntity(seg, id, version) {
  return api('DELETE', entityPath(seg, id), undefined, { 'If-Match': `"${version}"` });
}
