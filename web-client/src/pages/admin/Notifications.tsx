import { errorSummary } from '../../api/errors';
import { Alert, Loading, PageHeading, Pager, StatusBadge } from '../../components/ui';
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
  const page = data?.notifications;
  return (
    <>
      <PageHeading subtitle={page ? `${plural(page.totalCount, 'notification')}, oldest first` : undefined}>
        Notifications
      </PageHeading>
      <p>
        <Link to={conferencePath(conferenceId, 'compose')} className="button button--primary">
          New notification
        </Link>
      </p>
      {error && <Alert>{errorSummary(error)}</Alert>}
      {fetching && !data && <Loading />}
      {page && page.nodes.length === 0 && <p className="empty">No notification has been sent for this conference yet.</p>}
      {page && page.nodes.length > 0 && (
        <div className="table-wrap">
          <table className="table table--stack" data-testid="notifications">
            <caption className="visually-hidden">Notifications, page {pager.page}</caption>
            <thead>
              <tr>
                <th scope="col">Subject</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Submitted</th>
              </tr>
            </thead>
            <tbody>
              {page.nodes.map((n) => (
                <tr key={n.id} data-notification-id={n.id}>
                  <th scope="row" data-label="Subject">
                    <Link to={`/admin/notifications/${encodeURIComponent(n.id)}`}>{n.subject}</Link>
                  </th>
                  <td data-label="Status">
                    <StatusBadge status={n.status} />
                  </td>
                  <td data-label="Progress">
                    {n.status === 'SCHEDULED' && n.sendAt ? (
                      <Countdown sendAt={n.sendAt} />
                    ) : n.total > 0 ? (
                      <span>
                        {percent(n)}% · {formatCount(n.sent)} sent
                        {n.failed > 0 && <>, {formatCount(n.failed)} failed</>} of {formatCount(n.total)}
                      </span>
                    ) : (
                      <span className="muted">Not started</span>
                    )}
                  </td>
                  <td data-label="Submitted">{formatDateTime(n.submittedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && (page.pageInfo.hasNextPage || pager.page > 1) && (
        <Pager
          label="Notification pages"
          page={pager.page}
          hasNext={page.pageInfo.hasNextPage}
          onPrevious={pager.previous}
          onNext={() => pager.next(page.pageInfo.endCursor)}
          busy={fetching}
        />
      )}
    </>
  );
}
