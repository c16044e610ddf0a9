// Line charts over uPlot (loaded as a global by index.html): one or more lines sharing a step axis, an optional
// min/max band per line (the server's downsampling keeps spikes in it), EMA smoothing, a log scale, and DOM markers
// at steps (the ledger's decisions) that follow the scale.

import { h, num } from './dom.js';

const uPlot = window.uPlot;

const palette = ['#2563eb', '#dc2626', '#059669', '#7c3aed', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#475569', '#65a30d'];

/** The i-th line color. */
export const color = (i) => palette[((i % palette.length) + palette.length) % palette.length];

function withAlpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

/** Exponential moving average, debiased (as TensorBoard smooths); weight 0 returns the values unchanged. */
export function ema(values, weight) {
  if (!(weight > 0)) return values;
  const out = new Array(values.length);
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) { out[i] = null; continue; }
    s = weight * s + (1 - weight) * v;
    n++;
    out[i] = s / (1 - weight ** n);
  }
  return out;
}

const positive = (arr) => arr.map((v) => (v !== null && v > 0 ? v : null));

/** A log scale's range that survives a constant series (uPlot's own collapses to one point then). */
const logRange = (u, min, max) => {
  if (min === null || max === null || !(min > 0)) return [0.1, 1];
  if (max / min < 1.01) return [min / 2, max * 2];
  const r = uPlot.rangeLog(min, max, 10, false);
  return r[0] > 0 && r[1] > r[0] ? r : [min / 2, max * 2];
};

/** The x axis spans the data, no more (two epochs are drawn from 1 to 2, not from 0.5 to 2.5). */
const fitRange = (u, min, max) => {
  if (min === null || max === null) return [0, 1];
  return min === max ? [min - 1, max + 1] : [min, max];
};

/** Dots on a line only where its points are far apart (a few evaluations, one epoch), as uPlot does by default. */
const sparse = (u) => {
  const [i0, i1] = u.series[0].idxs ?? [0, 0];
  return (i1 - i0) * 8 <= u.bbox.width / devicePixelRatio;
};

/** Whole-number ticks for steps and epochs: 1, 2, 5, 10, 20, 50, … */
const wholeIncrs = [];
for (let m = 1; m <= 1e12; m *= 10) wholeIncrs.push(m, 2 * m, 5 * m);

function axis(extra = {}) {
  return {
    stroke: '#4b5563',
    font: '11px system-ui, sans-serif',
    grid: { stroke: '#eceef2', width: 1 },
    ticks: { stroke: '#d6d9de', width: 1, size: 4 },
    ...extra,
  };
}

/**
 * A chart in `host`. Options: height, x (the x axis' name), y (the y axis' label; by default the lines' labels), log, smooth (0…0.999), bands (draw min/max), sync (cursor sync key),
 * onRange(from, to) and onReset() (dragging picks a step range instead of zooming; a double click resets it).
 * `host.dataset.points` tells how many x values are drawn.
 */
export class Chart {
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = { height: 220, log: false, smooth: 0, bands: true, x: 'step', ...opts };
    this.lines = [];
    this.markers = [];
    this.markerEls = new Map();
    this.u = null;
    this.signature = '';
    this.layer = h('div.marker-layer');
    this.empty = h('div.chart-empty', {}, 'no points yet');
    // Resized in the next frame, not inside the observer's callback: resizing there changes the layout being observed.
    this.resize = new ResizeObserver(() => {
      cancelAnimationFrame(this.resizeFrame);
      this.resizeFrame = requestAnimationFrame(() => {
        if (this.u && this.u.width !== this.width()) this.u.setSize({ width: this.width(), height: this.opts.height });
      });
    });
    this.resize.observe(host);
  }

  width() {
    return Math.max(240, Math.floor(this.host.clientWidth));
  }

  /** Draws these lines, [{label, color, steps, last, min, max}], with changed options ({log, smooth}) if given. */
  update(lines, opts = {}) {
    this.lines = lines;
    Object.assign(this.opts, opts);
    this.render();
  }

  /** Vertical markers: [{key, step, title, kind, color?, run?}]; drawn over the plot, moved on every redraw. */
  setMarkers(markers) {
    this.markers = markers;
    const keep = new Set(markers.map((m) => m.key));
    for (const [key, el] of this.markerEls) {
      if (!keep.has(key)) { el.remove(); this.markerEls.delete(key); }
    }
    for (const m of markers) {
      if (this.markerEls.has(m.key)) continue;
      const el = h('div.ledger-marker', {
        'data-testid': 'ledger-marker', 'data-step': m.step, 'data-run': m.run ?? '', title: m.title,
        class: m.color ? 'marker-run' : m.kind ? `marker-${m.kind}` : '',
      });
      if (m.color) el.style.setProperty('--marker', m.color);
      this.markerEls.set(m.key, el);
      this.layer.append(el);
    }
    this.placeMarkers();
  }

  placeMarkers() {
    const u = this.u;
    if (!u) return;
    const width = u.over.clientWidth;
    const [lo, hi] = [u.scales.x.min, u.scales.x.max];
    for (const m of this.markers) {
      const el = this.markerEls.get(m.key);
      const inside = lo !== null && hi !== null && m.step >= lo && m.step <= hi;
      const x = inside ? u.valToPos(m.step, 'x') : -1;
      el.hidden = !(inside && x >= 0 && x <= width + 0.5);
      if (!el.hidden) el.style.left = `${Math.round(x)}px`;
    }
  }

  build() {
    const { log, smooth, bands: wantBands } = this.opts;
    const series = [{ label: this.opts.x, value: (u, v) => (v === null ? '—' : String(v)) }];
    const bands = [];
    const tables = [];
    for (const line of this.lines) {
      const fix = log ? positive : (a) => a;
      const table = [line.steps];
      const lineColor = line.color;
      series.push({ label: line.label, stroke: lineColor, width: 1.6, spanGaps: true, points: { size: 5, show: sparse }, value: (u, v) => num(v) });
      table.push(fix(ema(line.last, smooth)));
      if (smooth > 0) {
        series.push({ label: `${line.label} (raw)`, stroke: withAlpha(lineColor, 0.3), width: 1, spanGaps: true, points: { show: false }, value: (u, v) => num(v) });
        table.push(fix(line.last));
      }
      const banded = wantBands && line.min && line.max && line.min.some((v, i) => v !== line.max[i]);
      if (banded) {
        const hi = series.length;
        for (const which of ['max', 'min']) {
          series.push({ label: `${line.label} ${which}`, stroke: withAlpha(lineColor, 0.35), width: 1, spanGaps: true, points: { show: false }, value: (u, v) => num(v) });
        }
        table.push(fix(line.max), fix(line.min));
        bands.push({ series: [hi, hi + 1], fill: withAlpha(lineColor, 0.16) });
      }
      tables.push(table);
    }
    let data;
    if (tables.length === 0) data = [[]];
    else if (tables.length === 1) data = tables[0];
    else data = uPlot.join(tables);
    return { series, bands, data };
  }

  render() {
    const { series, bands, data } = this.build();
    const points = data[0].length;
    this.host.dataset.points = String(points);
    // uPlot draws the axes' labels on its canvas: they are told here too, for whoever reads the page's structure.
    this.host.dataset.xLabel = this.opts.x;
    this.host.dataset.yLabel = this.yLabel();
    this.host.classList.toggle('is-empty', points === 0);
    const signature = JSON.stringify([series.map((s) => s.label + s.stroke), bands.length, this.opts.log, this.yLabel()]);
    if (this.u && signature === this.signature) {
      this.u.setData(data);
      return;
    }
    this.signature = signature;
    this.u?.destroy();
    const { onRange, onReset, sync, log, height } = this.opts;
    const opts = {
      width: this.width(),
      height,
      series,
      bands,
      scales: { x: { time: false, range: fitRange }, y: log ? { distr: 3, log: 10, range: logRange } : { distr: 1 } },
      axes: [
        axis({ incrs: wholeIncrs, label: this.opts.x, labelSize: 18, labelFont: '11px system-ui, sans-serif' }),
        axis({ size: 56, values: (u, splits) => splits.map((v) => num(v)), label: this.yLabel(), labelSize: 18, labelFont: '11px system-ui, sans-serif' }),
      ],
      legend: { live: true },
      cursor: {
        drag: { x: true, y: false, setScale: !onRange },
        sync: sync ? { key: sync } : undefined,
        points: { size: 5 },
      },
      hooks: {
        draw: [(u) => { this.placeMarkers(); markFirstChart(this.host); this.host.dataset.xRange = `${u.scales.x.min},${u.scales.x.max}`; }],
        setScale: [() => this.placeMarkers()],
        setSelect: [(u) => {
          if (!onRange || u.select.width < 4) return;
          const from = Math.max(0, Math.floor(u.posToVal(u.select.left, 'x')));
          const to = Math.ceil(u.posToVal(u.select.left + u.select.width, 'x'));
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          onRange(from, to);
        }],
      },
    };
    this.host.replaceChildren();
    this.u = new uPlot(opts, data, this.host);
    this.u.over.append(this.layer);
    this.host.append(this.empty);
    if (onReset) this.u.over.addEventListener('dblclick', () => onReset());
    this.placeMarkers();
  }

  /** The y axis' label: the option, or the one metric drawn, or "value" for several. */
  yLabel() {
    if (this.opts.y) return this.opts.y + (this.opts.log ? ' (log)' : '');
    const names = [...new Set(this.lines.map((l) => l.label))];
    return (names.length === 1 ? names[0] : 'value') + (this.opts.log ? ' (log)' : '');
  }

  destroy() {
    cancelAnimationFrame(this.resizeFrame);
    this.resize.disconnect();
    this.u?.destroy();
    this.u = null;
  }
}

/** Marks (once per page) the moment the first chart with points is drawn: `kiln:first-chart` in the Performance API. */
function markFirstChart(host) {
  if (Number(host.dataset.points) > 0 && performance.getEntriesByName('kiln:first-chart').length === 0) performance.mark('kiln:first-chart');
}
