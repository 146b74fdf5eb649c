// The page's settings: one plain object read from the form once per action,
// written back to the form, and carried in the URL's hash so a setup can be
// shared by link (as TensorFlow Playground does).
import { $ } from './dom.js';
import { DATASETS, FEATURE_NAMES, FEATURES } from './data.js';

export const ACTIVATIONS = ['tanh', 'relu', 'leaky_relu', 'elu', 'gelu', 'sigmoid', 'softplus', 'linear'];

// One row per form field: element id, key in the settings and in the hash, kind.
const FIELDS = [
  ['dataset', 'dataset', 'text'], ['classes', 'classes', 'int'], ['points', 'points', 'int'],
  ['noise', 'noise', 'num'], ['test-fraction', 'testFraction', 'num'], ['data-seed', 'dataSeed', 'int'],
  ['loss', 'loss', 'text'], ['optimizer', 'optimizer', 'text'], ['lr', 'lr', 'num'],
  ['batch-size', 'batchSize', 'int'], ['epochs', 'epochs', 'int'], ['init', 'init', 'text'],
  ['init-seed', 'initSeed', 'int'], ['l2', 'l2', 'num'], ['l1', 'l1', 'num'],
];

// The hidden layers' rows in #layers; each row has .units and .activation.
function layerRows() { return [...document.querySelectorAll('#layers .layer-row')]; }

// The form -> {dataset, classes, ..., features: ['x', 'y'], layers: [{units, activation}], csv}
export function readSettings() {
  const s = {};
  FIELDS.forEach(([id, key, kind]) => {
    const v = $(id).value;
    s[key] = kind === 'text' ? v : Number(v);
  });
  s.features = FEATURE_NAMES.filter((f) => $(`feature-${f}`).checked);
  s.layers = layerRows().map((r) => ({
    units: Number(r.querySelector('.units').value),
    activation: r.querySelector('.activation').value,
  }));
  s.csv = $('csv').value;
  return s;
}

// settings -> the form; makeLayerRow(units, activation) builds a row of #layers.
export function writeSettings(s, makeLayerRow) {
  FIELDS.forEach(([id, key]) => { if (s[key] !== undefined && !Number.isNaN(s[key])) $(id).value = String(s[key]); });
  if (s.features) FEATURE_NAMES.forEach((f) => { $(`feature-${f}`).checked = s.features.includes(f); });
  if (s.layers) {
    $('layers').textContent = '';
    s.layers.forEach((l) => $('layers').append(makeLayerRow(l.units, l.activation)));
  }
  if (s.csv !== undefined) $('csv').value = s.csv;
}

// settings -> "dataset=xor&points=200&...&features=x,y&layers=8:tanh,8:tanh"
export function toHash(s) {
  const q = new URLSearchParams();
  FIELDS.forEach(([, key]) => q.set(key, String(s[key])));
  q.set('features', s.features.join(','));
  q.set('layers', s.layers.map((l) => `${l.units}:${l.activation}`).join(','));
  if (s.dataset === 'csv') q.set('csv', s.csv);
  return q.toString();
}

// The hash -> the settings it names (absent or unknown values are left out,
// so the form keeps its own).
export function fromHash(hash) {
  const q = new URLSearchParams(hash.replace(/^#/, ''));
  const s = {};
  FIELDS.forEach(([, key, kind]) => {
    if (!q.has(key)) return;
    const v = q.get(key);
    s[key] = kind === 'text' ? v : Number(v);
  });
  if (s.dataset !== undefined && s.dataset !== 'csv' && !DATASETS[s.dataset]) delete s.dataset;
  if (q.has('features')) s.features = q.get('features').split(',').filter((f) => FEATURES[f]);
  if (q.has('layers')) {
    s.layers = q.get('layers').split(',').filter(Boolean).map((t) => {
      const [u, a] = t.split(':');
      return { units: Number(u), activation: ACTIVATIONS.includes(a) ? a : 'tanh' };
    }).filter((l) => Number.isInteger(l.units) && l.units > 0);
  }
  if (q.has('csv')) s.csv = q.get('csv');
  return s;
}
