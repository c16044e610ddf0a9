// Small DOM and formatting helpers shared by the pages, and the error bar.

/**
 * Creates an element: h('a.link', {href: '#'}, 'text', child…). Attributes starting with "on" are listeners;
 * `dataset`-like names are written as given ("data-testid"); false/null attributes and children are skipped.
 */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = [el.className, v].filter(Boolean).join(' ');
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A number for people: short, exact enough, never "1.0000000002". */
export function num(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(5)));
}

/** Any JSON value, compactly: numbers as num(), objects as k=v. */
export function show(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return num(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}=${show(x)}`).join(' ');
  return String(v);
}

/** Unix seconds as local date and time ("2026-11-22 09:12:04"), or time only when `short` and today. */
export function time(seconds, short = false) {
  if (seconds === null || seconds === undefined) return '—';
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (short && d.toDateString() === new Date().toDateString()) return hms;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

/** A run status as a colored badge. */
export function statusBadge(status, attrs = {}) {
  return h('span.badge', { ...attrs, 'data-status': status ?? 'unknown', class: `status-${status ?? 'unknown'}` }, status ?? 'unknown');
}

/** Calls fn at most once per `ms`, with the latest arguments. */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

// ---- the error bar: every error the API returns is shown, none is swallowed ----

const bar = () => document.getElementById('error-bar');

/** Shows an error (an Error or a message) in the bar at the top until dismissed; repeats are counted, not stacked. */
export function showError(error, context = '') {
  const message = (context ? `${context}: ` : '') + (error?.message ?? String(error));
  console.error(message, error);
  const el = bar();
  if (!el) return;
  const same = [...el.children].find((c) => c.dataset.message === message);
  if (same) {
    const n = Number(same.dataset.count) + 1;
    same.dataset.count = n;
    same.querySelector('.count').textContent = `×${n}`;
    return;
  }
  const item = h('div.error-item', { 'data-message': message, 'data-count': 1, 'data-testid': 'error-message' },
    h('span.error-text', {}, message), h('span.count'),
    h('button.link', { type: 'button', title: 'Dismiss', onclick: () => { item.remove(); el.hidden = el.children.length === 0; } }, '✕'));
  el.append(item);
  el.hidden = false;
}

export function clearErrors() {
  const el = bar();
  if (!el) return;
  el.replaceChildren();
  el.hidden = true;
}

/** The hash route's parameters, and a way to rewrite them without reloading the page. */
export function routeParams() {
  const hash = location.hash.replace(/^#\/?/, '');
  const q = hash.indexOf('?');
  return { page: (q < 0 ? hash : hash.slice(0, q)) || 'runs', params: new URLSearchParams(q < 0 ? '' : hash.slice(q + 1)) };
}

export function replaceRoute(page, params) {
  history.replaceState(null, '', routeHref(page, Object.fromEntries(params)));
}

/** "#/page?k=v", keeping run ids readable (a/b,c rather than a%2Fb%2Cc). */
export function routeHref(page, params = {}) {
  const q = Object.entries(params).filter(([, v]) => v !== '' && v !== null && v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v).replace(/%2C/g, ',').replace(/%2F/g, '/')}`).join('&');
  return `#/${page}${q ? `?${q}` : ''}`;
}
