// The curves of a comparison are named by what differs between the runs: the swept values of trials first, then the
// parameters whose values are not the same in every run ("lr=0.0003 weight_decay=0"). Runs alike in all of that keep
// their short ids.

import { num } from '../../dom.js';

/** Parameters that say how a run was driven, not what it trained. */
const BOOKKEEPING = new Set(['cfg_sha256', 'step_delay', 'max_time']);
const MOST = 4;

/** Run ids without the part they all share: "out/log/sweep/a/trial_000" → "a/trial_000". */
export function shortLabels(ids) {
  if (ids.length < 2) return ids.map((id) => id.split('/').pop());
  const parts = ids.map((id) => id.split('/'));
  let common = 0;
  while (parts.every((p) => p.length > common + 1 && p[common] === parts[0][common])) common++;
  return parts.map((p) => p.slice(common).join('/'));
}

/** The parameters on which the runs differ, swept ones first; `infos` maps a run id to its /api/run answer. */
export function differingKeys(ids, infos) {
  const params = ids.map((id) => paramsOf(infos.get(id)));
  const swept = new Set(ids.flatMap((id) => Object.keys(infos.get(id)?.run?.swept ?? {})));
  const keys = [...new Set(params.flatMap((p) => Object.keys(p)))].filter((k) => !BOOKKEEPING.has(k));
  return keys
    .filter((k) => new Set(params.map((p) => JSON.stringify(p[k] ?? null))).size > 1)
    .sort((a, b) => Number(swept.has(b)) - Number(swept.has(a)) || a.localeCompare(b));
}

/** One label per run: "lr=0.001 seed=2", or the short id when nothing shown tells the runs apart. */
export function runLabels(ids, infos) {
  const fallback = shortLabels(ids);
  if (ids.length < 2) return fallback;
  const keys = differingKeys(ids, infos).slice(0, MOST);
  if (!keys.length) return fallback;
  const labels = ids.map((id) => {
    const p = paramsOf(infos.get(id));
    return keys.map((k) => `${k}=${format(p[k])}`).join(' ');
  });
  const count = new Map();
  for (const l of labels) count.set(l, (count.get(l) ?? 0) + 1);
  return labels.map((l, i) => (count.get(l) > 1 ? `${l} (${fallback[i]})` : l));
}

function paramsOf(info) {
  return { ...(info?.run?.params ?? {}), ...(info?.run?.swept ?? {}) };
}

function format(v) {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'number') return num(v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
