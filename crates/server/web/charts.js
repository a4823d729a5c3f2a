// @ts-check
// The charts of the reports and planning pages: SVG drawn with attributes
// (the pages' Content-Security-Policy allows no inline style), each with
// a description for screen readers.

import { el } from '/ui.js';

/** @typedef {{ label: string, offered: number, within: number }} Bar */
/** @typedef {{ name: string, values: (number | null | undefined)[], colour: string, dash?: string }} Series */

/**
 * An SVG chart `W` by `H` and a function adding a shape or text to it.
 * @param {number} W
 * @param {number} H
 * @param {string} description
 * @returns {[SVGSVGElement, (tag: string, attrs: Record<string, string | number>, text?: string) => void]}
 */
function canvas(W, H, description) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', description);
  /** @param {string} tag @param {Record<string, string | number>} attrs @param {string} [text] */
  const add = (tag, attrs, text) => {
    const n = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text) n.textContent = text;
    svg.append(n);
  };
  return [svg, add];
}

/**
 * Bars of counts with their labels: [[label, count], ...].
 * @param {[string, number][]} bands
 * @param {string} what
 * @returns {Element}
 */
export function bandChart(bands, what) {
  const total = bands.reduce((s, b) => s + b[1], 0);
  if (!total) return el('p', {}, `No ${what} in this period.`);
  return barChart(bands.map(([l, n]) => ({ label: l, offered: n, within: n })), `${what} by band`);
}

/**
 * Calls offered (light) and answered within target (dark) per period.
 * @param {Bar[]} rows
 * @param {string} [description]
 * @returns {SVGSVGElement}
 */
export function barChart(rows, description) {
  // Bars at most 70 units wide: a short period is not one wall of colour.
  const pad = 36; const H = 260;
  const W = Math.min(900, Math.max(360, rows.length * 70 + pad * 2));
  const max = Math.max(1, ...rows.map((r) => r.offered));
  const bw = (W - pad * 2) / Math.max(1, rows.length);
  const [svg, add] = canvas(W, H, description || 'Calls offered (light) and answered within target (dark) per period');
  add('line', { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: '#0b0c0c' });
  add('text', { x: 4, y: pad - 12, 'font-size': 14 }, `${max} calls`);
  // The key: which shade is which.
  add('rect', { x: W - pad - 330, y: 6, width: 14, height: 14, fill: '#9fb8d9' });
  add('text', { x: W - pad - 312, y: 18, 'font-size': 14 }, 'offered');
  add('rect', { x: W - pad - 230, y: 6, width: 14, height: 14, fill: '#1d4f91' });
  add('text', { x: W - pad - 212, y: 18, 'font-size': 14 }, 'answered within target');
  rows.forEach((r, k) => {
    const x = pad + k * bw;
    /** @param {number} v */
    const h = (v) => ((H - pad * 2) * v) / max;
    add('rect', { x: x + 2, y: H - pad - h(r.offered), width: Math.max(1, bw - 4), height: h(r.offered), fill: '#9fb8d9' });
    add('rect', { x: x + 2, y: H - pad - h(r.within), width: Math.max(1, bw - 4), height: h(r.within), fill: '#1d4f91' });
    if (rows.length <= 31 || k % Math.ceil(rows.length / 24) === 0) {
      add('text', { x: x + 2, y: H - pad + 16, 'font-size': 13 }, r.label);
    }
  });
  return svg;
}

/**
 * Lines over the same x: series = [{name, values, colour, dash}]; a
 * series without a name has no key.
 * @param {string[]} labels
 * @param {Series[]} series
 * @param {string} description
 * @param {number} [yMax]
 * @returns {SVGSVGElement}
 */
export function lineChart(labels, series, description, yMax) {
  const W = 900; const H = 280; const pad = 40;
  const max = yMax ?? Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined)));
  /** @param {number} i */
  const x = (i) => pad + ((W - 2 * pad) * i) / Math.max(1, labels.length - 1);
  /** @param {number} v */
  const y = (v) => H - pad - ((H - 2 * pad) * v) / max;
  const [svg, add] = canvas(W, H, description);
  add('line', { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: '#0b0c0c' });
  add('text', { x: 2, y: pad - 6, 'font-size': 14 }, yMax === 1 ? '100%' : `${Math.round(max)}`);
  const every = Math.max(1, Math.ceil(labels.length / 12));
  labels.forEach((l, i) => { if (i % every === 0) add('text', { x: x(i), y: H - pad + 16, 'font-size': 13 }, l); });
  series.forEach((s, k) => {
    // One line per run of known values: no line is drawn across a gap.
    /** @type {string[]} */
    let run = [];
    const flush = () => {
      if (run.length) add('polyline', { points: run.join(' '), fill: 'none', stroke: s.colour, 'stroke-width': 2, 'stroke-dasharray': s.dash || '' });
      run = [];
    };
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) flush(); else run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    });
    flush();
    if (!s.name) return;
    add('rect', { x: pad + k * 220, y: 6, width: 14, height: 4, fill: s.colour });
    add('text', { x: pad + 18 + k * 220, y: 13, 'font-size': 14 }, s.name);
  });
  return svg;
}
