// The OpenAPI 3.1 document as the reference page reads it: local `$ref`s resolved, operations
// listed in the document's order with their anchors, grouped by tag (else by path prefix),
// and the filter. Pure functions, no DOM: the page (../docs.js) and its parts render them.

export const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** The value at a local JSON pointer (`#/components/schemas/X`), or undefined. */
export function pointer(doc, ref) {
  if (typeof ref !== 'string' || !ref.startsWith('#')) return undefined;
  let v = doc;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    let part;
    try {
      part = decodeURIComponent(raw);
    } catch (e) {
      part = raw;
    }
    part = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (v === null || typeof v !== 'object' || !(part in v)) return undefined;
    v = v[part];
  }
  return v;
}

/** The last segment of a `$ref` (`TokenRequest`), the name people know a schema by. */
export function refName(ref) {
  const s = String(ref).split('/').pop() || String(ref);
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Follows `$ref`s of a parameter, request body, response or header object (not schemas,
 *  which the schema tree resolves one level at a time to show their names). Siblings of the
 *  `$ref` (3.1 allows `description` and `summary`) win over the target's. */
export function deref(doc, obj, depth = 0) {
  if (!obj || typeof obj !== 'object' || typeof obj.$ref !== 'string' || depth > 20) return obj || {};
  const target = pointer(doc, obj.$ref);
  if (!target) return obj;
  const { $ref, ...rest } = obj;
  return { ...deref(doc, target, depth + 1), ...rest };
}

/** A stable anchor part: lower case letters, digits and single dashes. */
export function slug(s) {
  return String(s).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
}

/** The group of a path without tags: its first segment after `/api` and a version (`v1`)
 *  (`/api/v1/me/tokens`: `me`); a path directly under `/api` is `api`, one outside it `/`. */
export function pathGroup(path) {
  const segs = path.split('/').filter(Boolean);
  if (segs[0] !== 'api') return '/';
  let i = 1;
  if (/^v\d+$/.test(segs[i] || '')) i += 1;
  const seg = segs[i];
  if (!seg || (i === 1 && segs.length === 2) || seg.startsWith('{')) return segs.slice(0, i).join('/');
  return seg;
}

/** Every operation of the document, in its order: `{ id, method, path, op, params, group }`.
 *  `id` is the anchor (`op-post-api-v1-me-tokens`), from the method and path, which people see
 *  and which do not change when an operationId does; `params` merges the path item's
 *  parameters with the operation's (the operation's win by name and place). */
export function operations(doc) {
  const out = [];
  const seen = new Set();
  for (const [path, rawItem] of Object.entries(doc.paths || {})) {
    const item = deref(doc, rawItem);
    for (const method of METHODS) {
      const op = item[method];
      if (!op || typeof op !== 'object') continue;
      let id = `op-${slug(`${method} ${path}`)}`;
      for (let n = 2; seen.has(id); n += 1) id = `op-${slug(`${method} ${path}`)}-${n}`;
      seen.add(id);
      const params = new Map();
      for (const p of [...(item.parameters || []), ...(op.parameters || [])]) {
        const d = deref(doc, p);
        params.set(`${d.in}:${d.name}`, d);
      }
      const tags = Array.isArray(op.tags) && op.tags.length ? op.tags : null;
      out.push({
        id, method, path, op, params: [...params.values()],
        group: tags ? String(tags[0]) : pathGroup(path),
        tagged: !!tags,
      });
    }
  }
  return out;
}

/** The operations in groups `[{ name, id, description, ops }]`: the document's `tags` first
 *  (in their order, with their descriptions), then other groups as they first appear. */
export function groups(doc, ops) {
  const byName = new Map();
  for (const tag of doc.tags || []) {
    if (tag && tag.name) byName.set(String(tag.name), { name: String(tag.name), description: tag.description, ops: [] });
  }
  for (const o of ops) {
    if (!byName.has(o.group)) byName.set(o.group, { name: o.group, ops: [] });
    byName.get(o.group).ops.push(o);
  }
  return [...byName.values()]
    .filter((g) => g.ops.length)
    .map((g) => ({ ...g, id: `tag-${slug(g.name)}` }));
}

/** Whether an operation matches the filter: every word of it appears in the method, path,
 *  summary, description, operationId or group (any case). */
export function matches(o, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const hay = [o.method, o.path, o.op.summary, o.op.description, o.op.operationId, o.group]
    .filter((x) => typeof x === 'string').join(' ').toLowerCase();
  return words.every((w) => hay.includes(w));
}

/** Response statuses in reading order: 1XX…5XX by number, `default` last. */
export function statusOrder(a, b) {
  // A range (`4XX`) after the codes it covers.
  const rank = (s) => (s === 'default' ? 1000 : parseInt(String(s).replace(/x/gi, '9'), 10) + 0.5 * /x/i.test(s) || 999);
  return rank(a) - rank(b) || String(a).localeCompare(String(b));
}

/** The security requirements that apply: the operation's, else the document's. An empty list
 *  (or one with an empty requirement `{}`) means no login is needed. */
export function security(doc, op) {
  const reqs = Array.isArray(op.security) ? op.security : (Array.isArray(doc.security) ? doc.security : []);
  const open = reqs.length === 0 || reqs.some((r) => r && Object.keys(r).length === 0);
  return { open, alternatives: reqs.filter((r) => r && Object.keys(r).length) };
}
