// Drawing on canvases: the output over the plane, small per-neuron tiles,
// the loss curves and the per-layer gradient sizes. Pure functions of what
// they are given.

const CLASS_COLORS = [[245, 158, 11], [37, 99, 235], [22, 163, 74], [219, 39, 119], [124, 58, 237], [8, 145, 178]];
const rgb = (c, a = 1) => `rgba(${c[0]},${c[1]},${c[2]},${a})`;
const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));
const WHITE = [255, 255, 255];

// Diverging palettes [negative, positive]: values as TensorFlow Playground
// colours them (orange below zero, blue above) in the forward view; error
// signals and gradients in green and pink, so the two views never read alike.
export const FORWARD = { neg: [234, 88, 12], pos: [37, 99, 235] };
export const BACKWARD = { neg: [5, 150, 105], pos: [219, 39, 119] };

export function classColor(k, a = 1) { return rgb(CLASS_COLORS[k % CLASS_COLORS.length], a); }

// v in [-1, 1] -> [r, g, b]: white at 0, the palette's colour at +-1.
export function diverging(palette, v) {
  const t = Math.max(-1, Math.min(1, v));
  return mix(WHITE, t < 0 ? palette.neg : palette.pos, Math.abs(t));
}
export const css = (c, a = 1) => rgb(c, a);

// The largest |v| of an array of arrays (at least tiny, so it can divide).
export function maxAbs(rows) {
  let m = 0;
  rows.forEach((r) => (Array.isArray(r) ? r : [r]).forEach((v) => { if (Math.abs(v) > m) m = Math.abs(v); }));
  return Math.max(m, 1e-12);
}

function clip(ctx, x, y, size) {
  ctx.save();
  ctx.beginPath();
  ctx.rect(x, y, size, size);
  ctx.clip();
}

// A value per grid point as a square heatmap (2-D grid) or a curve (1-D).
// colorOf(v) -> [r, g, b]; for 1-D, lo..hi is the curve's vertical range.
export function paintGrid(ctx, x, y, size, grid, values, colorOf, lo = -1, hi = 1) {
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(x, y, size, size);
  if (grid.dims === 1) {
    clip(ctx, x, y, size);
    const Y = (v) => y + size - ((v - lo) / (hi - lo || 1)) * size;
    if (lo < 0 && hi > 0) {
      ctx.strokeStyle = '#cbd5e1'; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x, Y(0)); ctx.lineTo(x + size, Y(0)); ctx.stroke();
    }
    ctx.strokeStyle = '#0f172a'; ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach((v, i) => {
      const px = x + ((i + 0.5) / values.length) * size;
      if (i) ctx.lineTo(px, Y(v)); else ctx.moveTo(px, Y(v));
    });
    ctx.stroke();
    ctx.restore();
    return;
  }
  const img = new ImageData(grid.side, grid.side);
  values.forEach((v, i) => {
    const c = colorOf(v);
    img.data.set([c[0], c[1], c[2], 255], 4 * i);
  });
  const off = new OffscreenCanvas(grid.side, grid.side);
  off.getContext('2d').putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, x, y, size, size);
}

// Error signals span orders of magnitude (a well-fit point sends back almost
// nothing): colours and stems follow sign(v) sqrt(|v|), v in [-1, 1].
const signedSqrt = (v) => Math.sign(v) * Math.sqrt(Math.min(1, Math.abs(v)));

// Points of the plane (training points) coloured by a value each (scaled by
// 1 / scale, then signedSqrt); 1-D: a stem per point from the zero line.
// behind: the neuron's forward output over the grid (2-D only) in light
// greys (darker below zero), so the signals sit on the shape the neuron
// draws; null for a plain background. pick: the index of a point to ring.
export function paintPoints(ctx, x, y, size, grid, points, values, scale, palette, pick = -1, behind = null) {
  if (behind && grid.dims === 2) {
    const s = maxAbs(behind);
    paintGrid(ctx, x, y, size, grid, behind, (v) => { const g = Math.round(236 + 16 * (v / s)); return [g, g, g + 3]; });
  } else {
    ctx.fillStyle = '#f8fafc';
    ctx.fillRect(x, y, size, size);
  }
  clip(ctx, x, y, size);
  const px = (p) => x + ((p[0] - grid.x0) / (grid.x1 - grid.x0)) * size;
  if (grid.dims === 1) {
    const mid = y + size / 2;
    ctx.strokeStyle = '#cbd5e1'; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(x, mid); ctx.lineTo(x + size, mid); ctx.stroke();
    points.forEach((p, i) => {
      const v = signedSqrt(values[i] / scale);
      ctx.strokeStyle = css(diverging(palette, v));
      ctx.lineWidth = i === pick ? 3 : 1.5;
      ctx.beginPath(); ctx.moveTo(px(p), mid); ctx.lineTo(px(p), mid - v * (size / 2 - 2)); ctx.stroke();
    });
  } else {
    const py = (p) => y + ((grid.y1 - p[1]) / (grid.y1 - grid.y0)) * size;
    const r = Math.max(2, size / 24);
    // strongest signals drawn last, on top
    const order = values.map((_, i) => i).sort((a, b) => Math.abs(values[a]) - Math.abs(values[b]));
    order.forEach((i) => {
      const v = signedSqrt(values[i] / scale);
      ctx.fillStyle = css(diverging(palette, v), 0.35 + 0.65 * Math.abs(v));
      ctx.beginPath(); ctx.arc(px(points[i]), py(points[i]), r, 0, 2 * Math.PI); ctx.fill();
    });
    if (pick >= 0 && points[pick] && size >= 40) {
      ctx.strokeStyle = 'rgba(15, 23, 42, 0.6)'; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.arc(px(points[pick]), py(points[pick]), r + 1, 0, 2 * Math.PI); ctx.stroke();
    }
  }
  ctx.restore();
}

// white -> class k's colour as its probability p goes 0 -> 1
export function classRamp(k, p) { return mix(WHITE, CLASS_COLORS[k % CLASS_COLORS.length], p); }

// The colour of class probabilities p (paler where the network is unsure).
export function probColor(p) {
  let k = 0;
  p.forEach((v, j) => { if (v > p[k]) k = j; });
  const conf = p.length === 2 ? Math.abs(p[1] - p[0]) : (p[k] - 1 / p.length) / (1 - 1 / p.length);
  const base = p.length === 2 ? mix(CLASS_COLORS[0], CLASS_COLORS[1], p[1]) : CLASS_COLORS[k % CLASS_COLORS.length];
  return mix(WHITE, base, 0.15 + 0.55 * conf);
}

// The network's answer over the plane with the data on top. view: {probs}
// (classification: class probabilities per grid point), {values} (a
// regression's output per grid point) or null (not trained yet). Filled
// points train, hollow ones test; pick rings one training point. Returns the
// mapping between the canvas and the plane, for clicks.
export function drawOutput(canvas, grid, view, sets, pick = -1) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const regress = sets.task === 'regress';
  const vmax = regress ? maxAbs([...sets.train.y, ...sets.test.y]) : 1;
  if (!view) {
    ctx.fillStyle = '#f8fafc';
    ctx.fillRect(0, 0, W, H);
  } else if (grid.dims === 1) {
    paintGrid(ctx, 0, 0, W, grid, view.values.map((o) => o[0]), null, grid.y0, grid.y1);
  } else {
    const colorOf = regress ? (v) => diverging(FORWARD, v[0] / vmax) : probColor;
    paintGrid(ctx, 0, 0, W, grid, regress ? view.values : view.probs, colorOf);
  }
  const px = (x) => ((x - grid.x0) / (grid.x1 - grid.x0)) * W;
  const py = (y) => ((grid.y1 - y) / (grid.y1 - grid.y0)) * H;
  // a point's place: [x, y] in 2-D, [x, target] in 1-D
  const at = (p, yv) => (grid.dims === 1 ? [px(p[0]), py(yv)] : [px(p[0]), py(p[1])]);
  const fill = (yv) => (regress ? css(diverging(FORWARD, yv / vmax)) : classColor(yv));
  const dot = (p, yv, test, i) => {
    const [cx, cy] = at(p, yv);
    ctx.beginPath();
    ctx.arc(cx, cy, test ? 4.5 : 3.5, 0, 2 * Math.PI);
    if (regress && grid.dims === 1) {
      ctx.fillStyle = test ? '#ffffff' : '#475569';
      ctx.strokeStyle = test ? '#475569' : '#ffffff';
    } else {
      ctx.fillStyle = test ? '#ffffff' : fill(yv);
      ctx.strokeStyle = test ? fill(yv) : '#ffffff';
    }
    ctx.lineWidth = test ? 2 : 1;
    ctx.fill();
    ctx.stroke();
    if (i === pick) {
      ctx.strokeStyle = '#0f172a'; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(cx, cy, 8, 0, 2 * Math.PI); ctx.stroke();
    }
  };
  sets.train.x.forEach((p, i) => dot(p, sets.train.y[i], false, i));
  sets.test.x.forEach((p, i) => dot(p, sets.test.y[i], true, -2));
  return { px, py, at };
}

// series: [{label, color, points: [[x, y], ...]}]; y on a log scale.
export function drawCurves(canvas, series, xLabel) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, L = 48, R = 10, T = 10, B = 28;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, H);
  const pts = series.flatMap((s) => s.points).filter((p) => p[1] > 0 && Number.isFinite(p[1]));
  ctx.font = '12px system-ui, sans-serif';
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
    ctx.lineWidth = s.width || 2;
    ctx.beginPath();
    s.points.filter((p) => p[1] > 0).forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1]))));
    ctx.stroke();
    ctx.fillStyle = s.color;
    ctx.fillRect(L + 10 + si * 130, T + 2, 12, 3);
    ctx.fillText(s.label, L + 26 + si * 130, T + 8);
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
