// The run page's metrics: every metric's name and point count, the series drawn (as the server downsampled them, and
// the points the live stream appended since), and which ones are drawn: what the user picked, else the server's defaults.

import { color } from '../../charts.js';

/** A series with no points: {steps, last, min, max}. */
export const empty = () => ({ steps: [], last: [], min: [], max: [] });

export class RunMetrics {
  constructor(picked) {
    this.picked = picked; // the names the user picked, or null: the server's defaults
    this.names = new Map(); // every metric name → points
    this.series = new Map(); // drawn name → {steps, last, min, max}
    this.defaults = []; // the metrics the server draws until the user picks (the losses, accuracies and lr)
    this.partial = false; // drawn from the server's preview of a large file it is still reading
    this.step = null; // the latest step seen
  }

  /** The metrics drawn: what the user picked, else the server's defaults. */
  selected() {
    return (this.picked ?? this.defaults).filter((n) => this.names.has(n));
  }

  /** A metric's own color, by its place among the names. */
  color(name) {
    return color([...this.names.keys()].indexOf(name));
  }

  /** Takes the counts of a metric-names answer. */
  count(names) {
    for (const [name, points] of Object.entries(names)) this.names.set(name, points);
  }

  /** Merges the series of a metrics answer in (only the drawn ones when names is null), up to step `to`. */
  take(answer, names, replace, to) {
    for (const [name, s] of Object.entries(answer.series)) {
      if (names === null && !this.selected().includes(name)) continue;
      this.series.set(name, merge(s, replace ? null : this.series.get(name), to));
    }
  }

  /** The user picked these names: the others' series are let go; returns the picked ones not fetched yet. */
  pick(picked) {
    this.picked = picked;
    for (const name of [...this.series.keys()]) if (!picked.includes(name)) this.series.delete(name);
    return picked.filter((n) => !this.series.has(n));
  }

  /**
   * Appends the live stream's metric lines to the drawn series (within the step range {from, to}); returns whether a
   * metric was born (`added`) and whether a series grew past `cap` points (`tooMany`: time to fetch it downsampled anew).
   */
  append(lines, { from, to }, cap) {
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
        if (s.steps.length > cap) tooMany = true;
      }
    }
    return { added, tooMany };
  }
}

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
