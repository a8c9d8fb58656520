/**
 * The benchmark plot NLP with Transformers draws after each compression step: accuracy against latency,
 * one marker per model, marker area proportional to the model's size on disk. Plain SVG text, no dependency.
 */

export interface PlotPoint {
  label: string;
  /** Latency (ms), the x axis. */
  latencyMs: number;
  /** Accuracy in [0, 1], the y axis (drawn in percent). */
  accuracy: number;
  /** Bytes on disk: the marker's area. */
  bytes: number;
}

/** The plot area's frame; the legend adds its own width on the right. */
const PLOT_W = 640;
const H = 440;
const M = { left: 70, right: 30, top: 40, bottom: 60 };
/** Legend rows: a color swatch and the model's label. Labels beside the markers overlapped wherever two
 * models have the same accuracy (a student and its int8 copy), so they live here. */
const LEGEND = { row: 20, swatch: 12, charWidth: 7, pad: 16 };
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round tick values covering [lo, hi] (about 5 of them, at 1/2/5 x 10^k steps). */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Pads a range by `frac` of its width on both sides (a lone value gets a range around it). */
function padded(values: number[], frac: number): [number, number] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || Math.abs(hi) || 1;
  return [lo - span * frac, hi + span * frac];
}

export function renderPlotSvg(points: readonly PlotPoint[], title = 'Accuracy vs latency (marker area = size on disk)'): string {
  if (points.length === 0) throw new RangeError('renderPlotSvg: no points');
  const legendWidth = LEGEND.pad * 2 + LEGEND.swatch + 6 + LEGEND.charWidth * Math.max(...points.map((p) => p.label.length));
  const W = PLOT_W + legendWidth;
  const plotRight = PLOT_W - M.right;
  const [x0, x1] = padded([0, ...points.map((p) => p.latencyMs)], 0.08);
  const xLo = Math.max(0, x0);
  const [y0, y1] = padded(points.map((p) => 100 * p.accuracy), 0.25);
  const px = (x: number) => M.left + ((x - xLo) / (x1 - xLo)) * (plotRight - M.left);
  const py = (y: number) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  const maxBytes = Math.max(...points.map((p) => p.bytes));
  // The largest model gets a 28 px radius; area (not radius) scales with bytes.
  const radius = (b: number) => Math.max(3, 28 * Math.sqrt(b / maxBytes));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${PLOT_W / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ];
  for (const t of ticks(xLo, x1)) {
    out.push(`<line x1="${px(t).toFixed(1)}" y1="${M.top}" x2="${px(t).toFixed(1)}" y2="${H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${px(t).toFixed(1)}" y="${H - M.bottom + 18}" text-anchor="middle">${t}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    out.push(`<line x1="${M.left}" y1="${py(t).toFixed(1)}" x2="${plotRight}" y2="${py(t).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 8}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotRight - M.left}" height="${H - M.top - M.bottom}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(M.left + plotRight) / 2}" y="${H - 18}" text-anchor="middle">latency per batch, median (ms)</text>`);
  out.push(`<text transform="translate(20 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">accuracy (%)</text>`);
  points.forEach((p, i) => {
    const cx = px(p.latencyMs);
    const cy = py(100 * p.accuracy);
    const r = radius(p.bytes);
    const color = COLORS[i % COLORS.length]!;
    out.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${r.toFixed(1)}" fill="${color}" fill-opacity="0.55" stroke="${color}"/>`);
    const ly = M.top + LEGEND.row * i;
    const lx = PLOT_W + LEGEND.pad;
    out.push(`<rect x="${lx}" y="${ly}" width="${LEGEND.swatch}" height="${LEGEND.swatch}" fill="${color}" fill-opacity="0.55" stroke="${color}"/>`);
    out.push(`<text x="${lx + LEGEND.swatch + 6}" y="${ly + LEGEND.swatch - 1}">${escapeXml(p.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
