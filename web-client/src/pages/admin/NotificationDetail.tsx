import { useEffect, useMemo, useState } from 'react';
import { useQuery } from 'urql';
import { errorSummary, isUnknownId } from '../../api/errors';
import { FailedDeliveriesQuery, NotificationQuery } from '../../api/operations';
import { DeliveryLog, DeliveryTable } from '../../components/DeliveryLog';
import { AutoPauseNotice, CampaignDetails } from '../../components/CampaignNotices';
import { NotificationControls } from '../../components/NotificationControls';
import { ProgressAnnouncer } from '../../components/ProgressAnnouncer';
import { ProgressView } from '../../components/ProgressView';
import { RateChart } from '../../components/RateChart';
import { Alert, ConnectionPager, Loading, PageHeading } from '../../components/ui';
import { usePageTitle, useThrottled } from '../../hooks/common';
import { useCursorPager } from '../../hooks/useCursorPager';
import { LIVE_REFETCH_MS, useNotificationProgress } from '../../hooks/live';
import { formatDateTime, plural } from '../../lib/format';
import { isTerminal, progressFromNotification, type NotificationProgress } from '../../lib/progress';
import { addSample, type RateSample } from '../../lib/sendRate';
import { useViewer } from '../../auth/session';
import { Link } from '../../router';
import { ConferenceNav, conferencePath } from './AdminShell';

export const FAILED_PAGE_SIZE = 20;

export function NotificationDetail({ id, justCreated }: { id: string; justCreated: boolean }) {
  const [{ data, error, fetching }, reexecute] = useQuery({
    query: NotificationQuery,
    variables: { id },
    requestPolicy: 'cache-and-network',
  });
  const live = useNotificationProgress(id);
  const rates = useRateHistory(id, live.progress);
  const n = data?.notification;
  // Until the first live event (or without a live connection at all), the figures read
  // over HTTP, dated when they were read.
  const readAt = useMemo(() => (data ? new Date() : null), [data]);
  const progress = live.progress ?? (n && readAt ? progressFromNotification(n, readAt) : null);
  // Started and completed times change with the status.
  const status = live.progress?.status;
  useEffect(() => {
    if (status) reexecute({ requestPolicy: 'network-only' });
  }, [status, reexecute]);
  usePageTitle(n ? n.name : 'Notification');
  const canSend = useViewer()?.role === 'ADMIN';

  if (fetching && !data) return <Loading />;
  if (isUnknownId(error)) {
    return (
      <>
        <PageHeading>Notification not found</PageHeading>
        <p>
          There is no notification with this id. <Link to="/admin">Back to the conferences</Link>.
        </p>
      </>
    );
  }
  if (error || !n) return <Alert>{errorSummary(error)}</Alert>;

  return (
    <>
      {n.conference && <ConferenceNav conferenceId={n.conference.id} section={null} />}
      {n.conference && (
        <p className="breadcrumb">
          <Link to={conferencePath(n.conference.id, 'notifications')}>← Notifications of {n.conference.name}</Link>
        </p>
      )}
      <PageHeading subtitle={`Submitted ${formatDateTime(n.submittedAt)}`}>{n.name}</PageHeading>
      {canSend && n.conference && (
        <p>
          <Link
            to={`${conferencePath(n.conference.id, 'compose')}?from=${encodeURIComponent(n.id)}`}
            className="button button--secondary"
          >
            Duplicate as new
          </Link>
        </p>
      )}
      {/* Only until it has been sent: once finished, the progress says so itself. */}
      {justCreated && (n.status === 'SCHEDULED' || (progress && !isTerminal(progress.status))) && (
        <Alert kind="success" title={n.status === 'SCHEDULED' ? 'Notification scheduled' : 'Notification queued'}>
          The worker will email it to its audience{n.status === 'SCHEDULED' ? ' at the time you chose' : ''}; progress shows
          below.
        </Alert>
      )}
      {live.error && <Alert>{errorSummary(live.error)}</Alert>}
      <ProgressAnnouncer progress={progress} />
      {progress && (
        <>
          <AutoPauseNotice id={id} reason={progress.pausedReason} status={progress.status} onChanged={live.refresh} />
          <ProgressView progress={progress} live={live.live} />
          {(rates.length > 0 || !isTerminal(progress.status)) && <RateChart samples={rates} />}
          <NotificationControls progress={progress} onChanged={live.refresh} />
          <CampaignDetails id={id} status={progress.status} onChanged={live.refresh} />
          <FailedDeliveries id={id} failed={progress.failed} />
          {(progress.bounced ?? 0) > 0 && <FailedDeliveries id={id} failed={progress.bounced ?? 0} status="BOUNCED" />}
          <DeliveryLog id={id} version={progressVersion(progress)} />
        </>
      )}
      <details className="card template">
        <summary>Templates</summary>
        <h3>Subject</h3>
        <pre>{n.subject}</pre>
        <h3>Message</h3>
        <pre>{n.message}</pre>
        <p className="muted small">
          Started {formatDateTime(n.startedAt)} · Completed {formatDateTime(n.completedAt)}
        </p>
      </details>
    </>
  );
}

/** The send rate of each live progress event of this notification, for the chart. */
function useRateHistory(id: string, progress: NotificationProgress | null): readonly RateSample[] {
  const [history, setHistory] = useState<{ id: string; samples: readonly RateSample[] }>({ id, samples: [] });
  useEffect(() => {
    if (!progress) return;
    setHistory((h) => {
      const samples = addSample(h.id === id ? h.samples : [], progress);
      return h.id === id && samples === h.samples ? h : { id, samples };
    });
  }, [id, progress]);
  return history.id === id ? history.samples : [];
}

/** Changes whenever a delivery changes status, so the log on screen is fetched again. */
function progressVersion(p: NotificationProgress): string {
  return [p.status, p.sent, p.failed, p.cancelled, p.suppressed ?? 0, p.bounced ?? 0].join(':');
}

/** The failed deliveries, or (`status="BOUNCED"`) those sent and then reported bounced. */
function FailedDeliveries({ id, failed, status = 'FAILED' }: { id: string; failed: number; status?: 'FAILED' | 'BOUNCED' }) {
  const bounced = status === 'BOUNCED';
  const pager = useCursorPager(id);
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: FailedDeliveriesQuery,
    variables: { id, status, first: FAILED_PAGE_SIZE, after: pager.after },
    pause: failed === 0 && pager.page === 1,
  });
  // New failures arrive with the progress; fetch the table again when the count moves
  // (at most once a second while it does).
  const refetch = useThrottled(() => reexecute({ requestPolicy: 'network-only' }), LIVE_REFETCH_MS);
  useEffect(() => {
    if (failed > 0) refetch();
  }, [failed, refetch]);
  const page = data?.notification.deliveries;

  return (
    <section className="card" aria-labelledby={`${status}-heading`}>
      <h2 id={`${status}-heading`}>{bounced ? 'Bounced deliveries' : 'Failed deliveries'}</h2>
      {failed === 0 && <p className="empty">No delivery has failed.</p>}
      {error && <Alert>{errorSummary(error)}</Alert>}
      {failed > 0 && fetching && !data && <Loading />}
      {failed > 0 && page && (
        <>
          <p className="muted">
            {plural(page.totalCount, 'recipient')}{' '}
            {bounced ? 'bounced after sending; their addresses are now suppressed.' : 'could not be emailed.'}
          </p>
          <DeliveryTable deliveries={page.nodes} testId={bounced ? 'bounced-deliveries' : 'failed-deliveries'} />
          <ConnectionPager
            label={bounced ? 'Bounced delivery pages' : 'Failed delivery pages'}
            pager={pager}
            pageInfo={page.pageInfo}
            busy={fetching}
          />
        </>
      )}
    </section>
  );
}
