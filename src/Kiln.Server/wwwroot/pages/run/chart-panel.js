// The run page's metrics card: the picker, the chart toolbar (log scale, grouping, smoothing, step range), and one chart
// per drawn metric (or per group of train/val/test metrics) with the ledger's changes as markers.

import { Chart, color } from '../../charts.js';
import { h, num } from '../../dom.js';
import { empty } from './metrics.js';

/** Groups train_x / val_x / test_x under x when the user asks for grouped charts. */
const groupKey = (name, grouped) => (grouped ? name.replace(/^(train|val|valid|eval|test)[_./-]/, '') : name);

export class ChartPanel {
  /**
   * `view` is the page's {log, smooth, grouped, from, to}; `metrics` its RunMetrics; `picker` the picker's element.
   * `onView(change)` and `onRange(from, to)` are called when the user changes them.
   */
  constructor({ id, view, metrics, picker, onView, onRange }) {
    this.id = id;
    this.view = view;
    this.metrics = metrics;
    this.onRange = onRange;
    this.charts = new Map(); // chart key (a metric, or a group of them) → {chart, card, host, latest}
    this.markers = [];
    this.box = h('div.charts', { 'data-testid': 'charts' });
    this.noCharts = h('p.muted.pad', { hidden: true });
    this.partialNote = h('p.partial-note', { hidden: true, 'data-testid': 'metrics-partial' },
      'A preview from a sample of the lines: the server is reading the whole file, and the charts fill in when it has.');
    const logBox = h('input', { type: 'checkbox', checked: view.log, 'data-testid': 'log-scale', onchange: (e) => onView({ log: e.target.checked }) });
    const groupBox = h('input', { type: 'checkbox', checked: view.grouped, 'data-testid': 'group-metrics', onchange: (e) => onView({ grouped: e.target.checked }) });
    const smoothValue = h('span.mono.smooth-value', {}, view.smooth.toFixed(2));
    const smooth = h('input', {
      type: 'range', min: 0, max: 0.99, step: 0.01, value: String(view.smooth), 'data-testid': 'smoothing',
      oninput: (e) => { smoothValue.textContent = Number(e.target.value).toFixed(2); onView({ smooth: Number(e.target.value) }); },
    });
    this.fromInput = h('input.num.step-input', { type: 'text', inputmode: 'numeric', placeholder: 'first', value: view.from, 'data-testid': 'step-from', 'aria-label': 'from step' });
    this.toInput = h('input.num.step-input', { type: 'text', inputmode: 'numeric', placeholder: 'last', value: view.to, 'data-testid': 'step-to', 'aria-label': 'to step' });
    const applyRange = () => onRange(this.fromInput.value.trim(), this.toInput.value.trim());
    for (const el of [this.fromInput, this.toInput]) el.addEventListener('keydown', (e) => { if (e.key === 'Enter') applyRange(); });
    const toolbar = h('div.toolbar.chart-toolbar', {},
      h('label.check', {}, logBox, 'log scale'),
      h('label.check', { title: 'one chart for train_x, val_x, test_x' }, groupBox, 'group train/val'),
      h('label.inline', {}, 'smoothing', smooth, smoothValue),
      h('span.inline', {}, 'steps', this.fromInput, '–', this.toInput,
        h('button.btn.btn-small', { type: 'button', 'data-testid': 'step-apply', onclick: applyRange }, 'Apply'),
        h('button.btn.btn-small', { type: 'button', 'data-testid': 'step-reset', onclick: () => onRange('', '') }, 'Reset')),
      h('span.hint', {}, 'drag on a chart to pick steps, double-click to reset'));
    this.el = h('section.card', {}, h('div.card-head', {}, h('h2', {}, 'Metrics'), picker), toolbar, this.partialNote, this.box, this.noCharts);
    let queued = false;
    this.renderSoon = () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; if (!this.disposed) this.render(); });
    };
  }

  /** Shows the step range in its inputs. */
  showRange() {
    this.fromInput.value = this.view.from;
    this.toInput.value = this.view.to;
  }

  /** Says that the charts are drawn from the server's preview of a large file (or no longer). */
  setPartial(partial) {
    this.partialNote.hidden = !partial;
    if (partial) this.box.dataset.partial = 'true';
    else delete this.box.dataset.partial;
  }

  /** Charts are made anew (grouping changed). */
  regroup() {
    for (const c of this.charts.values()) c.chart.destroy();
    this.charts.clear();
    this.box.replaceChildren();
  }

  /** The ledger's changes drawn on every chart: [{key, step, title, kind}]. */
  setMarkers(markers) {
    this.markers = markers;
    for (const c of this.charts.values()) c.chart.setMarkers(markers);
  }

  /** Draws the drawn metrics, one chart per metric or group, in the picker's order. */
  render() {
    const { metrics, view } = this;
    const groups = new Map();
    for (const name of metrics.selected()) {
      const key = groupKey(name, view.grouped);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(name);
    }
    for (const [key, c] of this.charts) {
      if (!groups.has(key)) { c.chart.destroy(); c.card.remove(); this.charts.delete(key); }
    }
    let i = 0;
    for (const [key, names] of groups) {
      let c = this.charts.get(key);
      if (!c) {
        const host = h('div.chart', { 'data-testid': 'metric-chart', 'data-metric': key });
        const latest = h('span.mono.latest');
        const card = h('div.chart-card', {}, h('div.chart-title', {}, h('span', {}, key), latest), host);
        const chart = new Chart(host, {
          log: view.log, smooth: view.smooth, sync: `run:${this.id}`, y: key,
          onRange: (from, to) => this.onRange(from, to), onReset: () => this.onRange('', ''),
        });
        c = { chart, card, host, latest };
        this.charts.set(key, c);
      }
      const at = this.box.children[i++] ?? null;
      if (at !== c.card) this.box.insertBefore(c.card, at); // the picker's order
      c.host.dataset.metrics = names.join(',');
      // A metric keeps its picker color alone; lines sharing a chart get the palette in order, to tell them apart.
      const lines = names.map((name, j) => ({ label: name, color: names.length > 1 ? color(j) : metrics.color(name), ...(metrics.series.get(name) ?? empty()) }));
      c.latest.textContent = lines.map((l) => (l.last.length ? `${names.length > 1 ? `${l.label} ` : ''}${num(l.last[l.last.length - 1])}` : '')).filter(Boolean).join('  ');
      c.chart.update(lines, { log: view.log, smooth: view.smooth });
      c.chart.setMarkers(this.markers);
    }
    this.noCharts.textContent = metrics.names.size ? 'Pick a metric above.' : 'No metrics yet: the charts appear when the run reports its first step.';
    this.noCharts.hidden = groups.size > 0;
  }

  dispose() {
    this.disposed = true;
    for (const c of this.charts.values()) c.chart.destroy();
  }
}
