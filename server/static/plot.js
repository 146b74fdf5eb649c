// Drawing on canvases: the decision boundary, the loss curves and the
// back-propagation magnitudes. Pure functions of what they are given.

const CLASS_COLORS = [[245, 158, 11], [37, 99, 235], [22, 163, 74], [219, 39, 119], [124, 58, 237]];
const rgb = (c, a = 1) => `rgba(${c[0]},${c[1]},${c[2]},${a})`;
const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));
const WHITE = [255, 255, 255];

export function classColor(k) { return rgb(CLASS_COLORS[k % CLASS_COLORS.length]); }

// probs: per grid point, the probability of each class ([p0, p1, ...]).
// Returns a fingerprint of what was drawn, so tests can tell it changed.
export function drawBoundary(canvas, grid, probs, sets) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const cw = W / grid.side, ch = H / grid.side;
  let sum = 0;
  if (probs) {
    probs.forEach((p, i) => {
      let k = 0;
      p.forEach((v, j) => { if (v > p[k]) k = j; });
      const conf = p.length === 2 ? Math.abs(p[1] - p[0]) : (p[k] - 1 / p.length) / (1 - 1 / p.length);
      const base = p.length === 2 ? mix(CLASS_COLORS[0], CLASS_COLORS[1], p[1]) : CLASS_COLORS[k % CLASS_COLORS.length];
      ctx.fillStyle = rgb(mix(WHITE, base, 0.15 + 0.55 * conf));
      const r = Math.floor(i / grid.side), c = i % grid.side;
      ctx.fillRect(Math.floor(c * cw), Math.floor(r * ch), Math.ceil(cw), Math.ceil(ch));
      sum += p[p.length - 1] * (i + 1);
    });
  } else {
    ctx.fillStyle = '#f8fafc';
    ctx.fillRect(0, 0, W, H);
  }
  const px = (x) => ((x - grid.x0) / (grid.x1 - grid.x0)) * W;
  const py = (y) => ((grid.y1 - y) / (grid.y1 - grid.y0)) * H;
  const dot = (p, k, test) => {
    ctx.beginPath();
    ctx.arc(px(p[0]), py(p[1]), test ? 4.5 : 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = test ? '#ffffff' : classColor(k);
    ctx.strokeStyle = test ? classColor(k) : '#ffffff';
    ctx.lineWidth = test ? 2 : 1;
    ctx.fill();
    ctx.stroke();
  };
  sets.train.x.forEach((p, i) => dot(p, sets.train.y[i], false));
  sets.test.x.forEach((p, i) => dot(p, sets.test.y[i], true));
  return sum;
}

// series: [{label, color, points: [[x, y], ...]}]; y on a log scale.
export function drawCurves(canvas, series, xLabel) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, L = 48, R = 10, T = 10, B = 28;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, H);
  const pts = series.flatMap((s) => s.points).filter((p) => p[1] > 0 && Number.isFinite(p[1]));
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#64748b';
  if (!pts.length) {
    ctx.fillText('Press Train or Step: the losses appear here.', L, H / 2);
    return;
  }
  const xmax = Math.max(1, ...pts.map((p) => p[0]));
  let lo = Math.log10(Math.min(...pts.map((p) => p[1])));
  let hi = Math.log10(Math.max(...pts.map((p) => p[1])));
  lo = Math.floor(lo * 2) / 2; hi = Math.ceil(hi * 2) / 2;
  if (hi - lo < 0.5) hi = lo + 0.5;
  const X = (x) => L + (x / xmax) * (W - L - R);
  const Y = (y) => T + ((hi - Math.log10(y)) / (hi - lo)) * (H - T - B);
  ctx.strokeStyle = '#e2e8f0';
  ctx.lineWidth = 1;
  for (let e = Math.ceil(lo); e <= hi; e++) {
    ctx.beginPath(); ctx.moveTo(L, Y(10 ** e)); ctx.lineTo(W - R, Y(10 ** e)); ctx.stroke();
    ctx.fillText(`1e${e}`, 6, Y(10 ** e) + 4);
  }
  ctx.fillText(xLabel, (L + W - R - ctx.measureText(xLabel).width) / 2, H - 8);
  ctx.fillText('0', L, H - 8);
  ctx.fillText(String(xmax), X(xmax) - ctx.measureText(String(xmax)).width, H - 8);
  series.forEach((s, si) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    s.points.filter((p) => p[1] > 0).forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1]))));
    ctx.stroke();
    ctx.fillStyle = s.color;
    ctx.fillRect(L + 10 + si * 90, T + 2, 12, 3);
    ctx.fillText(s.label, L + 26 + si * 90, T + 8);
  });
}

// layers: [{name, grad, delta}] magnitudes (RMS); bars on a log scale.
export function drawMagnitudes(canvas, layers) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, L = 70, R = 80;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, H);
  ctx.font = '11px system-ui, sans-serif';
  if (!layers.length) {
    ctx.fillStyle = '#64748b';
    ctx.fillText('Gradients and deltas appear once training starts.', 10, H / 2);
    return;
  }
  const lo = -6, hi = 1;
  const X = (v) => L + Math.max(0, Math.min(1, (Math.log10(Math.max(v, 1e-12)) - lo) / (hi - lo))) * (W - L - R);
  const rowH = Math.min(40, (H - 20) / layers.length);
  layers.forEach((l, i) => {
    const y = 6 + i * rowH;
    ctx.fillStyle = '#334155';
    ctx.fillText(l.name, 6, y + rowH / 2);
    [['grad', '#2563eb', 'dL/dW'], ['delta', '#db2777', 'dL/dz']].forEach(([k, color, label], j) => {
      const by = y + j * (rowH / 2 - 1) + 2, bh = rowH / 2 - 4;
      ctx.fillStyle = color;
      ctx.fillRect(L, by, X(l[k]) - L, bh);
      ctx.fillStyle = '#334155';
      ctx.fillText(`${label} ${l[k].toExponential(2)}`, X(l[k]) + 4, by + bh - 1);
    });
  });
  ctx.fillStyle = '#94a3b8';
  ctx.fillText('log scale, 1e-6 … 10', L, H - 3);
}
