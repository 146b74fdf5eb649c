// DOM and number-formatting helpers shared by every module of the page.

export const $ = (id) => document.getElementById(id);

// el('td', '0.5', 'mono') -> <td class="mono">0.5</td>; children may follow.
export function el(tag, text, cls, ...children) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  if (children.length) e.append(...children);
  return e;
}

// A table from a header row and rows of cells (strings or nodes).
export function table(head, rows, cls) {
  const t = el('table', null, cls);
  const hr = el('tr');
  head.forEach((h) => hr.append(el('th', h)));
  t.append(hr);
  rows.forEach((cells) => {
    const tr = el('tr');
    cells.forEach((c) => tr.append(c instanceof Node ? (c.tagName === 'TD' ? c : el('td', null, null, c)) : el('td', c)));
    t.append(tr);
  });
  return t;
}

export function on(id, event, fn) { $(id).addEventListener(event, fn); }

// Numbers as the server sent them (the shortest text that reads back to the
// same double), and rounded for arithmetic a reader follows by eye.
export const exact = (v) => String(v);
export const short = (v) => (v === null || v === undefined ? '—'
  : v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? String(Number(v.toPrecision(4))) : v.toExponential(2));
