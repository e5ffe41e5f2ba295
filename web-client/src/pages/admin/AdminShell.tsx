import type { ReactNode } from 'react';
import { useQuery } from 'urql';
import { ConferencesQuery } from '../../api/operations';
import { useConnectionState, useSession, type Viewer } from '../../auth/session';
import { ConnectionIndicator } from '../../components/ui';
import { Link, navigate } from '../../router';

export type Section = 'attendees' | 'compose' | 'notifications';

const sections: { id: Section; label: string }[] = [
  { id: 'attendees', label: 'Attendees' },
  { id: 'compose', label: 'Compose' },
  { id: 'notifications', label: 'Notifications' },
];

export function conferencePath(conferenceId: string, section: Section): string {
  return `/admin/conferences/${encodeURIComponent(conferenceId)}/${section}`;
}

/** The signed-in frame: who is signed in, the live connection, sign-out. */
export function AdminShell({ viewer, children }: { viewer: Viewer; children: ReactNode }) {
  const { signOut } = useSession();
  const connection = useConnectionState();
  return (
    <div className="admin">
      <div className="admin-bar">
        <Link to="/admin" className="admin-bar__home">
          Admin console
        </Link>
        <div className="admin-bar__right">
          <a href="/graphql" target="_blank" rel="noopener" className="admin-bar__graphiql">
            GraphiQL<span className="visually-hidden"> (API explorer, opens in a new tab)</span>
          </a>
          <ConnectionIndicator snapshot={connection} />
          <span className="admin-bar__viewer" data-testid="viewer">
            {viewer.name}
            <span className="muted"> · {viewer.role === 'ADMIN' ? 'admin' : 'read-only'}</span>
          </span>
          <button type="button" className="button button--secondary button--small" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </div>
      {children}
    </div>
  );
}

/** The conference picker and the section tabs for one conference. */
export function ConferenceNav({ conferenceId, section }: { conferenceId: string; section: Section | null }) {
  const [{ data }] = useQuery({ query: ConferencesQuery });
  const conferences = data?.conferences.nodes ?? [];
  const known = conferences.some((c) => c.id === conferenceId);
  return (
    <div className="conference-nav">
      <div className="conference-nav__picker">
        <label htmlFor="conference-picker">Conference</label>
        <select
          id="conference-picker"
          value={conferenceId}
          onChange={(e) => navigate(conferencePath(e.target.value, section ?? 'attendees'))}
        >
          {!known && <option value={conferenceId}>{data ? 'Unknown conference' : 'Loading…'}</option>}
          {conferences.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
              {c.active ? '' : ' (closed)'}
            </option>
          ))}
        </select>
      </div>
      <nav aria-label="Conference sections" className="tabs">
        {sections.map((s) => (
          <Link
            key={s.id}
            to={conferencePath(conferenceId, s.id)}
            className="tabs__tab"
            aria-current={s.id === section ? 'page' : undefined}
          >
            {s.label}
          </Link>
        ))}
      </nav>
    </div>
  );
}
