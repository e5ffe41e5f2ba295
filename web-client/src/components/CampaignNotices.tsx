// The campaign side of a notification's page: a scheduled notification's countdown with
// reschedule and cancel, the audience it was created with, and why it paused itself.
import { useEffect, useId, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { NotificationCampaignQuery, RescheduleNotificationMutation } from '../api/campaigns';
import { errorSummary } from '../api/errors';
import { CancelNotificationMutation, ResumeNotificationMutation } from '../api/operations';
import { countdown, describeAudience, fromLocalInput, localTimeZone, toLocalInput } from '../lib/campaign';
import { formatDateTime } from '../lib/format';
import type { NotificationStatus } from '../lib/progress';
import { Alert } from './ui';

/** The current time, updated every `ms`. */
export function useNow(ms = 1000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** "Sends in 2 min 5 s": a live countdown to `sendAt`. */
export function Countdown({ sendAt }: { sendAt: string }) {
  const now = useNow();
  const left = countdown(sendAt, now);
  return (
    <span data-testid="countdown" title={formatDateTime(sendAt)}>
      {left === 'now' ? 'Starting…' : `Sends ${left}`}
    </span>
  );
}

/**
 * Campaign details of one notification: when it is scheduled (countdown, reschedule,
 * cancel), when it started, who it goes to. `status` is the live one; the details are read
 * again when it changes.
 */
export function CampaignDetails({
  id,
  status,
  onChanged,
}: {
  id: string;
  status: NotificationStatus;
  onChanged(): void;
}) {
  const [{ data }, reexecute] = useQuery({ query: NotificationCampaignQuery, variables: { id } });
  useEffect(() => {
    reexecute({ requestPolicy: 'network-only' });
  }, [status, reexecute]);
  const n = data?.notification;
  if (!n) return null;
  return (
    <section className="card campaign" aria-labelledby="campaign-heading" data-testid="campaign-details">
      <h2 id="campaign-heading">Campaign</h2>
      <dl className="campaign__facts">
        {n.sendAt && (
          <>
            <dt>Scheduled for</dt>
            <dd>
              {formatDateTime(n.sendAt)}
              {status === 'SCHEDULED' && (
                <>
                  {' · '}
                  <Countdown sendAt={n.sendAt} />
                </>
              )}
              {n.startedAt && new Date(n.startedAt).getTime() - new Date(n.sendAt).getTime() > 60_000 && (
                <> · started {formatDateTime(n.startedAt)}, late: no worker was running</>
              )}
            </dd>
          </>
        )}
        <dt>Audience</dt>
        <dd data-testid="campaign-audience">{describeAudience(n.audience)}</dd>
        <dt>Auto-pause</dt>
        <dd>
          {n.autoPause
            ? `When more than ${Math.round(n.autoPause.failureRatio * 100)}% of the last ${n.autoPause.minimumAttempts} deliveries fail`
            : 'Off'}
        </dd>
      </dl>
      {status === 'SCHEDULED' && n.sendAt && (
        <Reschedule
          id={id}
          sendAt={n.sendAt}
          onChanged={() => {
            reexecute({ requestPolicy: 'network-only' });
            onChanged();
          }}
        />
      )}
    </section>
  );
}

function Reschedule({ id, sendAt, onChanged }: { id: string; sendAt: string; onChanged(): void }) {
  const fieldId = useId();
  const [local, setLocal] = useState(() => toLocalInput(new Date(sendAt)));
  const [moved, reschedule] = useMutation(RescheduleNotificationMutation);
  const [cancelled, cancel] = useMutation(CancelNotificationMutation);
  const [error, setError] = useState<string | null>(null);
  const busy = moved.fetching || cancelled.fetching;

  const move = async () => {
    const at = fromLocalInput(local);
    if (!at) return setError('Pick a date and time.');
    const result = await reschedule({ id, sendAt: at });
    setError(result.error ? errorSummary(result.error) : null);
    onChanged();
  };
  const stop = async () => {
    const result = await cancel({ id });
    setError(result.error ? errorSummary(result.error) : null);
    onChanged();
  };

  return (
    <div className="campaign__reschedule">
      <div className="field">
        <label htmlFor={`${fieldId}-at`}>New time ({localTimeZone()})</label>
        <input id={`${fieldId}-at`} type="datetime-local" value={local} onChange={(e) => setLocal(e.target.value)} />
      </div>
      <div className="actions">
        <button type="button" className="button button--secondary" onClick={() => void move()} disabled={busy}>
          Reschedule
        </button>
        <button type="button" className="button button--danger" onClick={() => void stop()} disabled={busy}>
          Cancel scheduled send
        </button>
      </div>
      {error && <Alert>{error}</Alert>}
    </div>
  );
}

/** Why the notification paused itself, with a button to resume it. */
export function AutoPauseNotice({
  id,
  reason,
  status,
  onChanged,
}: {
  id: string;
  reason: string | null | undefined;
  status: NotificationStatus;
  onChanged(): void;
}) {
  const [resumed, resume] = useMutation(ResumeNotificationMutation);
  if (!reason || (status !== 'PAUSED' && status !== 'PAUSING')) return null;
  return (
    <div data-testid="auto-pause">
      <Alert kind="warning" title="This notification paused itself">
        <p>{reason}. Check the failed deliveries below, fix the cause, then resume: it continues with the recipients still pending.</p>
        <button
          type="button"
          className="button button--primary"
          disabled={resumed.fetching}
          onClick={() => void resume({ id }).then(onChanged)}
        >
          Resume sending
        </button>
        {resumed.error && <p className="error-text">{errorSummary(resumed.error)}</p>}
      </Alert>
    </div>
  );
}
