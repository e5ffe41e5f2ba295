import { useQuery } from 'urql';
import { errorSummary } from '../api/errors';
import { ANONYMOUS, PublicConferencesQuery } from '../api/operations';
import { Alert, Loading, PageHeading } from '../components/ui';
import { usePageTitle } from '../hooks/common';
import { formatDate, formatPrice } from '../lib/format';
import { Link } from '../router';

export function Landing() {
  usePageTitle('');
  const [{ data, fetching, error }] = useQuery({ query: PublicConferencesQuery, context: ANONYMOUS });
  const active = data?.conferences.nodes.filter((c) => c.active) ?? [];
  return (
    <>
      <PageHeading subtitle="Pick a conference to register for.">Conferences</PageHeading>
      {fetching && !data && <Loading />}
      {error && <Alert title="Could not load the conferences">{errorSummary(error)}</Alert>}
      {data && active.length === 0 && <p>No conference is open for registration right now.</p>}
      <ul className="conference-list">
        {active.map((c) => (
          <li key={c.id} className="card conference-card">
            <h2>{c.name}</h2>
            <p className="conference-card__meta">
              <span>{formatDate(c.startsOn)}</span>
              <span>{c.address}</span>
              <span>Ticket {formatPrice(c.price, c.currency)}</span>
            </p>
            <Link to={`/register/${encodeURIComponent(c.id)}`} className="button">
              Register<span className="visually-hidden"> for {c.name}</span>
            </Link>
          </li>
        ))}
      </ul>
    </>
  );
}
