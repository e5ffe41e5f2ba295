import { useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { errorSummary } from '../../api/errors';
import { DeleteNotificationDraftMutation, NotificationDraftsQuery } from '../../api/operations';
import { useViewer } from '../../auth/session';
import { Alert, ConnectionPager, Loading, PageHeading, StatusBadge } from '../../components/ui';
import { usePageTitle } from '../../hooks/common';
import { useCursorPager } from '../../hooks/useCursorPager';
import { useLiveNotifications } from '../../hooks/live';
import { formatDateTime, plural } from '../../lib/format';
import { formatCount, percent } from '../../lib/progress';
import { Link } from '../../router';
import { Countdown } from '../../components/CampaignNotices';
import { conferencePath } from './AdminShell';

export const NOTIFICATIONS_PAGE_SIZE = 20;

export function Notifications({ conferenceId }: { conferenceId: string }) {
  usePageTitle('Notifications');
  const pager = useCursorPager(conferenceId);
  const [{ data, fetching, error }] = useLiveNotifications(conferenceId, NOTIFICATIONS_PAGE_SIZE, pager.after);
  const canSend = useViewer()?.role === 'ADMIN';
  const page = data?.notifications;
  return (
    <>
      <PageHeading subtitle={page ? `${plural(page.totalCount, 'notification')}, newest first` : undefined}>
        Notifications
      </PageHeading>
      <p>
        <Link to={conferencePath(conferenceId, 'compose')} className="button button--primary">
          New notification
        </Link>
      </p>
      {canSend && <Drafts conferenceId={conferenceId} />}
      {error && <Alert>{errorSummary(error)}</Alert>}
      {fetching && !data && <Loading />}
      {page && page.nodes.length === 0 && <p className="empty">No notification has been sent for this conference yet.</p>}
      {page && page.nodes.length > 0 && (
        <div className="table-wrap">
          <table className="table table--stack" data-testid="notifications">
            <caption className="visually-hidden">Notifications, newest first, page {pager.page}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col" className="num">
                  Failed
                </th>
                <th scope="col" className="num">
                  Cancelled
                </th>
                <th scope="col">Submitted</th>
              </tr>
            </thead>
            <tbody>
              {page.nodes.map((n) => (
                <tr key={n.id} data-notification-id={n.id}>
                  <th scope="row" data-label="Name" className="cell-wrap">
                    <Link to={`/admin/notifications/${encodeURIComponent(n.id)}`}>{n.name}</Link>
                  </th>
                  <td data-label="Status">
                    <StatusBadge status={n.status} />
                  </td>
                  <td data-label="Progress">
                    {n.status === 'SCHEDULED' && n.sendAt ? (
                      <Countdown sendAt={n.sendAt} />
                    ) : n.total > 0 ? (
                      <span>
                        {percent(n)}% · {formatCount(n.sent)} sent of {formatCount(n.total)}
                      </span>
                    ) : (
                      <span className="muted">Not started</span>
                    )}
                  </td>
                  <td data-label="Failed" className="num" data-testid="row-failed">
                    {formatCount(n.failed)}
                  </td>
                  <td data-label="Cancelled" className="num" data-testid="row-cancelled">
                    {formatCount(n.cancelled)}
                  </td>
                  <td data-label="Submitted">{formatDateTime(n.submittedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && <ConnectionPager label="Notification pages" pager={pager} pageInfo={page.pageInfo} busy={fetching} />}
    </>
  );
}

/** The admin's saved drafts for this conference, to continue or delete. */
function Drafts({ conferenceId }: { conferenceId: string }) {
  const [{ data, error }, reexecute] = useQuery({
    query: NotificationDraftsQuery,
    variables: { conferenceId },
    requestPolicy: 'cache-and-network',
  });
  const [removal, remove] = useMutation(DeleteNotificationDraftMutation);
  const [confirming, setConfirming] = useState<string | null>(null);
  const drafts = data?.notificationDrafts ?? [];
  if (error && !data) return <Alert kind="warning" title="Drafts could not be loaded">{errorSummary(error)}</Alert>;
  if (drafts.length === 0) return null;
  const del = async (id: string) => {
    await remove({ id });
    setConfirming(null);
    reexecute({ requestPolicy: 'network-only' });
  };
  return (
    <section className="card drafts" aria-labelledby="drafts-heading" data-testid="drafts">
      <h2 id="drafts-heading">Drafts</h2>
      {removal.error && <Alert>{errorSummary(removal.error)}</Alert>}
      <ul className="drafts__list">
        {drafts.map((d) => {
          const title = d.name.trim() || d.subject.trim() || 'Untitled draft';
          return (
            <li key={d.id} className="drafts__item" data-draft-id={d.id}>
              <span className="drafts__title cell-wrap">{title}</span>
              <span className="muted small">saved {formatDateTime(d.updatedAt)}</span>
              <span className="drafts__actions">
                <Link
                  to={`${conferencePath(conferenceId, 'compose')}?draft=${encodeURIComponent(d.id)}`}
                  className="button button--secondary button--small"
                  aria-label={`Continue ${title}`}
                >
                  Continue
                </Link>
                {confirming === d.id ? (
                  <>
                    <button
                      type="button"
                      className="button button--danger button--small"
                      onClick={() => void del(d.id)}
                      disabled={removal.fetching}
                    >
                      Delete for good
                    </button>
                    <button type="button" className="button button--secondary button--small" onClick={() => setConfirming(null)}>
                      Keep
                    </button>
                  </>
                ) : (
                  <button
                    type="button"
                    className="button button--secondary button--small"
                    onClick={() => setConfirming(d.id)}
                    aria-label={`Delete ${title}`}
                  >
                    Delete
                  </button>
                )}
              </span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
