// The playground: builds a network from the form, trains it through a
// sequence of POST /train calls (params and optimizer state carried from one
// to the next), and after each one asks the server for what the panels show.
import { call, setToken, onRequest, sentRoutes, curlCommand, ApiError } from './api.js';
import { DATASETS, makeDataset, parseCsv, gridOver } from './data.js';
import { drawBoundary, drawCurves, drawMagnitudes } from './plot.js';
import { initChain } from './chain.js';

const $ = (id) => document.getElementById(id);
const GRID = 40;
const ACTIVATIONS = ['tanh', 'relu', 'leaky_relu', 'elu', 'gelu', 'sigmoid', 'softplus', 'linear'];

const S = {
  sets: null, grid: null, classes: 2,
  params: null, optState: null, optName: null,
  epoch: 0, history: { train: [], test: [] },
  running: false, busy: false,
};

// ---- errors ------------------------------------------------------------------

function showError(text) {
  const box = $('error');
  box.textContent = text;
  box.hidden = false;
}
function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}
function explain(e) {
  if (e instanceof ApiError) return e.status ? `The server refused ${e.route}: ${e.message}` : e.message;
  return `${e.name}: ${e.message}`;
}

// ---- the form --------------------------------------------------------------------

function layerRow(units, activation) {
  const row = document.createElement('div');
  row.className = 'layer-row';
  const u = document.createElement('input');
  u.type = 'number'; u.min = '1'; u.value = String(units); u.className = 'units';
  u.setAttribute('aria-label', 'units');
  const a = document.createElement('select');
  a.className = 'activation';
  a.setAttribute('aria-label', 'activation');
  ACTIVATIONS.forEach((n) => a.append(new Option(n, n, false, n === activation)));
  const del = document.createElement('button');
  del.type = 'button'; del.textContent = '×'; del.title = 'remove this layer'; del.className = 'small';
  del.addEventListener('click', () => { row.remove(); numberLayers(); resetModel(); });
  const label = document.createElement('span');
  label.className = 'layer-name';
  row.append(label, u, document.createTextNode(' units, '), a, del);
  u.addEventListener('change', resetModel);
  a.addEventListener('change', resetModel);
  return row;
}

function numberLayers() {
  document.querySelectorAll('#layers .layer-row .layer-name').forEach((s, i) => { s.textContent = `hidden ${i + 1}:`; });
  const loss = $('loss').value;
  $('output-layer').textContent = loss === 'cross_entropy'
    ? `output: ${S.classes} units, softmax (one per class)`
    : `output: 1 unit, sigmoid (probability of class 1)`;
}

function hiddenLayers() {
  return [...document.querySelectorAll('#layers .layer-row')].map((r) => ({
    units: Number(r.querySelector('.units').value),
    activation: r.querySelector('.activation').value,
  }));
}

function network() {
  const loss = $('loss').value;
  const out = loss === 'cross_entropy' ? { units: S.classes, activation: 'softmax' } : { units: 1, activation: 'sigmoid' };
  return { inputs: 2, layers: [...hiddenLayers(), out], loss };
}

const num = (id) => Number($(id).value);

function optimizer() {
  return { name: $('optimizer').value, lr: num('lr') };
}

function targets(y) {
  return $('loss').value === 'cross_entropy' ? y : y.map((v) => [v]);
}

// Output rows -> class probabilities.
function probs(outputs) {
  return $('loss').value === 'cross_entropy' ? outputs : outputs.map((o) => [1 - o[0], o[0]]);
}

function accuracy(p, y) {
  let ok = 0;
  p.forEach((row, i) => {
    let k = 0;
    row.forEach((v, j) => { if (v > row[k]) k = j; });
    if (k === y[i]) ok++;
  });
  return y.length ? ok / y.length : 0;
}

// The params in the request: the trained ones, or an initialisation.
function withParams(body) {
  if (S.params) body.params = S.params;
  else body.init = { scheme: $('init').value, seed: num('init-seed') };
  return body;
}

// ---- data --------------------------------------------------------------------------

function loadData() {
  const name = $('dataset').value;
  $('csv-box').hidden = name !== 'csv';
  const opts = { n: num('points'), noise: num('noise'), testFraction: num('test-fraction'), seed: num('data-seed') };
  try {
    S.sets = name === 'csv' ? parseCsv($('csv').value, opts) : makeDataset(name, opts);
  } catch (e) {
    showError(e.message);
    return;
  }
  clearError();
  S.classes = S.sets.classes;
  if (S.classes > 2 && $('loss').value !== 'cross_entropy') $('loss').value = 'cross_entropy';
  S.grid = gridOver(S.sets, GRID);
  $('data-info').textContent = `${S.sets.train.x.length} training points (filled), ${S.sets.test.x.length} test points (hollow), ${S.classes} classes`;
  resetModel();
}

// ---- training ------------------------------------------------------------------------

function resetModel() {
  S.params = null; S.optState = null; S.optName = null;
  S.epoch = 0; S.history = { train: [], test: [] };
  numberLayers();
  if (S.sets) drawBoundary($('boundary'), S.grid, null, S.sets);
  drawCurves($('curves'), [], 'epochs');
  drawMagnitudes($('magnitudes'), []);
  $('gradcheck-result').textContent = '';
  setStatus();
}

function setStatus(extra) {
  const h = S.history;
  const last = (a) => (a.length ? a[a.length - 1][1] : null);
  const f = (v) => (v === null ? '—' : v.toPrecision(4));
  $('epoch').textContent = String(S.epoch);
  $('train-loss').textContent = f(last(h.train));
  $('test-loss').textContent = f(last(h.test));
  $('train-acc').textContent = S.trainAcc === undefined ? '—' : `${(100 * S.trainAcc).toFixed(1)}%`;
  $('test-acc').textContent = S.testAcc === undefined ? '—' : `${(100 * S.testAcc).toFixed(1)}%`;
  $('run-state').textContent = extra || (S.running ? 'training…' : S.epoch ? 'paused' : 'ready');
}

const rms = (a) => {
  const flat = a.flat(Infinity);
  return Math.sqrt(flat.reduce((s, v) => s + v * v, 0) / Math.max(1, flat.length));
};

// One round: POST /train, then what the panels show (the training set's loss,
// gradients and deltas; the test loss; the boundary over the grid).
async function round() {
  const net = network();
  const opt = optimizer();
  if (S.optName && S.optName !== opt.name) S.optState = null; // another optimizer: fresh state
  const epochs = num('epochs');
  const body = withParams({
    network: net, inputs: S.sets.train.x, targets: targets(S.sets.train.y), optimizer: opt,
    epochs, batch_size: num('batch-size'), shuffle: true, seed: S.epoch + 1,
  });
  if (S.optState) body.optimizer_state = S.optState;
  const tr = await call('/train', body);
  S.params = tr.params; S.optState = tr.optimizer_state; S.optName = opt.name;
  S.epoch += epochs;

  const g = await call('/gradients', {
    network: net, params: S.params, inputs: S.sets.train.x, targets: targets(S.sets.train.y),
    return: { outputs: true, deltas: true },
  });
  const t = await call('/forward', { network: net, params: S.params, inputs: S.sets.test.x, targets: targets(S.sets.test.y) });
  const b = await call('/forward', { network: net, params: S.params, inputs: S.grid.x });

  S.history.train.push([S.epoch, g.loss]);
  S.history.test.push([S.epoch, t.loss]);
  S.trainAcc = accuracy(probs(g.outputs), S.sets.train.y);
  S.testAcc = accuracy(probs(t.outputs), S.sets.test.y);
  drawBoundary($('boundary'), S.grid, probs(b.outputs), S.sets);
  drawCurves($('curves'), [
    { label: 'train', color: '#2563eb', points: S.history.train },
    { label: 'test', color: '#f59e0b', points: S.history.test },
  ], 'epochs');
  drawMagnitudes($('magnitudes'), net.layers.map((l, i) => ({
    name: `layer ${i + 1}`, grad: rms(g.gradients[i].weight), delta: rms(g.deltas[i]),
  })));
  setStatus();
}

async function guarded(fn) {
  if (S.busy) return false;
  S.busy = true;
  try {
    clearError();
    await fn();
    return true;
  } catch (e) {
    S.running = false;
    showError(explain(e));
    setStatus('stopped by an error');
    return false;
  } finally {
    S.busy = false;
    buttons();
  }
}

function buttons() {
  $('train').disabled = S.running;
  $('pause').disabled = !S.running;
  $('step').disabled = S.running;
}

async function train() {
  if (S.running) return;
  S.running = true;
  buttons();
  setStatus();
  while (S.running) {
    const ok = await guarded(round);
    if (!ok) break;
    await new Promise((r) => setTimeout(r, 30)); // let the page breathe
  }
  S.running = false;
  buttons();
  setStatus();
}

async function gradcheck() {
  await guarded(async () => {
    const rows = Math.min(32, S.sets.train.x.length);
    const r = await call('/gradcheck', withParams({
      network: network(), inputs: S.sets.train.x.slice(0, rows), targets: targets(S.sets.train.y.slice(0, rows)),
    }));
    const box = $('gradcheck-result');
    box.textContent = '';
    const head = document.createElement('p');
    head.className = r.passed ? 'pass' : 'fail';
    head.textContent = r.passed
      ? `✓ passed: back-propagation agrees with finite differences (atol ${r.tolerance.atol}, rtol ${r.tolerance.rtol}) on ${rows} rows`
      : '✗ failed: back-propagation and finite differences disagree';
    const t = document.createElement('table');
    const hr = document.createElement('tr');
    ['tensor', 'max abs error', 'max rel error', 'checked', ''].forEach((h) => { const th = document.createElement('th'); th.textContent = h; hr.append(th); });
    t.append(hr);
    r.tensors.forEach((x) => {
      const tr = document.createElement('tr');
      [`layer ${x.layer + 1} ${x.name}`, x.max_abs_error.toExponential(2), x.max_rel_error.toExponential(2), String(x.checked), x.passed ? '✓' : '✗']
        .forEach((c) => { const td = document.createElement('td'); td.textContent = c; tr.append(td); });
      t.append(tr);
    });
    box.append(head, t);
  });
}

// ---- copy as curl ----------------------------------------------------------------------

function refreshCurl() {
  const sel = $('curl-route');
  const cur = sel.value;
  const routes = sentRoutes();
  if (routes.length !== sel.options.length) {
    sel.textContent = '';
    routes.forEach((r) => sel.append(new Option(`POST ${r}`, r)));
  }
  if (routes.includes(cur)) sel.value = cur;
  else if (routes.includes('/train')) sel.value = '/train';
  $('curl').textContent = curlCommand(sel.value) || 'No request sent yet.';
}

async function copyCurl() {
  refreshCurl();
  const text = $('curl').textContent;
  try {
    await navigator.clipboard.writeText(text);
    $('copy-state').textContent = 'copied';
  } catch {
    const range = document.createRange();
    range.selectNodeContents($('curl'));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    $('copy-state').textContent = 'selected: press Ctrl+C to copy';
  }
}

// ---- wiring ------------------------------------------------------------------------------

function init() {
  DATASETS.forEach((d) => $('dataset').append(new Option(d, d, false, d === 'xor')));
  $('dataset').append(new Option('your CSV', 'csv'));
  [[8, 'tanh'], [8, 'tanh']].forEach(([u, a]) => $('layers').append(layerRow(u, a)));
  $('add-layer').addEventListener('click', () => { $('layers').append(layerRow(4, 'tanh')); numberLayers(); resetModel(); });
  ['dataset', 'points', 'noise', 'test-fraction', 'data-seed'].forEach((id) => $(id).addEventListener('change', loadData));
  $('use-csv').addEventListener('click', loadData);
  ['loss', 'init', 'init-seed'].forEach((id) => $(id).addEventListener('change', resetModel));
  $('token').addEventListener('input', () => setToken($('token').value));
  setToken($('token').value);
  $('train').addEventListener('click', train);
  $('pause').addEventListener('click', () => { S.running = false; buttons(); setStatus('pausing…'); });
  $('step').addEventListener('click', () => guarded(round));
  $('reset').addEventListener('click', () => { S.running = false; resetModel(); });
  $('gradcheck').addEventListener('click', gradcheck);
  $('copy-curl').addEventListener('click', copyCurl);
  $('curl-route').addEventListener('change', refreshCurl);
  onRequest(() => setTimeout(refreshCurl, 0));
  initChain({ showError: (t) => { $('ad-error').textContent = t; $('ad-error').hidden = false; },
    clearError: () => { $('ad-error').hidden = true; } });
  loadData();
  buttons();
  document.body.dataset.ready = 'true';
}

init();
