// The dashboard's HTTP API (docs/dashboard.md): JSON requests, and the run's event stream. The page never holds the
// token: the cookie set by the URL Kiln printed carries it, and the server says whether this browser has it.

/** Whether this browser may make changes (it opened the URL Kiln printed, with ?token=…). */
export const mayChange = document.querySelector('meta[name="kiln-access"]')?.content === 'write';

/** What a page that only reads tells its user. */
export const READ_ONLY = 'This page only reads: to make changes, open the URL Kiln printed when it started (it carries ?token=…) in this browser.';

/** An answer that is not 2xx, or a request that never reached the server. */
export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
}

/** A URL with query parameters; null, undefined and '' are left out. */
export function apiUrl(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function request(method, path, params, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const url = apiUrl(path, params);
  let res;
  try {
    const early = method === 'GET' ? window.kilnEarly?.get(url) : undefined;
    if (early) window.kilnEarly.delete(url);
    res = await (early ?? fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin',
    }));
  } catch (e) {
    throw new ApiError(0, `cannot reach the Kiln server (${e.message}); is \`kiln serve\` still running?`, path);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    let message = data?.error ?? `${res.status} ${res.statusText}`;
    if (res.status === 401) message += ' — open the dashboard through the URL Kiln printed when it started (it carries ?token=…)';
    throw new ApiError(res.status, message, path);
  }
  if (data === null) throw new ApiError(res.status, `${path}: the server's answer is not JSON`, path);
  return data;
}

export const get = (path, params) => request('GET', path, params);
export const post = (path, params, body) => request('POST', path, params, body);

/** Every page of the run's ledger after `after`, and the ledger's offset for the event stream. */
export async function ledgerAfter(run, after = 0) {
  const limit = 1000;
  const entries = [];
  let offset = 0;
  for (;;) {
    const page = await get('/api/run/ledger', { run, after, limit });
    entries.push(...page.entries);
    offset = page.offset;
    if (page.entries.length < limit) break;
    after = page.entries[page.entries.length - 1].seq;
  }
  return { entries, offset };
}

/**
 * The run's Server-Sent Events from `from` ("m:<offset>;l:<offset>"). handlers: metrics, ledger, actuators, status
 * (each given the parsed data) and state ('open' | 'reconnecting' | 'closed'). Returns a function that closes it.
 */
export function runEvents(run, from, handlers, onError) {
  const source = new EventSource(apiUrl('/api/run/events', { run, from }));
  for (const name of ['metrics', 'ledger', 'actuators', 'status']) {
    source.addEventListener(name, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch (err) {
        onError(new ApiError(0, `the ${name} event is not JSON: ${err.message}`, '/api/run/events'));
        return;
      }
      try {
        handlers[name]?.(data);
      } catch (err) {
        onError(err);
      }
    });
  }
  source.onopen = () => handlers.state?.('open');
  source.onerror = () => {
    const closed = source.readyState === EventSource.CLOSED;
    handlers.state?.(closed ? 'closed' : 'reconnecting');
    if (closed) onError(new ApiError(0, 'the live connection to the run was refused; reload the page to retry', '/api/run/events'));
  };
  return () => source.close();
}
