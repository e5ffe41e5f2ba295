// The delivery log of a notification: every recipient with what became of their email,
// searched by email or name and filtered by status on the server, paged by cursor, and
// exported as CSV (all, or what the search and filter match).
import { useEffect, useRef, useState } from 'react';
import { useQuery } from 'urql';
import { DownloadError, downloadFile, queryString } from '../api/download';
import { errorSummary } from '../api/errors';
import { DeliveryLogQuery } from '../api/operations';
import { useToken } from '../auth/session';
import type { DeliveryStatus } from '../gql/graphql';
import { useDebounced, useThrottled } from '../hooks/common';
import { useCursorPager } from '../hooks/useCursorPager';
import { LIVE_REFETCH_MS } from '../hooks/live';
import { formatDateTime, plural } from '../lib/format';
import { SearchField } from './Field';
import { Alert, ConnectionPager, Loading } from './ui';

export const LOG_PAGE_SIZE = 25;
/** The server's limit on a search term. */
export const SEARCH_MAX = 100;
const SEARCH_DEBOUNCE_MS = 300;

export const deliveryStatusLabel: Record<DeliveryStatus, string> = {
  PENDING: 'Pending',
  SENDING: 'Sending',
  SENT: 'Sent',
  FAILED: 'Failed',
  CANCELLED: 'Cancelled',
  SUPPRESSED: 'Suppressed',
  BOUNCED: 'Bounced',
};

const STATUSES = Object.keys(deliveryStatusLabel) as DeliveryStatus[];

/**
 * `version` changes when the notification's counters do (its progress events); the page
 * on screen is fetched again then, at most once a second.
 */
export function DeliveryLog({ id, version }: { id: string; version: string }) {
  const token = useToken();
  const [searchText, setSearchText] = useState('');
  const [status, setStatus] = useState<DeliveryStatus | ''>('');
  const search = useDebounced(searchText.trim(), SEARCH_DEBOUNCE_MS);
  const pager = useCursorPager(`${id}|${search}|${status}`);
  const [exportError, setExportError] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: DeliveryLogQuery,
    variables: { id, status: status || null, search: search || null, first: LOG_PAGE_SIZE, after: pager.after },
  });
  const refetch = useThrottled(() => reexecute({ requestPolicy: 'network-only' }), LIVE_REFETCH_MS);
  const seen = useRef(version);
  useEffect(() => {
    if (seen.current === version) return;
    seen.current = version;
    refetch();
  }, [version, refetch]);
  const page = data?.notification.deliveries;
  const narrowed = Boolean(search || status);

  const exportCsv = async () => {
    setExportError(null);
    setExporting(true);
    try {
      const query = queryString({ notificationId: id, status: status || null, search });
      await downloadFile(`/admin/export/deliveries.csv?${query}`, token, `deliveries-${id}.csv`);
    } catch (e) {
      setExportError(e instanceof DownloadError ? e.message : 'The export failed.');
    } finally {
      setExporting(false);
    }
  };

  return (
    <section className="card delivery-log" aria-labelledby="delivery-log-heading">
      <h2 id="delivery-log-heading">Delivery log</h2>
      <div className="toolbar">
        <SearchField
          id="delivery-search"
          label="Recipient"
          value={searchText}
          maxLength={SEARCH_MAX}
          onChange={setSearchText}
          placeholder="Email or name"
          resultId="delivery-log-result"
        />
        <div className="field field--inline">
          <label htmlFor="delivery-status">Status</label>
          <select id="delivery-status" value={status} onChange={(e) => setStatus(e.target.value as DeliveryStatus | '')}>
            <option value="">All</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {deliveryStatusLabel[s]}
              </option>
            ))}
          </select>
        </div>
        <div className="toolbar__actions">
          <button type="button" className="button button--secondary button--small" onClick={exportCsv} disabled={exporting}>
            {exporting ? 'Exporting…' : narrowed ? 'Export matching (CSV)' : 'Export all (CSV)'}
          </button>
        </div>
      </div>
      <p id="delivery-log-result" className="muted" role="status" data-testid="delivery-log-result">
        {page && !fetching
          ? narrowed
            ? `${plural(page.totalCount, 'recipient')} match`
            : plural(page.totalCount, 'recipient')
          : fetching
            ? 'Searching…'
            : ''}
      </p>
      {exportError && <Alert title="The export did not download">{exportError}</Alert>}
      {error && <Alert>{errorSummary(error)}</Alert>}
      {fetching && !data && <Loading />}
      {page && page.nodes.length === 0 && !fetching && (
        <p className="empty">{narrowed ? 'No recipient matches.' : 'No recipients yet: the worker plans them when sending starts.'}</p>
      )}
      {page && page.nodes.length > 0 && <DeliveryTable deliveries={page.nodes} testId="delivery-log" busy={fetching} />}
      {page && <ConnectionPager label="Delivery log pages" pager={pager} pageInfo={page.pageInfo} busy={fetching} />}
    </section>
  );
}

/** A delivery as the tables show it; `status` and `sentAt` only where the query asks for them. */
export interface DeliveryRow {
  id: string;
  email: string;
  attempts: number;
  lastError?: string | null;
  status?: DeliveryStatus;
  sentAt?: string | null;
  attendee: { firstName: string; lastName: string };
}

/** Recipients and what became of their email; the status and time sent when known. */
export function DeliveryTable({ deliveries, testId, busy = false }: { deliveries: readonly DeliveryRow[]; testId: string; busy?: boolean }) {
  const detailed = deliveries.some((d) => d.status !== undefined);
  return (
    <div className="table-wrap">
      <table className="table table--stack" data-testid={testId} aria-busy={busy}>
        <thead>
          <tr>
            <th scope="col">Recipient</th>
            <th scope="col">Email</th>
            {detailed && <th scope="col">Status</th>}
            <th scope="col">Attempts</th>
            {detailed && <th scope="col">Sent</th>}
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.map((d) => (
            <tr key={d.id}>
              <th scope="row" data-label="Recipient">
                {d.attendee.firstName} {d.attendee.lastName}
              </th>
              <td data-label="Email">{d.email}</td>
              {detailed && (
                <td data-label="Status">
                  {d.status && <span className={`delivery-status delivery-status--${d.status.toLowerCase()}`}>{deliveryStatusLabel[d.status]}</span>}
                </td>
              )}
              <td data-label="Attempts">{d.attempts}</td>
              {detailed && <td data-label="Sent">{d.sentAt ? formatDateTime(d.sentAt) : '—'}</td>}
              <td data-label="Error" className={d.lastError ? 'error-text' : undefined}>
                {d.lastError ?? '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
