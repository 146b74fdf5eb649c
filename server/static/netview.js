// The network as a picture: a column per layer (the input features first),
// a tile per neuron, an edge per weight. What a tile shows and what an edge
// weighs is the caller's (forward view: outputs over the plane and weights;
// backward view: error signals on the training points and dL/dW).
import { diverging, css, maxAbs } from './plot.js';

const LEFT = 48; // room for the input features' names
const TOP = 46; // column titles
const BOTTOM = 30; // column notes
const RIGHT = 56; // room for the outputs' names

// spec: {columns: [{title, sub, note, nodes: [{label, paint(ctx, x, y, size)}]}],
//        links: [weights [out][in] between column c and c + 1, or null],
//        palette, focus: [column indices to highlight]}
// Draws at the canvas's displayed width; returns the tiles' places
// [[{x, y, size}]] per column, in CSS pixels.
export function drawNetwork(canvas, spec) {
  const dpr = window.devicePixelRatio || 1;
  const W = Math.max(320, canvas.clientWidth || canvas.parentElement.clientWidth || 640);
  const cols = spec.columns;
  const most = Math.max(...cols.map((c) => c.nodes.length));
  const colW = (W - LEFT - RIGHT) / cols.length;
  const size = Math.round(Math.max(30, Math.min(84, colW * 0.6, 600 / (1.3 * most - 0.3))));
  const gap = Math.round(size * 0.3);
  const H = TOP + most * (size + gap) - gap + BOTTOM;
  canvas.width = Math.round(W * dpr);
  canvas.height = Math.round(H * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, H);

  const places = cols.map((c, i) => {
    const cx = LEFT + colW * (i + 0.5);
    const top = TOP + ((most - c.nodes.length) * (size + gap)) / 2;
    return c.nodes.map((_, j) => ({ x: Math.round(cx - size / 2), y: Math.round(top + j * (size + gap)), size }));
  });

  (spec.focus || []).forEach((i) => {
    if (!places[i]) return;
    const p = places[i], x = p[0].x - 10, y = p[0].y - 8;
    ctx.fillStyle = '#fef9c3';
    ctx.beginPath();
    ctx.roundRect(x, y, size + 20, p[p.length - 1].y + size + 16 - y, 10);
    ctx.fill();
  });

  // edges, under the tiles: width and strength by |w| / max |w| of the layer
  spec.links.forEach((w, c) => {
    const from = places[c], to = places[c + 1];
    const scale = w ? maxAbs(w) : 1;
    to.forEach((b, k) => from.forEach((a, j) => {
      const v = w ? w[k][j] / scale : 0;
      const x0 = a.x + size, y0 = a.y + size / 2, x1 = b.x, y1 = b.y + size / 2, mx = (x0 + x1) / 2;
      ctx.strokeStyle = w ? css(diverging(spec.palette, v), 0.3 + 0.7 * Math.abs(v)) : '#e2e8f0';
      ctx.lineWidth = w ? 0.5 + 4.5 * Math.abs(v) : 1;
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.bezierCurveTo(mx, y0, mx, y1, x1, y1);
      ctx.stroke();
    }));
  });

  ctx.textBaseline = 'alphabetic';
  cols.forEach((c, i) => {
    const cx = LEFT + colW * (i + 0.5);
    ctx.textAlign = 'center';
    ctx.fillStyle = '#0f172a';
    ctx.font = '600 14px system-ui, sans-serif';
    ctx.fillText(c.title, cx, 18);
    ctx.fillStyle = '#64748b';
    ctx.font = '12px system-ui, sans-serif';
    if (c.sub) ctx.fillText(c.sub, cx, 34);
    if (c.note) ctx.fillText(c.note, cx, H - 10);
    c.nodes.forEach((n, j) => {
      const p = places[i][j];
      n.paint(ctx, p.x, p.y, size);
      ctx.strokeStyle = '#94a3b8';
      ctx.lineWidth = 1;
      ctx.strokeRect(p.x + 0.5, p.y + 0.5, size - 1, size - 1);
      if (n.label) {
        ctx.fillStyle = '#334155';
        ctx.font = '13px system-ui, sans-serif';
        ctx.textAlign = i === 0 ? 'right' : 'left';
        ctx.fillText(n.label, i === 0 ? p.x - 6 : p.x + size + 6, p.y + size / 2 + 4);
      }
    });
  });
  return places;
}
