// The autopilot panel of a run page: the autopilot's mode and rules when one follows the run, its proposals newest
// first with the rule's rationale, and accept / reject for the suggestions waiting for a person. The autopilot acts
// only through the inbox, so an accepted suggestion shows in the ledger like any other change.

import { get, post, mayChange, READ_ONLY } from '../../api.js';
import { h, fill, showError, num } from '../../dom.js';
import { PolledPanel } from './polled-panel.js';

const SHOWN = 20; // proposals listed at most

export class AutopilotPanel extends PolledPanel {
  constructor(run) {
    super();
    this.run = run;
    this.el = h('section.card.autopilot', { 'data-testid': 'autopilot-panel' });
    this.render(null, []);
  }

  async refresh() {
    try {
      const answer = await get('/api/run/autopilot', { run: this.run });
      if (!this.disposed) this.render(answer.state, answer.proposals, answer.ai);
    } catch (e) {
      showError(e, 'autopilot');
    }
  }

  async decide(id, verdict) {
    try {
      await post(`/api/run/autopilot/${verdict}`, { run: this.run }, { id });
    } catch (e) {
      showError(e, `autopilot ${verdict}`);
    }
    await this.refresh();
  }

  render(state, proposals, ai = null) {
    const head = h('div.card-head', {}, h('h2', {}, 'Autopilot'),
      state ? h('span.badge', { 'data-testid': 'autopilot-mode' }, state.mode) : null);
    if (!state && !proposals.length) {
      fill(this.el, head, h('p.muted', {}, 'Not configured: no autopilot is watching this run (launch, demo or serve with --autopilot suggest or auto).'));
      return;
    }
    const rules = state?.rules ?? [];
    const list = proposals.slice(-SHOWN).reverse().map((p) => h('li.proposal', { 'data-testid': 'proposal', 'data-status': p.status },
      h('div', {}, h('strong', {}, p.summary), ' ', h(`span.badge.status-${p.status}`, {}, p.status), h('span.muted', {}, ` · ${p.rule} · step ${num(p.step)}`)),
      h('div.muted', {}, p.rationale),
      p.note ? h('div.muted', {}, p.note) : null,
      p.status === 'suggested'
        ? h('div.actions', {},
          h('button', { type: 'button', disabled: !mayChange, title: mayChange ? null : READ_ONLY, onclick: () => this.decide(p.id, 'accept'), 'data-testid': 'accept' }, 'Accept'),
          h('button', { type: 'button', disabled: !mayChange, title: mayChange ? null : READ_ONLY, onclick: () => this.decide(p.id, 'reject'), 'data-testid': 'reject' }, 'Reject'))
        : null));
    const calls = ai?.last ?? [];
    const latest = [...calls].reverse().find((c) => c.reasoning || c.error);
    const aiLine = state?.ai || ai?.calls
      ? h('div.ai', { 'data-testid': 'autopilot-ai' },
        h('p.muted', {}, `AI: ${state?.ai?.model ?? 'model'} · ${ai?.calls ?? 0} calls · $${(ai?.spent_usd ?? 0).toFixed(4)} of $${state?.ai?.budget_usd ?? '?'}`),
        latest ? h('p', { 'data-testid': 'autopilot-ai-reasoning' }, `step ${num(latest.step)}: ${latest.reasoning ?? `${latest.status}: ${latest.error}`}`) : null)
      : null;
    fill(this.el, head,
      aiLine,
      rules.length ? h('p.muted', {}, `${rules.filter((r) => r.enabled).length} rules: ${rules.filter((r) => r.enabled).map((r) => r.id).join(', ')}`) : null,
      list.length ? h('ul.proposals', {}, list) : h('p.muted', {}, 'No proposals yet.'));
  }
}
