// The dashboard's entry point: hash routing between the runs, run and compare pages.

import { h, fill, routeParams, clearErrors, showError } from './dom.js';
import * as runs from './pages/runs.js';
import * as run from './pages/run.js';
import * as compare from './pages/compare.js';
import * as models from './pages/models.js';
import { mayChange, READ_ONLY } from './api.js';

performance.mark('kiln:app'); // the page's scripts run (the benchmark reads the marks)
const pages = { runs, run, compare, models };
let current = null;

function route() {
  current?.dispose();
  current = null;
  clearErrors();
  const { page, params } = routeParams();
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === page);
  const root = document.getElementById('page');
  root.replaceChildren();
  root.dataset.page = page;
  const module = pages[page];
  if (!module) {
    fill(root, h('p.pad', {}, `There is no page "${page}". `, h('a', { href: '#/runs' }, 'Go to the runs.')));
    return;
  }
  try {
    current = module.mount(root, params);
  } catch (e) {
    showError(e, page);
  }
}

// "ResizeObserver loop completed with undelivered notifications" is the browser telling that a layout settled over two
// frames: a notice, not a fault of the page, so it never reaches the error bar.
const NOTICES = [/^ResizeObserver loop/];
window.addEventListener('error', (e) => {
  if (!e.error && NOTICES.some((n) => n.test(e.message ?? ''))) return;
  showError(e.error ?? e.message);
});
window.addEventListener('unhandledrejection', (e) => showError(e.reason));
window.addEventListener('hashchange', route);

if (!location.hash) history.replaceState(null, '', '#/runs');
route();
// Problems of the page itself stay in the top bar: they outlive any one route.
const problems = [];
if (!window.uPlot) problems.push('uPlot did not load (/vendor/uPlot.iife.min.js), so no chart can be drawn: rebuild Kiln.Server');
const note = document.getElementById('topbar-note');
if (problems.length) {
  note.textContent = problems.join(' · ');
  note.classList.add('problem');
} else if (!mayChange) {
  note.textContent = 'read-only: open the URL Kiln printed (with ?token=…) to make changes';
  note.title = READ_ONLY;
  note.dataset.testid = 'read-only';
}
