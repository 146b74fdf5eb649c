// gradserve.js: the JavaScript client of gradserve, one ES module for browsers
// and Node 18 or later, without dependencies (fetch, TextEncoder and
// crypto.subtle are in both).
//
//   import { Client, tensor } from './gradserve.js';
//   const gs = new Client({ url: 'http://127.0.0.1:8080' });
//   const r = await gs.gradients({ network, params, inputs: tensor(x, [rows, 784]), targets: labels });
//   r.gradients[0].weight.data   // a Float32Array, r.gradients[0].weight.shape: [out, in]
//
// Tensors travel the way the call's `encoding` says (the client writes the
// body's "encoding" key from it, so answers come back the same way):
//   'binary' (default)  the bytes after the JSON header (Triton's binary tensor
//                       extension: Inference-Header-Content-Length); typed arrays
//                       in the answer;
//   'b64'               base64 inside the JSON; typed arrays in the answer;
//   'ref'               each tensor put once into the server's tensor store by its
//                       SHA-256 and named {"ref", "shape", "dtype"}; a 409 naming
//                       refs the store lacks is healed by uploading them and
//                       sending the request again; the answer's tensors are
//                       TensorRefs (fetch them with getTensor);
//   'nested'            plain JSON both ways (typed arrays sent as flat
//                       {"shape", "data"}); the answer as the server writes it.
// Plain JS arrays in a body are sent as they are, in every encoding.
//
// A refused request throws a GradserveError carrying the problem+json body
// (status, title, detail, errors with JSON Pointers, request_id).

// ---- tensors ----------------------------------------------------------------------

// The typed array that holds each dtype the server reads, and its element size.
const DTYPES = {
  float32: { array: Float32Array, size: 4 },
  float64: { array: Float64Array, size: 8 },
  int64: { array: BigInt64Array, size: 8 },
};

// Class-index labels (cross_entropy targets) may come in any integer array;
// they travel as int64.
const INTEGER_ARRAYS = [Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array];

function dtypeOf(data) {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (INTEGER_ARRAYS.some((A) => data instanceof A)) return 'int64';
  throw new TypeError(`a tensor's data must be a Float32Array, a Float64Array or an integer typed array, not ${data && data.constructor ? data.constructor.name : typeof data}`);
}

// A tensor: a typed array and its shape, row-major (data.length = product of shape).
export class Tensor {
  constructor(data, shape = [data.length]) {
    this.dtype = dtypeOf(data);
    if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
      throw new TypeError(`a tensor's shape must be an array of non-negative integers, not ${JSON.stringify(shape)}`);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new RangeError(`shape [${shape}] holds ${n} elements, the data ${data.length}`);
    this.data = data;
    this.shape = shape;
  }

  // The little-endian bytes the server reads: the data's own bytes, except for
  // integer labels other than BigInt64Array, widened to int64 first.
  bytes() {
    const d = this.dtype === 'int64' && !(this.data instanceof BigInt64Array)
      ? BigInt64Array.from(this.data, (v) => BigInt(v)) : this.data;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }

  // Flat JSON, {"shape", "data"}: what the text encodings send.
  toJSON() {
    return { shape: this.shape, data: Array.from(this.data, Number) };
  }
}

// tensor(Float32Array, [rows, cols]): a Tensor; a 1-D shape when none is given.
export function tensor(data, shape) {
  return new Tensor(data, shape);
}

// A tensor named by the SHA-256 of its bytes in the server's tensor store.
// `tensor` is the local copy when the client has one (it uploaded it, or
// fetched it): with it a request that names this ref heals a store miss.
export class TensorRef {
  constructor(ref, shape, dtype, tensor = null) {
    this.ref = ref;
    this.shape = shape;
    this.dtype = dtype;
    this.tensor = tensor;
  }

  toJSON() {
    return { ref: this.ref, shape: this.shape, dtype: this.dtype };
  }
}

// ---- errors -----------------------------------------------------------------------

// A request the server refused (the RFC 9457 problem it answered is `problem`;
// status, title, detail, errors and requestId are copied from it), or one
// that got no answer at all (status 0, the fetch failure as `cause`).
export class GradserveError extends Error {
  constructor(message, { status = 0, problem = null, route = '', cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'GradserveError';
    this.status = status;
    this.problem = problem;
    this.route = route;
    this.type = problem ? problem.type : undefined;
    this.title = problem ? problem.title : undefined;
    this.detail = problem ? problem.detail : undefined;
    this.errors = problem && Array.isArray(problem.errors) ? problem.errors : [];
    this.requestId = problem ? problem.request_id : undefined;
  }
}

// One line: "400 Invalid request: 1 error in the request — /optimizer/lr: must be ...".
export function problemText(p) {
  let s = `${p.status} ${p.title}: ${p.detail}`;
  if (Array.isArray(p.errors) && p.errors.length) {
    s += ' — ' + p.errors.map((e) => (e.pointer ? `${e.pointer}: ${e.detail}` : e.detail)).join('; ');
  }
  return s;
}

function isProblem(o) {
  return o !== null && typeof o === 'object' && typeof o.status === 'number' && typeof o.title === 'string';
}

// ---- bytes ------------------------------------------------------------------------

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('gradserve.js sends typed arrays as they lie in memory, and the server reads little-endian: this machine is big-endian');
}

function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// A typed array of dtype over bytes (a view when aligned, else a copy).
function typed(dtype, buffer, offset, length) {
  const { array, size } = DTYPES[dtype] || {};
  if (!array) throw new GradserveError(`the server answered a tensor of dtype ${dtype}, which this client does not know`);
  if (length % size) throw new GradserveError(`the server answered ${length} bytes for a ${dtype} tensor`);
  if (offset % size === 0) return new array(buffer, offset, length / size);
  return new array(buffer.slice(offset, offset + length));
}

let subtle = null;
// crypto.subtle: global in browsers (secure contexts: https or localhost) and
// in Node 19+; Node 18 has it as require('node:crypto').webcrypto.
async function webcrypto() {
  if (subtle) return subtle;
  if (globalThis.crypto && globalThis.crypto.subtle) return (subtle = globalThis.crypto.subtle);
  try {
    subtle = (await import('node:crypto')).webcrypto.subtle;
  } catch {
    throw new GradserveError('refs need crypto.subtle to compute SHA-256 digests: a page served over https or from localhost has it, one served over plain http elsewhere does not');
  }
  return subtle;
}

// "sha256:<64 lowercase hex>" of bytes.
export async function digest(bytes) {
  const h = new Uint8Array(await (await webcrypto()).digest('SHA-256', bytes));
  let hex = '';
  for (const b of h) hex += b.toString(16).padStart(2, '0');
  return `sha256:${hex}`;
}

// ---- request bodies ---------------------------------------------------------------

const ENCODINGS = ['binary', 'b64', 'ref', 'nested'];

// The body with every Tensor (or bare typed array, 1-D) written in the
// encoding, and "encoding": answerEncoding (unless nested); resolves
// {json, chunks, refs}: the JSON text, the binary part's byte arrays in the
// order their tensors appear in it, and every ref the body names
// (digest -> TensorRef, with the local tensor when there is one).
async function encodeBody(body, encoding, answerEncoding) {
  const chunks = [];
  const refs = new Map();
  const pending = [];
  const leaf = (t) => {
    if (encoding === 'nested' || (t.dtype === 'int64' && encoding !== 'ref')) return t.toJSON(); // inline int64 is JSON
    if (encoding === 'b64') return { shape: t.shape, dtype: t.dtype, b64: toBase64(t.bytes()) };
    if (encoding === 'binary') {
      const bytes = t.bytes();
      chunks.push(bytes);
      return { shape: t.shape, dtype: t.dtype, binary_data_size: bytes.byteLength };
    }
    const out = { ref: '', shape: t.shape, dtype: t.dtype };
    pending.push(digest(t.bytes()).then((d) => {
      out.ref = d;
      if (!refs.has(d) || !refs.get(d).tensor) refs.set(d, new TensorRef(d, t.shape, t.dtype, t));
    }));
    return out;
  };
  const walk = (v) => {
    if (v instanceof Tensor) return leaf(v);
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return leaf(new Tensor(v));
    if (v instanceof TensorRef) {
      if (!refs.has(v.ref) || (v.tensor && !refs.get(v.ref).tensor)) refs.set(v.ref, v);
      return v.toJSON();
    }
    if (Array.isArray(v)) return v.length && typeof v[0] === 'number' ? v : v.map(walk);
    if (v !== null && typeof v === 'object') {
      const o = {};
      for (const k of Object.keys(v)) o[k] = walk(v[k]);
      return o;
    }
    return v;
  };
  const out = walk(body);
  if (answerEncoding !== 'nested') out.encoding = answerEncoding;
  await Promise.all(pending);
  return { json: JSON.stringify(out), chunks, refs };
}

// ---- answers ----------------------------------------------------------------------

// The answer with its tensor objects turned into Tensors (binary_data_size:
// the next bytes of buffer from offset on; b64) or TensorRefs (ref).
function decodeTensors(value, buffer = null, offset = 0) {
  let off = offset;
  const walk = (v) => {
    if (Array.isArray(v)) return v.length && typeof v[0] === 'number' ? v : v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v.shape) && typeof v.dtype === 'string') {
      if (typeof v.binary_data_size === 'number') {
        if (!buffer || off + v.binary_data_size > buffer.byteLength) throw new GradserveError('the binary answer ends before its tensors do');
        const data = typed(v.dtype, buffer, off, v.binary_data_size);
        off += v.binary_data_size;
        return new Tensor(data, v.shape);
      }
      if (typeof v.b64 === 'string') {
        const bytes = fromBase64(v.b64);
        return new Tensor(typed(v.dtype, bytes.buffer, 0, bytes.byteLength), v.shape);
      }
      if (typeof v.ref === 'string') return new TensorRef(v.ref, v.shape, v.dtype);
    }
    const o = {};
    for (const k of Object.keys(v)) o[k] = walk(v[k]);
    return o;
  };
  return walk(value);
}

// A whole non-streamed answer: its value, or a GradserveError from its problem.
async function readAnswer(route, res) {
  const type = (res.headers.get('Content-Type') || '').toLowerCase();
  if (res.ok && type.startsWith('application/octet-stream')) {
    const buffer = await res.arrayBuffer();
    const n = Number(res.headers.get('Inference-Header-Content-Length'));
    if (!Number.isInteger(n) || n <= 0 || n > buffer.byteLength) {
      throw new GradserveError(`${route} answered a binary body without a valid Inference-Header-Content-Length`, { status: res.status, route });
    }
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 0, n)));
    return decodeTensors(header, buffer, n);
  }
  const raw = await res.text();
  let data = null;
  try { data = raw ? JSON.parse(raw) : null; } catch { data = null; }
  if (!res.ok) {
    if (isProblem(data)) throw new GradserveError(problemText(data), { status: res.status, problem: data, route });
    throw new GradserveError(`HTTP ${res.status} from ${route}: ${raw.slice(0, 200)}`, { status: res.status, route });
  }
  if (data === null) throw new GradserveError(`${route} answered with something that is not JSON`, { status: res.status, route });
  return decodeTensors(data);
}

// The lines of an NDJSON body as parsed objects, as they arrive. A consumer
// that stops early (break) cancels the body, which closes the connection: the
// server then stops training.
async function* ndjsonLines(route, res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let pending = '', done = false;
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (e && e.name === 'AbortError') throw e;
        throw new GradserveError(`Network error: the training's stream broke off (${e.message})`, { route, cause: e });
      }
      if (chunk.done) {
        done = true;
        break;
      }
      pending += decoder.decode(chunk.value, { stream: true });
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) if (line) yield JSON.parse(line);
    }
    pending += decoder.decode();
    if (pending) yield JSON.parse(pending);
  } finally {
    if (done) reader.releaseLock();
    else await reader.cancel().catch(() => {});
  }
}

// ---- the client -------------------------------------------------------------------

export class Client {
  // url: the server's base URL (in a page, the page's own directory when absent);
  // token: the bearer token when the server wants one; encoding: the default
  // of every call; maxRetries: how many times a 409 (refs the store lacks) is
  // healed by uploading before the error is thrown; onRequest(info): called
  // before each request with {method, route, url, headers, body} (body: the
  // JSON text, or null for bytes) (the playground's "Copy as curl");
  // busyRetries: how many times a 503 (the server's queue is full, or it is
  // draining) is sent again after its Retry-After (at most MAX_RETRY_AFTER_S
  // each; busyWaits counts them), 0 to throw at once.
  constructor({ url, token = '', encoding = 'binary', maxRetries = 2, busyRetries = 4, onRequest = null, fetch: fetchImpl } = {}) {
    if (!url && !globalThis.location) throw new TypeError('new Client({url}): the server\'s URL is required outside a browser page');
    const base = new URL(url || '.', globalThis.location ? globalThis.location.href : undefined).href;
    this.url = base.endsWith('/') ? base : `${base}/`; // routes resolve below it
    this.token = token;
    this.encoding = checkEncoding(encoding);
    this.maxRetries = maxRetries;
    this.busyRetries = busyRetries;
    this.busyWaits = 0;
    this.onRequest = onRequest;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
  }

  forward(body, options) { return this.request('/forward', body, options); }
  gradients(body, options) { return this.request('/gradients', body, options); }
  // these two answer no tensors, and take no "encoding"
  gradcheck(body, options) { return this.request('/gradcheck', body, { ...options, encoding: 'nested' }); }
  autodiff(body, options) { return this.request('/autodiff', body, { ...options, encoding: 'nested' }); }

  // POST /train. With options.onEpoch the answer streams (NDJSON) and
  // onEpoch({epoch, loss, steps}) runs as each epoch ends; resolves with the
  // final answer either way.
  async train(body, options = {}) {
    if (!options.onEpoch) return this.request('/train', body, options);
    const stream = this.trainStream(body, options);
    for await (const line of stream) options.onEpoch(line);
    return stream.result;
  }

  // POST /train streamed: an async iterable of the epoch lines ({epoch, loss,
  // steps}: the epoch's mean mini-batch loss) as the server sends them, whose
  // `result` resolves with the final answer once the iteration ended. A
  // problem (before the stream or as its last line) is thrown by the
  // iteration. Leaving the loop early (break) or options.signal ends the
  // request, and the server stops training; a binary-encoded call answers in b64, since binary answers
  // cannot be streamed, and its tensors come back as typed arrays all the same.
  trainStream(body, options = {}) {
    const client = this;
    let resolve, reject;
    const result = new Promise((res, rej) => { resolve = res; reject = rej; });
    result.catch(() => {}); // the iteration throws the same error
    async function* lines() {
      let settled = false;
      try {
        const route = '/train';
        const encoding = checkEncoding(options.encoding || client.encoding);
        const res = await client.#send(route, body, encoding, encoding === 'binary' ? 'b64' : encoding,
          'application/x-ndjson', options.signal);
        if (!res.ok || !(res.headers.get('Content-Type') || '').startsWith('application/x-ndjson')) {
          resolve(await readAnswer(route, res));
          settled = true;
          return;
        }
        let last = null;
        for await (const line of ndjsonLines(route, res)) {
          if (isProblem(line)) throw new GradserveError(problemText(line), { status: line.status, problem: line, route });
          if (typeof line.epoch === 'number' && !('params' in line)) yield line;
          else last = line;
        }
        if (!last) throw new GradserveError('/train: the stream ended without an answer', { route });
        resolve(decodeTensors(last));
        settled = true;
      } catch (e) {
        reject(e);
        settled = true;
        throw e;
      } finally {
        if (!settled) reject(new GradserveError('/train: the stream was left before its answer', { route: '/train' }));
      }
    }
    const it = lines();
    it.result = result;
    return it;
  }

  // POST a body to route; resolves with the answer, its tensors decoded.
  // options: encoding (default: the client's), signal (an AbortSignal).
  async request(route, body, options = {}) {
    const encoding = checkEncoding(options.encoding || this.encoding);
    const res = await this.#send(route, body, encoding, encoding, null, options.signal);
    return readAnswer(route, res);
  }

  // Uploads a tensor (a Tensor or a typed array) to the store unless it holds
  // it; resolves with its TensorRef, which any request may name.
  async putTensor(t, options = {}) {
    const local = t instanceof Tensor ? t : new Tensor(t);
    const bytes = local.bytes();
    const ref = new TensorRef(await digest(bytes), local.shape, local.dtype, local);
    await this.#put(ref.ref, bytes, options.signal);
    return ref;
  }

  // The stored bytes of a ref as a Tensor (its local copy when the client has
  // one), kept in ref.tensor.
  async getTensor(ref, options = {}) {
    if (ref.tensor) return ref.tensor;
    const res = await this.#fetch('GET', `/tensors/${ref.ref}`, {}, null, options.signal);
    if (!res.ok) await readAnswer(`/tensors/${ref.ref}`, res);
    const buffer = await res.arrayBuffer();
    ref.tensor = new Tensor(typed(ref.dtype, buffer, 0, buffer.byteLength), ref.shape);
    return ref.tensor;
  }

  // Whether the store holds a ref ("sha256:..." or a TensorRef).
  async hasTensor(ref, options = {}) {
    const name = typeof ref === 'string' ? ref : ref.ref;
    const res = await this.#fetch('HEAD', `/tensors/${name}`, {}, null, options.signal);
    if (res.status === 404) return false;
    if (!res.ok) await readAnswer(`/tensors/${name}`, res);
    return true;
  }

  // Removes a ref from the store; resolves false when it did not hold it.
  async deleteTensor(ref, options = {}) {
    const name = typeof ref === 'string' ? ref : ref.ref;
    const res = await this.#fetch('DELETE', `/tensors/${name}`, {}, null, options.signal);
    if (res.status === 404) return false;
    if (!res.ok) await readAnswer(`/tensors/${name}`, res);
    return true;
  }

  // ---- plumbing ---------------------------------------------------------------------

  async #put(name, bytes, signal) {
    const route = `/tensors/${name}`;
    const res = await this.#fetch('PUT', route, { 'Content-Type': 'application/octet-stream' }, bytes, signal);
    if (!res.ok) await readAnswer(route, res);
    await res.arrayBuffer(); // done with the connection
  }

  // POSTs body (tensors in `encoding`, the answer asked in `answerEncoding`)
  // and resolves with the Response; a 409 naming refs the store lacks is
  // answered by uploading those the body has bytes for and sending again.
  async #send(route, body, encoding, answerEncoding, accept, signal) {
    if (body && Object.prototype.hasOwnProperty.call(body, 'encoding')) {
      throw new TypeError('the body\'s "encoding" is written by the client: pass {encoding} as an option instead');
    }
    const { json: text, chunks, refs } = await encodeBody(body, encoding, answerEncoding);
    const headers = {};
    let payload;
    if (chunks.length) {
      const header = new TextEncoder().encode(text);
      headers['Content-Type'] = 'application/octet-stream';
      headers['Inference-Header-Content-Length'] = String(header.byteLength);
      // one array: a Blob's bytes are not visible to the page's own tools (DevTools, Playwright)
      payload = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, header.byteLength));
      let at = 0;
      for (const part of [header, ...chunks]) {
        payload.set(part, at);
        at += part.byteLength;
      }
    } else {
      headers['Content-Type'] = 'application/json';
      payload = text;
    }
    if (accept) headers.Accept = accept;
    for (let attempt = 0; ; attempt++) {
      const res = await this.#fetch('POST', route, headers, payload, signal, chunks.length ? null : text);
      if (res.status !== 409 || attempt >= this.maxRetries || refs.size === 0) return res;
      const problem = await res.json().catch(() => null);
      if (!isProblem(problem)) throw new GradserveError(`HTTP 409 from ${route} without a problem`, { status: 409, route });
      const missing = (problem.errors || []).map((e) => e.ref).filter(Boolean);
      const lacking = missing.filter((r) => !(refs.get(r) && refs.get(r).tensor));
      if (!missing.length || lacking.length) {
        const why = lacking.length ? ` (no local copy of ${lacking.join(', ')} to upload)` : '';
        throw new GradserveError(problemText(problem) + why, { status: 409, problem, route });
      }
      await Promise.all(missing.map((r) => this.#put(r, refs.get(r).tensor.bytes(), signal)));
    }
  }

  // One fetch with the token; a failure to reach the server becomes a
  // GradserveError with status 0 (an abort stays the AbortError it is). A 503
  // is sent again after its Retry-After, busyRetries times at most: every
  // route is stateless (a PUT names its bytes), so twice means once.
  async #fetch(method, route, headers, body, signal, text = null) {
    const url = new URL(route.slice(1), this.url).href;
    const h = { ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    for (let attempt = 0; ; attempt++) {
      if (this.onRequest) this.onRequest({ method, route, url, headers: h, body: text });
      let res;
      try {
        res = await this.fetch(url, { method, headers: h, body, signal });
      } catch (e) {
        if (e && e.name === 'AbortError') throw e;
        throw new GradserveError(`Network error: the server at ${new URL(url).host} could not be reached (${e.message})`, { route, cause: e });
      }
      if (res.status !== 503 || attempt >= this.busyRetries) return res;
      await res.arrayBuffer().catch(() => {}); // done with the connection
      this.busyWaits++;
      await sleep(retryAfterSeconds(res.headers.get('Retry-After')) * 1000, signal);
    }
  }
}

// A Retry-After longer than this is waited this long: the caller asked for an
// answer, not for an unbounded sleep.
export const MAX_RETRY_AFTER_S = 30;

// Seconds to wait from a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110, 10.2.3); 1 when absent or unreadable.
export function retryAfterSeconds(value) {
  if (value == null) return 1;
  const v = String(value).trim();
  let s = /^\d+$/.test(v) ? Number(v) : (Date.parse(v) - Date.now()) / 1000;
  if (Number.isNaN(s)) return 1;
  return Math.min(Math.max(s, 0), MAX_RETRY_AFTER_S);
}

// Resolves after ms, or rejects with the signal's AbortError when it fires first.
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) { reject(signal.reason); return; }
    const done = () => { clearTimeout(timer); reject(signal.reason); };
    const timer = setTimeout(() => { if (signal) signal.removeEventListener('abort', done); resolve(); }, ms);
    if (signal) signal.addEventListener('abort', done, { once: true });
  });
}

function checkEncoding(e) {
  if (!ENCODINGS.includes(e)) throw new TypeError(`encoding must be one of ${ENCODINGS.join(', ')}, not ${e}`);
  return e;
}
