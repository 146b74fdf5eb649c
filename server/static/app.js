// The playground: reads one settings object from the form per action, trains
// through a sequence of POST /train calls (params and optimizer state carried
// from one to the next), then asks the server, in parallel, for what the
// panels show: every layer's activations over the plane (/forward), the
// error signals and gradients on the training points (/gradients) and the
// test loss (/forward).
import { Client, GradserveError } from './gradserve.js';
import { $, el, on, short } from './dom.js';
import { DATASETS, FEATURES, FEATURE_NAMES, makeDataset, parseCsv, gridOver, featurize } from './data.js';
import { ACTIVATIONS, readSettings, writeSettings, toHash, fromHash } from './settings.js';
import { network, lossFor, targets, probs, accuracy, r2 } from './model.js';
import { drawOutput, drawCurves, drawMagnitudes, paintGrid, paintPoints, probColor, classRamp, diverging, maxAbs, FORWARD, BACKWARD } from './plot.js';
import { drawNetwork } from './netview.js';
import { initSweep, renderSweep, clearSweep } from './sweep.js';
import { initChain } from './chain.js';

// Every request goes through the repository's JavaScript client, in plain
// JSON both ways (the encoding a person reads and "Copy as curl" replays);
// the last one to each route is kept for that command.
const sent = new Map(); // route -> {url, body, token, accept} of the last request to it
const api = new Client({
  encoding: 'nested',
  onRequest: ({ route, url, headers, body }) => {
    sent.set(route, { url, body, token: api.token, accept: headers.Accept });
    setTimeout(refreshCurl, 0);
  },
});

const GRID_2D = 40; // side of the grid the plane is drawn from (40 x 40 points)
const GRID_1D = 120;

const S = {
  sets: null, grid: null,
  params: null, optState: null, optName: null,
  epoch: 0, history: { train: [], test: [] },
  last: null, // what the last round computed, for the pictures and the sweep
  view: 'forward', focus: [], pick: 0, mapping: null,
  running: false, busy: false,
  model: 0, // counts resets: which model a round's answers belong to
};

// ---- errors ------------------------------------------------------------------

function showError(text) {
  $('error').textContent = text;
  $('error').hidden = false;
}
function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}
function explain(e) {
  if (e instanceof GradserveError) return e.status ? `The server refused ${e.route}: ${e.message}` : e.message;
  return `${e.name}: ${e.message}`;
}

// ---- the form --------------------------------------------------------------------

function layerRow(units, activation) {
  const u = el('input', null, 'units');
  u.type = 'number'; u.min = '1'; u.max = '16'; u.value = String(units);
  u.setAttribute('aria-label', 'units'); u.title = 'units';
  const a = el('select', null, 'activation');
  a.setAttribute('aria-label', 'activation');
  ACTIVATIONS.forEach((n) => a.append(new Option(n, n, false, n === activation)));
  const del = el('button', '×', 'small');
  del.type = 'button'; del.title = 'remove this layer';
  const row = el('div', null, 'layer-row', el('span', null, 'layer-name'), u, a, del);
  del.addEventListener('click', () => { row.remove(); resetModel(); });
  u.addEventListener('change', resetModel);
  a.addEventListener('change', resetModel);
  return row;
}

function featureBoxes() {
  FEATURE_NAMES.forEach((f) => {
    const box = el('input');
    box.type = 'checkbox'; box.id = `feature-${f}`; box.checked = f === 'x' || f === 'y';
    box.addEventListener('change', resetModel);
    $('features').append(el('label', null, 'feature', box, FEATURES[f].label));
  });
}

// The URL's hash follows the settings, so the address bar is a shareable link.
function saveHash(s) {
  history.replaceState(null, '', `#${toHash(s)}`);
}

// What the dataset allows: a class count for the many-class sets, the loss
// (regression is mse; more than two classes is cross-entropy), features of
// y only in the plane.
function applyTask(sets) {
  const d = DATASETS[$('dataset').value];
  $('classes').disabled = !(d && d.manyClasses);
  // a forced loss shows in the select; the reader's own choice comes back after
  const loss = $('loss'), forced = sets.task === 'regress' || sets.classes > 2;
  if (forced && !loss.disabled) loss.dataset.was = loss.value;
  if (!forced && loss.disabled && loss.dataset.was) { loss.value = loss.dataset.was; delete loss.dataset.was; }
  if (forced) loss.value = lossFor(readSettings(), sets);
  loss.disabled = forced;
  FEATURE_NAMES.forEach((f) => {
    const box = $(`feature-${f}`);
    const off = FEATURES[f].dims > sets.dims;
    if (off && !box.disabled) { box.dataset.was = String(box.checked); box.checked = false; }
    if (!off && box.disabled && box.dataset.was) { box.checked = box.dataset.was === 'true'; delete box.dataset.was; }
    box.disabled = off;
  });
  if (!FEATURE_NAMES.some((f) => $(`feature-${f}`).checked)) $('feature-x').checked = true;
}

function describeNetwork(s) {
  document.querySelectorAll('#layers .layer-row .layer-name').forEach((n, i) => { n.textContent = `layer ${i + 1}`; });
  const out = network(s, S.sets).layers.at(-1);
  const what = S.sets.task === 'regress' ? 'the predicted value' : out.activation === 'softmax' ? 'one per class' : 'probability of class 1';
  $('output-layer').textContent = `output: ${out.units} ${out.units === 1 ? 'unit' : 'units'}, ${out.activation} (${what})`;
}

// ---- data --------------------------------------------------------------------------

function loadData() {
  const s = readSettings();
  $('csv-box').hidden = s.dataset !== 'csv';
  const opts = { n: s.points, noise: s.noise, testFraction: s.testFraction, seed: s.dataSeed, classes: s.classes };
  try {
    S.sets = s.dataset === 'csv' ? parseCsv(s.csv, opts) : makeDataset(s.dataset, opts);
  } catch (e) {
    showError(e.message);
    return;
  }
  clearError();
  S.grid = gridOver(S.sets, S.sets.dims === 1 ? GRID_1D : GRID_2D);
  applyTask(S.sets);
  const kind = S.sets.task === 'regress' ? `a ${S.sets.dims}-D regression` : `${S.sets.classes} classes`;
  $('data-info').textContent = `${S.sets.train.x.length} training points (filled), ${S.sets.test.x.length} test points (hollow), ${kind}`;
  const regress = S.sets.task === 'regress';
  $('output-source').textContent = S.sets.dims === 1
    ? `The prediction along x from POST /forward on ${GRID_1D} points; the targets above x.`
    : `The prediction over the plane from POST /forward on a ${GRID_2D} × ${GRID_2D} grid.`;
  $('train-acc-label').textContent = regress ? 'train R²' : 'train accuracy';
  $('test-acc-label').textContent = regress ? 'test R²' : 'test accuracy';
  resetModel();
}

// ---- training ------------------------------------------------------------------------

function resetModel() {
  S.model++; // a round still under way for the old model drops its answers
  S.params = null; S.optState = null; S.optName = null; S.last = null;
  S.epoch = 0; S.history = { train: [], test: [] };
  S.trainLoss = undefined; S.trainScore = undefined; S.testScore = undefined;
  S.pick = Math.min(S.pick, Math.max(0, S.sets.train.x.length - 1));
  const s = readSettings();
  saveHash(s);
  describeNetwork(s);
  clearSweep();
  $('sweep-empty').hidden = false;
  $('gradcheck-result').textContent = '';
  drawAll(s);
  setStatus();
}

function setStatus(extra) {
  const last = (a) => (a.length ? a[a.length - 1][1] : null);
  const f = (v) => (v === null || v === undefined ? '—' : v.toPrecision(4));
  const score = (v) => (v === undefined ? '—' : S.sets.task === 'regress' ? v.toFixed(3) : `${(100 * v).toFixed(1)}%`);
  $('epoch').textContent = String(S.epoch);
  $('train-loss').textContent = f(S.trainLoss);
  $('test-loss').textContent = f(last(S.history.test));
  $('train-acc').textContent = score(S.trainScore);
  $('test-acc').textContent = score(S.testScore);
  $('run-state').textContent = extra || (S.running ? 'training…' : S.epoch ? 'paused' : 'ready');
}

// The params in the request: the trained ones, or an initialisation.
function withParams(body, s) {
  if (S.params) body.params = S.params;
  else body.init = { scheme: s.init, seed: s.initSeed };
  return body;
}

// One round: POST /train, then (in parallel) the training set's error
// signals and gradients, the test loss, and every layer over the grid.
async function round() {
  const s = readSettings();
  saveHash(s);
  const net = network(s, S.sets);
  const opt = { name: s.optimizer, lr: s.lr, weight_decay: s.l2 };
  if (S.optName && S.optName !== opt.name) S.optState = null; // another optimizer: fresh state
  const trainX = featurize(S.sets.train.x, s.features);
  const trainY = targets(net, S.sets.train.y);
  const body = withParams({
    network: net, inputs: trainX, targets: trainY, optimizer: opt,
    epochs: s.epochs, batch_size: s.batchSize, shuffle: true, seed: S.epoch + 1,
  }, s);
  if (S.optState) body.optimizer_state = S.optState;
  const start = S.epoch, model = S.model;
  const tr = await api.train(body, { onEpoch: ({ epoch, loss }) => { // as each epoch's line arrives
    if (model !== S.model) return;
    S.history.train.push([start + epoch, loss]);
    $('epoch').textContent = String(start + epoch);
    drawLoss();
  } });
  if (model !== S.model) return; // reset (new data, network or settings) while it trained
  S.params = tr.params; S.optState = tr.optimizer_state; S.optName = opt.name;
  S.epoch += s.epochs;

  const gridX = featurize(S.grid.x, s.features);
  const [g, t, f] = await Promise.all([
    api.gradients({ network: net, params: S.params, inputs: trainX, targets: trainY,
      return: { outputs: true, deltas: true, activations: true, input_grad: true } }),
    api.forward({ network: net, params: S.params, inputs: featurize(S.sets.test.x, s.features), targets: targets(net, S.sets.test.y) }),
    api.forward({ network: net, params: S.params, inputs: gridX, return: { activations: true } }),
  ]);
  if (model !== S.model) return;
  S.last = { net, features: s.features, params: S.params, trainX, gridX, g, gridActivations: f.activations, gridOutputs: f.outputs };
  S.history.test.push([S.epoch, t.loss]);
  S.trainLoss = g.loss;
  if (S.sets.task === 'regress') {
    S.trainScore = r2(g.outputs, S.sets.train.y);
    S.testScore = r2(t.outputs, S.sets.test.y);
  } else {
    S.trainScore = accuracy(probs(net, g.outputs), S.sets.train.y);
    S.testScore = accuracy(probs(net, t.outputs), S.sets.test.y);
  }
  $('sweep-empty').hidden = true;
  drawAll(s);
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

// ---- the pictures --------------------------------------------------------------------

const blank = (ctx, x, y, size) => { ctx.fillStyle = '#f1f5f9'; ctx.fillRect(x, y, size, size); };
const column = (a, j) => a.map((r) => r[j]);
const rms = (a) => {
  const flat = a.flat(Infinity);
  return Math.sqrt(flat.reduce((s, v) => s + v * v, 0) / Math.max(1, flat.length));
};

// The forward view: each feature and each neuron's output over the plane,
// the weights on the edges. Each hidden layer shares one colour scale.
function forwardSpec(s, net) {
  const grid = S.grid, last = S.last;
  const gridX = last ? last.gridX : featurize(grid.x, s.features);
  const tile = (values, scale) => (ctx, x, y, size) =>
    paintGrid(ctx, x, y, size, grid, values, (v) => diverging(FORWARD, v / scale), -scale, scale);
  const inputs = {
    title: 'inputs', sub: `${s.features.length} features`,
    nodes: s.features.map((f, i) => {
      const v = column(gridX, i);
      return { label: FEATURES[f].label, paint: tile(v, maxAbs(v)) };
    }),
  };
  const L = net.layers.length;
  const layers = net.layers.map((layer, l) => {
    const out = l === L - 1;
    const col = { title: out ? 'output' : `layer ${l + 1}`, sub: `${layer.units} ${layer.activation}`, nodes: [] };
    const A = last && last.gridActivations[l];
    const scale = A ? maxAbs(A) : 1;
    if (A && !out) col.note = `|a| ≤ ${short(scale)}`;
    for (let j = 0; j < layer.units; j++) {
      let paint = blank, label = '';
      if (out) label = S.sets.task === 'regress' ? 'ŷ' : layer.activation === 'softmax' ? `class ${j}` : 'p(1)';
      if (A && out && S.sets.task === 'regress') {
        const vmax = maxAbs([...S.sets.train.y, ...S.sets.test.y]);
        paint = (ctx, x, y, size) => paintGrid(ctx, x, y, size, grid, column(A, j), (v) => diverging(FORWARD, v / vmax), grid.y0, grid.y1);
      } else if (A && out) {
        const color = layer.activation === 'softmax' ? (v) => classRamp(j, v) : (v) => probColor([1 - v, v]);
        paint = (ctx, x, y, size) => paintGrid(ctx, x, y, size, grid, column(A, j), color, 0, 1);
      } else if (A) {
        // each neuron to its own largest |a| (a ReLU layer's strongest neuron
        // would wash out the rest), but at least a twentieth of the layer's,
        // so a dead or idle neuron stays pale
        const a = column(A, j);
        paint = tile(a, Math.max(maxAbs(a), scale / 20));
      }
      col.nodes.push({ label, paint });
    }
    return col;
  });
  return { columns: [inputs, ...layers], links: net.layers.map((_, l) => (last ? last.params[l].weight : null)), palette: FORWARD };
}

// The backward view: each neuron's error signal dL/dz on every training
// point, the inputs' dL/dx, and dL/dW on the edges. One scale per layer,
// printed under it, so shrinking signals show.
function backwardSpec(s, net) {
  const grid = S.grid, last = S.last, pts = S.sets.train.x;
  const tile = (values, scale, behind) => (ctx, x, y, size) => paintPoints(ctx, x, y, size, grid, pts, values, scale, BACKWARD, S.pick, behind);
  const g = last && last.g;
  const inScale = g ? maxAbs(g.input_grad) : 1;
  const inputs = {
    title: 'inputs', sub: 'dL/dx', note: g ? `max ${inScale.toExponential(1)}` : '',
    nodes: s.features.map((f, i) => ({ label: FEATURES[f].label, paint: g ? tile(column(g.input_grad, i), inScale, column(last.gridX, i)) : blank })),
  };
  const L = net.layers.length;
  const layers = net.layers.map((layer, l) => {
    const scale = g ? maxAbs(g.deltas[l]) : 1;
    return {
      title: l === L - 1 ? 'output' : `layer ${l + 1}`, sub: 'dL/dz', note: g ? `max ${scale.toExponential(1)}` : '',
      nodes: Array.from({ length: layer.units }, (_, j) => ({
        label: l === L - 1 && layer.units > 1 ? `class ${j}` : '',
        paint: g ? tile(column(g.deltas[l], j), scale, column(last.gridActivations[l], j)) : blank,
      })),
    };
  });
  return { columns: [inputs, ...layers], links: net.layers.map((_, l) => (g ? g.gradients[l].weight : null)), palette: BACKWARD };
}

const NOTES = {
  forward: `Each tile is a neuron's output over the plane (POST /forward with every layer's activations on the grid): orange below zero, blue above, white at zero, full colour at the neuron's largest |a| (its layer's is printed under it). Edges are the weights: width by |w|, colour by sign.`,
  backward: `Each tile shows the error signal dL/dz the neuron receives at every training point (POST /gradients, deltas): pink where raising the neuron's z would raise the loss, green where it would lower it; colour strength grows with √|dL/dz| up to the largest in the layer, printed under it. Edges are dL/dW, the sum of those signals times the values each edge carries. Behind them, in greys, what the neuron computes (darker below zero). The ringed point is the one followed below.`,
};

function drawPicture(s) {
  const net = network(s, S.sets);
  const spec = S.view === 'forward' ? forwardSpec(s, net) : backwardSpec(s, net);
  spec.focus = S.view === 'backward' ? S.focus : [];
  drawNetwork($('network'), spec);
  $('network-note').textContent = NOTES[S.view];
  const legend = $('legend');
  legend.textContent = '';
  const [neg, pos] = S.view === 'forward' ? ['negative', 'positive'] : ['δ < 0: lower z, lower loss', 'δ > 0: raise z, raise loss'];
  legend.append(el('span', null, `swatch ${S.view}-neg`), neg, el('span', null, 'swatch zero'), '0',
    el('span', null, `swatch ${S.view}-pos`), pos);
}

function drawLoss() {
  drawCurves($('curves'), [
    { label: 'train (per epoch)', color: '#2563eb', points: S.history.train },
    { label: 'test (per round)', color: '#f59e0b', points: S.history.test },
  ], 'epochs');
}

function drawAll(s) {
  const last = S.last;
  let view = null;
  if (last) view = S.sets.task === 'regress' ? { values: last.gridOutputs } : { probs: probs(last.net, last.gridOutputs) };
  S.mapping = drawOutput($('boundary'), S.grid, view, S.sets, last ? S.pick : -1);
  drawPicture(s);
  drawLoss();
  drawMagnitudes($('magnitudes'), last ? last.net.layers.map((_, i) => ({
    name: `layer ${i + 1}`, grad: rms(last.g.gradients[i].weight), delta: rms(last.g.deltas[i]),
  })) : []);
  if (last) showSweep();
}

// ---- the step-through --------------------------------------------------------------

function showSweep() {
  const last = S.last, i = S.pick, g = last.g;
  const p = S.sets.train.x[i], y = S.sets.train.y[i];
  const where = p.length === 1 ? `x = ${p[0]}` : `(${p[0]}, ${p[1]})`;
  const what = S.sets.task === 'regress' ? `target ${y}` : `class ${y}`;
  const says = g.outputs[i].map(short).join(', ');
  renderSweep({
    net: last.net, params: last.params, features: last.features.map((f) => FEATURES[f].label),
    row: i, x: last.trainX[i], target: y, outputs: g.outputs[i],
    activations: g.activations.map((a) => a[i]), deltas: g.deltas.map((d) => d[i]),
    inputGrad: g.input_grad ? g.input_grad[i] : null, rows: last.trainX.length,
    head: `Training point #${i} at ${where}, ${what}; the network's output there: [${says}]; loss over the ${last.trainX.length} training points ${short(g.loss)}.`,
  });
}

function pick(i) {
  if (!S.sets) return;
  S.pick = Math.max(0, Math.min(S.sets.train.x.length - 1, Math.floor(i) || 0));
  $('sweep-point').value = String(S.pick);
  if (S.last) drawAll(readSettings());
}

// The training point whose output error signal is largest.
function pickWorst() {
  if (!S.last) return;
  const out = S.last.g.deltas.at(-1).map((row) => row.reduce((s, v) => s + Math.abs(v), 0));
  pick(out.reduce((k, v, i) => (v > out[k] ? i : k), 0));
}

// A click on the output picks the nearest training point.
function pickAt(ev) {
  const c = $('boundary');
  const cx = (ev.offsetX * c.width) / c.clientWidth, cy = (ev.offsetY * c.height) / c.clientHeight;
  let best = 0, bestD = Infinity;
  S.sets.train.x.forEach((p, i) => {
    const [x, y] = S.mapping.at(p, S.sets.train.y[i]);
    const d = (x - cx) ** 2 + (y - cy) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  });
  pick(best);
}

// ---- gradient check, export, share, curl ----------------------------------------------

async function gradcheck() {
  await guarded(async () => {
    const s = readSettings();
    const net = network(s, S.sets);
    const rows = Math.min(32, S.sets.train.x.length);
    const r = await api.gradcheck(withParams({
      network: net, inputs: featurize(S.sets.train.x.slice(0, rows), s.features), targets: targets(net, S.sets.train.y.slice(0, rows)),
    }, s));
    const box = $('gradcheck-result');
    box.textContent = '';
    const head = el('p', r.passed
      ? `✓ passed: back-propagation agrees with finite differences (atol ${r.tolerance.atol}, rtol ${r.tolerance.rtol}) on ${rows} rows`
      : '✗ failed: back-propagation and finite differences disagree', r.passed ? 'pass' : 'fail');
    const t = el('table');
    t.append(el('tr', null, null, ...['tensor', 'max abs error', 'max rel error', 'checked', ''].map((h) => el('th', h))));
    r.tensors.forEach((x) => t.append(el('tr', null, null, ...[`layer ${x.layer + 1} ${x.name}`, x.max_abs_error.toExponential(2),
      x.max_rel_error.toExponential(2), String(x.checked), x.passed ? '✓' : '✗'].map((c) => el('td', c)))));
    box.append(head, t);
  });
}

// The trained network as a file: its definition and params, ready for
// POST /forward with inputs made of the listed features.
function exportWeights() {
  if (!S.last) { showError('Nothing to export yet: train or step once first.'); return; }
  const doc = { network: S.last.net, features: S.last.features, params: S.last.params, epochs: S.epoch };
  const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 1)], { type: 'application/json' }));
  const a = el('a');
  a.href = url;
  a.download = 'gradserve-network.json';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function share() {
  saveHash(readSettings());
  try {
    await navigator.clipboard.writeText(location.href);
    $('share-state').textContent = 'link copied';
  } catch {
    $('share-state').textContent = 'the address bar holds the link';
  }
}

// The last request to route as a curl command a person can paste.
function curlCommand(route) {
  const r = sent.get(route);
  if (!r) return '';
  const q = (t) => `'${t.replace(/'/g, `'\\''`)}'`;
  const parts = [`curl -sS ${q(r.url)}`, `-H ${q('Content-Type: application/json')}`];
  if (r.token) parts.push(`-H ${q(`Authorization: Bearer ${r.token}`)}`);
  if (r.accept) parts.push(`-N -H ${q(`Accept: ${r.accept}`)}`);
  parts.push(`--data-raw ${q(r.body)}`);
  return parts.join(' \\\n  ');
}

function refreshCurl() {
  const sel = $('curl-route');
  const cur = sel.value;
  const routes = [...sent.keys()];
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
  try {
    await navigator.clipboard.writeText($('curl').textContent);
    $('copy-state').textContent = 'copied';
  } catch {
    const range = document.createRange();
    range.selectNodeContents($('curl'));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    $('copy-state').textContent = 'selected: press Ctrl+C to copy';
  }
}

function setView(v) {
  S.view = v;
  $('view-forward').setAttribute('aria-pressed', String(v === 'forward'));
  $('view-backward').setAttribute('aria-pressed', String(v === 'backward'));
  drawPicture(readSettings());
}

// ---- wiring ------------------------------------------------------------------------------

function init() {
  Object.values(DATASETS).forEach((d) => $('dataset').append(new Option(d.label, d.name, false, d.name === 'xor')));
  $('dataset').append(new Option('your CSV', 'csv'));
  featureBoxes();
  [[8, 'tanh'], [8, 'tanh']].forEach(([u, a]) => $('layers').append(layerRow(u, a)));
  if (location.hash.length > 1) writeSettings(fromHash(location.hash), layerRow);
  on('add-layer', 'click', () => { $('layers').append(layerRow(4, 'tanh')); resetModel(); });
  ['dataset', 'classes', 'points', 'noise', 'test-fraction', 'data-seed'].forEach((id) => on(id, 'change', loadData));
  on('use-csv', 'click', loadData);
  ['loss', 'init', 'init-seed'].forEach((id) => on(id, 'change', resetModel));
  ['optimizer', 'lr', 'batch-size', 'epochs', 'l1', 'l2'].forEach((id) => on(id, 'change', () => saveHash(readSettings())));
  on('token', 'input', () => { api.token = $('token').value.trim(); });
  api.token = $('token').value.trim();
  on('train', 'click', train);
  on('pause', 'click', () => { S.running = false; buttons(); setStatus('pausing…'); });
  on('step', 'click', () => guarded(round));
  on('reset', 'click', () => { S.running = false; resetModel(); });
  on('gradcheck', 'click', gradcheck);
  on('export', 'click', exportWeights);
  on('share', 'click', share);
  on('copy-curl', 'click', copyCurl);
  on('curl-route', 'change', refreshCurl);
  on('view-forward', 'click', () => setView('forward'));
  on('view-backward', 'click', () => setView('backward'));
  on('sweep-point', 'change', () => pick(Number($('sweep-point').value)));
  on('boundary', 'click', pickAt);
  on('sweep-worst', 'click', pickWorst);
  window.addEventListener('hashchange', () => { writeSettings(fromHash(location.hash), layerRow); loadData(); });
  let resize = 0;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(() => S.sets && drawPicture(readSettings()), 100); });
  initSweep((cols) => { S.focus = cols; if (S.sets) drawPicture(readSettings()); });
  initChain({ client: api, showError: (t) => { $('ad-error').textContent = t; $('ad-error').hidden = false; },
    clearError: () => { $('ad-error').hidden = true; } });
  loadData();
  buttons();
  document.body.dataset.ready = 'true';
}

init();
