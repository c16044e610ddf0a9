// The comparison's table: per run its status, the compared metric's final and best values (and at which step), the
// difference from a baseline run, and the final values of the run's key metrics; sortable by any column.

import { h, fill, num, statusBadge, routeHref } from '../../dom.js';
import { color } from '../../charts.js';

/** Metrics where higher is better; the others (losses, errors) are better lower. */
export const higherIsBetter = (metric) => /acc|score|auc|f1|precision|recall|iou|bleu|reward/i.test(metric ?? '');

const KEY_METRICS = [/^val(idation)?_?acc/i, /^val(idation)?_?loss$/i, /^test_?acc/i, /^test_?loss$/i, /^train_?loss$/i];
const MOST_KEYS = 3;

/** Final, best and best's step of a sampled series (its min and max keep the extremes the downsampling saw). */
export function stats(series, metric) {
  if (!series || !series.steps.length) return null;
  const high = higherIsBetter(metric);
  const extremes = high ? series.max : series.min;
  let at = 0;
  for (let i = 1; i < extremes.length; i++) {
    if (high ? extremes[i] > extremes[at] : extremes[i] < extremes[at]) at = i;
  }
  return { final: series.last[series.last.length - 1], best: extremes[at], bestStep: series.steps[at], lastStep: series.steps[series.steps.length - 1] };
}

export class CompareTable {
  constructor() {
    this.sort = { col: null, desc: false };
    this.body = h('tbody');
    this.head = h('tr');
    this.el = h('div.table-scroll', {}, h('table.grid.compare-table', { 'data-testid': 'compare-table' }, h('thead', {}, this.head), this.body));
    this.last = null;
  }

  /** Draws the table: ids, labels, infos (id → /api/run), series (id → sampled series of `metric`), baseline id or null. */
  render(view) {
    this.last = view;
    const { ids, labels, infos, series, metric, baseline } = view;
    const keys = keyMetrics(ids, infos, metric);
    const base = baseline ? stats(series[baseline], metric) : null;
    const cols = [
      { id: 'run', label: 'run', value: (r) => r.label },
      { id: 'status', label: 'status', value: (r) => r.status },
      { id: 'step', label: 'last step', value: (r) => r.s?.lastStep },
      { id: 'final', label: `${metric ?? '—'} final`, value: (r) => r.s?.final },
      { id: 'best', label: `${metric ?? '—'} best${higherIsBetter(metric) ? ' (max)' : ' (min)'}`, value: (r) => r.s?.best },
      { id: 'best_step', label: 'best at step', value: (r) => r.s?.bestStep },
      ...(base ? [
        { id: 'delta_final', label: 'Δ final', value: (r) => diff(r.s?.final, base.final) },
        { id: 'delta_best', label: 'Δ best', value: (r) => diff(r.s?.best, base.best) },
      ] : []),
      ...keys.map((k) => ({ id: `m:${k}`, label: k, value: (r) => r.metrics?.[k] })),
    ];
    const rows = ids.map((id, i) => ({
      id, i, label: labels[i], status: infos.get(id)?.run?.status ?? 'unknown', metrics: infos.get(id)?.run?.metrics ?? {}, s: stats(series[id], metric),
    }));
    const col = cols.find((c) => c.id === this.sort.col);
    if (col) {
      rows.sort((a, b) => {
        const [x, y] = [col.value(a), col.value(b)];
        if (x === undefined || x === null) return 1;
        if (y === undefined || y === null) return -1;
        const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return this.sort.desc ? -c : c;
      });
    }
    const arrow = (c) => (this.sort.col === c.id ? (this.sort.desc ? ' ▼' : ' ▲') : '');
    fill(this.head, cols.map((c) => h('th.sortable', {
      'data-col': c.id, title: `sort by ${c.label}`,
      onclick: () => {
        this.sort = { col: c.id, desc: this.sort.col === c.id ? !this.sort.desc : false };
        this.render(this.last);
      },
    }, c.label + arrow(c))));
    fill(this.body, rows.map((r) => h('tr', { 'data-testid': 'compare-row', 'data-run': r.id, class: r.id === baseline ? 'baseline' : '' },
      cols.map((c) => {
        const v = c.value(r);
        if (c.id === 'run') {
          return h('td.run-link', { 'data-col': c.id, title: r.id },
            h('span.swatch', { style: `background:${color(r.i)}` }), h('a', { href: routeHref('run', { run: r.id }) }, r.label),
            r.id === baseline ? h('span.chip', {}, 'baseline') : null);
        }
        if (c.id === 'status') return h('td', { 'data-col': c.id }, statusBadge(v));
        const better = c.id.startsWith('delta_') && typeof v === 'number' && v !== 0 ? ((v > 0) === higherIsBetter(metric) ? 'better' : 'worse') : '';
        return h('td.mono.num', { 'data-col': c.id, 'data-value': v ?? '', class: better }, v === undefined || v === null ? '—' : (c.id.startsWith('delta_') && v > 0 ? '+' : '') + num(v));
      }))));
  }
}

function diff(a, b) {
  return typeof a === 'number' && typeof b === 'number' ? a - b : null;
}

/** The key metrics some compared run reported (not the compared one), validation first. */
function keyMetrics(ids, infos, metric) {
  const names = new Set(ids.flatMap((id) => Object.keys(infos.get(id)?.run?.metrics ?? {})));
  names.delete(metric);
  const ranked = [...names].map((n) => [n, KEY_METRICS.findIndex((re) => re.test(n))]).filter(([, r]) => r >= 0);
  return ranked.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).slice(0, MOST_KEYS).map(([n]) => n);
}
