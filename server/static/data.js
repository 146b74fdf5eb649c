// Datasets made in the page from a seed (the same settings give the same
// points), the input features computed from them, and the grid the network's
// neurons are drawn over.

// mulberry32: a small seeded generator (uniform in [0, 1)).
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(rand) {
  const u = Math.max(rand(), 1e-12), v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

const round = (v) => Math.round(v * 1e4) / 1e4;

// One row per dataset. task: 'classify' (labels 0..classes-1) or 'regress'
// (a number per point); dims: 2 for points [x, y], 1 for points [x] (the
// plane then shows x against the target); manyClasses: the class count is a
// setting. make(n, noise, rand, classes) -> {pts, labels}, points in about
// [-1, 1]; noise is the standard deviation of the jitter.
const DATASET_ROWS = [
  { name: 'xor', label: 'XOR', task: 'classify', dims: 2, make(n, noise, rand) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      // a margin around the axes keeps the classes separable before noise
      let x = 0.1 + 0.9 * rand(), y = 0.1 + 0.9 * rand();
      if (rand() < 0.5) x = -x;
      if (rand() < 0.5) y = -y;
      labels.push(x * y > 0 ? 0 : 1);
      pts.push([x + noise * gauss(rand), y + noise * gauss(rand)]);
    }
    return { pts, labels };
  } },
  { name: 'circle', label: 'circle', task: 'classify', dims: 2, make(n, noise, rand) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      const inside = i % 2 === 0;
      const r = inside ? 0.45 * Math.sqrt(rand()) : 0.6 + 0.4 * rand();
      const a = 2 * Math.PI * rand();
      labels.push(inside ? 1 : 0);
      pts.push([r * Math.cos(a) + noise * gauss(rand), r * Math.sin(a) + noise * gauss(rand)]);
    }
    return { pts, labels };
  } },
  { name: 'gaussians', label: 'two gaussians', task: 'classify', dims: 2, make(n, noise, rand) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      const c = i % 2, m = c ? 0.45 : -0.45, s = 0.2 + noise;
      labels.push(c);
      pts.push([m + s * gauss(rand), m + s * gauss(rand)]);
    }
    return { pts, labels };
  } },
  { name: 'spiral', label: 'spiral', task: 'classify', dims: 2, manyClasses: true, make(n, noise, rand, classes) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      const c = i % classes, t = rand();
      const r = 0.05 + 0.9 * t, a = 3.5 * Math.PI * t + (c * 2 * Math.PI) / classes;
      labels.push(c);
      pts.push([r * Math.cos(a) + noise * gauss(rand), r * Math.sin(a) + noise * gauss(rand)]);
    }
    return { pts, labels };
  } },
  { name: 'blobs', label: 'blobs', task: 'classify', dims: 2, manyClasses: true, make(n, noise, rand, classes) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      const c = i % classes, a = (c * 2 * Math.PI) / classes + 0.3, s = 0.12 + noise;
      labels.push(c);
      pts.push([0.6 * Math.cos(a) + s * gauss(rand), 0.6 * Math.sin(a) + s * gauss(rand)]);
    }
    return { pts, labels };
  } },
  { name: 'sine', label: 'regression 1-D: a sine', task: 'regress', dims: 1, make(n, noise, rand) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      const x = 2 * rand() - 1;
      pts.push([x]);
      labels.push(0.8 * Math.sin(Math.PI * x) + noise * gauss(rand));
    }
    return { pts, labels };
  } },
  { name: 'bumps', label: 'regression 2-D: two bumps', task: 'regress', dims: 2, make(n, noise, rand) {
    const bump = (x, y, cx, cy) => Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.18);
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      const x = 2 * rand() - 1, y = 2 * rand() - 1;
      pts.push([x, y]);
      labels.push(bump(x, y, 0.4, 0.35) - bump(x, y, -0.45, -0.3) + noise * gauss(rand));
    }
    return { pts, labels };
  } },
];

export const DATASETS = Object.fromEntries(DATASET_ROWS.map((d) => [d.name, d]));

// TensorFlow Playground's input features. Its plane spans [-6, 6], where
// sin x makes about two waves; this page's plane spans [-1, 1], so the sines
// take pi x to keep a wave across it. dims: the point dimensions a feature needs.
const FEATURE_ROWS = [
  { name: 'x', label: 'x', dims: 1, f: (p) => p[0] },
  { name: 'y', label: 'y', dims: 2, f: (p) => p[1] },
  { name: 'x2', label: 'x²', dims: 1, f: (p) => p[0] * p[0] },
  { name: 'y2', label: 'y²', dims: 2, f: (p) => p[1] * p[1] },
  { name: 'xy', label: 'xy', dims: 2, f: (p) => p[0] * p[1] },
  { name: 'sinx', label: 'sin πx', dims: 1, f: (p) => Math.sin(Math.PI * p[0]) },
  { name: 'siny', label: 'sin πy', dims: 2, f: (p) => Math.sin(Math.PI * p[1]) },
];
export const FEATURES = Object.fromEntries(FEATURE_ROWS.map((f) => [f.name, f]));
export const FEATURE_NAMES = FEATURE_ROWS.map((f) => f.name);

const round6 = (v) => Math.round(v * 1e6) / 1e6;

// points [n, dims] -> the network's inputs [n, features.length]
export function featurize(points, features) {
  return points.map((p) => features.map((name) => round6(FEATURES[name].f(p))));
}

// Splits shuffled rows into train and test:
// {train: {x, y}, test: {x, y}, classes, task, dims}; y holds labels or targets.
function split(pts, labels, testFraction, rand, meta) {
  const idx = pts.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const nTest = Math.min(idx.length - 1, Math.max(1, Math.round(testFraction * idx.length)));
  const value = meta.task === 'regress' ? round : (v) => v;
  const pick = (ids) => ({ x: ids.map((i) => pts[i].map(round)), y: ids.map((i) => value(labels[i])) });
  const classes = meta.task === 'regress' ? 1 : Math.max(2, ...labels.map((l) => l + 1));
  return { train: pick(idx.slice(nTest)), test: pick(idx.slice(0, nTest)), classes, ...meta };
}

// Throws an Error naming the setting when one cannot make a dataset.
export function makeDataset(name, { n = 200, noise = 0.05, testFraction = 0.3, seed = 1, classes = 3 } = {}) {
  const d = DATASETS[name];
  if (!d) throw new Error(`dataset: no dataset named "${name}"`);
  if (!Number.isInteger(n) || n < 4 || n > 5000) throw new Error('points: a whole number from 4 to 5000');
  if (!(noise >= 0)) throw new Error('noise: a number >= 0');
  if (!(testFraction >= 0 && testFraction < 1)) throw new Error('test fraction: a number from 0 to below 1');
  const rand = rng(seed);
  const { pts, labels } = d.make(n, noise, rand, d.manyClasses ? classes : 2);
  return split(pts, labels, testFraction, rand, { task: d.task, dims: d.dims });
}

// "x1,x2,label" per line (a header line and blank lines are skipped); labels
// are class indices 0, 1, 2, ... Throws an Error naming the line.
export function parseCsv(text, { testFraction = 0.3, seed = 1 } = {}) {
  const pts = [], labels = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const s = line.trim();
    if (!s || s.startsWith('#')) return;
    const cells = s.split(/[,;\t ]+/);
    if (cells.length !== 3) throw new Error(`CSV line ${i + 1}: want 3 values (x1, x2, label), found ${cells.length}`);
    const v = cells.map(Number);
    if (v.some((c) => !Number.isFinite(c))) {
      if (pts.length === 0 && labels.length === 0) return; // a header
      throw new Error(`CSV line ${i + 1}: "${s}" is not three numbers`);
    }
    if (!Number.isInteger(v[2]) || v[2] < 0) throw new Error(`CSV line ${i + 1}: the label must be a class index 0, 1, ...`);
    pts.push([v[0], v[1]]);
    labels.push(v[2]);
  });
  if (pts.length < 4) throw new Error('CSV: at least 4 rows are needed');
  return split(pts, labels, testFraction, rng(seed), { task: 'classify', dims: 2 });
}

// The points the neurons are drawn over, covering the data with a margin:
// dims 2: side x side points row-major from the top-left; dims 1: side
// points from left to right. {x: points, x0, x1, y0, y1, side, dims}; for
// dims 1, y0..y1 is the range of the targets.
export function gridOver(sets, side) {
  const all = [...sets.train.x, ...sets.test.x];
  const range = (vals) => {
    let lo = Math.min(...vals), hi = Math.max(...vals);
    const m = 0.1 * (hi - lo || 1);
    return [lo - m, hi + m];
  };
  const [x0, x1] = range(all.map((p) => p[0]));
  if (sets.dims === 1) {
    const [y0, y1] = range([...sets.train.y, ...sets.test.y]);
    const x = [];
    for (let c = 0; c < side; c++) x.push([round(x0 + ((c + 0.5) / side) * (x1 - x0))]);
    return { x, x0, x1, y0, y1, side, dims: 1 };
  }
  const [y0, y1] = range(all.map((p) => p[1]));
  const x = [];
  for (let r = 0; r < side; r++) {
    const y = y1 - ((r + 0.5) / side) * (y1 - y0);
    for (let c = 0; c < side; c++) x.push([round(x0 + ((c + 0.5) / side) * (x1 - x0)), round(y)]);
  }
  return { x, x0, x1, y0, y1, side, dims: 2 };
}
