// The admin's first page: every conference, with its sections, and (for admin tokens)
// creating, editing, closing and reopening conferences.
import { useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { errorSummary } from '../../api/errors';
import { ConferencesQuery, SetConferenceActiveMutation } from '../../api/operations';
import { useViewer } from '../../auth/session';
import { Alert, Loading, PageHeading } from '../../components/ui';
import { usePageTitle } from '../../hooks/common';
import { formatDate, formatPrice } from '../../lib/format';
import { Link } from '../../router';
import { conferencePath } from './AdminShell';
import { ConferenceForm } from './ConferenceForm';
import { FindRecipient } from './FindRecipient';

export function AdminHome() {
  usePageTitle('Admin');
  const [{ data, fetching, error }, refetch] = useQuery({ query: ConferencesQuery });
  const viewer = useViewer();
  const isAdmin = viewer === null || viewer.role === 'ADMIN';
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [, setActive] = useMutation(SetConferenceActiveMutation);
  const reload = () => refetch({ requestPolicy: 'network-only' });

  const toggle = async (id: string, name: string, active: boolean) => {
    setNotice(null);
    setActionError(null);
    const response = await setActive({ id, active });
    if (response.data) {
      setNotice(active ? `Registration for ${name} is open again.` : `Registration for ${name} is closed.`);
      reload();
    }
    else setActionError(errorSummary(response.error));
  };

  const done = (message: string) => (saved: boolean) => {
    if (saved) {
      setNotice(message);
      reload();
    }
    setEditing(null);
  };

  return (
    <>
      <PageHeading subtitle="Choose a conference to see its attendees and notifications.">Conferences</PageHeading>
      {fetching && !data && <Loading />}
      {error && (
        <Alert title="Could not load the conferences">
          {errorSummary(error)}{' '}
          <button type="button" className="button button--secondary button--small" onClick={reload}>
            Retry
          </button>
        </Alert>
      )}
      {notice && (
        <Alert kind="success">
          <span data-testid="conference-notice">{notice}</span>
        </Alert>
      )}
      {actionError && <Alert title="That did not work">{actionError}</Alert>}
      {isAdmin &&
        (editing === 'new' ? (
          <ConferenceForm onDone={done('Conference created.')} />
        ) : (
          <p>
            <button type="button" className="button button--primary" onClick={() => setEditing('new')}>
              New conference
            </button>
          </p>
        ))}
      {data && data.conferences.nodes.length === 0 && (
        <p>
          No conferences yet. Create one above, or load the demo with <code>techconf seed</code>.
        </p>
      )}
      <ul className="conference-list">
        {data?.conferences.nodes.map((c) =>
          editing === c.id ? (
            <li key={c.id}>
              <ConferenceForm conference={c} onDone={done(`Saved ${c.name}.`)} />
            </li>
          ) : (
            <li key={c.id} className="card conference-card">
              <h2>
                <Link to={conferencePath(c.id, 'attendees')}>{c.name}</Link>
              </h2>
              <p className="conference-card__meta">
                <span>{formatDate(c.startsOn)}</span>
                <span>{formatPrice(c.price, c.currency)}</span>
                <span>
                  {c.address}
                  {c.region ? `, ${c.region}` : ''}
                </span>
                <span>{c.active ? 'Registration open' : 'Registration closed'}</span>
              </p>
              <p className="link-row">
                <Link to={conferencePath(c.id, 'attendees')}>Attendees</Link>
                <Link to={conferencePath(c.id, 'compose')}>Compose</Link>
                <Link to={conferencePath(c.id, 'notifications')}>Notifications</Link>
                <Link to={`/register/${encodeURIComponent(c.id)}`}>Registration page</Link>
              </p>
              {isAdmin && (
                <p className="actions">
                  <button
                    type="button"
                    className="button button--secondary button--small"
                    aria-label={`Edit ${c.name}`}
                    onClick={() => {
                      setNotice(null);
                      setEditing(c.id);
                    }}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    className="button button--secondary button--small"
                    onClick={() => toggle(c.id, c.name, !c.active)}
                  >
                    {c.active ? `Close registration` : `Reopen registration`}
                    <span className="visually-hidden"> for {c.name}</span>
                  </button>
                </p>
              )}
            </li>
          ),
        )}
      </ul>
      <FindRecipient />
    </>
  );
}
