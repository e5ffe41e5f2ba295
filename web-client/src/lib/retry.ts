// What "Retry failed" did, in words: how many were retried and skipped at once, and how
// many of them failed again once the send is over.
import { isTerminal, type NotificationProgress } from './progress';
import { plural } from './format';

/** The server's answer to `retryFailedDeliveries`, and the failed count right after it. */
export interface RetryReport {
  retried: number;
  skippedBounced: number;
  skippedSuppressed: number;
  /** `failed` as the mutation returned it (the retried ones already taken off). */
  failedAfter: number;
}

/** Whether the send the retry started is over, so its failures can be counted. */
export function retryFinished(p: Pick<NotificationProgress, 'status'>): boolean {
  return isTerminal(p.status) || p.status === 'PAUSED';
}

/**
 * "Retrying 31 failed deliveries…" while they are sent, then "Retried 31: 29 failed again,
 * 2 sent." Deliveries that fail during the retry are counted against it; a retry made while
 * the first send was still running counts that send's new failures too, which the text
 * cannot tell apart.
 */
export function retryMessage(report: RetryReport, p: Pick<NotificationProgress, 'status' | 'failed'>): string {
  const skipped = skippedText(report);
  if (!retryFinished(p)) {
    return `Retrying ${plural(report.retried, 'failed delivery', 'failed deliveries')}…${skipped}`;
  }
  const failedAgain = Math.min(report.retried, Math.max(0, p.failed - report.failedAfter));
  const rest = report.retried - failedAgain;
  const outcome =
    failedAgain === 0
      ? 'none failed again'
      : rest === 0
        ? `${failedAgain === 1 ? 'it' : `all ${failedAgain}`} failed again`
        : `${failedAgain} failed again, ${rest} ${p.status === 'PAUSED' || p.status === 'CANCELLED' ? 'not failed so far' : 'sent'}`;
  return `Retried ${report.retried}: ${outcome}.${skipped}`;
}

function skippedText(report: RetryReport): string {
  const parts: string[] = [];
  if (report.skippedBounced > 0) {
    parts.push(`${plural(report.skippedBounced, 'hard bounce')} skipped (tick “Include hard bounces” to retry them)`);
  }
  if (report.skippedSuppressed > 0) {
    parts.push(`${plural(report.skippedSuppressed, 'unsubscribed address', 'unsubscribed addresses')} skipped`);
  }
  return parts.length ? ` ${parts.join('; ')}.` : '';
}
