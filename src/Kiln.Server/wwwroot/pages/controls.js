// The run's controls, built from kiln.actuators.json (docs/protocol.md): optimizer dials per group, loss weights,
// terms and ramps, callbacks, freeze. Each queues the command `kiln opt|loss|cb …` would queue; values are checked
// against the dial's bounds before anything is sent.

import { h, fill, num, show } from '../dom.js';

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A typed number checked against bounds: {value} or {error}. Empty text is an error unless `optional`. */
export function parseNumber(text, { label, min = null, max = null, integer = false, optional = false }) {
  const t = String(text ?? '').trim();
  if (t === '') return optional ? { value: null } : { error: `${label}: enter a number` };
  if (!NUMBER.test(t)) return { error: `${label}: "${t}" is not a number` };
  const value = Number(t);
  if (!Number.isFinite(value)) return { error: `${label}: "${t}" is not a finite number` };
  if (integer && !Number.isInteger(value)) return { error: `${label}: "${t}" is not a whole number` };
  if (min !== null && min !== undefined && value < min) return { error: `${label}: must be at least ${num(min)}, got ${t}` };
  if (max !== null && max !== undefined && value > max) return { error: `${label}: must be at most ${num(max)}, got ${t}` };
  return { value };
}

/** A JSON object typed into a text area: {value} (null when empty) or {error}. */
export function parseObject(text, label) {
  const t = String(text ?? '').trim();
  if (t === '') return { value: null };
  try {
    const v = JSON.parse(t);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: `${label}: expected a JSON object like {"every": 50}` };
    return { value: v };
  } catch (e) {
    return { error: `${label}: not valid JSON (${e.message})` };
  }
}

/** Shows a state ("invalid", "sending", "queued", or a ledger decision) and a message in a feedback line. */
export function setFeedback(el, state, text) {
  el.dataset.decision = state;
  el.className = `feedback fb-${state}`;
  el.textContent = text;
  el.hidden = false;
}

const groupBy = (list, key) => {
  const map = new Map();
  for (const x of list) {
    const k = key(x);
    if (!map.has(k)) map.set(k, []);
    map.get(k).push(x);
  }
  return map;
};

const button = (label, attrs, onclick) => h('button.btn', { type: 'button', ...attrs, onclick }, label);

/**
 * The controls panel. `send(body, feedbackEl)` queues a command; `setFreeze(body, feedbackEl)` writes the freeze state.
 * `readOnly`, when this browser may not make changes, is what to tell the user: the controls are shown disabled under it.
 * update() rebuilds it from a new actuators document, keeping what the user was typing.
 */
export class Controls {
  constructor(host, { send, setFreeze, readOnly = null }) {
    this.host = host;
    this.send = send;
    this.setFreeze = setFreeze;
    this.readOnly = readOnly;
    this.feedbacks = new Map();
    this.doc = null;
    this.freeze = null;
    this.status = null;
  }

  /** A feedback line that survives rebuilds, so a decision arriving later still lands where the user looks. */
  feedback(key) {
    if (!this.feedbacks.has(key)) this.feedbacks.set(key, h('div.feedback', { 'data-testid': 'command-feedback', 'data-for': key, hidden: true }));
    return this.feedbacks.get(key);
  }

  /** Rebuilds with what changed: {doc} (a new kiln.actuators.json), {freeze} (a state just written), {status}. */
  update(change = {}) {
    if ('doc' in change) {
      this.doc = change.doc;
      if (change.doc?.freeze) this.freeze = change.doc.freeze;
    }
    if ('freeze' in change) this.freeze = change.freeze;
    if ('status' in change) this.status = change.status;
    const { doc, status } = this;
    const saved = new Map();
    for (const el of this.host.querySelectorAll('[data-field]')) {
      saved.set(el.dataset.field, { value: el.value, checked: el.checked, open: el.open, focused: el === document.activeElement, invalid: el.classList.contains('invalid') });
    }
    const dials = doc?.actuators ?? [];
    fill(this.host,
      h('div.card-head', {}, h('h2', {}, 'Controls'), this.asOf(doc, status)),
      this.readOnly ? h('p.note', { 'data-testid': 'controls-read-only' }, this.readOnly) : null,
      status && status !== 'running' ? h('p.note', {}, `The run is ${status}: commands wait in its inbox until a kernel reads it.`) : null,
      doc ? null : h('p.muted', {}, 'No kiln.actuators.json yet: the controls appear when the run\'s kernel starts.'),
      h('fieldset.ctl-all', { disabled: Boolean(this.readOnly) },
        this.optimizer(dials.filter((d) => d.module === 'opt')),
        this.loss(dials.filter((d) => d.module === 'loss')),
        this.callbacks(dials.filter((d) => d.module === 'cb')),
        this.freezeSection()),
    );
    for (const el of this.host.querySelectorAll('[data-field]')) {
      const s = saved.get(el.dataset.field);
      if (!s) continue;
      if (el.tagName === 'DETAILS') el.open = s.open;
      else if (el.type === 'checkbox') el.checked = s.checked;
      else el.value = s.value;
      el.classList.toggle('invalid', s.invalid);
      if (s.focused) el.focus();
    }
  }

  /**
   * When the values shown hold: a running kernel rewrites its dials whenever one moves (a command, or a schedule), so
   * they are the run's values now; a run that stopped left them as of its last step.
   */
  asOf(doc, status) {
    if (!doc) return null;
    if (status === 'running') return h('span.muted', { 'data-testid': 'controls-as-of', title: `written at step ${doc.step ?? '—'}` }, 'current values');
    return doc.step !== undefined && doc.step !== null ? h('span.muted', { 'data-testid': 'controls-as-of' }, `as of step ${doc.step}`) : null;
  }

  // ---- optimizer ----

  optimizer(dials) {
    if (!dials.length) return null;
    return h('section.ctl-section', { 'data-testid': 'controls-opt' }, [...groupBy(dials, (d) => d.id)].map(([id, list]) => {
      const groups = [...new Set(list.filter((d) => d.group !== null && d.group !== undefined).map((d) => d.group))];
      const multi = groups.length > 1;
      const rows = [];
      for (const g of groups) {
        if (multi) rows.push(h('div.ctl-group', {}, `group ${g}`));
        for (const d of list.filter((x) => x.group === g)) rows.push(this.optRow(id, d, multi));
      }
      const global = list.filter((d) => d.group === null || d.group === undefined);
      if (global.length && groups.length) rows.push(h('div.ctl-group', {}, 'all groups'));
      for (const d of global) rows.push(this.optRow(id, d, false));
      return [this.handleHead('Optimizer', 'opt', id, list[0].enabled), ...rows];
    }));
  }

  optRow(id, d, withGroup) {
    const g = d.group ?? null;
    const key = `opt|${id}|${g ?? '*'}|${d.key}`;
    const fb = this.feedback(key);
    const attrs = (i) => ({ 'data-testid': `control-${d.key}`, 'data-group': g ?? '', 'data-handle': id, 'data-field': `${key}|${i}` });
    const bounds = { min: d.min, max: d.max };
    const params = (value) => (withGroup ? { [d.key]: value, group: g } : { [d.key]: value });
    if (d.type === 'pair') {
      const inputs = [0, 1].map((i) => numberInput(attrs(i), Array.isArray(d.value) ? d.value[i] : null, `${d.key}[${i}]`));
      const apply = () => {
        const parsed = inputs.map((el, i) => checked(el, fb, parseNumber(el.value, { label: `${d.key}[${i}]`, ...bounds })));
        if (parsed.some((p) => p === undefined)) return;
        this.send({ module: 'opt', op: 'set_params', id, params: params(parsed) }, fb);
      };
      onEnter(inputs, apply);
      return dialRow(d.key, show(d.value), inputs, applyButton(d.key, g, apply), fb);
    }
    const input = numberInput(attrs(0), d.value, d.key);
    const apply = () => {
      const v = checked(input, fb, parseNumber(input.value, { label: d.key, ...bounds }));
      if (v !== undefined) this.send({ module: 'opt', op: 'set_params', id, params: params(v) }, fb);
    };
    onEnter([input], apply);
    return dialRow(d.key, d.key === 'lr' ? lrNow(d) : num(d.value), [input], applyButton(d.key, g, apply), fb, boundsText(d));
  }

  handleHead(title, module, id, enabled) {
    const fb = this.feedback(`${module}|${id}|handle`);
    const op = enabled ? 'disable' : 'enable';
    return [
      h('div.ctl-head', {},
        h('h3', {}, title), h('span.chip', { title: 'handle id' }, id),
        h('span.badge', { class: enabled ? 'on' : 'off' }, enabled ? 'enabled' : 'disabled'),
        button(enabled ? 'Disable' : 'Enable', { 'data-testid': `toggle-${module}`, class: 'btn-small' }, () => this.send({ module, op, id }, fb))),
      fb,
    ];
  }

  // ---- loss ----

  loss(dials) {
    if (!dials.length) return null;
    return h('section.ctl-section', { 'data-testid': 'controls-loss' }, [...groupBy(dials, (d) => d.id)].map(([id, list]) => {
      const terms = [...new Set(list.map((d) => d.key.replace(/^(terms|ramps)\./, '').replace(/_w$/, '')))];
      return [this.handleHead('Loss', 'loss', id, list[0].enabled), ...terms.map((t) => this.term(id, t, list))];
    }));
  }

  term(id, term, list) {
    const weight = list.find((d) => d.key === `${term}_w`);
    const on = list.find((d) => d.key === `terms.${term}`);
    const ramp = list.find((d) => d.key === `ramps.${term}`);
    const send = (params, fb) => this.send({ module: 'loss', op: 'set_params', id, params }, fb);
    const parts = [h('div.ctl-group', {}, `term ${term}`)];
    if (weight) {
      const key = `loss|${id}|${weight.key}`;
      const fb = this.feedback(key);
      const input = numberInput({ 'data-testid': `control-${weight.key}`, 'data-handle': id, 'data-field': key }, weight.value, weight.key);
      const apply = () => {
        const v = checked(input, fb, parseNumber(input.value, { label: weight.key, min: weight.min, max: weight.max }));
        if (v !== undefined) send({ [weight.key]: v }, fb);
      };
      onEnter([input], apply);
      parts.push(dialRow(weight.key, num(weight.value), [input], applyButton(weight.key, null, apply), fb, boundsText(weight)));
    }
    if (on) {
      const fb = this.feedback(`loss|${id}|terms.${term}`);
      const enabled = on.value !== false;
      parts.push(h('div.dial', {},
        h('span.dial-key', {}, `terms.${term}`),
        h('span.dial-now', {}, h('span.badge', { class: enabled ? 'on' : 'off' }, enabled ? 'on' : 'off')),
        h('span.dial-inputs'),
        button(enabled ? 'Switch off' : 'Switch on', { 'data-testid': `apply-terms.${term}` }, () => send({ [`terms.${term}`]: !enabled }, fb))), fb);
    }
    if (ramp) parts.push(this.rampForm(id, term, ramp, send));
    return parts;
  }

  rampForm(id, term, ramp, send) {
    const key = `loss|${id}|ramps.${term}`;
    const fb = this.feedback(key);
    const f = (name, attrs = {}) => h('input.num', { type: 'text', inputmode: 'decimal', 'data-field': `${key}|${name}`, placeholder: attrs.placeholder ?? '', 'aria-label': name, ...attrs });
    const type = h('select', { 'data-field': `${key}|type`, 'aria-label': 'type' }, ['linear', 'cosine', 'step', 'exp'].map((t) => h('option', { value: t }, t)));
    const fields = {
      start_step: f('start_step', { placeholder: 'now' }),
      end_step: f('end_step'),
      warmup_frac: f('warmup_frac', { placeholder: 'or fraction' }),
      start: f('start', { placeholder: '0' }),
      end: f('end', { placeholder: '1' }),
    };
    const apply = () => {
      const value = { type: type.value };
      for (const [name, el] of Object.entries(fields)) {
        const integer = name.endsWith('_step');
        const v = checked(el, fb, parseNumber(el.value, { label: `ramps.${term}.${name}`, optional: true, integer, min: integer || name === 'warmup_frac' ? 0 : null }));
        if (v === undefined) return;
        if (v !== null) value[name] = v;
      }
      if (value.end_step === undefined && value.warmup_frac === undefined) {
        setFeedback(fb, 'invalid', `ramps.${term}: give end_step or warmup_frac`);
        return;
      }
      send({ [`ramps.${term}`]: value }, fb);
    };
    const now = ramp.value ? `${show(ramp.value)}${ramp.info?.factor_now !== undefined ? ` (×${num(ramp.info.factor_now)} now)` : ''}` : 'none';
    return [
      h('div.dial', {}, h('span.dial-key', {}, `ramps.${term}`), h('span.dial-now.wide', { title: now }, now)),
      h('details.ctl-details', { 'data-field': `${key}|open` },
        h('summary', {}, ramp.value ? 'Change ramp' : 'Add a ramp'),
        h('div.form-grid', {},
          h('label', {}, 'type', type),
          Object.entries(fields).map(([name, el]) => h('label', {}, name, el))),
        h('div.form-actions', {},
          button('Apply ramp', { 'data-testid': `apply-ramps.${term}`, class: 'btn-primary' }, apply),
          ramp.value ? button('Remove', {}, () => send({ [`ramps.${term}`]: null }, fb)) : null)),
      fb,
    ];
  }

  // ---- callbacks ----

  callbacks(dials) {
    const loadKey = 'cb|load';
    const fb = this.feedback(loadKey);
    const field = (name, attrs = {}) => h('input', { type: 'text', 'data-field': `${loadKey}|${name}`, 'aria-label': name, ...attrs });
    const id = field('id', { placeholder: 'viz' });
    const kind = h('select', { 'data-field': `${loadKey}|kind`, 'aria-label': 'kind' },
      h('option', { value: 'type' }, 'type (a loaded .NET type)'), h('option', { value: 'file' }, 'file (C# source)'), h('option', { value: 'assembly' }, 'assembly (.dll)'));
    const path = field('path', { placeholder: 'Kiln.Callbacks.Timing or callbacks/Viz.cs' });
    const symbol = field('symbol', { placeholder: 'optional class name' });
    const init = h('textarea', { 'data-field': `${loadKey}|init`, rows: 2, placeholder: '{"every": 50}', 'aria-label': 'init' });
    const enabled = h('input', { type: 'checkbox', 'data-field': `${loadKey}|enabled` });
    const load = () => {
      const name = id.value.trim();
      const where = path.value.trim();
      if (!name || !where) { setFeedback(fb, 'invalid', 'cb load: give an id and a path'); return; }
      const args = parseObject(init.value, 'init');
      if (args.error) { setFeedback(fb, 'invalid', args.error); return; }
      const body = { module: 'cb', op: 'load', id: name, target: { kind: kind.value, path: where, symbol: symbol.value.trim() || null }, enabled: enabled.checked };
      if (args.value) body.init = args.value;
      this.send(body, fb);
    };
    return h('section.ctl-section', { 'data-testid': 'controls-cb' },
      h('div.ctl-head', {}, h('h3', {}, 'Callbacks')),
      dials.length ? dials.map((d) => this.callbackRow(d)) : h('p.muted', {}, 'No callbacks loaded.'),
      h('details.ctl-details', { 'data-field': `${loadKey}|open` },
        h('summary', {}, 'Load a callback'),
        h('div.form-grid', {},
          h('label', {}, 'id', id), h('label', {}, 'kind', kind), h('label.span2', {}, 'path', path), h('label', {}, 'symbol', symbol),
          h('label.check', {}, enabled, 'start enabled'),
          h('label.span2', {}, 'init (constructor arguments, JSON)', init)),
        h('p.hint', {}, 'Relative paths are relative to the run directory; the dashboard loads files from under the directory it serves only.'),
        h('div.form-actions', {}, button('Load', { class: 'btn-primary', 'data-testid': 'apply-cb-load' }, load))),
      fb);
  }

  callbackRow(d) {
    const key = `cb|${d.id}`;
    const fb = this.feedback(key);
    const on = d.value === true;
    const target = d.info?.target;
    const params = h('textarea', { 'data-field': `${key}|params`, rows: 2, placeholder: JSON.stringify(d.info?.params ?? {}), 'aria-label': 'params' });
    const setParams = () => {
      const p = parseObject(params.value, 'params');
      if (p.error || !p.value) { setFeedback(fb, 'invalid', p.error ?? 'params: give a JSON object'); return; }
      this.send({ module: 'cb', op: 'set_params', id: d.id, params: p.value }, fb);
    };
    return [
      h('div.cb-row', { 'data-testid': 'cb-row', 'data-cb': d.id },
        h('span.mono.cb-id', {}, d.id),
        h('span.badge', { class: on ? 'on' : 'off' }, on ? 'enabled' : 'disabled'),
        h('span.muted.cb-target', { title: target ? `${target.kind} ${target.path}${target.symbol ? `:${target.symbol}` : ''}` : '' }, target ? target.path : ''),
        h('span.cb-actions', {},
          button(on ? 'Disable' : 'Enable', { class: 'btn-small', 'data-testid': on ? 'cb-disable' : 'cb-enable' }, () => this.send({ module: 'cb', op: on ? 'disable' : 'enable', id: d.id }, fb)),
          button('Unload', { class: 'btn-small' }, () => this.send({ module: 'cb', op: 'unload', id: d.id }, fb)))),
      d.info?.params && Object.keys(d.info.params).length ? h('div.hint', {}, `params: ${show(d.info.params)}`) : null,
      h('details.ctl-details', { 'data-field': `${key}|open` },
        h('summary', {}, 'Set params'),
        params,
        h('div.form-actions', {}, button('Set params', { class: 'btn-primary' }, setParams))),
      fb,
    ];
  }

  // ---- freeze ----

  freezeSection() {
    const key = 'freeze';
    const fb = this.feedback(key);
    const now = this.freeze ?? { mode: 'off' };
    const select = (name, options, value) => h('select', { 'data-field': `${key}|${name}`, 'aria-label': name, 'data-testid': `freeze-${name}` },
      options.map((o) => h('option', { value: o, selected: o === value }, o)));
    const text = (name, value) => h('input', { type: 'text', 'data-field': `${key}|${name}`, 'aria-label': name, value: value ?? '' });
    const mode = select('mode', ['off', 'prod', 'replay', 'replay_adjusted'], now.mode);
    const policy = select('policy', ['best_effort', 'strict'], now.policy ?? 'best_effort');
    const recipe = text('recipe_path', now.recipe_path);
    const adjust = text('adjust_path', now.adjust_path);
    const offset = h('input.num', { type: 'text', inputmode: 'numeric', 'data-field': `${key}|step_offset`, 'aria-label': 'step_offset', value: String(now.step_offset ?? 0) });
    const apply = () => {
      const steps = checked(offset, fb, parseNumber(offset.value, { label: 'step_offset', integer: true, optional: true }));
      if (steps === undefined) return;
      this.setFreeze({
        mode: mode.value, recipe_path: recipe.value.trim() || null, adjust_path: adjust.value.trim() || null,
        policy: policy.value, step_offset: steps ?? 0,
      }, fb);
    };
    return h('section.ctl-section', { 'data-testid': 'controls-freeze' },
      h('div.ctl-head', {}, h('h3', {}, 'Freeze'), h('span.badge', { class: now.mode === 'off' ? 'off' : 'warn', 'data-testid': 'freeze-mode' }, now.mode),
        now.recipe_path ? h('span.muted.mono', {}, now.recipe_path) : null),
      h('details.ctl-details', { 'data-field': `${key}|open` },
        h('summary', {}, 'Change freeze'),
        h('div.form-grid', {},
          h('label', {}, 'mode', mode), h('label', {}, 'policy', policy),
          h('label.span2', {}, 'recipe_path', recipe), h('label.span2', {}, 'adjust_path', adjust),
          h('label', {}, 'step_offset', offset)),
        h('p.hint', {}, 'prod ignores external changes; replay modes replay a recipe (kiln recipe export).'),
        h('div.form-actions', {}, button('Set freeze', { class: 'btn-primary', 'data-testid': 'apply-freeze' }, apply))),
      fb);
  }
}

function numberInput(attrs, value, label) {
  return h('input.num', { type: 'text', inputmode: 'decimal', autocomplete: 'off', spellcheck: 'false', placeholder: value === null || value === undefined ? '' : num(value), 'aria-label': label, ...attrs });
}

/** The parsed value, or undefined after marking the input and showing why (nothing is sent then). */
function checked(input, fb, parsed) {
  input.classList.toggle('invalid', Boolean(parsed.error));
  input.setAttribute('aria-invalid', parsed.error ? 'true' : 'false');
  if (parsed.error) {
    setFeedback(fb, 'invalid', parsed.error);
    return undefined;
  }
  return parsed.value;
}

function applyButton(key, group, onclick) {
  return button('Apply', { 'data-testid': `apply-${key}`, 'data-group': group ?? '', class: 'btn-small btn-primary' }, onclick);
}

function onEnter(inputs, apply) {
  for (const el of inputs) el.addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(); });
}

/**
 * The learning rate now, and what makes it when a schedule or scale moves it away from its base
 * (value = base × scale × schedule factor). Setting lr sets the rate now; the schedule goes on from there.
 */
function lrNow(d) {
  const info = d.info;
  const moved = info && Math.abs(info.scale * info.factor - 1) > 1e-12;
  if (!moved) return h('span', { 'data-testid': 'lr-now', title: 'the learning rate now' }, num(d.value));
  const parts = [`base ${num(info.base)}`, info.scale !== 1 ? `× scale ${num(info.scale)}` : null, `× ${info.schedule?.type ?? 'schedule'} ${num(info.factor)}`].filter(Boolean);
  return h('span.lr-now', { 'data-testid': 'lr-now', title: 'the learning rate now (setting lr sets this; the schedule goes on from it)' },
    num(d.value), h('span.dial-base', { 'data-testid': 'lr-base' }, parts.join(' ')));
}

function boundsText(d) {
  return d.min !== undefined || d.max !== undefined ? `[${num(d.min ?? null)}, ${num(d.max ?? null)}]` : '';
}

function dialRow(key, now, inputs, apply, fb, bounds = '') {
  return [
    h('div.dial', {},
      h('span.dial-key', { title: bounds ? `bounds ${bounds}` : '' }, key),
      h('span.dial-now', { title: 'current value' }, now),
      h('span.dial-inputs', {}, inputs),
      apply),
    fb,
  ];
}
