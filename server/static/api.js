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

// POST a JSON body to route; resolves with the parsed answer.
export async function call(route, body) {
  const text = JSON.stringify(body);
  const url = new URL(route, window.location.href).href;
  sent.set(route, { url, body: text, token });
  lastRoute = route;
  listeners.forEach((fn) => fn(route));
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(route, { method: 'POST', headers, body: text });
  } catch (e) {
    throw new ApiError(`Network error: the server at ${window.location.host} could not be reached (${e.message}).`, { route });
  }
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
  parts.push(`--data-raw ${q(r.body)}`);
  return parts.join(' \\\n  ');
}

// One round of training: POST /train, calling onEpoch(epoch, meanLoss) for
// each epoch of the round in order (epoch counted from 1 within the round;
// meanLoss: the mean of its mini-batch losses). The answer arrives whole
// today, so the epochs are reported once it is in; a streamed /train (a line
// per epoch) can call onEpoch as its lines arrive, and the callers stay as
// they are. Resolves with the answer (params, optimizer_state, ...).
export async function train(body, onEpoch) {
  const r = await call('/train', body);
  const epochs = body.epochs || 1;
  const perEpoch = r.steps / epochs;
  for (let e = 0; e < epochs; e++) {
    const part = r.loss_history.slice(e * perEpoch, (e + 1) * perEpoch);
    onEpoch(e + 1, part.reduce((s, v) => s + v, 0) / Math.max(1, part.length));
  }
  return r;
}
