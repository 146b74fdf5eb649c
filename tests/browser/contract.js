// openapi.yaml as a checker of what the page sends and receives: request
// bodies against each operation's requestBody schema, responses against the
// documented status, content type, required headers and body schema.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';

export function loadContract(path) {
  const doc = YAML.parse(readFileSync(path, 'utf8'));
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
  ajv.addSchema(doc, 'openapi.json');
  const cache = new Map();
  const ptr = (parts) => parts.map((p) => encodeURIComponent(String(p).replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');
  const validator = (parts) => {
    const ref = `openapi.json#/${ptr(parts)}`;
    if (!cache.has(ref)) cache.set(ref, ajv.compile({ $ref: ref }));
    return cache.get(ref);
  };
  const deref = (o) => {
    let n = o;
    while (n && n.$ref) n = n.$ref.slice(2).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).reduce((a, k) => a[k], doc);
    return n;
  };

  // The path key of the contract for a URL path: exact, else a template.
  function pathKey(path) {
    if (doc.paths[path]) return path;
    return Object.keys(doc.paths).find((k) => k.includes('{') &&
      new RegExp(`^${k.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path)) || null;
  }

  // body: the text, or for a binary body (application/octet-stream) its
  // bytes, whose JSON header (headerLength bytes, as
  // Inference-Header-Content-Length says) is checked as the JSON document; a
  // binary body without the header (a tensor's bytes) is not JSON to check.
  function checkRequest(method, path, contentType, body, headerLength) {
    const key = pathKey(path);
    if (!key) return `${method} ${path}: not in the contract`;
    const op = doc.paths[key][method.toLowerCase()];
    if (!op) return `${method} ${path}: method not in the contract`;
    if (!op.requestBody) return body ? `${method} ${path}: a body the contract does not take` : null;
    const mt = (contentType || '').split(';')[0].trim();
    if (!op.requestBody.content[mt]) return `${method} ${path}: content type ${mt} not documented`;
    if (mt === 'application/octet-stream') {
      if (headerLength === undefined) return null;
      if (!op.requestBody.content['application/json']) return `${method} ${path}: a JSON header the contract does not take`;
      if (!body) return `${method} ${path}: a binary body that could not be read`;
      const n = Number(headerLength);
      if (!(n > 0 && n <= body.length)) return `${method} ${path}: Inference-Header-Content-Length ${headerLength} for ${body.length} bytes`;
      return checkRequest(method, path, 'application/json', new TextDecoder().decode(body.subarray(0, n)));
    }
    let json;
    try { json = JSON.parse(body); } catch (e) { return `${method} ${path}: body is not JSON (${e.message})`; }
    const v = validator(['paths', key, method.toLowerCase(), 'requestBody', 'content', 'application/json', 'schema']);
    return v(json) ? null : `${method} ${path} request: ${ajv.errorsText(v.errors)}`;
  }

  function checkResponse(method, path, status, headers, body) {
    const key = pathKey(path);
    let resp, parts;
    const m = method.toLowerCase();
    if (!key) {
      if (status !== 404) return `${method} ${path}: unknown path answered ${status}`;
      parts = ['components', 'responses', 'NotFound'];
    } else if (!doc.paths[key][m]) {
      if (status !== 405) return `${method} ${path}: undocumented method answered ${status}`;
      parts = ['components', 'responses', 'MethodNotAllowed'];
    } else {
      const rs = doc.paths[key][m].responses;
      const code = [String(status), `${Math.floor(status / 100)}XX`, 'default'].find((c) => rs[c]);
      if (!code) return `${method} ${path}: status ${status} not documented`;
      parts = ['paths', key, m, 'responses', code];
      if (rs[code].$ref) parts = rs[code].$ref.slice(2).split('/');
    }
    resp = deref(parts.reduce((a, k) => a[k], doc));
    for (const [name, h] of Object.entries(resp.headers || {})) {
      const hd = deref(h);
      if (hd.required && headers[name.toLowerCase()] === undefined) return `${method} ${path} ${status}: header ${name} missing`;
    }
    const ct = (headers['content-type'] || '').split(';')[0].trim();
    if (!resp.content) return body ? `${method} ${path} ${status}: documented without a body` : null;
    const mt = Object.keys(resp.content).find((k) => k.split(';')[0].trim() === ct);
    if (!mt) return `${method} ${path} ${status}: content type '${ct}' not documented`;
    if (ct === 'application/x-ndjson') return checkLines(`${method} ${path} ${status}`, body);
    if (!/json$/.test(ct)) return null;
    let json;
    try { json = JSON.parse(body); } catch (e) { return `${method} ${path} ${status}: body is not JSON`; }
    const v = validator([...parts, 'content', mt, 'schema']);
    if (!v(json)) return `${method} ${path} ${status} response: ${ajv.errorsText(v.errors)}`;
    if (ct === 'application/problem+json' && json.status !== status) return `${method} ${path}: problem status ${json.status} != ${status}`;
    return null;
  }

  // A streamed /train: a TrainProgress per line, then a TrainResponse or a
  // problem, each line ended by a newline.
  function checkLines(what, body) {
    const lines = body.split('\n');
    if (lines.pop() !== '') return `${what}: the stream does not end with a newline`;
    if (!lines.length) return `${what}: no lines`;
    const schema = (name) => validator(['components', 'schemas', name]);
    for (const [i, text] of lines.entries()) {
      let json;
      try { json = JSON.parse(text); } catch (e) { return `${what}: line ${i + 1} is not JSON`; }
      const names = i < lines.length - 1 ? ['TrainProgress'] : ['TrainResponse', 'Problem'];
      if (!names.some((n) => schema(n)(json))) return `${what}: line ${i + 1} is not a ${names.join(' or ')}`;
    }
    return null;
  }

  return { doc, checkRequest, checkResponse };
}
