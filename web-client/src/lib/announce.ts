// What the progress page says to screen readers, politely: the start of sending, each
// quarter done, a pause or cancellation, and the end with its final counts. Computed from
// two successive progress states, so a figure that merely ticks up says nothing.
import { formatCount, isTerminal, percent, type NotificationProgress } from './progress';

/** Milestones announced while sending, in percent. */
export const MILESTONES: readonly number[] = [25, 50, 75];

type Figures = Pick<NotificationProgress, 'status' | 'total' | 'sent' | 'failed' | 'cancelled' | 'suppressed' | 'pending'>;

function finalCounts(p: Figures): string {
  const parts = [`${formatCount(p.sent)} sent`];
  if (p.failed > 0) parts.push(`${formatCount(p.failed)} failed`);
  if (p.cancelled > 0) parts.push(`${formatCount(p.cancelled)} cancelled`);
  if ((p.suppressed ?? 0) > 0) parts.push(`${formatCount(p.suppressed ?? 0)} suppressed`);
  return parts.join(', ');
}

/** The announcement for going from `prev` to `next`, or null when nothing worth saying changed. */
export function progressAnnouncement(prev: Figures | null, next: Figures): string | null {
  // The first figures the page shows are on screen already: only changes are announced.
  if (!prev) return null;
  if (prev.status !== next.status) {
    switch (next.status) {
      case 'COMPLETED':
        return `Sending complete: ${finalCounts(next)} of ${formatCount(next.total)}.`;
      case 'COMPLETED_WITH_ERRORS':
        return `Sending finished with errors: ${finalCounts(next)} of ${formatCount(next.total)}.`;
      case 'CANCELLED':
        return `Sending cancelled: ${finalCounts(next)} of ${formatCount(next.total)}.`;
      case 'PAUSED':
        return `Sending paused at ${percent(next)}%: ${formatCount(next.pending)} still to send.`;
      case 'SENDING':
        if (isTerminal(prev.status)) return `Sending again to ${formatCount(next.pending)} recipients.`;
        return prev.status === 'PAUSED' || prev.status === 'PAUSING'
          ? `Sending resumed: ${formatCount(next.pending)} still to send.`
          : `Sending started to ${formatCount(next.total)} recipients.`;
      default:
        break;
    }
  }
  if (next.status === 'SENDING' && next.total > 0) {
    const before = percent(prev);
    const now = percent(next);
    const crossed = MILESTONES.filter((m) => before < m && now >= m && now < 100).pop();
    if (crossed !== undefined) {
      return `${crossed}% done: ${formatCount(next.sent)} of ${formatCount(next.total)} sent.`;
    }
  }
  return null;
}
