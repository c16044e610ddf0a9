// The tune panel of a run page: the tune module's mode, its accept rate and its segments newest first (the dial, the
// factor, the objective before and after, kept or rolled back), with buttons that turn it on or off. Both go to the
// run's inbox as commands, so they show in the ledger like any other change.

import { get, post, mayChange, READ_ONLY } from '../../api.js';
import { h, fill, showError, num } from '../../dom.js';
import { PolledPanel } from './polled-panel.js';

export class TunePanel extends PolledPanel {
  constructor(run) {
    super();
    this.run = run;
    this.el = h('section.card.tune', { 'data-testid': 'tune-panel' });
    this.render(null);
  }

  async refresh() {
    try {
      const answer = await get('/api/run/tune', { run: this.run });
      if (!this.disposed) this.render(answer);
    } catch (e) {
      showError(e, 'tune');
    }
  }

  async command(op) {
    try {
      await post('/api/run/commands', { run: this.run }, op === 'enable'
        ? { module: 'tune', op, params: { mode: 'active' } }
        : { module: 'tune', op });
    } catch (e) {
      showError(e, `tune ${op}`);
    }
    await this.refresh();
  }

  render(t) {
    const on = t && t.mode && t.mode !== 'off';
    const head = h('div.card-head', {}, h('h2', {}, 'Tune'),
      t ? h('span.badge', { 'data-testid': 'tune-mode' }, t.mode) : null);
    const button = h('button', {
      type: 'button', disabled: !mayChange, title: mayChange ? null : READ_ONLY,
      onclick: () => this.command(on ? 'disable' : 'enable'), 'data-testid': 'tune-toggle',
    }, on ? 'Turn off' : 'Turn on');
    if (!t || !t.used) {
      fill(this.el, head, h('p.muted', {}, 'Off: tune has not mutated this run.'), h('div.actions', {}, button));
      return;
    }
    const rate = t.accept_rate == null ? '—' : `${Math.round(t.accept_rate * 100)} %`;
    const rows = [...t.segments].reverse().map((s) => h('tr', { 'data-testid': 'tune-segment', 'data-decision': s.decision ?? 'under_way' },
      h('td', {}, num(s.step)), h('td', {}, s.key), h('td', {}, `×${Number(s.factor).toPrecision(3)}`),
      h('td', {}, s.pre == null ? '—' : Number(s.pre).toPrecision(4)), h('td', {}, s.post == null ? '—' : Number(s.post).toPrecision(4)),
      h('td', {}, h(`span.badge.status-${s.decision ?? 'pending'}`, {}, s.decision ?? 'under way'))));
    fill(this.el, head,
      h('p.muted', { 'data-testid': 'tune-summary' }, `${t.mutations} mutations · ${t.accepted} kept · ${t.rolled_back} rolled back · accept rate ${rate}`),
      rows.length
        ? h('table.tune-segments', {}, h('thead', {}, h('tr', {}, ...['step', 'dial', 'factor', 'pre', 'post', 'verdict'].map((c) => h('th', {}, c)))), h('tbody', {}, rows))
        : null,
      h('div.actions', {}, button));
  }
}
