// #/compare?runs=A,B&metric=M&baseline=A: one metric overlaid across runs, each curve named by what differs between
// the runs, each run's ledger changes marked in its color, a table of final and best values (with the difference from
// a baseline run), and the trials' per-epoch curves; kept current while a compared run trains.

import { get, ledgerAfter } from '../api.js';
import { Chart, color } from '../charts.js';
import { h, fill, statusBadge, showError, debounce, replaceRoute, routeHref } from '../dom.js';
import { isChange, marker } from './ledger.js';
import { runLabels } from './compare/labels.js';
import { CompareTable } from './compare/summary.js';

const PREFERRED = ['val_loss', 'train_loss', 'loss', 'val_accuracy', 'accuracy'];
const LIVE_MS = 5000;

export function mount(root, params) {
  const ids = [...new Set((params.get('runs') ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
  if (!ids.length) {
    fill(root, h('section.card', {}, h('h2', {}, 'Compare'),
      h('p', {}, 'No runs picked. Select two runs or more on the ', h('a', { href: '#/runs' }, 'runs page'), ' and press Compare.')));
    return { dispose() {} };
  }
  const page = new ComparePage(root, ids, params);
  page.start().catch((e) => showError(e, 'compare'));
  return page;
}

/** The value of a series at `step`, linearly between its points (null outside them). */
function valueAt(series, step) {
  const { steps, last } = series;
  if (!steps.length || step < steps[0] || step > steps[steps.length - 1]) return null;
  let lo = 0;
  let hi = steps.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] <= step) lo = mid; else hi = mid;
  }
  if (steps[lo] === step || hi === lo) return last[lo];
  if (steps[hi] === step) return last[hi];
  const t = (step - steps[lo]) / (steps[hi] - steps[lo]);
  return last[lo] + t * (last[hi] - last[lo]);
}

class ComparePage {
  constructor(root, ids, params) {
    this.ids = ids;
    this.labels = ids;
    this.metric = params.get('metric');
    this.baseline = ids.includes(params.get('baseline')) ? params.get('baseline') : null;
    this.info = new Map();
    this.epochs = new Map();
    this.series = {};
    this.markers = [];
    this.metricSelect = h('select', { 'data-testid': 'compare-metric', 'aria-label': 'metric', onchange: () => this.setMetric(this.metricSelect.value) });
    this.baselineSelect = h('select', { 'data-testid': 'compare-baseline', 'aria-label': 'baseline', onchange: () => this.setBaseline(this.baselineSelect.value || null) });
    this.diffBox = h('input', { type: 'checkbox', 'data-testid': 'compare-diff', checked: params.get('diff') === '1', onchange: () => { this.save(); this.drawLines(); } });
    this.markerBox = h('input', { type: 'checkbox', 'data-testid': 'compare-markers', checked: params.get('changes') !== '0', onchange: () => { this.save(); this.placeMarkers(); } });
    this.legend = h('div.legend', { 'data-testid': 'compare-legend' });
    this.suggestions = h('datalist', { id: 'compare-runs' });
    this.addInput = h('input', { type: 'search', list: 'compare-runs', placeholder: 'add a run…', 'data-testid': 'compare-add', 'aria-label': 'add a run' });
    const suggest = debounce(() => this.suggest(), 200);
    this.addInput.addEventListener('input', suggest);
    this.addInput.addEventListener('change', () => this.add(this.addInput.value.trim()));
    this.chartHost = h('div.chart', { 'data-testid': 'compare-chart' });
    this.chart = new Chart(this.chartHost, { height: 340, bands: false, sync: 'compare' });
    this.table = new CompareTable();
    this.columnSelect = h('select', { 'data-testid': 'epoch-column', 'aria-label': 'column', onchange: () => this.drawEpochs() });
    this.modeSelect = h('select', { 'data-testid': 'epoch-mode', 'aria-label': 'mode', onchange: () => this.drawEpochs() });
    this.epochHost = h('div.chart', { 'data-testid': 'epoch-chart' });
    this.epochChart = new Chart(this.epochHost, { height: 280, bands: false, x: 'epoch' });
    this.epochNote = h('span.muted');
    this.liveNote = h('span.muted', { 'data-testid': 'compare-live' });
    this.epochSection = h('section.card', { 'data-testid': 'epoch-section', hidden: true },
      h('div.card-head', {}, h('h2', {}, 'Per epoch'), this.epochNote),
      h('div.toolbar', {}, h('label.inline', {}, 'column', this.columnSelect), h('label.inline', {}, 'mode', this.modeSelect)),
      this.epochHost);
    fill(root, h('div.compare-page', {},
      h('section.card', {},
        h('div.card-head', {}, h('h2', {}, `Compare ${ids.length} run${ids.length === 1 ? '' : 's'}`), this.liveNote, h('span.spacer'),
          this.addInput, this.suggestions,
          h('label.inline', {}, 'metric', this.metricSelect),
          h('button.btn.btn-small', { type: 'button', onclick: () => this.refresh() }, 'Refresh')),
        h('div.toolbar', {},
          h('label.inline', { title: 'the run the others are measured against' }, 'baseline', this.baselineSelect),
          h('label.inline', { title: 'draw each run as its difference from the baseline at the same step' }, this.diffBox, 'difference from baseline'),
          h('label.inline', { title: "each run's applied changes, in its color" }, this.markerBox, 'changes')),
        this.legend,
        this.chartHost,
        h('p.hint', {}, 'drag to zoom, double-click to reset; markers are the changes each run applied')),
      h('section.card', {}, h('div.card-head', {}, h('h2', {}, 'Summary')), this.table.el),
      this.epochSection));
  }

  async start() {
    const names = await this.loadInfo();
    const sorted = [...names].sort();
    if (!this.metric || !names.has(this.metric)) this.metric = PREFERRED.find((n) => names.has(n)) ?? sorted[0] ?? null;
    fill(this.metricSelect, sorted.map((n) => h('option', { value: n, selected: n === this.metric }, n)));
    fill(this.baselineSelect, h('option', { value: '' }, 'none'),
      this.ids.map((id, i) => h('option', { value: id, selected: id === this.baseline }, this.labels[i])));
    this.renderLegend({});
    await Promise.all([this.draw(), this.loadEpochs(), this.loadMarkers()]);
    this.followLive();
  }

  /** Each run's summary and metric names; the labels follow from what differs. Returns every metric name seen. */
  async loadInfo() {
    const answers = await Promise.all(this.ids.map(async (run) => {
      try {
        const [info, names] = await Promise.all([get('/api/run', { run }), get('/api/run/metric-names', { run })]);
        return { run, info, names: Object.keys(names.names) };
      } catch (e) {
        showError(e, run);
        return { run, info: null, names: [] };
      }
    }));
    const names = new Set();
    for (const a of answers) {
      if (a.info) this.info.set(a.run, a.info);
      for (const n of a.names) names.add(n);
    }
    this.labels = runLabels(this.ids, this.info);
    return names;
  }

  /** While a compared run trains, the page follows it. */
  followLive() {
    clearInterval(this.liveTimer);
    const running = this.ids.filter((id) => this.info.get(id)?.run?.status === 'running');
    this.liveNote.textContent = running.length ? `live: ${running.length} running` : '';
    if (running.length && !this.disposed) this.liveTimer = setInterval(() => { if (!document.hidden) this.refresh(); }, LIVE_MS);
  }

  dispose() {
    this.disposed = true;
    clearTimeout(this.wholeTimer);
    clearInterval(this.liveTimer);
    this.chart.destroy();
    this.epochChart.destroy();
  }

  /** Run ids matching what is typed, from the server's filter. */
  async suggest() {
    try {
      const answer = await get('/api/runs', { filter: this.addInput.value.trim(), sort: 'id', order: 'asc', size: 30 });
      fill(this.suggestions, answer.runs.filter((r) => !this.ids.includes(r.id)).map((r) => h('option', { value: r.id }, `${r.config ?? ''} ${r.status}`)));
    } catch (e) {
      showError(e, 'runs');
    }
  }

  params(extra = {}) {
    const p = { runs: this.ids.join(','), metric: this.metric ?? '' };
    if (this.baseline) p.baseline = this.baseline;
    if (this.diffBox.checked) p.diff = '1';
    if (!this.markerBox.checked) p.changes = '0';
    return { ...p, ...extra };
  }

  save() {
    replaceRoute('compare', new URLSearchParams(this.params()));
  }

  /** Opens the comparison with a run more (or less). */
  go(ids) {
    location.hash = routeHref('compare', this.params({ runs: ids.join(','), baseline: ids.includes(this.baseline) ? this.baseline : '' }));
  }

  async add(id) {
    if (!id || this.ids.includes(id)) return;
    try {
      await get('/api/run', { run: id });
      this.go([...this.ids, id]);
    } catch (e) {
      showError(e, 'add a run');
    }
  }

  setMetric(metric) {
    this.metric = metric;
    this.save();
    this.draw();
  }

  setBaseline(id) {
    this.baseline = id;
    this.save();
    this.drawLines();
    this.renderTable();
  }

  async refresh() {
    await this.loadInfo();
    await Promise.all([this.draw(), this.loadEpochs(), this.loadMarkers()]);
    this.followLive();
  }

  renderLegend(series) {
    fill(this.legend, this.ids.map((id, i) => {
      const info = this.info.get(id);
      const missing = this.metric && series[id] === null;
      return h('span.legend-item', { 'data-testid': 'compare-legend-item', 'data-run': id, title: id },
        h('span.swatch', { style: `background:${color(i)}` }),
        h('a.mono', { href: routeHref('run', { run: id }) }, this.labels[i]),
        info ? statusBadge(info.run.status) : null,
        missing ? h('span.muted', {}, `no ${this.metric}`) : null,
        this.ids.length > 1 ? h('button.link', { type: 'button', title: 'leave this run out', onclick: () => this.go(this.ids.filter((x) => x !== id)) }, '✕') : null);
    }));
  }

  async draw() {
    if (!this.metric) {
      this.chartHost.dataset.series = '0';
      return;
    }
    try {
      const answer = await get('/api/compare', { runs: this.ids.join(','), metric: this.metric, points: 1000 });
      this.series = answer.runs;
      this.drawLines();
      this.renderLegend(answer.runs);
      this.renderTable();
      // Large runs the server is still reading are drawn from a preview: asked for again until they are whole.
      this.chartHost.dataset.partial = answer.partial ? 'true' : 'false';
      clearTimeout(this.wholeTimer);
      if (answer.partial && !this.disposed) this.wholeTimer = setTimeout(() => this.draw(), 250);
    } catch (e) {
      showError(e, 'compare');
    }
  }

  /** The lines of the chart: each run's metric, or its difference from the baseline's at the same step. */
  drawLines() {
    const base = this.baseline && this.diffBox.checked ? this.series[this.baseline] : null;
    const lines = [];
    this.ids.forEach((id, i) => {
      const s = this.series[id];
      if (!s) return;
      const last = base ? s.steps.map((step, j) => { const b = valueAt(base, step); return b === null ? null : s.last[j] - b; }) : s.last;
      lines.push({ label: this.labels[i], color: color(i), steps: s.steps, last });
    });
    this.chartHost.dataset.metric = this.metric;
    this.chartHost.dataset.series = String(lines.length);
    this.chartHost.dataset.diff = base ? 'true' : 'false';
    this.chart.update(lines, { y: base ? `${this.metric} − baseline` : this.metric });
  }

  renderTable() {
    this.table.render({ ids: this.ids, labels: this.labels, infos: this.info, series: this.series, metric: this.metric, baseline: this.baseline });
  }

  /** Every run's applied changes, as markers in the run's color. */
  async loadMarkers() {
    const all = await Promise.all(this.ids.map(async (run, i) => {
      try {
        const { entries } = await ledgerAfter(run);
        return entries.filter(isChange).map((e) => {
          const m = marker(e);
          return { ...m, key: `${run}#${e.seq}`, color: color(i), run, title: `${this.labels[i]}\n${m.title}` };
        });
      } catch (e) {
        showError(e, `ledger of ${run}`);
        return [];
      }
    }));
    this.markers = all.flat();
    this.placeMarkers();
  }

  placeMarkers() {
    const shown = this.markerBox.checked ? this.markers : [];
    this.chartHost.dataset.markers = String(shown.length);
    this.chart.setMarkers(shown);
  }

  async loadEpochs() {
    const withEpochs = this.ids.filter((id) => this.info.get(id)?.has_epochs);
    if (!withEpochs.length) return;
    await Promise.all(withEpochs.map(async (run) => {
      try {
        this.epochs.set(run, await get('/api/run/epochs', { run }));
      } catch (e) {
        showError(e, `epochs of ${run}`);
      }
    }));
    const columns = new Set();
    const modes = new Set();
    for (const t of this.epochs.values()) {
      for (const c of t.columns) columns.add(c);
      for (const r of t.rows) modes.add(r.mode);
    }
    const keep = (select, options, preferred) => {
      const current = select.value || preferred.find((p) => options.includes(p)) || options[0];
      fill(select, options.map((o) => h('option', { value: o, selected: o === current }, o)));
    };
    keep(this.columnSelect, [...columns], ['loss', 'acc']);
    keep(this.modeSelect, [...modes], ['val', 'train']);
    this.epochNote.textContent = `${this.epochs.size} of ${this.ids.length} runs have epoch logs`;
    this.epochSection.hidden = false;
    this.drawEpochs();
  }

  drawEpochs() {
    const column = this.columnSelect.value;
    const mode = this.modeSelect.value;
    const lines = [];
    this.ids.forEach((id, i) => {
      const t = this.epochs.get(id);
      if (!t) return;
      const rows = t.rows.filter((r) => r.mode === mode && r.values[column] !== null && r.values[column] !== undefined);
      lines.push({ label: this.labels[i], color: color(i), steps: rows.map((r) => r.epoch), last: rows.map((r) => r.values[column]) });
    });
    this.epochHost.dataset.series = String(lines.length);
    this.epochHost.dataset.column = column;
    this.epochChart.update(lines, { y: `${column} (${mode})` });
  }
}
