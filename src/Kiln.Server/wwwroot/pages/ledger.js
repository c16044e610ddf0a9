// The ledger (kiln.applied.jsonl): what each decision changed, as text, as table rows and as chart markers.

import { h, num, show, time } from '../dom.js';

/** "opt set_params main" — the command a ledger line is about. */
export function subject(e) {
  if (!e.module) return e.event === 'kernel_start' ? 'kernel start' : (e.event ?? 'inbox line');
  return [e.module, e.op, e.id].filter((x) => x !== null && x !== undefined).join(' ');
}

/** What took effect (the payload), or what was asked (the params), as key=value text. */
export function change(e) {
  const what = e.payload && Object.keys(e.payload).length ? e.payload : e.params;
  if (!what) return '';
  if (e.module === 'cb' && e.op === 'load') {
    const t = what.target;
    return t ? `${t.kind} ${t.path}${t.symbol ? `:${t.symbol}` : ''}${what.enabled === false ? ' (disabled)' : ''}` : show(what);
  }
  return show(what);
}

/** Did this decision change the run at a known step (so it belongs on the charts)? */
export const isChange = (e) => e.decision === 'applied' && e.module && e.step !== null && e.step !== undefined;

/** A chart marker for an applied change. */
export function marker(e) {
  const what = change(e);
  return {
    key: e.seq,
    step: e.step,
    kind: e.source,
    title: `#${e.seq} step ${e.step} · ${e.source}\n${subject(e)}${what ? `: ${what}` : ''}${e.notes ? `\n${e.notes}` : ''}`,
  };
}

/** One line of feedback about a decision: "applied at step 312: lr=0.0005" or "rejected: lr: …". */
export function outcome(e) {
  const at = e.step === null || e.step === undefined ? '' : ` at step ${e.step}`;
  const detail = e.decision === 'applied' || e.decision === 'skipped_noop' ? (change(e) || e.notes || '') : (e.error ?? e.notes ?? '');
  return `${e.decision}${at}${detail ? `: ${detail}` : ''}`;
}

/** The ledger as a table, newest first. */
export class LedgerTable {
  constructor(host, max = 1000) {
    this.max = max;
    this.count = 0;
    this.body = h('tbody');
    this.note = h('span.muted');
    host.append(
      h('div.card-head', {}, h('h2', {}, 'Ledger'), this.note),
      h('div.table-scroll.ledger-scroll', {},
        h('table.grid.ledger', { 'data-testid': 'ledger-table' },
          h('thead', {}, h('tr', {}, ['seq', 'step', 'time', 'source', 'command', 'decision', 'change'].map((c) => h('th', {}, c)))),
          this.body)));
    this.empty = h('tr.empty', {}, h('td', { colspan: 7 }, 'No decisions yet.'));
    this.body.append(this.empty);
  }

  /** Adds entries (in any order): rows stay sorted newest first, and only the newest `max` are kept. */
  add(entries) {
    if (!entries.length) return;
    this.empty.remove();
    for (const e of [...entries].sort((a, b) => a.seq - b.seq)) {
      const row = this.row(e);
      let at = this.body.firstElementChild;
      while (at && Number(at.dataset.seq) > e.seq) at = at.nextElementSibling;
      this.body.insertBefore(row, at);
    }
    this.count += entries.length;
    while (this.body.children.length > this.max) this.body.lastElementChild.remove();
    this.note.textContent = this.count > this.max ? `newest ${this.max} of ${num(this.count)}` : `${num(this.count)} entries`;
  }

  row(e) {
    return h('tr', { 'data-testid': 'ledger-row', 'data-seq': e.seq, 'data-decision': e.decision, 'data-source': e.source, 'data-cid': e.cid ?? '' },
      h('td.num', {}, e.seq),
      h('td.num', {}, e.step ?? '—'),
      h('td.nowrap', { title: e.wall_time ? time(e.wall_time) : '' }, time(e.wall_time, true)),
      h('td', {}, h('span.source', { class: `source-${e.source}` }, e.source)),
      h('td.mono', {}, subject(e), e.event && e.event !== 'train_step_end' ? h('span.muted', {}, ` @${e.event}`) : null),
      h('td', {}, h('span.badge', { class: `decision-${e.decision}` }, e.decision)),
      h('td.change', {}, change(e), e.error ? h('div.err', {}, e.error) : null, e.notes ? h('div.muted', {}, e.notes) : null));
  }
}
