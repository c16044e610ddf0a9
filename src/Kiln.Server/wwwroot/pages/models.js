// #/models: the workspace's trained models from its registry, grouped by architecture (newest first), each with its
// hyper-parameters, trial result and code snapshot, linked to its run; what `kiln models` prints.

import { get } from '../api.js';
import { h, fill, num, show, time, statusBadge, showError, routeHref } from '../dom.js';

export function mount(root, params) {
  const filter = { trialled: params.get('trialled') ?? '' };
  const body = h('div', { 'data-testid': 'models' });
  fill(root, h('section.card', {}, h('div.card-head', {}, h('h2', {}, 'Models')), body));
  load(body, filter).catch((e) => showError(e, 'models'));
  return { dispose() {} };
}

async function load(body, filter) {
  const answer = await get('/api/models', filter.trialled ? { trialled: filter.trialled } : {});
  if (!answer.workspace) {
    fill(body, h('p', { 'data-testid': 'models-none' }, 'No registry here: the dashboard serves a folder outside a workspace, or nothing was trained with ',
      h('code', {}, 'kiln train'), ' yet (', h('code', {}, 'kiln workspace init'), ' makes a workspace).'));
    return;
  }
  if (!answer.groups.length) {
    fill(body, h('p', { 'data-testid': 'models-none' }, 'No trained model yet: ', h('code', {}, 'kiln train'), ' records one.'));
    return;
  }
  fill(body, answer.groups.map((g) => h('section.model-group', { 'data-testid': 'model-group', 'data-fingerprint': g.fingerprint ?? '' },
    h('h3', {}, 'architecture ', h('code', { title: g.fingerprint ?? '' }, (g.fingerprint ?? 'unknown').slice(0, 19)), h('span.muted', {}, ` · ${g.models.length} model${g.models.length === 1 ? '' : 's'}`)),
    g.summary ? h('details', {}, h('summary', {}, 'summary'), h('pre', {}, g.summary)) : null,
    table(g.models))));
}

function table(models) {
  const keys = [...new Set(models.flatMap((m) => Object.keys(m.params ?? {})))].sort();
  const results = [...new Set(models.flatMap((m) => Object.keys(m.trial_result ?? {})))].sort();
  return h('div.table-scroll', {}, h('table.grid', {},
    h('thead', {}, h('tr', {}, h('th', {}, 'run'), h('th', {}, 'trained'), h('th', {}, 'status'), keys.map((k) => h('th', {}, k)),
      results.length ? results.map((k) => h('th.result', {}, k)) : h('th', {}, 'trial result'), h('th', {}, 'code'))),
    h('tbody', {}, models.map((m) => h('tr', { 'data-testid': 'model-row', 'data-id': m.id },
      h('td.mono', {}, m.run ? h('a', { href: routeHref('run', { run: m.run }) }, m.id) : m.id),
      h('td.nowrap', {}, time(m.start, true)),
      h('td', {}, statusBadge(m.status)),
      keys.map((k) => h('td.mono', {}, cell(m.params?.[k]))),
      results.length
        ? results.map((k) => h('td.mono.result', { 'data-result': k }, cell(m.trial_result?.[k])))
        : h('td.muted', { 'data-result': '' }, 'not trialled yet'),
      h('td.mono', { title: m.snapshot_ref ? `kiln revert ${m.id}\nkiln report ${m.id}` : '' },
        m.snapshot_ref ? `${(m.git_commit ?? '').slice(0, 10)}${m.dirty ? ' (with changes)' : ''}` : '—'))))));
}

function cell(v) {
  if (v === undefined || v === null) return '—';
  return typeof v === 'number' ? num(v) : show(v);
}
