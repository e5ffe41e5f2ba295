// The send rate over time, for the progress page's chart: one sample per progress event
// (the `notificationProgress` subscription), kept in a bounded window.
import { formatRate, type NotificationProgress } from './progress';

/** One point of the chart: when (seconds since the epoch) and how fast. */
export interface RateSample {
  t: number;
  /** The server's rate over its last ten seconds (emails per second). */
  rate: number;
  /** Recipients sent so far. */
  sent: number;
}

/** Samples kept: at five events a second, the last two minutes or so in full. */
export const MAX_SAMPLES = 600;

/**
 * The history with `p` added: a sample when the event is newer than the last one and the
 * server knows a rate. Returns the same array when nothing is added, so React state can
 * skip a render.
 */
export function addSample(history: readonly RateSample[], p: Pick<NotificationProgress, 'updatedAt' | 'ratePerSecond' | 'sent'>): readonly RateSample[] {
  if (p.ratePerSecond === null || p.ratePerSecond === undefined) return history;
  const t = Date.parse(p.updatedAt) / 1000;
  if (Number.isNaN(t)) return history;
  const last = history[history.length - 1];
  if (last && t <= last.t) return history;
  const next = [...history, { t, rate: p.ratePerSecond, sent: p.sent }];
  return next.length > MAX_SAMPLES ? next.slice(next.length - MAX_SAMPLES) : next;
}

/** A sentence that says what the chart shows, for readers who cannot see it. */
export function rateSummary(history: readonly RateSample[]): string {
  const first = history[0];
  const last = history[history.length - 1];
  if (!first || !last) return 'No send rate measured yet.';
  const rates = history.map((s) => s.rate);
  const peak = Math.max(...rates);
  const average = rates.reduce((a, b) => a + b, 0) / rates.length;
  const span = last.t - first.t;
  const parts = [`now ${formatRate(last.rate)}`, `peak ${formatRate(peak)}`, `average ${formatRate(average)}`];
  const over = span >= 1 ? ` over the last ${formatSpan(span)}` : '';
  return `Send rate${over}: ${parts.join(', ')}.`;
}

function formatSpan(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
}
