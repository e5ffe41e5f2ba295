// Pause, resume, cancel and retry-failed. Each is enabled only in the states where it
// applies (lib/progress.ts availableControls); the server has the final word, and its
// refusal (a CONFLICT, e.g. after another admin acted first) is shown here.
import { useState } from 'react';
import { useMutation } from 'urql';
import { errorSummary } from '../api/errors';
import {
  CancelNotificationMutation,
  PauseNotificationMutation,
  ResumeNotificationMutation,
  RetryFailedDeliveriesMutation,
} from '../api/operations';
import { availableControls, type Control, type NotificationProgress } from '../lib/progress';
import { retryMessage, type RetryReport } from '../lib/retry';
import { Alert } from './ui';

const labels: Record<Control, string> = {
  pause: 'Pause',
  resume: 'Resume',
  cancel: 'Cancel sending',
  retryFailed: 'Retry failed',
};

export function NotificationControls({
  progress,
  onChanged,
}: {
  progress: Pick<NotificationProgress, 'notificationId' | 'status' | 'failed' | 'bounced'>;
  onChanged(): void;
}) {
  const [pause, runPause] = useMutation(PauseNotificationMutation);
  const [resume, runResume] = useMutation(ResumeNotificationMutation);
  const [cancel, runCancel] = useMutation(CancelNotificationMutation);
  const [retry, runRetry] = useMutation(RetryFailedDeliveriesMutation);
  const [error, setError] = useState<string | null>(null);
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [includeBounced, setIncludeBounced] = useState(false);
  // What the last retry did; its outcome is told once the send it started is over.
  const [retried, setRetried] = useState<RetryReport | null>(null);
  const busy = pause.fetching || resume.fetching || cancel.fetching || retry.fetching;
  const applies = availableControls(progress);

  const run = async (control: Control) => {
    setError(null);
    setRetried(null);
    const variables = { id: progress.notificationId };
    const result =
      control === 'pause'
        ? await runPause(variables)
        : control === 'resume'
          ? await runResume(variables)
          : control === 'cancel'
            ? await runCancel(variables)
            : await runRetry({ ...variables, includeBounced });
    if (result.error) setError(errorSummary(result.error));
    if (result.data && 'retryFailedDeliveries' in result.data && result.data.retryFailedDeliveries) {
      const r = result.data.retryFailedDeliveries;
      setRetried({
        retried: r.retried,
        skippedBounced: r.skippedBounced,
        skippedSuppressed: r.skippedSuppressed,
        failedAfter: r.notification.failed,
      });
    }
    setConfirmCancel(false);
    onChanged();
  };

  const button = (control: Control, className = 'button button--secondary') => (
    <button
      type="button"
      className={className}
      disabled={!applies[control] || busy}
      onClick={() => (control === 'cancel' ? setConfirmCancel(true) : void run(control))}
    >
      {labels[control]}
    </button>
  );

  return (
    <section className="controls" aria-label="Sending controls">
      <div className="controls__buttons">
        {button('pause')}
        {button('resume')}
        {button('retryFailed')}
        {button('cancel', 'button button--danger')}
      </div>
      {applies.retryFailed && (
        <label className="checkbox controls__option">
          <input type="checkbox" checked={includeBounced} onChange={(e) => setIncludeBounced(e.target.checked)} />
          Include hard bounces{(progress.bounced ?? 0) > 0 ? ` (${progress.bounced} bounced)` : ''} when retrying
        </label>
      )}
      <p className="controls__report" role="status" data-testid="retry-report">
        {retried ? retryMessage(retried, progress) : ''}
      </p>
      {confirmCancel && (
        <div className="confirm-inline" role="alertdialog" aria-labelledby="cancel-q">
          <p id="cancel-q">Cancel this notification? Recipients not yet emailed will not get it.</p>
          <button type="button" className="button button--danger" onClick={() => void run('cancel')} disabled={busy} autoFocus>
            Yes, cancel sending
          </button>
          <button type="button" className="button button--secondary" onClick={() => setConfirmCancel(false)}>
            Keep sending
          </button>
        </div>
      )}
      {error && <Alert>{error}</Alert>}
    </section>
  );
}
