// Progress of a notification send: the shape the `notificationProgress` subscription
// delivers (generated from the schema), and the arithmetic and formatting the progress
// view needs.
import type { NotificationProgressSubscription, NotificationStatus } from '../gql/graphql';

export type { NotificationStatus };

type ProgressEvent = NotificationProgressSubscription['notificationProgress'];

/**
 * One event of `notificationProgress`: counters, status, and the server's recent rate and ETA
 * (null while unknown). `suppressed` (never sent: the address is on the suppression list) and
 * `bounced` (sent, then reported bounced; also counted in `sent`) are optional here, so
 * views that do not show them need not carry them.
 */
export type NotificationProgress = Omit<ProgressEvent, 'suppressed' | 'bounced' | 'pausedReason'> &
  Partial<Pick<ProgressEvent, 'suppressed' | 'bounced' | 'pausedReason'>>;

/**
 * Progress from a notification read over HTTP, for the page to show before the first live
 * event (or when the live connection cannot be made). Rate and ETA are unknown.
 */
export function progressFromNotification(
  n: Pick<NotificationProgress, 'status' | 'total' | 'sent' | 'failed' | 'cancelled' | 'pending' | 'suppressed' | 'bounced'> & {
    id: string;
  },
  readAt: Date,
): NotificationProgress {
  const { id, status, total, sent, failed, cancelled, suppressed, bounced, pending } = n;
  return {
    notificationId: id,
    status,
    total,
    sent,
    failed,
    cancelled,
    suppressed,
    bounced,
    pending,
    ratePerSecond: null,
    etaSeconds: isTerminal(status) ? 0 : null,
    updatedAt: readAt.toISOString(),
  };
}

export const TERMINAL: readonly NotificationStatus[] = ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'CANCELLED'];

export function isTerminal(status: NotificationStatus): boolean {
  return TERMINAL.includes(status);
}

/** Finished deliveries (sent, failed, cancelled, or suppressed and never to be sent). */
export function done(p: Pick<NotificationProgress, 'sent' | 'failed' | 'cancelled' | 'suppressed'>): number {
  return p.sent + p.failed + p.cancelled + (p.suppressed ?? 0);
}

/** Percentage finished, 0–100, floored so 100 means truly finished. */
export function percent(
  p: Pick<NotificationProgress, 'total' | 'sent' | 'failed' | 'cancelled' | 'suppressed' | 'status'>,
): number {
  if (p.total <= 0) return isTerminal(p.status) ? 100 : 0;
  const value = Math.floor((done(p) / p.total) * 100);
  return Math.max(0, Math.min(100, value));
}

/** Widths of the sent/failed/cancelled bar segments, in percent of the total. */
export function segments(p: Pick<NotificationProgress, 'total' | 'sent' | 'failed' | 'cancelled'>) {
  if (p.total <= 0) return { sent: 0, failed: 0, cancelled: 0 };
  const w = (n: number) => Math.max(0, Math.min(100, (n / p.total) * 100));
  return { sent: w(p.sent), failed: w(p.failed), cancelled: w(p.cancelled) };
}

export function formatRate(ratePerSecond: number | null): string {
  if (ratePerSecond === null) return '—';
  if (ratePerSecond >= 100) return `${Math.round(ratePerSecond)}/s`;
  if (ratePerSecond >= 10) return `${ratePerSecond.toFixed(1)}/s`;
  if (ratePerSecond > 0 && ratePerSecond < 1) return `${(ratePerSecond * 60).toFixed(1)}/min`;
  return `${ratePerSecond.toFixed(1)}/s`;
}

/** "45 s", "3 min 5 s", "2 h 4 min"; "—" when unknown. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const rest = s % 60;
    return rest ? `${Math.floor(s / 60)} min ${rest} s` : `${s / 60} min`;
  }
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export const statusLabel: Record<NotificationStatus, string> = {
  SCHEDULED: 'Scheduled',
  QUEUED: 'Queued',
  SENDING: 'Sending',
  PAUSING: 'Pausing…',
  PAUSED: 'Paused',
  CANCELLING: 'Cancelling…',
  COMPLETED: 'Completed',
  COMPLETED_WITH_ERRORS: 'Completed with errors',
  CANCELLED: 'Cancelled',
};

export type Control = 'pause' | 'resume' | 'cancel' | 'retryFailed';

/** Which controls apply in a state; the server decides in the end. */
export function availableControls(p: Pick<NotificationProgress, 'status' | 'failed'>): Record<Control, boolean> {
  const s = p.status;
  return {
    pause: s === 'QUEUED' || s === 'SENDING',
    resume: s === 'PAUSED' || s === 'PAUSING',
    cancel: s === 'SCHEDULED' || s === 'QUEUED' || s === 'SENDING' || s === 'PAUSING' || s === 'PAUSED',
    retryFailed:
      p.failed > 0 && (s === 'SENDING' || s === 'PAUSING' || s === 'PAUSED' || s === 'COMPLETED_WITH_ERRORS'),
  };
}
