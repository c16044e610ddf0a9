// The run page's metric picker: a checkbox per metric; past PICKER_ALL metrics (per-layer statistics), the drawn ones
// and a search box that finds the others by name.

import { h, fill, num } from '../../dom.js';

const PICKER_ALL = 24; // metrics listed whole in the picker; past this, the drawn ones and a search box
const PICKER_MATCHES = 40; // metrics listed for a search

export class MetricPicker {
  /** `metrics` is the page's RunMetrics; `onPick(names)` is called with the names checked. */
  constructor(metrics, onPick) {
    this.metrics = metrics;
    this.onPick = onPick;
    this.filter = '';
    this.list = h('span.pick-list');
    this.note = h('span.pick-note.muted');
    const search = h('input.pick-search', {
      type: 'search', placeholder: 'find a metric', 'aria-label': 'find a metric', 'data-testid': 'metric-filter',
      oninput: (e) => { this.filter = e.target.value; this.render(); },
    });
    this.find = h('span.pick-find', { hidden: true }, search, this.note);
    this.el = h('div.metric-picker', { 'data-testid': 'metric-picker' }, this.find, this.list);
  }

  /** Lists the metrics: every one, or past PICKER_ALL the drawn ones and those matching the search (PICKER_MATCHES at most). */
  render() {
    const { metrics } = this;
    const names = [...metrics.names.keys()];
    const selected = new Set(metrics.selected());
    const many = names.length > PICKER_ALL;
    let shown = names;
    this.find.hidden = !many;
    if (many) {
      const text = this.filter.trim().toLowerCase();
      const matches = text ? names.filter((n) => !selected.has(n) && n.toLowerCase().includes(text)) : [];
      shown = [...names.filter((n) => selected.has(n)), ...matches.slice(0, PICKER_MATCHES)];
      this.note.textContent = !text ? `${num(names.length)} metrics: type to find one`
        : matches.length > PICKER_MATCHES ? `${num(matches.length)} found, the first ${PICKER_MATCHES} shown`
          : `${num(matches.length)} found`;
    }
    fill(this.list, shown.map((name) => h('label.pick', { title: metrics.partial ? 'counting its points…' : `${num(metrics.names.get(name))} points` },
      h('input', { type: 'checkbox', checked: selected.has(name), 'data-metric': name, onchange: () => this.picked() }),
      h('span.swatch', { style: `background:${metrics.color(name)}` }), name)));
  }

  picked() {
    this.onPick([...this.list.querySelectorAll('input:checked')].map((el) => el.dataset.metric));
  }
}
