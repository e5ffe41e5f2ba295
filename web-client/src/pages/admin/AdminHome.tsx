import { useQuery } from 'urql';
import { errorSummary } from '../../api/errors';
import { ConferencesQuery } from '../../api/operations';
import { Alert, Loading, PageHeading } from '../../components/ui';
import { usePageTitle } from '../../hooks/common';
import { formatDate } from '../../lib/format';
import { Link } from '../../router';
import { conferencePath } from './AdminShell';

export function AdminHome() {
  usePageTitle('Admin');
  const [{ data, fetching, error }] = useQuery({ query: ConferencesQuery });
  return (
    <>
      <PageHeading subtitle="Choose a conference to see its attendees and notifications.">Conferences</PageHeading>
      {fetching && !data && <Loading />}
      {error && <Alert>{errorSummary(error)}</Alert>}
      {data && data.conferences.nodes.length === 0 && (
        <p>
          No conferences yet. Create one with the <code>createConference</code> mutation, or load the demo with{' '}
          <code>techconf seed</code>.
        </p>
      )}
      <ul className="conference-list">
        {data?.conferences.nodes.map((c) => (
          <li key={c.id} className="card conference-card">
            <h2>
              <Link to={conferencePath(c.id, 'attendees')}>{c.name}</Link>
            </h2>
            <p className="conference-card__meta">
              <span>{formatDate(c.startsOn)}</span>
              <span>{c.active ? 'Registration open' : 'Registration closed'}</span>
            </p>
            <p className="link-row">
              <Link to={conferencePath(c.id, 'attendees')}>Attendees</Link>
              <Link to={conferencePath(c.id, 'compose')}>Compose</Link>
              <Link to={conferencePath(c.id, 'notifications')}>Notifications</Link>
              <Link to={`/register/${encodeURIComponent(c.id)}`}>Registration page</Link>
            </p>
          </li>
        ))}
      </ul>
    </>
  );
}
