// The run page's header: the run's id, status, live connection, kind, config, times, latest step and parameters.

import { h, fill, num, time, statusBadge, routeHref } from '../../dom.js';

export class RunHeader {
  constructor(id) {
    this.id = id;
    this.el = h('section.card.run-header', { 'data-testid': 'run-header' }, h('h1.run-id', {}, id));
    this.live = h('span.live', { 'data-testid': 'live-state', 'data-state': 'connecting' }, 'connecting');
    this.stepEl = h('span.mono', { 'data-testid': 'run-step' });
  }

  /** Draws the run's summary (`run` of /api/run, or as the status events changed it). */
  render(r, step) {
    // Every parameter the run recorded, the swept ones (a trial's) first and marked.
    const swept = new Set(Object.keys(r.swept ?? {}));
    const params = { ...(r.swept ?? {}), ...Object.fromEntries(Object.entries(r.params ?? {}).filter(([k]) => !swept.has(k))) };
    this.setStep(step);
    fill(this.el,
      h('div.title-row', {},
        h('h1.run-id', {}, this.id),
        statusBadge(r.status, { 'data-testid': 'run-status' }),
        this.live,
        h('span.spacer'),
        h('a.btn.btn-small', { href: routeHref('compare', { runs: this.id }) }, 'Compare…')),
      h('div.meta', {},
        meta('kind', r.kind), meta('config', r.config), meta('started', time(r.start)), r.end ? meta('ended', time(r.end)) : null,
        this.stepEl),
      Object.keys(params).length ? h('div.meta.params', { 'data-testid': 'run-params' }, Object.entries(params).filter(([, v]) => v !== null).map(([k, v]) =>
        h('span.chip', { class: swept.has(k) ? 'swept' : '', 'data-param': k, title: swept.has(k) ? 'swept' : '' }, `${k}=${typeof v === 'object' ? JSON.stringify(v) : num(v)}`))) : null,
      r.error ? h('p.err', { 'data-testid': 'run-error' }, r.error) : null);
  }

  setStep(step) {
    this.stepEl.textContent = step === null ? '' : `step ${num(step)}`;
  }

  /** The live connection's state: 'open', 'reconnecting' or 'closed'. */
  setLive(state) {
    this.live.dataset.state = state;
    this.live.textContent = { open: 'live', reconnecting: 'reconnecting…', closed: 'disconnected' }[state] ?? state;
  }

  /** The run is not served here: says so, with the way back. */
  notFound(message) {
    this.el.append(h('p.err', {}, message, ' ', h('a', { href: '#/runs' }, 'Back to the runs.')));
  }
}

function meta(label, value) {
  if (value === null || value === undefined || value === '') return null;
  return h('span.meta-item', {}, h('span.muted', {}, label), ' ', value);
}
