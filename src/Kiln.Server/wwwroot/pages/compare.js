// #/compare?runs=A,B&metric=M: one metric overlaid across runs, and the trials' per-epoch curves.

import { get } from '../api.js';
import { Chart, color } from '../charts.js';
import { h, fill, statusBadge, showError, debounce, replaceRoute, routeHref } from '../dom.js';

const PREFERRED = ['val_loss', 'train_loss', 'loss', 'val_accuracy', 'accuracy'];

export function mount(root, params) {
  const ids = [...new Set((params.get('runs') ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
  if (!ids.length) {
    fill(root, h('section.card', {}, h('h2', {}, 'Compare'),
      h('p', {}, 'No runs picked. Select two runs or more on the ', h('a', { href: '#/runs' }, 'runs page'), ' and press Compare.')));
    return { dispose() {} };
  }
  const page = new ComparePage(root, ids, params.get('metric'));
  page.start().catch((e) => showError(e, 'compare'));
  return page;
}

/** Run ids without the part they all share: "out/log/sweep/a/trial_000" → "a/trial_000". */
function shortLabels(ids) {
  if (ids.length < 2) return ids.map((id) => id.split('/').pop());
  const parts = ids.map((id) => id.split('/'));
  let common = 0;
  while (parts.every((p) => p.length > common + 1 && p[common] === parts[0][common])) common++;
  return parts.map((p) => p.slice(common).join('/'));
}

class ComparePage {
  constructor(root, ids, metric) {
    this.ids = ids;
    this.labels = shortLabels(ids);
    this.metric = metric;
    this.info = new Map();
    this.epochs = new Map();
    this.metricSelect = h('select', { 'data-testid': 'compare-metric', 'aria-label': 'metric', onchange: () => this.setMetric(this.metricSelect.value) });
    this.legend = h('div.legend', { 'data-testid': 'compare-legend' });
    this.suggestions = h('datalist', { id: 'compare-runs' });
    this.addInput = h('input', { type: 'search', list: 'compare-runs', placeholder: 'add a run…', 'data-testid': 'compare-add', 'aria-label': 'add a run' });
    const suggest = debounce(() => this.suggest(), 200);
    this.addInput.addEventListener('input', suggest);
    this.addInput.addEventListener('change', () => this.add(this.addInput.value.trim()));
    this.chartHost = h('div.chart', { 'data-testid': 'compare-chart' });
    this.chart = new Chart(this.chartHost, { height: 340, bands: false, sync: 'compare' });
    this.columnSelect = h('select', { 'data-testid': 'epoch-column', 'aria-label': 'column', onchange: () => this.drawEpochs() });
    this.modeSelect = h('select', { 'data-testid': 'epoch-mode', 'aria-label': 'mode', onchange: () => this.drawEpochs() });
    this.epochHost = h('div.chart', { 'data-testid': 'epoch-chart' });
    this.epochChart = new Chart(this.epochHost, { height: 280, bands: false, x: 'epoch' });
    this.epochNote = h('span.muted');
    this.epochSection = h('section.card', { 'data-testid': 'epoch-section', hidden: true },
      h('div.card-head', {}, h('h2', {}, 'Per epoch'), this.epochNote),
      h('div.toolbar', {}, h('label.inline', {}, 'column', this.columnSelect), h('label.inline', {}, 'mode', this.modeSelect)),
      this.epochHost);
    fill(root, h('div.compare-page', {},
      h('section.card', {},
        h('div.card-head', {}, h('h2', {}, `Compare ${ids.length} run${ids.length === 1 ? '' : 's'}`), h('span.spacer'),
          this.addInput, this.suggestions,
          h('label.inline', {}, 'metric', this.metricSelect),
          h('button.btn.btn-small', { type: 'button', onclick: () => this.refresh() }, 'Refresh')),
        this.legend,
        this.chartHost,
        h('p.hint', {}, 'drag to zoom, double-click to reset')),
      this.epochSection));
  }

  async start() {
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
      this.info.set(a.run, a.info);
      for (const n of a.names) names.add(n);
    }
    const sorted = [...names].sort();
    if (!this.metric || !names.has(this.metric)) this.metric = PREFERRED.find((n) => names.has(n)) ?? sorted[0] ?? null;
    fill(this.metricSelect, sorted.map((n) => h('option', { value: n, selected: n === this.metric }, n)));
    this.renderLegend({});
    await Promise.all([this.draw(), this.loadEpochs()]);
  }

  dispose() {
    this.disposed = true;
    clearTimeout(this.wholeTimer);
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

  /** Opens the comparison with a run more (or less). */
  go(ids) {
    location.hash = routeHref('compare', { runs: ids.join(','), metric: this.metric ?? '' });
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
    replaceRoute('compare', new URLSearchParams({ runs: this.ids.join(','), metric }));
    this.draw();
  }

  refresh() {
    this.draw();
    this.loadEpochs();
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
      const lines = [];
      this.ids.forEach((id, i) => {
        const s = answer.runs[id];
        if (s) lines.push({ label: this.labels[i], color: color(i), steps: s.steps, last: s.last });
      });
      this.chartHost.dataset.metric = this.metric;
      this.chartHost.dataset.series = String(lines.length);
      this.chart.update(lines, { y: this.metric });
      this.renderLegend(answer.runs);
      // Large runs the server is still reading are drawn from a preview: asked for again until they are whole.
      this.chartHost.dataset.partial = answer.partial ? 'true' : 'false';
      clearTimeout(this.wholeTimer);
      if (answer.partial && !this.disposed) this.wholeTimer = setTimeout(() => this.draw(), 250);
    } catch (e) {
      showError(e, 'compare');
    }
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
