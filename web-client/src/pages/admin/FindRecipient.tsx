// "Find a recipient": every delivery to one address in the organization, across its
// notifications, so support can answer "did this person get it, and when?".
import { useState, type FormEvent } from 'react';
import { useQuery } from 'urql';
import { errorSummary } from '../../api/errors';
import { DeliveriesByEmailQuery } from '../../api/operations';
import { Alert, ColumnHeadings, Loading } from '../../components/ui';
import { formatDateTime, plural } from '../../lib/format';
import { Link } from '../../router';

const PAGE_SIZE = 50;
/** The longest address the API accepts. */
export const EMAIL_MAX = 254;

const STATUS_TEXT: Record<string, string> = {
  PENDING: 'Pending',
  SENDING: 'Sending',
  SENT: 'Sent',
  FAILED: 'Failed',
  CANCELLED: 'Cancelled',
  SUPPRESSED: 'Suppressed (not sent)',
  BOUNCED: 'Bounced',
};

export function FindRecipient() {
  const [draft, setDraft] = useState('');
  const [email, setEmail] = useState<string | null>(null);
  const [{ data, fetching, error }] = useQuery({
    query: DeliveriesByEmailQuery,
    variables: { email: email ?? '', first: PAGE_SIZE },
    pause: email === null,
    requestPolicy: 'network-only',
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = draft.trim();
    setEmail(value === '' ? null : value);
  };

  const found = data?.deliveriesByEmail;
  return (
    <section className="card find-recipient" aria-labelledby="find-recipient-heading">
      <h2 id="find-recipient-heading">Find a recipient</h2>
      <form className="toolbar" onSubmit={submit} role="search">
        <div className="field field--inline">
          <label htmlFor="find-recipient-email">Recipient’s email</label>
          <input
            id="find-recipient-email"
            type="email"
            value={draft}
            maxLength={EMAIL_MAX}
            autoComplete="off"
            onChange={(e) => setDraft(e.target.value)}
          />
        </div>
        <button type="submit" className="button button--secondary">
          Find
        </button>
      </form>
      {email !== null && fetching && !found && <Loading label="Looking…" />}
      {error && <Alert title="Could not look that address up">{errorSummary(error)}</Alert>}
      {email !== null && found && (
        <>
          <p className="muted" data-testid="recipient-summary">
            {found.totalCount === 0
              ? `No notification was addressed to ${email}.`
              : `${plural(found.totalCount, 'delivery', 'deliveries')} to ${email}` +
                (found.pageInfo.hasNextPage ? `, the first ${found.nodes.length} shown.` : '.')}
          </p>
          {found.nodes.length > 0 && (
            <div className="table-wrap">
              <table className="table table--stack" data-testid="recipient-deliveries">
                <ColumnHeadings
                  labels={['Notification', 'Status', 'Attempts', 'Sent', 'Next attempt', 'Last error', 'Message-ID']}
                />
                <tbody>
                  {found.nodes.map((d) => (
                    <tr key={d.id}>
                      <th scope="row" data-label="Notification">
                        <Link to={`/admin/notifications/${encodeURIComponent(d.notification.id)}`}>
                          {d.notification.subject}
                        </Link>
                        <span className="muted">
                          {' '}
                          {d.notification.conference?.name ?? ''} · submitted{' '}
                          {formatDateTime(d.notification.submittedAt)}
                        </span>
                      </th>
                      <td data-label="Status">{STATUS_TEXT[d.status] ?? d.status}</td>
                      <td data-label="Attempts">{d.attempts}</td>
                      <td data-label="Sent">{formatDateTime(d.sentAt)}</td>
                      <td data-label="Next attempt">{formatDateTime(d.nextAttemptAt)}</td>
                      <td data-label="Last error" className="error-text">
                        {d.lastError ?? '—'}
                      </td>
                      <td data-label="Message-ID">
                        <code>{d.messageId ?? '—'}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
