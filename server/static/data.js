// Datasets of two-dimensional points with class labels, made in the page
// from a seed so the same settings give the same points.

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

// Each generator: n points [x, y] in about [-1, 1]^2 and labels 0/1; noise is
// the standard deviation of the Gaussian jitter added to each coordinate.
const GENERATORS = {
  xor(n, noise, rand) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      // keep a margin around the axes so the classes are separable before noise
      let x = 0.1 + 0.9 * rand(), y = 0.1 + 0.9 * rand();
      if (rand() < 0.5) x = -x;
      if (rand() < 0.5) y = -y;
      labels.push(x * y > 0 ? 0 : 1);
      pts.push([x + noise * gauss(rand), y + noise * gauss(rand)]);
    }
    return { pts, labels };
  },
  circle(n, noise, rand) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      const inside = i % 2 === 0;
      const r = inside ? 0.45 * Math.sqrt(rand()) : 0.6 + 0.4 * rand();
      const a = 2 * Math.PI * rand();
      labels.push(inside ? 1 : 0);
      pts.push([r * Math.cos(a) + noise * gauss(rand), r * Math.sin(a) + noise * gauss(rand)]);
    }
    return { pts, labels };
  },
  gaussians(n, noise, rand) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      const c = i % 2, m = c ? 0.45 : -0.45, s = 0.2 + noise;
      labels.push(c);
      pts.push([m + s * gauss(rand), m + s * gauss(rand)]);
    }
    return { pts, labels };
  },
  spiral(n, noise, rand) {
    const pts = [], labels = [];
    for (let i = 0; i < n; i++) {
      const c = i % 2, t = rand();
      const r = 0.05 + 0.9 * t, a = 3.5 * Math.PI * t + c * Math.PI;
      labels.push(c);
      pts.push([r * Math.cos(a) + noise * gauss(rand), r * Math.sin(a) + noise * gauss(rand)]);
    }
    return { pts, labels };
  },
};

export const DATASETS = Object.keys(GENERATORS);

// Splits shuffled rows into train and test: {train: {x, y}, test: {x, y}, classes}.
function split(pts, labels, testFraction, rand) {
  const idx = pts.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const nTest = Math.min(idx.length - 1, Math.max(1, Math.round(testFraction * idx.length)));
  const pick = (ids) => ({ x: ids.map((i) => pts[i].map(round)), y: ids.map((i) => labels[i]) });
  const classes = Math.max(2, ...labels.map((l) => l + 1));
  return { train: pick(idx.slice(nTest)), test: pick(idx.slice(0, nTest)), classes };
}

export function makeDataset(name, { n = 200, noise = 0.05, testFraction = 0.3, seed = 1 } = {}) {
  const rand = rng(seed);
  const { pts, labels } = GENERATORS[name](n, noise, rand);
  return split(pts, labels, testFraction, rand);
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
  return split(pts, labels, testFraction, rng(seed));
}

// A grid of side x side points covering the data (with a margin), row-major
// from the top-left: {x: [[x, y], ...], x0, x1, y0, y1, side}.
export function gridOver(sets, side) {
  const all = [...sets.train.x, ...sets.test.x];
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  const mx = 0.1 * (x1 - x0 || 1), my = 0.1 * (y1 - y0 || 1);
  x0 -= mx; x1 += mx; y0 -= my; y1 += my;
  const x = [];
  for (let r = 0; r < side; r++) {
    const y = y1 - ((r + 0.5) / side) * (y1 - y0);
    for (let c = 0; c < side; c++) x.push([round(x0 + ((c + 0.5) / side) * (x1 - x0)), round(y)]);
  }
  return { x, x0, x1, y0, y1, side };
}
