// The live progress of a notification. It takes a progress object as props and knows
// nothing of where it comes from (the notificationProgress subscription), so it is easy
// to test and to reuse. `live={false}` says the figures are not being updated right now.
import {
  formatCount,
  formatDuration,
  formatRate,
  isTerminal,
  percent,
  segments,
  type NotificationProgress,
} from '../lib/progress';
import { formatTime } from '../lib/format';
import { StatusBadge } from './ui';

export function ProgressView({ progress, live = true }: { progress: NotificationProgress; live?: boolean }) {
  const pct = percent(progress);
  const seg = segments(progress);
  const terminal = isTerminal(progress.status);
  const planned = progress.total > 0 || terminal;
  const updatedAt = <time dateTime={progress.updatedAt}>{formatTime(progress.updatedAt)}</time>;
  return (
    <section className={`progress card${live ? '' : ' progress--stale'}`} aria-labelledby="progress-heading" data-live={live}>
      <div className="progress__head">
        <h2 id="progress-heading">Progress</h2>
        <StatusBadge status={progress.status} />
      </div>
      <div
        className="progress__bar"
        role="progressbar"
        aria-label="Delivered or finished"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        aria-valuetext={
          planned ? `${pct}%: ${formatCount(progress.sent)} sent, ${formatCount(progress.failed)} failed` : 'Not planned yet'
        }
      >
        <span className="progress__segment progress__segment--sent" style={{ width: `${seg.sent}%` }} />
        <span className="progress__segment progress__segment--failed" style={{ width: `${seg.failed}%` }} />
        <span className="progress__segment progress__segment--cancelled" style={{ width: `${seg.cancelled}%` }} />
      </div>
      <p className="progress__percent">
        <strong data-testid="progress-percent">{pct}%</strong>
        {planned ? (
          <span>
            {' '}
            of {formatCount(progress.total)} recipient{progress.total === 1 ? '' : 's'}
          </span>
        ) : (
          <span> — waiting for the worker to plan the recipients</span>
        )}
      </p>
      <dl className="stats">
        <div className="stat stat--sent">
          <dt>Sent</dt>
          <dd data-testid="count-sent">{formatCount(progress.sent)}</dd>
        </div>
        <div className="stat stat--failed">
          <dt>Failed</dt>
          <dd data-testid="count-failed">{formatCount(progress.failed)}</dd>
        </div>
        <div className="stat">
          <dt>Pending</dt>
          <dd data-testid="count-pending">{formatCount(progress.pending)}</dd>
        </div>
        {progress.cancelled > 0 && (
          <div className="stat">
            <dt>Cancelled</dt>
            <dd data-testid="count-cancelled">{formatCount(progress.cancelled)}</dd>
          </div>
        )}
        <div className="stat">
          <dt>Rate</dt>
          <dd data-testid="rate">{terminal ? '—' : formatRate(progress.ratePerSecond)}</dd>
        </div>
        <div className="stat">
          <dt>Time left</dt>
          <dd data-testid="eta">{terminal ? 'Done' : formatDuration(progress.etaSeconds)}</dd>
        </div>
      </dl>
      {live ? (
        <p className="muted small" data-testid="progress-freshness">
          Live from the server · updated {updatedAt}
        </p>
      ) : (
        <p className="progress__stale small" role="status" data-testid="progress-freshness">
          Live updates are interrupted; these figures are from {updatedAt} and will catch up when the
          connection is back.
        </p>
      )}
    </section>
  );
}
