// #/run?run=ID: the run's header, live metric charts with the ledger's changes as markers, the controls, the ledger.

import { get, post, ledgerAfter, runEvents, ApiError } from '../api.js';
import { Chart, color } from '../charts.js';
import { h, fill, num, time, statusBadge, showError, debounce, replaceRoute, routeHref } from '../dom.js';
import { Controls, setFeedback } from './controls.js';
import { LedgerTable, isChange, marker, outcome } from './ledger.js';

const POINTS = 1000; // asked of the server per series
const CAP = 4 * POINTS; // live appends beyond this many points re-fetch the downsampled series
const PICKER_ALL = 24; // metrics listed whole in the picker; past this, the drawn ones and a search box
const PICKER_MATCHES = 40; // metrics listed for a search

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

/** Groups train_x / val_x / test_x under x when the user asks for grouped charts. */
const groupKey = (name, grouped) => (grouped ? name.replace(/^(train|val|valid|eval|test)[_./-]/, '') : name);

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
    this.picked = params.get('metrics') ? params.get('metrics').split(',').filter(Boolean) : null; // null: the defaults
    this.names = new Map(); // every metric name → points
    this.series = new Map(); // selected name → {steps, last, min, max}
    this.charts = new Map(); // chart key (a metric, or a group of them) → {chart, card, host, latest}
    this.ledger = new Map(); // seq → entry
    this.lastSeq = 0;
    this.pending = new Map(); // cid → feedback element
    this.step = null;
    this.closeEvents = null;
    this.disposed = false;
    this.refetchSoon = debounce(() => this.refetch(), 300);
    this.refreshDefaultsSoon = debounce(() => this.refreshDefaults(), 300);
    this.defaults = []; // the metrics the server draws until the user picks
    this.partial = false; // drawn from the server's preview of a large file it is still reading
    this.renderSoon = (() => {
      let queued = false;
      return () => {
        if (queued) return;
        queued = true;
        requestAnimationFrame(() => { queued = false; if (!this.disposed) this.renderCharts(); });
      };
    })();
    this.layout(root);
  }

  layout(root) {
    this.header = h('section.card.run-header', { 'data-testid': 'run-header' }, h('h1.run-id', {}, this.id));
    this.pickerList = h('span.pick-list');
    this.pickerNote = h('span.pick-note.muted');
    this.pickerSearch = h('input.pick-search', {
      type: 'search', placeholder: 'find a metric', 'aria-label': 'find a metric', 'data-testid': 'metric-filter',
      oninput: (e) => { this.pickerFilter = e.target.value; this.renderPicker(); },
    });
    this.pickerFind = h('span.pick-find', { hidden: true }, this.pickerSearch, this.pickerNote);
    this.picker = h('div.metric-picker', { 'data-testid': 'metric-picker' }, this.pickerFind, this.pickerList);
    this.chartsBox = h('div.charts', { 'data-testid': 'charts' });
    this.noCharts = h('p.muted.pad', { hidden: true });
    this.partialNote = h('p.partial-note', { hidden: true, 'data-testid': 'metrics-partial' },
      'A preview from a sample of the lines: the server is reading the whole file, and the charts fill in when it has.');
    const logBox = h('input', { type: 'checkbox', checked: this.view.log, 'data-testid': 'log-scale', onchange: (e) => this.setView({ log: e.target.checked }) });
    const groupBox = h('input', { type: 'checkbox', checked: this.view.grouped, 'data-testid': 'group-metrics', onchange: (e) => this.setView({ grouped: e.target.checked }) });
    const smoothValue = h('span.mono.smooth-value', {}, this.view.smooth.toFixed(2));
    const smooth = h('input', {
      type: 'range', min: 0, max: 0.99, step: 0.01, value: String(this.view.smooth), 'data-testid': 'smoothing',
      oninput: (e) => { smoothValue.textContent = Number(e.target.value).toFixed(2); this.setView({ smooth: Number(e.target.value) }); },
    });
    this.fromInput = h('input.num.step-input', { type: 'text', inputmode: 'numeric', placeholder: 'first', value: this.view.from, 'data-testid': 'step-from', 'aria-label': 'from step' });
    this.toInput = h('input.num.step-input', { type: 'text', inputmode: 'numeric', placeholder: 'last', value: this.view.to, 'data-testid': 'step-to', 'aria-label': 'to step' });
    const applyRange = () => this.setRange(this.fromInput.value.trim(), this.toInput.value.trim());
    for (const el of [this.fromInput, this.toInput]) el.addEventListener('keydown', (e) => { if (e.key === 'Enter') applyRange(); });
    const toolbar = h('div.toolbar.chart-toolbar', {},
      h('label.check', {}, logBox, 'log scale'),
      h('label.check', { title: 'one chart for train_x, val_x, test_x' }, groupBox, 'group train/val'),
      h('label.inline', {}, 'smoothing', smooth, smoothValue),
      h('span.inline', {}, 'steps', this.fromInput, '–', this.toInput,
        h('button.btn.btn-small', { type: 'button', 'data-testid': 'step-apply', onclick: applyRange }, 'Apply'),
        h('button.btn.btn-small', { type: 'button', 'data-testid': 'step-reset', onclick: () => this.setRange('', '') }, 'Reset')),
      h('span.hint', {}, 'drag on a chart to pick steps, double-click to reset'));
    this.ledgerBox = h('section.card');
    this.ledgerTable = new LedgerTable(this.ledgerBox);
    this.controlsBox = h('section.card.controls', { 'data-testid': 'controls' });
    this.controls = new Controls(this.controlsBox, { send: (b, fb) => this.send(b, fb), setFreeze: (b, fb) => this.setFreeze(b, fb) });
    fill(root, h('div.run-page', {},
      this.header,
      h('div.run-body', {},
        h('div.run-main', {},
          h('section.card', {}, h('div.card-head', {}, h('h2', {}, 'Metrics'), this.picker), toolbar, this.partialNote, this.chartsBox, this.noCharts),
          this.ledgerBox),
        h('aside.run-side', {},
          this.controlsBox,
          h('section.card.autopilot', { 'data-testid': 'autopilot-panel' },
            h('div.card-head', {}, h('h2', {}, 'Autopilot')),
            h('p.muted', {}, 'Not configured: no autopilot is watching this run.'))))));
  }

  async start() {
    const run = this.id;
    // Without a choice of metrics or steps in the URL, the server's default series are asked for at once (index.html
    // asked already), instead of waiting for the names to pick from.
    const { from, to } = this.range();
    const defaults = !this.picked && from === null && to === null ? get('/api/run/metrics', { run, pick: 'default', points: POINTS }) : null;
    const [info, names, ledger, first] = await Promise.all([
      get('/api/run', { run }), get('/api/run/metric-names', { run }), ledgerAfter(run), defaults,
    ]);
    if (this.disposed) return;
    if (!performance.getEntriesByName('kiln:data').length) performance.mark('kiln:data');
    this.info = info.run;
    this.renderHeader();
    this.controls.update({ doc: info.actuators, freeze: info.freeze, status: info.run.status });
    for (const [name, points] of Object.entries(names.names)) this.names.set(name, points);
    this.defaults = names.default ?? [];
    this.partial = Boolean(names.partial || first?.partial);
    this.addLedger(ledger.entries);
    const selected = this.selected();
    const metrics = first ? this.takeSeries(first, null) : await this.fetchSeries(selected.length ? selected : null);
    if (this.disposed) return;
    this.renderPicker();
    this.renderCharts();
    this.closeEvents = runEvents(run, `m:${metrics.offset};l:${ledger.offset}`, {
      metrics: (lines) => this.onMetrics(lines),
      ledger: (entries) => this.addLedger(entries),
      actuators: (doc) => this.controls.update({ doc }),
      status: (doc) => this.onStatus(doc),
      state: (s) => this.setLive(s),
    }, (e) => showError(e, 'live updates'));
    if (this.partial) this.awaitWhole();
  }

  /** The server answered from a preview of a large file it is still reading: asks again until it has read it whole. */
  async awaitWhole() {
    this.partialNote.hidden = false;
    this.chartsBox.dataset.partial = 'true';
    while (!this.disposed) {
      await new Promise((resolve) => { setTimeout(resolve, 250); });
      if (this.disposed) return;
      try {
        const answer = await get('/api/run/metric-names', { run: this.id });
        if (answer.partial || this.disposed) continue;
        for (const [name, points] of Object.entries(answer.names)) this.names.set(name, points);
        this.partial = false;
        this.partialNote.hidden = true;
        delete this.chartsBox.dataset.partial;
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
    if (e instanceof ApiError && e.status === 404) this.header.append(h('p.err', {}, e.message, ' ', h('a', { href: '#/runs' }, 'Back to the runs.')));
  }

  dispose() {
    this.disposed = true;
    this.closeEvents?.();
    this.refetchSoon.cancel();
    this.refreshDefaultsSoon.cancel();
    for (const c of this.charts.values()) c.chart.destroy();
  }

  // ---- header ----

  renderHeader() {
    const r = this.info;
    const params = r.swept ?? r.params ?? {};
    this.live ??= h('span.live', { 'data-testid': 'live-state', 'data-state': 'connecting' }, 'connecting');
    this.stepEl ??= h('span.mono', { 'data-testid': 'run-step' });
    this.stepEl.textContent = this.step === null ? '' : `step ${num(this.step)}`;
    fill(this.header,
      h('div.title-row', {},
        h('h1.run-id', {}, this.id),
        statusBadge(r.status, { 'data-testid': 'run-status' }),
        this.live,
        h('span.spacer'),
        h('a.btn.btn-small', { href: routeHref('compare', { runs: this.id }) }, 'Compare…')),
      h('div.meta', {},
        meta('kind', r.kind), meta('config', r.config), meta('started', time(r.start)), r.end ? meta('ended', time(r.end)) : null,
        this.stepEl),
      Object.keys(params).length ? h('div.meta.params', {}, Object.entries(params).filter(([, v]) => v !== null).map(([k, v]) => h('span.chip', {}, `${k}=${typeof v === 'object' ? JSON.stringify(v) : num(v)}`))) : null,
      r.error ? h('p.err', { 'data-testid': 'run-error' }, r.error) : null);
  }

  onStatus(doc) {
    this.info = { ...this.info, status: doc.status, end: doc.end, error: doc.error };
    this.renderHeader();
    this.controls.update({ status: doc.status });
  }

  setLive(state) {
    if (!this.live) return;
    this.live.dataset.state = state;
    this.live.textContent = { open: 'live', reconnecting: 'reconnecting…', closed: 'disconnected' }[state] ?? state;
  }

  // ---- metrics ----

  /** The metrics drawn: what the user picked, else the server's defaults (the losses, accuracies and lr). */
  selected() {
    return (this.picked ?? this.defaults).filter((n) => this.names.has(n));
  }

  /** Asks the server which metrics to draw again (new ones were born) and fetches the new defaults' series. */
  async refreshDefaults() {
    if (this.disposed || this.picked) return;
    try {
      const answer = await get('/api/run/metric-names', { run: this.id });
      if (this.disposed || this.picked) return;
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
    this.defaults = answer.default ?? [];
    const names = all ? this.selected() : this.selected().filter((n) => !this.series.has(n));
    if (names.length) await this.fetchSeries(names);
    if (this.disposed) return false;
    this.renderPicker();
    this.renderCharts();
    return true;
  }

  /**
   * A checkbox per metric; past PICKER_ALL metrics (per-layer statistics), the drawn ones and those matching the
   * search box only, at most PICKER_MATCHES of them.
   */
  renderPicker() {
    const names = [...this.names.keys()];
    const selected = new Set(this.selected());
    const many = names.length > PICKER_ALL;
    let shown = names;
    this.pickerFind.hidden = !many;
    if (many) {
      const text = (this.pickerFilter ?? '').trim().toLowerCase();
      const matches = text ? names.filter((n) => !selected.has(n) && n.toLowerCase().includes(text)) : [];
      shown = [...names.filter((n) => selected.has(n)), ...matches.slice(0, PICKER_MATCHES)];
      this.pickerNote.textContent = !text ? `${num(names.length)} metrics: type to find one`
        : matches.length > PICKER_MATCHES ? `${num(matches.length)} found, the first ${PICKER_MATCHES} shown`
          : `${num(matches.length)} found`;
    }
    fill(this.pickerList, shown.map((name) => h('label.pick', { title: this.partial ? 'counting its points…' : `${num(this.names.get(name))} points` },
      h('input', { type: 'checkbox', checked: selected.has(name), 'data-metric': name, onchange: () => this.pick() }),
      h('span.swatch', { style: `background:${this.color(name)}` }), name)));
  }

  pick() {
    this.picked = [...this.pickerList.querySelectorAll('input:checked')].map((el) => el.dataset.metric);
    this.saveView();
    for (const name of [...this.series.keys()]) if (!this.picked.includes(name)) this.series.delete(name);
    const missing = this.picked.filter((n) => !this.series.has(n));
    if (missing.length) this.fetchSeries(missing).then(() => this.renderCharts(), (e) => showError(e, 'metrics'));
    else this.renderCharts();
  }

  color(name) {
    return color([...this.names.keys()].indexOf(name));
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
    const { to } = this.range();
    for (const [name, s] of Object.entries(answer.series)) {
      if (names === null && !this.selected().includes(name)) continue;
      this.series.set(name, merge(s, replace ? null : this.series.get(name), to));
    }
    return answer;
  }

  /** Fetches the drawn series again: downsampled anew (too many live points), or for a new step range (replace). */
  async refetch(replace = false) {
    if (this.disposed) return;
    const names = this.selected();
    if (!names.length) return;
    try {
      await this.fetchSeries(names, replace);
      if (!this.disposed) this.renderCharts();
    } catch (e) {
      showError(e, 'metrics');
    }
  }

  onMetrics(lines) {
    const { from, to } = this.range();
    let added = false;
    let tooMany = false;
    for (const line of lines) {
      if (typeof line.step === 'number') this.step = Math.max(this.step ?? 0, line.step);
      for (const [name, value] of Object.entries(line.metrics ?? {})) {
        if (!this.names.has(name)) {
          this.names.set(name, 0);
          added = true;
          // A metric born after the page loaded has all its points in the stream.
          if (this.selected().includes(name)) this.series.set(name, empty());
        }
        this.names.set(name, this.names.get(name) + 1);
        const s = this.series.get(name);
        if (!s || typeof line.step !== 'number' || (from !== null && line.step < from) || (to !== null && line.step > to)) continue;
        if (s.steps.length && line.step <= s.steps[s.steps.length - 1]) continue;
        s.steps.push(line.step);
        s.last.push(value);
        s.min.push(value);
        s.max.push(value);
        if (s.steps.length > CAP) tooMany = true;
      }
    }
    if (this.stepEl && this.step !== null) this.stepEl.textContent = `step ${num(this.step)}`;
    if (added) {
      this.renderPicker();
      if (!this.picked) this.refreshDefaultsSoon();
    }
    if (tooMany) this.refetchSoon();
    this.renderSoon();
  }

  setView(change) {
    Object.assign(this.view, change);
    this.saveView();
    if ('grouped' in change) {
      for (const c of this.charts.values()) c.chart.destroy();
      this.charts.clear();
      this.chartsBox.replaceChildren();
    }
    this.renderSoon();
  }

  setRange(from, to) {
    const clean = (s) => (s === '' || s === null || s === undefined ? '' : String(Math.max(0, Math.round(Number(s)))));
    if ((from !== '' && !Number.isFinite(Number(from))) || (to !== '' && !Number.isFinite(Number(to)))) {
      showError(`step range: "${from}"–"${to}" are not step numbers`);
      return;
    }
    this.view.from = clean(from);
    this.view.to = clean(to);
    this.fromInput.value = this.view.from;
    this.toInput.value = this.view.to;
    this.saveView();
    this.refetch(true);
  }

  saveView() {
    const p = new URLSearchParams({ run: this.id });
    if (this.picked) p.set('metrics', this.picked.join(','));
    if (this.view.log) p.set('log', '1');
    if (this.view.smooth > 0) p.set('smooth', String(this.view.smooth));
    if (this.view.grouped) p.set('group', '1');
    if (this.view.from) p.set('from', this.view.from);
    if (this.view.to) p.set('to', this.view.to);
    replaceRoute('run', p);
  }

  renderCharts() {
    const selected = this.selected();
    const groups = new Map();
    for (const name of selected) {
      const key = groupKey(name, this.view.grouped);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(name);
    }
    for (const [key, c] of this.charts) {
      if (!groups.has(key)) { c.chart.destroy(); c.card.remove(); this.charts.delete(key); }
    }
    const markers = this.markers();
    let i = 0;
    for (const [key, names] of groups) {
      let c = this.charts.get(key);
      if (!c) {
        const host = h('div.chart', { 'data-testid': 'metric-chart', 'data-metric': key });
        const latest = h('span.mono.latest');
        const card = h('div.chart-card', {}, h('div.chart-title', {}, h('span', {}, key), latest), host);
        const chart = new Chart(host, {
          log: this.view.log, smooth: this.view.smooth, sync: `run:${this.id}`,
          onRange: (from, to) => this.setRange(from, to), onReset: () => this.setRange('', ''),
        });
        c = { chart, card, host, latest };
        this.charts.set(key, c);
      }
      const at = this.chartsBox.children[i++] ?? null;
      if (at !== c.card) this.chartsBox.insertBefore(c.card, at); // the picker's order
      c.host.dataset.metrics = names.join(',');
      // A metric keeps its picker color alone; lines sharing a chart get the palette in order, to tell them apart.
      const lines = names.map((name, j) => ({ label: name, color: names.length > 1 ? color(j) : this.color(name), ...(this.series.get(name) ?? empty()) }));
      c.latest.textContent = lines.map((l) => (l.last.length ? `${names.length > 1 ? `${l.label} ` : ''}${num(l.last[l.last.length - 1])}` : '')).filter(Boolean).join('  ');
      c.chart.update(lines, { log: this.view.log, smooth: this.view.smooth });
      c.chart.setMarkers(markers);
    }
    this.noCharts.textContent = this.names.size ? 'Pick a metric above.' : 'No metrics yet: the charts appear when the run reports its first step.';
    this.noCharts.hidden = groups.size > 0;
  }

  markers() {
    return [...this.ledger.values()].filter(isChange).map(marker);
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
    if (fresh.some(isChange)) {
      const markers = this.markers();
      for (const c of this.charts.values()) c.chart.setMarkers(markers);
    }
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

function meta(label, value) {
  if (value === null || value === undefined || value === '') return null;
  return h('span.meta-item', {}, h('span.muted', {}, label), ' ', value);
}

const empty = () => ({ steps: [], last: [], min: [], max: [] });

/** A fetched series, plus the points the stream appended after it (they may have come while it was fetched). */
function merge(fresh, old, to) {
  const out = { steps: [...fresh.steps], last: [...fresh.last], min: [...fresh.min], max: [...fresh.max] };
  if (!old) return out;
  const end = out.steps.length ? out.steps[out.steps.length - 1] : -Infinity;
  for (let i = 0; i < old.steps.length; i++) {
    if (old.steps[i] > end && (to === null || old.steps[i] <= to)) {
      out.steps.push(old.steps[i]);
      out.last.push(old.last[i]);
      out.min.push(old.min[i]);
      out.max.push(old.max[i]);
    }
  }
  return out;
}
