// The chain-rule panel: POST /autodiff, then the tape (forward order) and the
// reverse sweep one accumulation at a time, highlighting the nodes involved.
import { GradserveError } from './gradserve.js';
import { $, el } from './dom.js';

const fmt = (v) => (v === null || v === undefined ? '—' : Number.isInteger(v) ? String(v) : Number(v).toPrecision(6));

// "x = 1.5, y = 2" (commas, semicolons or new lines) -> {x: 1.5, y: 2}
export function parseAt(text) {
  const at = {};
  text.split(/[,;\n]+/).map((s) => s.trim()).filter(Boolean).forEach((pair) => {
    const m = pair.match(/^([^=]+)=(.*)$/);
    if (!m) throw new Error(`"${pair}" is not name = value`);
    const v = m[2].trim();
    at[m[1].trim()] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v; // the server judges the rest
  });
  return at;
}

let state = null; // {resp, expr, step}

function nodeLabel(n) {
  return `[${n.id}] ${n.text}`;
}

function showExpression(expr, hi, from) {
  const box = $('ad-expr-view');
  box.textContent = '';
  const marks = [];
  if (hi) marks.push({ span: hi.span, cls: 'hl-node' });
  if (from) marks.push({ span: from.span, cls: 'hl-from' });
  // draw the wider span (from) around the narrower one (node) when nested
  if (!marks.length) { box.textContent = expr; return; }
  const m = marks[marks.length - 1];
  const [b, e] = m.span;
  box.append(expr.slice(0, b));
  const outer = el('mark', undefined, m.cls);
  if (marks.length === 2 && marks[0].span[0] >= b && marks[0].span[1] <= e) {
    const [ib, ie] = marks[0].span;
    outer.append(expr.slice(b, ib), el('mark', expr.slice(ib, ie), marks[0].cls), expr.slice(ie, e));
  } else {
    outer.textContent = expr.slice(b, e);
  }
  box.append(outer, expr.slice(e));
}

function renderTape(resp) {
  const body = $('ad-tape').querySelector('tbody');
  body.textContent = '';
  resp.tape.forEach((n) => {
    const tr = el('tr');
    tr.dataset.node = n.id;
    const op = n.op === 'var' ? `var ${n.name}` : n.op === 'const' ? `const` : n.symbol ? `${n.op} (${n.symbol})` : n.op;
    const partials = n.inputs.map((inp, k) => `∂/∂[${inp}] = ${fmt(n.partials[k])}`).join(', ');
    [String(n.id), op, n.text, n.inputs.map((i) => `[${i}]`).join(', '), fmt(n.value), partials, n.depends ? '0' : '—']
      .forEach((t, i) => tr.append(el('td', t, ['', '', 'mono', '', '', 'mono', 'adj'][i] || undefined)));
    body.append(tr);
  });
}

function renderEvents(resp) {
  const list = $('ad-events');
  list.textContent = '';
  resp.reverse.forEach((ev, k) => {
    const li = el('li');
    li.dataset.step = k;
    const n = resp.tape[ev.node];
    if (ev.from === null) {
      li.textContent = `seed: adjoint of the output ${nodeLabel(n)} = 1`;
    } else {
      const f = resp.tape[ev.from];
      li.textContent = `adjoint[${ev.node}] += adjoint[${ev.from}] × ∂[${ev.from}]/∂[${ev.node}] = ${fmt(f.adjoint)} × ${fmt(ev.partial)} = ${fmt(ev.contribution)}  →  adjoint[${ev.node}] = ${fmt(ev.adjoint)}   (${n.text} inside ${f.text})`;
    }
    list.append(li);
  });
}

// Shows the sweep after `step` events (0: nothing yet; all: done).
function showStep(step) {
  const { resp, expr } = state;
  state.step = step;
  const adj = new Map();
  resp.reverse.slice(0, step).forEach((ev) => adj.set(ev.node, ev.adjoint));
  const cur = step > 0 ? resp.reverse[step - 1] : null;
  document.querySelectorAll('#ad-tape tbody tr').forEach((tr) => {
    const id = Number(tr.dataset.node);
    const n = resp.tape[id];
    tr.querySelector('.adj').textContent = n.depends ? fmt(adj.has(id) ? adj.get(id) : 0) : '—';
    tr.classList.toggle('hl-node', !!cur && cur.node === id);
    tr.classList.toggle('hl-from', !!cur && cur.from === id);
  });
  document.querySelectorAll('#ad-events li').forEach((li) => {
    const k = Number(li.dataset.step);
    li.classList.toggle('done', k < step);
    li.classList.toggle('current', k === step - 1);
  });
  showExpression(expr, cur ? resp.tape[cur.node] : null, cur && cur.from !== null ? resp.tape[cur.from] : null);
  $('ad-step-label').textContent = `step ${step} of ${resp.reverse.length}`;
  $('ad-prev').disabled = step === 0;
  $('ad-next').disabled = step >= resp.reverse.length;
}

function renderSummary(resp) {
  const box = $('ad-summary');
  box.textContent = '';
  box.append(el('p', `value = ${fmt(resp.value)}`));
  const t = el('table');
  t.append(el('tr'));
  ['variable', 'reverse mode ∂f/∂v', 'forward mode ∂f/∂v'].forEach((h) => t.firstChild.append(el('th', h)));
  Object.keys(resp.gradient).forEach((v) => {
    const tr = el('tr');
    [v, fmt(resp.gradient[v]), fmt(resp.forward_gradient[v])].forEach((c) => tr.append(el('td', c)));
    t.append(tr);
  });
  box.append(t);
  const s = resp.sweeps;
  box.append(el('p', `Sweeps for the whole gradient: forward mode ${s.forward} (one per input, ${s.inputs} inputs), reverse mode ${s.reverse} (one per output). A network's loss has one output and millions of inputs: that is why training uses reverse mode — back-propagation.`, 'note'));
}

export function initChain({ client, showError, clearError }) {
  const run = async () => {
    clearError();
    $('ad-result').hidden = true;
    let at;
    try {
      at = parseAt($('ad-at').value);
    } catch (e) {
      showError(`Values: ${e.message}`);
      return;
    }
    const expr = $('ad-expression').value;
    try {
      const resp = await client.autodiff({ expression: expr, at });
      state = { resp, expr, step: 0 };
      renderSummary(resp);
      renderTape(resp);
      renderEvents(resp);
      $('ad-result').hidden = false;
      showStep(0);
    } catch (e) {
      if (e instanceof GradserveError && e.problem && Number.isInteger(e.problem.position)) {
        const p = e.problem.position;
        showError(`${e.message}\n${expr}\n${' '.repeat(p)}^ position ${p}`);
      } else {
        showError(e.message);
      }
    }
  };
  $('ad-run').addEventListener('click', run);
  $('ad-prev').addEventListener('click', () => state && showStep(Math.max(0, state.step - 1)));
  $('ad-next').addEventListener('click', () => state && showStep(Math.min(state.resp.reverse.length, state.step + 1)));
  $('ad-all').addEventListener('click', () => state && showStep(state.resp.reverse.length));
  $('ad-events').addEventListener('click', (e) => {
    const li = e.target.closest('li');
    if (li && state) showStep(Number(li.dataset.step) + 1);
  });
}
