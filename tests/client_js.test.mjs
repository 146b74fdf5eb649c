// clients/js/gradserve.js in Node against the real server (tests/test_client_js.sh
// starts it): answers equal the same request made by hand with plain JSON,
// bit for bit; params are bit-identical across the binary, b64, nested and
// ref encodings; a 409 (a tensor deleted from the store) is healed by one
// upload and the same request again; the server's problem details arrive in a
// GradserveError; /train streams its epochs, and an aborted stream stops the
// server's training; a 503 is sent again after its Retry-After. Every response the client gets and every JSON request it
// sends is checked against openapi.yaml (tests/browser/contract.js).
// Uses only what Node 18 has. Prints PASS/FAIL per check and a count line.
//
// Environment: GS_URL (a server without auth), GS_AUTH_URL and GS_TOKEN (one
// with a token), GS_BUSY_URL (one worker, no queue), OPENAPI (path of openapi.yaml).
import { Client, Tensor, TensorRef, GradserveError, tensor, digest, retryAfterSeconds, MAX_RETRY_AFTER_S } from '../clients/js/gradserve.js';
import { loadContract } from './browser/contract.js';
import { check, assert, finish } from './browser/harness.js';

const URL_OPEN = process.env.GS_URL;
const URL_AUTH = process.env.GS_AUTH_URL;
const TOKEN = process.env.GS_TOKEN || '';
const contract = loadContract(process.env.OPENAPI || 'openapi.yaml');


// ---- every exchange checked against the contract -------------------------------------

const violations = [];
const log = []; // {method, path, status} of every request the clients made
async function checkedFetch(url, init = {}) {
  const u = new URL(url);
  const method = init.method || 'GET';
  const ct = (init.headers && init.headers['Content-Type']) || '';
  if (typeof init.body === 'string') {
    const err = contract.checkRequest(method, u.pathname, ct, init.body);
    if (err && !expectInvalid) violations.push(err);
  }
  const res = await fetch(url, init);
  const copy = res.clone();
  const headers = Object.fromEntries([...res.headers].map(([k, v]) => [k.toLowerCase(), v]));
  // read in the background: a streamed body is checked once it has ended
  const received = copy.arrayBuffer().then((buf) => {
    const body = method === 'HEAD' ? '' : new TextDecoder().decode(buf);
    const err = contract.checkResponse(method, u.pathname, res.status, headers, body);
    if (err) violations.push(err);
    return buf.byteLength;
  }, () => NaN); // an aborted stream has no whole body to check
  const sent = typeof init.body === 'string' ? new TextEncoder().encode(init.body).byteLength : init.body ? init.body.byteLength : 0;
  log.push({ method, path: u.pathname, status: res.status, sent, received }); // body bytes each way
  return res;
}
let expectInvalid = false;

const gs = new Client({ url: URL_OPEN, fetch: checkedFetch });

// ---- data -------------------------------------------------------------------------

// A small deterministic generator, so every run sends the same numbers.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randn(n, seed, Array_ = Float32Array) {
  const r = rng(seed);
  return Array_.from({ length: n }, () => r() * 2 - 1);
}

const ROWS = 37, IN = 5, HID = 7, OUT = 3;
const X = randn(ROWS * IN, 1);
const Y = randn(ROWS * OUT, 2);
const LABELS = Int32Array.from({ length: ROWS }, (_, i) => (i * 7) % OUT);
const NET = { inputs: IN, layers: [{ units: HID, activation: 'tanh' }, { units: OUT, activation: 'linear' }], loss: 'mse' };
const NET_CE = { ...NET, loss: 'cross_entropy' };
const W0 = randn(HID * IN, 3), B0 = randn(HID, 4), W1 = randn(OUT * HID, 5), B1 = randn(OUT, 6);
const params = () => [
  { weight: tensor(W0, [HID, IN]), bias: tensor(B0) },
  { weight: tensor(W1, [OUT, HID]), bias: tensor(B1) },
];

// The nested arrays a person would type for a [rows, cols] typed array.
function nested(data, cols) {
  const out = [];
  for (let i = 0; i < data.length; i += cols) out.push(Array.from(data.subarray(i, i + cols)));
  return out;
}
const handParams = () => [
  { weight: nested(W0, IN), bias: Array.from(B0) },
  { weight: nested(W1, HID), bias: Array.from(B1) },
];

// POST a JSON body by hand: fetch, no client.
async function byHand(route, body, url = URL_OPEN) {
  const res = await fetch(new URL(route, url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  assert(res.ok, `by hand ${route}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// The bytes of a typed array (or a Tensor's) and of nested numbers as float32.
const bytesOf = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
function sameBits(t, expected, what, Array_ = Float32Array) {
  assert(t instanceof Tensor, `${what}: not a Tensor but ${t && t.constructor && t.constructor.name}`);
  const e = Array_.from([expected].flat(Infinity));
  assert(t.data instanceof Array_, `${what}: a ${t.data.constructor.name}, not a ${Array_.name}`);
  assert(bytesOf(t.data).equals(bytesOf(e)), `${what}: [${t.data.slice(0, 4)}...] differs from [${e.slice(0, 4)}...]`);
}
function sameTensors(a, b, what) {
  assert(a.dtype === b.dtype && JSON.stringify(a.shape) === JSON.stringify(b.shape), `${what}: ${a.dtype}${JSON.stringify(a.shape)} vs ${b.dtype}${JSON.stringify(b.shape)}`);
  assert(bytesOf(a.data).equals(bytesOf(b.data)), `${what}: the bytes differ`);
}
// Every Tensor of two answers, walked in step (params, optimizer_state, ...).
function sameAnswers(a, b, what) {
  if (a instanceof Tensor || b instanceof Tensor) return sameTensors(a, b, what);
  if (Array.isArray(a)) {
    assert(Array.isArray(b) && a.length === b.length, `${what}: lengths differ`);
    return a.forEach((v, i) => sameAnswers(v, b[i], `${what}/${i}`));
  }
  if (a && typeof a === 'object') {
    assert(JSON.stringify(Object.keys(a)) === JSON.stringify(Object.keys(b)), `${what}: keys ${Object.keys(a)} vs ${Object.keys(b)}`);
    return Object.keys(a).forEach((k) => sameAnswers(a[k], b[k], `${what}/${k}`));
  }
  assert(Object.is(a, b), `${what}: ${a} vs ${b}`);
}

// Every TensorRef of an answer fetched into Tensors (the shape of a b64 answer).
async function fetchRefs(v, client = gs) {
  if (v instanceof TensorRef) return client.getTensor(v);
  if (Array.isArray(v)) return Promise.all(v.map((x) => fetchRefs(x, client)));
  if (v && typeof v === 'object' && !(v instanceof Tensor)) {
    const o = {};
    for (const k of Object.keys(v)) o[k] = await fetchRefs(v[k], client);
    return o;
  }
  return v;
}

async function metric(name) {
  const text = await (await fetch(new URL('/metrics', URL_OPEN))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}
const storeRoutes = async () => (await fetch(new URL(`/tensors/sha256:${'0'.repeat(64)}`, URL_OPEN), { method: 'HEAD' })).status === 404;

// ---- the checks -------------------------------------------------------------------

const TRAIN = () => ({
  network: NET, params: params(), inputs: tensor(X, [ROWS, IN]), targets: tensor(Y, [ROWS, OUT]),
  optimizer: { name: 'adam', lr: 0.01 }, epochs: 3, batch_size: 8, shuffle: true, seed: 5,
});

await check('binary_gradients_equal_the_same_request_by_hand', async () => {
  const hand = await byHand('/gradients', { network: NET, params: handParams(), inputs: nested(X, IN), targets: nested(Y, OUT),
    return: { outputs: true, input_grad: true } });
  const r = await gs.gradients({ network: NET, params: params(), inputs: tensor(X, [ROWS, IN]), targets: tensor(Y, [ROWS, OUT]),
    return: { outputs: true, input_grad: true } });
  assert(r.loss === hand.loss, `loss ${r.loss} vs ${hand.loss}`);
  hand.gradients.forEach((g, l) => {
    sameBits(r.gradients[l].weight, g.weight, `gradients/${l}/weight`);
    sameBits(r.gradients[l].bias, g.bias, `gradients/${l}/bias`);
  });
  sameBits(r.outputs, hand.outputs, 'outputs');
  sameBits(r.input_grad, hand.input_grad, 'input_grad');
  assert(JSON.stringify(r.outputs.shape) === `[${ROWS},${OUT}]`, `outputs shape ${r.outputs.shape}`);
  assert(log.some((e) => e.path === '/gradients' && e.status === 200), 'no /gradients in the log');
});

await check('float64_and_integer_labels_equal_the_same_request_by_hand', async () => {
  const X64 = Float64Array.from(X, (v) => v / 3);
  const hand = await byHand('/forward', { network: NET_CE, dtype: 'float64', params: handParams(), inputs: nested(X64, IN),
    targets: Array.from(LABELS), return: { activations: true } });
  for (const labels of [LABELS, BigInt64Array.from(LABELS, BigInt), Uint8Array.from(LABELS)]) {
    const r = await gs.forward({ network: NET_CE, dtype: 'float64', params: params(), inputs: tensor(X64, [ROWS, IN]),
      targets: labels, return: { activations: true } });
    assert(r.loss === hand.loss, `${labels.constructor.name}: loss ${r.loss} vs ${hand.loss}`);
    sameBits(r.outputs, hand.outputs, 'outputs', Float64Array);
    sameBits(r.activations[0], hand.activations[0], 'activations/0', Float64Array);
  }
});

await check('train_params_bit_identical_across_binary_b64_and_nested', async () => {
  const hand = await byHand('/train', { ...TRAIN(), params: handParams(), inputs: nested(X, IN), targets: nested(Y, OUT) });
  const bin = await gs.train(TRAIN());
  const b64 = await gs.train(TRAIN(), { encoding: 'b64' });
  const nest = await gs.train(TRAIN(), { encoding: 'nested' });
  sameAnswers(bin, b64, 'binary vs b64');
  bin.params.forEach((p, l) => {
    sameBits(p.weight, hand.params[l].weight, `params/${l}/weight`);
    sameBits(p.bias, nest.params[l].bias, `params/${l}/bias (nested)`);
  });
  bin.optimizer_state.buffers.exp_avg_sq.forEach((p, l) => sameBits(p.weight, hand.optimizer_state.buffers.exp_avg_sq[l].weight, `exp_avg_sq/${l}`));
  assert(JSON.stringify(bin.loss_history) === JSON.stringify(hand.loss_history), 'loss_history differs');
  // the answer's state goes straight into the next call, as a training loop does
  const next = await gs.train({ ...TRAIN(), params: bin.params, optimizer_state: bin.optimizer_state });
  const handNext = await byHand('/train', { ...TRAIN(), params: hand.params, optimizer_state: hand.optimizer_state,
    inputs: nested(X, IN), targets: nested(Y, OUT) });
  next.params.forEach((p, l) => sameBits(p.weight, handNext.params[l].weight, `resumed params/${l}/weight`));
});

await check('problem_details_arrive_in_a_GradserveError', async () => {
  expectInvalid = true;
  try {
    await gs.train({ ...TRAIN(), optimizer: { name: 'adam', lr: -1 } });
    assert(false, 'no error');
  } catch (e) {
    assert(e instanceof GradserveError && e instanceof Error, `${e}`);
    assert(e.status === 400 && e.problem.status === 400 && e.title === 'Invalid request', `status ${e.status}, title ${e.title}`);
    assert(e.errors.length === 1 && e.errors[0].pointer === '/optimizer/lr', `errors ${JSON.stringify(e.errors)}`);
    assert(/^[0-9a-f]{32}$/.test(e.requestId), `request id ${e.requestId}`);
    assert(e.route === '/train' && /400 Invalid request: .* \/optimizer\/lr: must be/.test(e.message), e.message);
  } finally {
    expectInvalid = false;
  }
  // a shape that does not match its data is refused by the client, before sending
  const n = log.length;
  let thrown = null;
  try { await gs.forward({ network: NET, inputs: tensor(X, [ROWS, IN + 1]) }); } catch (e) { thrown = e; }
  assert(thrown instanceof RangeError && /holds 222 elements, the data 185/.test(thrown.message), `${thrown}`);
  assert(log.length === n, 'a request went out');
  // a binary body whose tensor is not where the network wants it: the pointer names it
  try {
    await gs.gradients({ network: NET, params: params(), inputs: tensor(X, [IN, ROWS]), targets: tensor(Y, [ROWS, OUT]) });
    assert(false, 'no error');
  } catch (e) {
    assert(e instanceof GradserveError && e.status === 400 && e.errors.some((x) => x.pointer === '/inputs'), `${e.message}`);
  }
});

await check('no_server_is_a_GradserveError_with_status_0', async () => {
  const dead = new Client({ url: 'http://127.0.0.1:9' });
  try {
    await dead.forward({ network: NET, inputs: tensor(X, [ROWS, IN]) });
    assert(false, 'no error');
  } catch (e) {
    assert(e instanceof GradserveError && e.status === 0 && /Network error/.test(e.message) && e.cause, `${e}`);
  }
});

await check('the_token_is_sent_and_a_401_is_a_GradserveError', async () => {
  const body = { network: NET, params: params(), inputs: tensor(X, [ROWS, IN]) };
  const withToken = await new Client({ url: URL_AUTH, token: TOKEN, fetch: checkedFetch }).forward(body);
  const open = await gs.forward(body);
  sameTensors(withToken.outputs, open.outputs, 'outputs behind the token');
  try {
    await new Client({ url: URL_AUTH, fetch: checkedFetch }).forward(body);
    assert(false, 'no error');
  } catch (e) {
    assert(e instanceof GradserveError && e.status === 401, `${e}`);
  }
});

await check('streamed_train_yields_each_epoch_then_the_unstreamed_answer', async () => {
  const whole = await gs.train(TRAIN());
  for (const encoding of ['binary', 'nested']) {
    const lines = [];
    const stream = gs.trainStream(TRAIN(), { encoding });
    for await (const line of stream) lines.push(line);
    const result = await stream.result;
    assert(lines.length === 3 && lines.map((l) => l.epoch).join() === '1,2,3', `${encoding}: lines ${JSON.stringify(lines)}`);
    assert(lines[2].steps === 15, `steps ${lines[2].steps}`); // 3 epochs x ceil(37 / 8)
    // an epoch's loss is the mean of its mini-batch losses
    const mean = whole.loss_history.slice(5, 10).reduce((a, b) => a + b, 0) / 5;
    assert(Math.abs(lines[1].loss - mean) <= 1e-12 * Math.abs(mean), `epoch 2 loss ${lines[1].loss} vs ${mean}`);
    if (encoding === 'binary') sameAnswers(result, whole, 'streamed vs whole');
    else result.params.forEach((p, l) => sameBits(whole.params[l].weight, p.weight, `nested streamed params/${l}`));
  }
  // the callback form
  const seen = [];
  const r = await gs.train(TRAIN(), { onEpoch: (line) => seen.push(line.epoch) });
  assert(seen.join() === '1,2,3', `onEpoch saw ${seen}`);
  sameAnswers(r, whole, 'onEpoch answer vs whole');
});

await check('a_streamed_train_reports_its_problem', async () => {
  // divergence: a line per epoch, then the 422 as the last line
  const stream = gs.trainStream({ ...TRAIN(), optimizer: { name: 'sgd', lr: 1e30 }, epochs: 50 });
  let epochs = 0;
  try {
    for await (const line of stream) epochs += line.epoch ? 1 : 0;
    assert(false, 'no error');
  } catch (e) {
    assert(e instanceof GradserveError && e.status === 422 && typeof e.problem.step === 'number', `${e}`);
  }
  await stream.result.then(() => assert(false, 'result resolved'), (e) => assert(e instanceof GradserveError, `${e}`));
  // refused before the stream: a 400, thrown by the first iteration
  try {
    for await (const line of gs.trainStream({ ...TRAIN(), epochs: 0 })) assert(false, `a line ${JSON.stringify(line)}`);
    assert(false, 'no error');
  } catch (e) {
    assert(e instanceof GradserveError && e.status === 400 && e.errors[0].pointer === '/epochs', `${e}`);
  }
});

await check('aborting_a_streamed_train_stops_the_servers_training', async () => {
  const gone = await metric('gradserve_rejected_total{reason="client_gone"}');
  const ctl = new AbortController();
  // 50 epochs of 2,000 steps of a 5-256-256-3 network: tens of seconds unless stopped
  const rows = 2000;
  const body = { ...TRAIN(), init: { seed: 1 },
    network: { ...NET, layers: [{ units: 256, activation: 'tanh' }, { units: 256, activation: 'tanh' }, { units: OUT, activation: 'linear' }] },
    inputs: tensor(randn(rows * IN, 9), [rows, IN]), targets: tensor(randn(rows * OUT, 10), [rows, OUT]), batch_size: 1, epochs: 50 };
  delete body.params;
  const seen = [];
  try {
    for await (const line of gs.trainStream(body, { signal: ctl.signal })) {
      seen.push(line.epoch);
      if (seen.length === 2) ctl.abort();
    }
    assert(false, 'the stream ended');
  } catch (e) {
    assert(e.name === 'AbortError', `${e.name}: ${e.message}`);
  }
  assert(seen.join() === '1,2', `epochs seen ${seen}`);
  let now = gone;
  for (let i = 0; i < 100 && now === gone; i++) {
    await new Promise((r) => setTimeout(r, 50));
    now = await metric('gradserve_rejected_total{reason="client_gone"}');
  }
  assert(now === gone + 1, `client_gone ${gone} -> ${now}`);
});

await check('leaving_a_streamed_train_early_stops_the_servers_training', async () => {
  const gone = await metric('gradserve_rejected_total{reason="client_gone"}');
  const rows = 2000;
  const body = { ...TRAIN(), init: { seed: 1 },
    network: { ...NET, layers: [{ units: 256, activation: 'tanh' }, { units: 256, activation: 'tanh' }, { units: OUT, activation: 'linear' }] },
    inputs: tensor(randn(rows * IN, 9), [rows, IN]), targets: tensor(randn(rows * OUT, 10), [rows, OUT]), batch_size: 1, epochs: 50 };
  delete body.params;
  // not through checkedFetch: its copy of the body would keep reading it
  const stream = new Client({ url: URL_OPEN }).trainStream(body);
  for await (const line of stream) if (line.epoch === 1) break;
  await stream.result.then(() => assert(false, 'result resolved'), (e) => assert(/left before its answer/.test(e.message), `${e}`));
  let now = gone;
  for (let i = 0; i < 100 && now === gone; i++) {
    await new Promise((r) => setTimeout(r, 50));
    now = await metric('gradserve_rejected_total{reason="client_gone"}');
  }
  assert(now === gone + 1, `client_gone ${gone} -> ${now}`);
});

// ---- refs (the tensor store) ------------------------------------------------------------

const haveStore = await storeRoutes();
if (!haveStore) console.log('  (this server has no tensor store: the ref checks below fail until it does)');

await check('a_503_is_sent_again_after_its_Retry_After', async () => {
  // the busy server has one worker and no queue; a long /train (ended by its
  // --max-request-seconds 2) holds the worker meanwhile
  const busyUrl = process.env.GS_BUSY_URL;
  const r = rng(61);
  const inputs = Array.from({ length: 256 }, () => Array.from({ length: 64 }, () => Math.round((r() * 2 - 1) * 1000) / 1000));
  const long = fetch(`${busyUrl}/train`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ network: { inputs: 64, layers: [{ units: 256, activation: 'relu' }, { units: 10, activation: 'linear' }], loss: 'cross_entropy' },
      init: { seed: 1 }, epochs: 100000, batch_size: 256, optimizer: { name: 'sgd', lr: 0.01 }, inputs, targets: inputs.map((_, i) => i % 10) }) })
    .then((res) => res.arrayBuffer());
  let answered = false;
  long.then(() => { answered = true; }, () => { answered = true; });
  const metric = async (name) => {
    const text = await (await fetch(`${busyUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line.split(' ')[1]);
  };
  const until = Date.now() + 30000;
  while (!answered && await metric('gradserve_memory_in_use_bytes') === 0) { // admitted
    assert(Date.now() < until, 'the long /train never started');
    await new Promise((res) => setTimeout(res, 10));
  }
  assert(!answered, 'the long /train was answered before it could be waited on');
  const body = { network: NET, params: params(), inputs: tensor(X, [ROWS, IN]) };
  try {
    await new Client({ url: busyUrl, busyRetries: 0, fetch: checkedFetch }).forward(body);
    assert(false, 'no error');
  } catch (e) {
    assert(e instanceof GradserveError && e.status === 503 && /saturated$/.test(e.problem.type), `${e}`);
  }
  const patient = new Client({ url: busyUrl, fetch: checkedFetch });
  const got = await patient.forward(body);
  assert(patient.busyWaits >= 1, `busyWaits ${patient.busyWaits}`);
  sameTensors(got.outputs, (await gs.forward(body)).outputs, 'outputs after waiting');
  await long;
  assert(retryAfterSeconds('2') === 2 && retryAfterSeconds(null) === 1 && retryAfterSeconds('soon') === 1, 'Retry-After forms');
  assert(retryAfterSeconds('86400') === MAX_RETRY_AFTER_S && retryAfterSeconds('Wed, 21 Oct 2015 07:28:00 GMT') === 0, 'Retry-After bounds');
});

await check('putTensor_stores_once_by_digest_and_getTensor_reads_it_back', async () => {
  const data = randn(1000, 21);
  const name = await digest(bytesOf(data));
  const { createHash } = await import('node:crypto');
  assert(name === `sha256:${createHash('sha256').update(bytesOf(data)).digest('hex')}`, `digest ${name}`);
  await gs.deleteTensor(name);
  assert(!(await gs.hasTensor(name)), 'held before the PUT');
  const n = log.length;
  const ref = await gs.putTensor(tensor(data, [10, 100]));
  assert(ref instanceof TensorRef && ref.ref === name && ref.dtype === 'float32' && ref.shape.join() === '10,100', JSON.stringify(ref));
  assert(log[n].method === 'PUT' && log[n].status === 201, `first PUT: ${JSON.stringify(log[n])}`);
  await gs.putTensor(tensor(data, [10, 100]));
  assert(log[n + 1].method === 'PUT' && log[n + 1].status === 200, `second PUT: ${JSON.stringify(log[n + 1])}`);
  assert(await gs.hasTensor(ref), 'not held after the PUT');
  const back = await gs.getTensor(new TensorRef(ref.ref, [10, 100], 'float32'));
  sameTensors(back, ref.tensor, 'GET');
  assert(await gs.deleteTensor(ref) && !(await gs.deleteTensor(ref)), 'DELETE twice');
});

await check('train_params_bit_identical_with_refs', async () => {
  const b64 = await gs.train(TRAIN(), { encoding: 'b64' });
  const ref = await gs.train(TRAIN(), { encoding: 'ref' });
  assert(ref.params[0].weight instanceof TensorRef, `params/0/weight is a ${ref.params[0].weight && ref.params[0].weight.constructor.name}`);
  sameAnswers(await fetchRefs(ref), b64, 'ref vs b64');
  // refs made by the server go into the next call as they are
  const next = await gs.train({ ...TRAIN(), params: ref.params, optimizer_state: ref.optimizer_state }, { encoding: 'ref' });
  const nextB64 = await gs.train({ ...TRAIN(), params: b64.params, optimizer_state: b64.optimizer_state }, { encoding: 'b64' });
  sameAnswers(await fetchRefs(next), nextB64, 'resumed: ref vs b64');
  // int64 labels as a ref
  const ce = { network: NET_CE, params: params(), inputs: tensor(X, [ROWS, IN]), targets: LABELS };
  const a = await gs.gradients(ce, { encoding: 'ref' });
  const b = await gs.gradients(ce, { encoding: 'binary' });
  assert(a.loss === b.loss, `cross_entropy loss ${a.loss} vs ${b.loss}`);
  sameAnswers(await fetchRefs(a), b, 'cross_entropy gradients: ref vs binary');
});

await check('a_409_is_healed_by_one_upload_and_the_same_request', async () => {
  const inputs = tensor(randn(ROWS * IN, 31), [ROWS, IN]);
  const body = () => ({ ...TRAIN(), inputs });
  const first = await gs.train(body(), { encoding: 'ref' });
  const inputsRef = await digest(bytesOf(inputs.data));
  assert(await gs.deleteTensor(inputsRef), 'the inputs were not in the store');
  const n = log.length;
  const again = await gs.train(body(), { encoding: 'ref' });
  const sent = log.slice(n).map((e) => `${e.method} ${e.path} ${e.status}`);
  assert(sent.join('|') === `POST /train 409|PUT /tensors/${inputsRef} 201|POST /train 200`, `requests: ${sent.join(', ')}`);
  sameAnswers(await fetchRefs(again), await fetchRefs(first), 'after the 409');
  // the same request again: nothing to upload
  const m = log.length;
  await gs.train(body(), { encoding: 'ref' });
  assert(log.length === m + 1, `requests: ${log.slice(m).map((e) => `${e.method} ${e.path} ${e.status}`)}`);
});

await check('a_409_for_a_ref_without_local_bytes_lists_every_missing_ref', async () => {
  const a = new TensorRef(await digest(bytesOf(randn(ROWS * IN, 41))), [ROWS, IN], 'float32');
  const b = new TensorRef(await digest(bytesOf(randn(ROWS * OUT, 42))), [ROWS, OUT], 'float32');
  try {
    await gs.forward({ network: NET, params: params(), inputs: a, targets: b }, { encoding: 'ref' });
    assert(false, 'no error');
  } catch (e) {
    assert(e instanceof GradserveError && e.status === 409, `${e}`);
    const got = e.errors.map((x) => `${x.pointer} ${x.ref}`).sort().join('|');
    assert(got === `/inputs ${a.ref}|/targets ${b.ref}`, `errors ${JSON.stringify(e.errors)}`);
    assert(/no local copy/.test(e.message), e.message);
  }
});

await check('a_train_call_on_refs_is_under_4_kB_each_way', async () => {
  // The issue's recipe, scaled down: a 784-256-128-10 ReLU network, Adam,
  // mini-batches of 128, a chunk of 1,000 rows; the second call carries the
  // first one's params and optimizer state, as a training loop does.
  const rows = 1000;
  const net = { inputs: 784, layers: [{ units: 256, activation: 'relu' }, { units: 128, activation: 'relu' }, { units: 10, activation: 'linear' }],
    loss: 'cross_entropy' };
  const body = { network: net, init: { seed: 1 }, inputs: tensor(randn(rows * 784, 51), [rows, 784]),
    targets: Int32Array.from({ length: rows }, (_, i) => i % 10), optimizer: { name: 'adam', lr: 1e-3 }, epochs: 1, batch_size: 128 };
  const sizes = {};
  let answers = {};
  for (const encoding of ['b64', 'binary', 'ref']) {
    const first = await gs.train(body, { encoding });
    const n = log.length;
    const { init: _fresh, ...rest } = body; // the second call resumes
    answers[encoding] = await gs.train({ ...rest, params: first.params, optimizer_state: first.optimizer_state }, { encoding });
    const call = log.slice(n).filter((e) => e.path === '/train').pop();
    sizes[encoding] = { sent: call.sent, received: await call.received };
  }
  sameAnswers(await fetchRefs(answers.ref), answers.binary, 'ref vs binary');
  const kB = (b) => (b / 1024).toFixed(1);
  for (const [e, { sent, received }] of Object.entries(sizes)) console.log(`  /train with ${e}: ${kB(sent)} kB sent, ${kB(received)} kB received`);
  console.log(`  binary / ref: ${(sizes.binary.sent / sizes.ref.sent).toFixed(0)}x sent, ${(sizes.binary.received / sizes.ref.received).toFixed(0)}x received`);
  assert(sizes.ref.sent <= 4096 && sizes.ref.received <= 4096, `ref: ${JSON.stringify(sizes.ref)}`);
});

await check('every_exchange_matched_the_contract', async () => {
  await Promise.all(log.map((e) => e.received));
  assert(violations.length === 0, violations.slice(0, 5).join('\n'));
  assert(log.length > 30, `only ${log.length} requests checked`);
});

finish();
