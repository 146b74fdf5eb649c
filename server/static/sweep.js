// One backward sweep for one training point, step by step: the loss's
// derivative at the output, then per layer this point's share of dL/dW
// (delta a^T) and the error signal passed down, delta = (W^T delta_next) x
// act'(z), down to the inputs. The page does each product and sum in front
// of the reader; the column "server" holds the numbers POST /gradients
// computed (its deltas and input_grad for this row, as sent), which the
// page's arithmetic agrees with to float32 rounding.
import { $, el, table, exact, short } from './dom.js';
import { DERIVATIVES, outputSeed } from './model.js';

let state = null; // {steps: [node], step, onFocus}

const paren = (v) => (v < 0 ? `(${short(v)})` : short(v));

// W [out, in], d [out] -> W^T d [in], with each sum's first terms as text
function backSum(W, d) {
  return W[0].map((_, j) => {
    let s = 0;
    const terms = [];
    W.forEach((row, k) => { s += row[j] * d[k]; if (terms.length < 2) terms.push(`${paren(row[j])}·${paren(d[k])}`); });
    const more = W.length > 2 ? ` + … (${W.length} terms)` : '';
    return { value: s, text: `${terms.join(' + ')}${more}` };
  });
}

const serverCell = (v, kind, layer, unit) => {
  const td = el('td', exact(v), `server mono ${kind}`);
  td.dataset.layer = String(layer);
  td.dataset.unit = String(unit);
  return td;
};

const layerName = (net, l) => (l === net.layers.length - 1 ? `the output layer (layer ${l + 1})` : `hidden layer ${l + 1}`);

function step(title, note, body, focus) {
  const li = el('li', null, 'sweep-step', el('h3', title));
  if (note) li.append(el('p', note, 'note'));
  li.append(body);
  li.dataset.focus = focus.join(',');
  return li;
}

// d: {net, params, features (labels), row, x (the row's inputs), target,
// outputs, activations: [[units] per layer] for this row, deltas: likewise,
// inputGrad: [features] or null, rows}. Builds the steps of the sweep.
function buildSteps(d) {
  const { net, params } = d;
  const L = net.layers.length;
  const steps = [];
  const input = (l) => (l === 0 ? d.x : d.activations[l - 1]);
  const inputNames = (l) => (l === 0 ? d.features : d.activations[l - 1].map((_, j) => `a${l}[${j}]`));

  const seed = outputSeed(net, d.outputs, d.target, d.rows);
  const last = net.layers[L - 1];
  steps.push(step(`Start at the loss: dL/dz of ${layerName(net, L - 1)}`,
    `${net.loss} with ${last.activation} and the mean over ${d.rows} training points: dL/dz = ${seed.formula}. The page's arithmetic, then the server's number.`,
    table(['unit', 'output a', 'target', 'dL/dz (page)', 'dL/dz (server)'],
      d.outputs.map((a, j) => [String(j), short(a), net.loss === 'cross_entropy' ? (j === d.target ? '1' : '0') : short(d.target),
        short(seed.values[j]), serverCell(d.deltas[L - 1][j], 'delta', L - 1, j)]), 'sweep-table'), [L]));

  for (let l = L - 1; l >= 0; l--) {
    const a = input(l), delta = d.deltas[l], W = params[l].weight;
    const names = inputNames(l);
    const head = ['δ \\ a', ...names.map((n, j) => `${n} = ${short(a[j])}`), 'dL/db'];
    const rows = delta.map((dk, k) => [`δ${k} = ${short(dk)}`, ...a.map((aj) => short(dk * aj)), short(dk)]);
    steps.push(step(`This point's share of dL/dW for ${layerName(net, l)}: δ aᵀ`,
      `Each weight's gradient is the error signal of the neuron it feeds (δ, a row) times the value it carries (a, a column). Summed over all ${d.rows} training points this is the gradient POST /gradients returns: the edges of the backward view.`,
      table(head, rows, 'sweep-table matrix'), [l, l + 1]));

    const sums = backSum(W, delta);
    if (l > 0) {
      const below = net.layers[l - 1], der = DERIVATIVES[below.activation];
      const aPrev = d.activations[l - 1], inPrev = input(l - 1), Wp = params[l - 1];
      const rowsB = sums.map((s, j) => {
        const z = Wp.weight[j].reduce((acc, w, i) => acc + w * inPrev[i], Wp.bias[j]);
        const g = der.f(aPrev[j], z, below);
        return [String(j), s.text, short(s.value), `${der.text} = ${short(g)}`, short(s.value * g),
          serverCell(d.deltas[l - 1][j], 'delta', l - 1, j)];
      });
      steps.push(step(`Back through the weights and ${below.activation}: δ of ${layerName(net, l - 1)}`,
        `δ = (Wᵀ δ_next) × act'(z): each neuron collects the error signals of the neurons it feeds, weighted by the edges, then scales them by its activation's slope at this point (a = its output here).`,
        table(['unit', 'Wᵀδ = Σ w·δ', '= ', `act'(z)`, 'δ (page)', 'δ (server)'], rowsB, 'sweep-table'), [l, l + 1]));
    } else if (d.inputGrad) {
      steps.push(step('And on to the inputs: dL/dx = Wᵀ δ',
        'The inputs have no activation: the error signal reaching them is Wᵀ δ itself (the input_grad of POST /gradients), how the loss would change if the point moved.',
        table(['feature', 'Wᵀδ = Σ w·δ', 'dL/dx (page)', 'dL/dx (server)'],
          sums.map((s, j) => [d.features[j], s.text, short(s.value), serverCell(d.inputGrad[j], 'input-grad', -1, j)]), 'sweep-table'), [0]));
    }
  }
  return steps;
}

// Shows the sweep after `n` steps.
function show(n) {
  state.step = n;
  state.steps.forEach((li, k) => {
    li.classList.toggle('done', k < n - 1);
    li.classList.toggle('current', k === n - 1);
    li.hidden = k >= n;
  });
  $('sweep-label').textContent = `step ${n} of ${state.steps.length}`;
  $('sweep-prev').disabled = n <= 1;
  $('sweep-next').disabled = n >= state.steps.length;
  const cur = state.steps[n - 1];
  state.onFocus(cur ? cur.dataset.focus.split(',').map(Number) : []);
}

// Renders the sweep of d (see buildSteps), keeping the step the reader was at.
export function renderSweep(d) {
  const steps = buildSteps(d);
  const list = $('sweep-steps');
  list.textContent = '';
  list.append(...steps);
  const keep = state ? Math.min(state.step, steps.length) : 1;
  state = { ...state, steps };
  $('sweep-head').textContent = d.head;
  $('sweep-body').hidden = false;
  show(Math.max(1, keep));
}

export function clearSweep() {
  if (state) state.steps = [];
  $('sweep-steps').textContent = '';
  $('sweep-body').hidden = true;
}

// onFocus(columns): the network picture's columns the current step is about.
export function initSweep(onFocus) {
  state = { steps: [], step: 1, onFocus };
  $('sweep-prev').addEventListener('click', () => state.steps.length && show(Math.max(1, state.step - 1)));
  $('sweep-next').addEventListener('click', () => state.steps.length && show(Math.min(state.steps.length, state.step + 1)));
  $('sweep-all').addEventListener('click', () => state.steps.length && show(state.steps.length));
}
