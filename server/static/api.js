// Talking to gradserve: every request the page sends goes through call(),
// which adds the token, remembers the request (for "Copy as curl") and turns
// a problem+json answer or a network failure into an ApiError.

export class ApiError extends Error {
  constructor(message, { status = 0, problem = null, route = '' } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;   // 0: no answer at all (network error)
    this.problem = problem; // the RFC 9457 body, when the server sent one
    this.route = route;
  }
}

let token = '';
const sent = new Map(); // route -> {url, body, token} of the last request to it
let lastRoute = null;
const listeners = [];

export function setToken(t) { token = (t || '').trim(); }
export function onRequest(fn) { listeners.push(fn); }
export function lastRequest(route) { return sent.get(route || lastRoute) || null; }
export function sentRoutes() { return [...sent.keys()]; }

// POST a JSON body to route (accept: the Accept header, or none); resolves
// with the Response, after remembering the request for "Copy as curl".
async function post(route, body, accept) {
  const text = JSON.stringify(body);
  const url = new URL(route, window.location.href).href;
  sent.set(route, { url, body: text, token, accept });
  lastRoute = route;
  listeners.forEach((fn) => fn(route));
  const headers = { 'Content-Type': 'application/json' };
  if (accept) headers.Accept = accept;
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(route, { method: 'POST', headers, body: text });
  } catch (e) {
    throw new ApiError(`Network error: the server at ${window.location.host} could not be reached (${e.message}).`, { route });
  }
}

// POST a JSON body to route; resolves with the parsed answer.
export async function call(route, body) {
  return answer(route, await post(route, body));
}

// A whole answer: its JSON, or an ApiError from its problem.
async function answer(route, res) {
  let data = null;
  const raw = await res.text();
  try { data = raw ? JSON.parse(raw) : null; } catch { data = null; }
  if (!res.ok) {
    if (data && typeof data === 'object' && data.title) {
      throw new ApiError(problemText(data), { status: res.status, problem: data, route });
    }
    throw new ApiError(`HTTP ${res.status} from ${route}: ${raw.slice(0, 200)}`, { status: res.status, route });
  }
  if (data === null) throw new ApiError(`${route} answered with something that is not JSON.`, { status: res.status, route });
  return data;
}

// One line: "422 Limit exceeded: detail (/pointer: detail; ...)".
export function problemText(p) {
  let s = `${p.status} ${p.title}: ${p.detail}`;
  if (Array.isArray(p.errors) && p.errors.length) {
    s += ' — ' + p.errors.map((e) => (e.pointer ? `${e.pointer}: ${e.detail}` : e.detail)).join('; ');
  }
  return s;
}

// The last request to route as a curl command a person can paste.
export function curlCommand(route) {
  const r = lastRequest(route);
  if (!r) return '';
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  const parts = [`curl -sS ${q(r.url)}`, `-H ${q('Content-Type: application/json')}`];
  if (r.token) parts.push(`-H ${q(`Authorization: Bearer ${r.token}`)}`);
  if (r.accept) parts.push(`-N -H ${q(`Accept: ${r.accept}`)}`);
  parts.push(`--data-raw ${q(r.body)}`);
  return parts.join(' \\\n  ');
}

// One round of training: POST /train with Accept: application/x-ndjson, so
// the server answers a line per epoch as it ends; onEpoch(epoch, meanLoss)
// runs for each as it arrives (epoch counted from 1 within the round;
// meanLoss: the mean of its mini-batch losses). Resolves with the last line,
// the usual answer (params, optimizer_state, ...); a problem, before the
// stream or as its last line, is thrown as an ApiError.
export async function train(body, onEpoch) {
  const route = '/train';
  const res = await post(route, body, 'application/x-ndjson');
  if (!res.ok || !(res.headers.get('Content-Type') || '').startsWith('application/x-ndjson')) return answer(route, res);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let pending = '', last = null;
  const take = (line) => {
    if (!line) return;
    const obj = JSON.parse(line);
    if (typeof obj.epoch === 'number' && !obj.params) onEpoch(obj.epoch, obj.loss);
    else last = obj;
  };
  for (;;) {
    let chunk;
    try { chunk = await reader.read(); } catch (e) {
      throw new ApiError(`Network error: the training's stream broke off (${e.message}).`, { route });
    }
    if (chunk.done) break;
    pending += decoder.decode(chunk.value, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop();
    lines.forEach(take);
  }
  take(pending);
  if (!last) throw new ApiError('/train: the stream ended without an answer.', { route });
  if (last.title && last.status) throw new ApiError(problemText(last), { status: last.status, problem: last, route });
  return last;
}
