// #/run?run=ID: the run's header, live metric charts with the ledger's changes as markers, the controls, the ledger.
// The parts are in run/: the header, the metrics the page holds, the picker and the charts; this module fetches, keeps
// them current from the run's event stream, and sends the controls' commands.

import { get, post, ledgerAfter, runEvents, ApiError, mayChange, READ_ONLY } from '../api.js';
import { h, fill, showError, debounce, replaceRoute } from '../dom.js';
import { Controls, setFeedback } from './controls.js';
import { LedgerTable, isChange, marker, outcome } from './ledger.js';
import { RunHeader } from './run/header.js';
import { RunMetrics } from './run/metrics.js';
import { MetricPicker } from './run/picker.js';
import { ChartPanel } from './run/chart-panel.js';
import { AutopilotPanel } from './run/autopilot-panel.js';
import { TunePanel } from './run/tune-panel.js';

const POINTS = 1000; // asked of the server per series
const CAP = 4 * POINTS; // live appends beyond this many points re-fetch the downsampled series

export function mount(root, params) {
  const id = params.get('run');
  if (!id) {
    fill(root, h('p.pad', {}, 'No run given. ', h('a', { href: '#/runs' }, 'Pick one from the runs.')));
    return { dispose() {} };
  }
  const page = new RunPage(root, id, params);
  page.start().catch((e) => page.failed(e));
  return page;
}

class RunPage {
  constructor(root, id, params) {
    this.id = id;
    this.view = {
      log: params.get('log') === '1',
      smooth: Math.min(0.99, Math.max(0, Number(params.get('smooth')) || 0)),
      grouped: params.get('group') === '1',
      from: params.get('from') ?? '',
      to: params.get('to') ?? '',
    };
    this.metrics = new RunMetrics(params.get('metrics') ? params.get('metrics').split(',').filter(Boolean) : null);
    this.ledger = new Map(); // seq → entry
    this.lastSeq = 0;
    this.pending = new Map(); // cid → feedback element
    this.closeEvents = null;
    this.disposed = false;
    this.refetchSoon = debounce(() => this.refetch(), 300);
    this.refreshDefaultsSoon = debounce(() => this.refreshDefaults(), 300);
    this.header = new RunHeader(id);
    this.picker = new MetricPicker(this.metrics, (names) => this.pick(names));
    this.charts = new ChartPanel({
      id, view: this.view, metrics: this.metrics, picker: this.picker.el,
      onView: (change) => this.setView(change), onRange: (from, to) => this.setRange(from, to),
    });
    const ledgerBox = h('section.card');
    this.ledgerTable = new LedgerTable(ledgerBox);
    const controlsBox = h('section.card.controls', { 'data-testid': 'controls' });
    this.controls = new Controls(controlsBox, {
      send: (b, fb) => this.send(b, fb), setFreeze: (b, fb) => this.setFreeze(b, fb), readOnly: mayChange ? null : READ_ONLY,
    });
    this.autopilot = new AutopilotPanel(id);
    this.tune = new TunePanel(id);
    fill(root, h('div.run-page', {},
      this.header.el,
      h('div.run-body', {},
        h('div.run-main', {}, this.charts.el, ledgerBox),
        h('aside.run-side', {},
          controlsBox,
          this.autopilot.el,
          this.tune.el))));
  }

  async start() {
    const run = this.id;
    const { metrics } = this;
    // Without a choice of metrics or steps in the URL, the server's default series are asked for at once (index.html
    // asked already), instead of waiting for the names to pick from.
    const { from, to } = this.range();
    const defaults = !metrics.picked && from === null && to === null ? get('/api/run/metrics', { run, pick: 'default', points: POINTS }) : null;
    const [info, names, ledger, first] = await Promise.all([
      get('/api/run', { run }), get('/api/run/metric-names', { run }), ledgerAfter(run), defaults,
    ]);
    if (this.disposed) return;
    if (!performance.getEntriesByName('kiln:data').length) performance.mark('kiln:data');
    this.info = info.run;
    this.header.render(this.info, metrics.step);
    this.controls.update({ doc: info.actuators, freeze: info.freeze, status: info.run.status });
    metrics.count(names.names);
    metrics.defaults = names.default ?? [];
    metrics.partial = Boolean(names.partial || first?.partial);
    this.addLedger(ledger.entries);
    const selected = metrics.selected();
    const answer = first ? this.takeSeries(first, null) : await this.fetchSeries(selected.length ? selected : null);
    if (this.disposed) return;
    this.picker.render();
    this.charts.render();
    this.closeEvents = runEvents(run, `m:${answer.offset};l:${ledger.offset}`, {
      metrics: (lines) => this.onMetrics(lines),
      ledger: (entries) => this.addLedger(entries),
      actuators: (doc) => this.controls.update({ doc }),
      status: (doc) => this.onStatus(doc),
      state: (s) => this.header.setLive(s),
    }, (e) => showError(e, 'live updates'));
    if (metrics.partial) this.awaitWhole();
    this.autopilot.start();
    this.tune.start();
  }

  /** The server answered from a preview of a large file it is still reading: asks again until it has read it whole. */
  async awaitWhole() {
    this.charts.setPartial(true);
    while (!this.disposed) {
      await new Promise((resolve) => { setTimeout(resolve, 250); });
      if (this.disposed) return;
      try {
        const answer = await get('/api/run/metric-names', { run: this.id });
        if (answer.partial || this.disposed) continue;
        this.metrics.count(answer.names);
        this.metrics.partial = false;
        this.charts.setPartial(false);
        if (await this.drawDefaults(answer, true)) performance.mark('kiln:whole-chart');
        return;
      } catch (e) {
        showError(e, 'metrics');
        return;
      }
    }
  }

  failed(e) {
    if (this.disposed) return;
    showError(e, `run ${this.id}`);
    if (e instanceof ApiError && e.status === 404) this.header.notFound(e.message);
  }

  dispose() {
    this.disposed = true;
    this.closeEvents?.();
    this.autopilot.dispose();
    this.tune.dispose();
    this.refetchSoon.cancel();
    this.refreshDefaultsSoon.cancel();
    this.charts.dispose();
  }

  onStatus(doc) {
    this.info = { ...this.info, status: doc.status, end: doc.end, error: doc.error };
    this.header.render(this.info, this.metrics.step);
    this.controls.update({ status: doc.status });
  }

  // ---- metrics ----

  /** Asks the server which metrics to draw again (new ones were born) and fetches the new defaults' series. */
  async refreshDefaults() {
    if (this.disposed || this.metrics.picked) return;
    try {
      const answer = await get('/api/run/metric-names', { run: this.id });
      if (this.disposed || this.metrics.picked) return;
      await this.drawDefaults(answer, false);
    } catch (e) {
      showError(e, 'metrics');
    }
  }

  /**
   * Takes the server's defaults from a metric-names answer and fetches the series drawn now (every one again when
   * `all`, else the missing ones), then draws; false when the page went away meanwhile.
   */
  async drawDefaults(answer, all) {
    const { metrics } = this;
    metrics.defaults = answer.default ?? [];
    const names = all ? metrics.selected() : metrics.selected().filter((n) => !metrics.series.has(n));
    if (names.length) await this.fetchSeries(names);
    if (this.disposed) return false;
    this.picker.render();
    this.charts.render();
    return true;
  }

  pick(names) {
    const missing = this.metrics.pick(names);
    this.saveView();
    if (missing.length) this.fetchSeries(missing).then(() => this.charts.render(), (e) => showError(e, 'metrics'));
    else this.charts.render();
  }

  range() {
    const n = (s) => (s === '' ? null : Number(s));
    return { from: n(this.view.from), to: n(this.view.to) };
  }

  /** Fetches series (the server's defaults when names is null) for the step range and merges them in; returns the answer. */
  async fetchSeries(names, replace = false) {
    const { from, to } = this.range();
    const answer = await get('/api/run/metrics', { run: this.id, names: names?.join(','), pick: names ? null : 'default', from, to, points: POINTS });
    return this.takeSeries(answer, names, replace);
  }

  /** Merges the series of a metrics answer in (only the selected ones when names is null); returns the answer. */
  takeSeries(answer, names, replace = false) {
    this.metrics.take(answer, names, replace, this.range().to);
    return answer;
  }

  /** Fetches the drawn series again: downsampled anew (too many live points), or for a new step range (replace). */
  async refetch(replace = false) {
    if (this.disposed) return;
    const names = this.metrics.selected();
    if (!names.length) return;
    try {
      await this.fetchSeries(names, replace);
      if (!this.disposed) this.charts.render();
    } catch (e) {
      showError(e, 'metrics');
    }
  }

  /** Live metric lines: appended to the drawn series; a metric born now joins the picker (and the defaults, if one). */
  onMetrics(lines) {
    const { added, tooMany } = this.metrics.append(lines, this.range(), CAP);
    if (this.metrics.step !== null) this.header.setStep(this.metrics.step);
    if (added) {
      this.picker.render();
      if (!this.metrics.picked) this.refreshDefaultsSoon();
    }
    if (tooMany) this.refetchSoon();
    this.charts.renderSoon();
  }

  setView(change) {
    Object.assign(this.view, change);
    this.saveView();
    if ('grouped' in change) this.charts.regroup();
    this.charts.renderSoon();
  }

  setRange(from, to) {
    const clean = (s) => (s === '' || s === null || s === undefined ? '' : String(Math.max(0, Math.round(Number(s)))));
    if ((from !== '' && !Number.isFinite(Number(from))) || (to !== '' && !Number.isFinite(Number(to)))) {
      showError(`step range: "${from}"–"${to}" are not step numbers`);
      return;
    }
    this.view.from = clean(from);
    this.view.to = clean(to);
    this.charts.showRange();
    this.saveView();
    this.refetch(true);
  }

  saveView() {
    const p = new URLSearchParams({ run: this.id });
    if (this.metrics.picked) p.set('metrics', this.metrics.picked.join(','));
    if (this.view.log) p.set('log', '1');
    if (this.view.smooth > 0) p.set('smooth', String(this.view.smooth));
    if (this.view.grouped) p.set('group', '1');
    if (this.view.from) p.set('from', this.view.from);
    if (this.view.to) p.set('to', this.view.to);
    replaceRoute('run', p);
  }

  // ---- ledger and commands ----

  addLedger(entries) {
    const fresh = entries.filter((e) => typeof e.seq === 'number' && !this.ledger.has(e.seq)).sort((a, b) => a.seq - b.seq);
    if (!fresh.length) return;
    // A gap means lines were written between the ledger's answer and the stream's start: fetch them.
    if (this.lastSeq && fresh[0].seq > this.lastSeq + 1) {
      ledgerAfter(this.id, this.lastSeq).then((r) => this.addLedger(r.entries), (e) => showError(e, 'ledger'));
    }
    for (const e of fresh) {
      this.ledger.set(e.seq, e);
      this.lastSeq = Math.max(this.lastSeq, e.seq);
      const fb = e.cid && this.pending.get(e.cid);
      if (fb) {
        setFeedback(fb, e.decision, outcome(e));
        this.pending.delete(e.cid);
      }
    }
    this.ledgerTable.add(fresh);
    if (fresh.some(isChange)) this.charts.setMarkers([...this.ledger.values()].filter(isChange).map(marker));
  }

  /** Queues a command, then shows its cid and, when the kernel has decided, its ledger line. */
  async send(body, fb) {
    setFeedback(fb, 'sending', 'sending…');
    try {
      const answer = await post('/api/run/commands', { run: this.id }, body);
      const decided = [...this.ledger.values()].find((e) => e.cid === answer.cid);
      if (decided) setFeedback(fb, decided.decision, outcome(decided));
      else {
        setFeedback(fb, 'queued', `queued as ${answer.cid}; waiting for the kernel…`);
        this.pending.set(answer.cid, fb);
      }
      fb.dataset.cid = answer.cid;
    } catch (e) {
      setFeedback(fb, 'error', e.message);
      showError(e, `${body.module} ${body.op}`);
    }
  }

  async setFreeze(body, fb) {
    setFeedback(fb, 'sending', 'writing…');
    try {
      const state = await post('/api/run/freeze', { run: this.id }, body);
      setFeedback(fb, 'applied', `freeze state written: ${state.mode}${state.recipe_path ? ` (${state.recipe_path})` : ''}`);
      this.controls.update({ freeze: state });
    } catch (e) {
      setFeedback(fb, 'error', e.message);
      showError(e, 'freeze');
    }
  }
}
