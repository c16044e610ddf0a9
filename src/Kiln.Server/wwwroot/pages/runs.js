// #/runs: every run served, filtered, sorted and paged by the server; pick some to compare.

import { get } from '../api.js';
import { h, fill, num, show, time, statusBadge, showError, debounce, replaceRoute, routeHref } from '../dom.js';

const COLUMNS = [
  { key: 'id', label: 'run' },
  { key: 'kind', label: 'kind' },
  { key: 'config', label: 'config' },
  { key: 'status', label: 'status' },
  { key: 'start', label: 'started' },
];
const DESCENDING_FIRST = new Set(['start', 'end']);
const REFRESH_MS = 5000;

export function mount(root, params) {
  const state = {
    filter: params.get('filter') ?? '',
    sort: params.get('sort') ?? 'start',
    order: params.get('order') ?? 'desc',
    page: Math.max(0, Number(params.get('page')) || 0),
    size: [25, 50, 100, 200].includes(Number(params.get('size'))) ? Number(params.get('size')) : 50,
  };
  const selected = new Set();
  const metricNames = new Set();
  let latest = 0;
  let disposed = false;

  const filter = h('input.filter', {
    type: 'search', placeholder: 'filter: id, config, status, kind, parameters…', value: state.filter, 'data-testid': 'runs-filter', 'aria-label': 'filter',
  });
  const metricSort = h('select', { 'data-testid': 'runs-sort-metric', 'aria-label': 'sort by metric' });
  const size = h('select', { 'aria-label': 'runs per page' }, [25, 50, 100, 200].map((n) => h('option', { value: n, selected: n === state.size }, `${n} per page`)));
  const total = h('span.muted', { 'data-testid': 'runs-total' });
  const compare = h('a.btn.btn-primary', { 'data-testid': 'compare-button', href: '#/compare' }, 'Compare');
  const head = h('tr');
  const body = h('tbody');
  const pager = h('div.pager');
  fill(root, h('section.card.runs-page', {},
    h('div.card-head', {}, h('h2', {}, 'Runs'), total, h('span.spacer'), compare),
    h('div.toolbar', {}, filter, h('label.inline', {}, 'sort by metric', metricSort), size),
    h('div.table-scroll', {}, h('table.grid.runs', { 'data-testid': 'runs-table' }, h('thead', {}, head), body)),
    pager));

  const save = () => replaceRoute('runs', new URLSearchParams(Object.entries({
    filter: state.filter, sort: state.sort === 'start' ? '' : state.sort, order: state.order === 'desc' ? '' : state.order,
    page: state.page ? String(state.page) : '', size: state.size === 50 ? '' : String(state.size),
  })));

  const sortBy = (key) => {
    if (state.sort === key) state.order = state.order === 'asc' ? 'desc' : 'asc';
    else {
      state.sort = key;
      state.order = DESCENDING_FIRST.has(key) ? 'desc' : 'asc';
    }
    state.page = 0;
    load();
  };

  const updateCompare = () => {
    const ids = [...selected];
    compare.textContent = ids.length ? `Compare ${ids.length}` : 'Compare';
    compare.classList.toggle('disabled', ids.length < 2);
    compare.setAttribute('aria-disabled', ids.length < 2 ? 'true' : 'false');
    compare.href = ids.length ? routeHref('compare', { runs: ids.join(',') }) : '#/compare';
    compare.title = ids.length < 2 ? 'select two runs or more' : ids.join('\n');
  };

  const renderHead = () => {
    const arrow = (key) => (state.sort === key ? (state.order === 'asc' ? ' ▲' : ' ▼') : '');
    const isMetric = !COLUMNS.some((c) => c.key === state.sort) && state.sort !== 'end';
    fill(head,
      h('th.select', {}, ''),
      COLUMNS.map((c) => h('th.sortable', { 'data-sort': c.key, onclick: () => sortBy(c.key), title: `sort by ${c.label}` }, c.label + arrow(c.key))),
      h('th', {}, 'parameters'),
      h('th', { class: isMetric ? 'sortable' : '', onclick: isMetric ? () => sortBy(state.sort) : null },
        isMetric ? `metrics (${state.sort}${arrow(state.sort)})` : 'latest metrics'));
    fill(metricSort, h('option', { value: '' }, '—'), [...metricNames].sort().map((n) => h('option', { value: n, selected: n === state.sort }, n)));
  };

  const row = (r) => {
    const box = h('input', {
      type: 'checkbox', checked: selected.has(r.id), 'data-testid': 'run-select', 'aria-label': `select ${r.id}`,
      onchange: (e) => { if (e.target.checked) selected.add(r.id); else selected.delete(r.id); updateCompare(); },
    });
    const params = r.swept && Object.keys(r.swept).length ? r.swept : visibleParams(r.params);
    const metrics = Object.entries(r.metrics ?? {});
    metrics.sort(([a], [b]) => (a === state.sort ? -1 : b === state.sort ? 1 : keyRank(a) - keyRank(b) || a.localeCompare(b)));
    for (const [n] of metrics) metricNames.add(n);
    return h('tr', { 'data-testid': 'runs-row', 'data-run': r.id },
      h('td.select', {}, box),
      h('td.mono.run-link', {}, h('a', { href: routeHref('run', { run: r.id }) }, r.id)),
      h('td', {}, r.kind ?? ''),
      h('td', {}, r.config ?? ''),
      h('td.nowrap', {}, statusBadge(r.status), r.error ? h('span.err-dot', { title: r.error }, ' ⚠') : null, slurmBadge(r.slurm)),
      h('td.nowrap', { title: r.end ? `ended ${time(r.end)}` : '' }, time(r.start, true)),
      h('td.params', { title: show(r.params) }, chips(params, 5, r.swept ? 'swept' : '')),
      h('td.metrics', {
        title: metrics.map(([k, v]) => `${k}=${num(v)}`).concat(r.metrics_more ? [`… and ${num(r.metrics_more)} more on the run's page`] : []).join('\n'),
        'data-more': r.metrics_more ?? 0,
      }, chips(Object.fromEntries(metrics), 4, '', state.sort)));
  };

  const renderPager = (answer) => {
    const pages = Math.max(1, Math.ceil(answer.total / answer.size));
    const go = (p) => { state.page = p; load(); };
    fill(pager,
      h('button.btn.btn-small', { type: 'button', disabled: state.page === 0, onclick: () => go(state.page - 1), 'data-testid': 'runs-prev' }, '‹ previous'),
      h('span.muted', {}, `page ${state.page + 1} of ${pages}`),
      h('button.btn.btn-small', { type: 'button', disabled: state.page + 1 >= pages, onclick: () => go(state.page + 1), 'data-testid': 'runs-next' }, 'next ›'));
  };

  async function load(quiet = false) {
    const ticket = ++latest;
    save();
    try {
      const answer = await get('/api/runs', { filter: state.filter.trim(), sort: state.sort, order: state.order, page: state.page, size: state.size });
      if (disposed || ticket !== latest) return;
      if (answer.runs.length === 0 && state.page > 0 && answer.total > 0) { state.page = 0; load(); return; }
      const rows = answer.runs.map(row);
      renderHead();
      if (rows.length) fill(body, rows);
      else fill(body, h('tr.empty', {}, h('td', { colspan: 8 }, state.filter ? `No run matches "${state.filter}".` : `No runs under ${answer.root} yet.`)));
      total.textContent = `${num(answer.total)} run${answer.total === 1 ? '' : 's'}${state.filter ? ' matching' : ''}`;
      total.title = answer.slurm_problem ?? '';
      if (answer.slurm_problem) total.append(h('span.err-dot', { 'data-testid': 'slurm-problem' }, ' ⚠ Slurm states not current'));
      renderPager(answer);
    } catch (e) {
      if (!disposed && ticket === latest) showError(e, quiet ? 'refreshing the runs' : 'runs');
    }
  }

  filter.addEventListener('input', debounce(() => { state.filter = filter.value; state.page = 0; load(); }, 250));
  metricSort.addEventListener('change', () => {
    if (metricSort.value) { state.sort = metricSort.value; state.order = /acc|score|auc|f1/i.test(metricSort.value) ? 'desc' : 'asc'; } else { state.sort = 'start'; state.order = 'desc'; }
    state.page = 0;
    load();
  });
  size.addEventListener('change', () => { state.size = Number(size.value); state.page = 0; load(); });
  compare.addEventListener('click', (e) => { if (selected.size < 2) e.preventDefault(); });
  renderHead();
  updateCompare();
  load();
  const timer = setInterval(() => { if (!document.hidden) load(true); }, REFRESH_MS);
  return { dispose() { disposed = true; clearInterval(timer); } };
}

/** Slurm's state of a trial submitted to a cluster, beside Kiln's: `RUNNING`, `PENDING ↻2` after two requeues; the task id on hover. */
function slurmBadge(slurm) {
  if (!slurm) return null;
  const state = slurm.state ?? '?';
  const requeues = slurm.requeues ?? 0;
  const title = [`Slurm task ${slurm.id}: ${state}`, requeues ? `requeued ${requeues}×` : '', slurm.exit_code != null ? `exit code ${slurm.exit_code}` : '']
    .filter(Boolean).join(', ');
  return h('span.badge.slurm', { class: `slurm-${state.toLowerCase()}`, title, 'data-testid': 'slurm-state', 'data-slurm': state, 'data-requeues': requeues },
    h('span.k', {}, 'slurm '), state, requeues ? ` ↻${requeues}` : '');
}

/** The metrics a run is judged by come first: validation accuracy and loss, then test, then other accuracies and losses. */
const KEY_METRICS = [/^val(idation)?_?acc/i, /^val(idation)?_?loss$/i, /^test_?acc/i, /^test_?loss$/i, /acc/i, /loss$/i];

function keyRank(name) {
  const i = KEY_METRICS.findIndex((re) => re.test(name));
  return i < 0 ? KEY_METRICS.length : i;
}

/** The parameters worth a glance: not null, not the bookkeeping ones. */
function visibleParams(params) {
  return Object.fromEntries(Object.entries(params ?? {}).filter(([k, v]) => v !== null && !['cfg_sha256', 'step_delay', 'max_time'].includes(k)));
}

function chips(obj, max, kind, first) {
  const entries = Object.entries(obj ?? {});
  if (!entries.length) return h('span.muted', {}, '—');
  return [
    entries.slice(0, max).map(([k, v]) => h('span.chip', { class: [kind, k === first ? 'hl' : ''].filter(Boolean).join(' ') },
      h('span.k', {}, k), '=', typeof v === 'object' && v !== null ? JSON.stringify(v) : num(v))),
    entries.length > max ? h('span.muted', {}, ` +${entries.length - max}`) : null,
  ];
}
