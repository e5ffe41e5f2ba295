import type { ReactNode } from 'react';
import { useSession } from './auth/session';
import { Alert, Loading, PageHeading } from './components/ui';
import { Landing } from './pages/Landing';
import { Register } from './pages/Register';
import { AdminHome } from './pages/admin/AdminHome';
import { AdminShell, ConferenceNav, type Section } from './pages/admin/AdminShell';
import { Attendees } from './pages/admin/Attendees';
import { Compose } from './pages/admin/Compose';
import { NotificationDetail } from './pages/admin/NotificationDetail';
import { Notifications } from './pages/admin/Notifications';
import { SignIn } from './pages/admin/SignIn';
import { Link, matchRoute, searchParam, useLocation } from './router';

export function App() {
  const location = useLocation();
  const admin = location === '/admin' || location.startsWith('/admin/') || location.startsWith('/admin?');
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <div className="site-header__inner">
          <Link to="/" className="brand">
            <span className="brand__mark" aria-hidden="true">
              T
            </span>
            TechConf
          </Link>
          <nav aria-label="Site">
            <Link to="/" aria-current={location === '/' ? 'page' : undefined}>
              Conferences
            </Link>
            <Link to="/admin" aria-current={admin ? 'page' : undefined}>
              Admin
            </Link>
          </nav>
        </div>
      </header>
      <main id="main" className="container">
        {admin ? <AdminRoutes location={location} /> : <PublicRoutes location={location} />}
      </main>
    </>
  );
}

function PublicRoutes({ location }: { location: string }) {
  if (matchRoute('/', location)) return <Landing />;
  const register = matchRoute('/register/:conferenceId', location);
  if (register?.conferenceId) return <Register key={register.conferenceId} conferenceId={register.conferenceId} />;
  return <NotFound />;
}

function AdminRoutes({ location }: { location: string }) {
  const { session, signOut, retry } = useSession();
  if (session.status === 'checking') return <Loading label="Checking your token…" />;
  if (session.status === 'unreachable') {
    return (
      <Alert title="Could not check your token">
        <p>{session.message}</p>
        <div className="actions">
          <button type="button" className="button" onClick={retry}>
            Try again
          </button>
          <button type="button" className="button button--secondary" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </Alert>
    );
  }
  if (session.status === 'signedOut') return <SignIn notice={session.notice} />;
  return (
    <AdminShell viewer={session.viewer}>
      <AdminPage location={location} />
    </AdminShell>
  );
}

function AdminPage({ location }: { location: string }) {
  if (matchRoute('/admin', location)) return <AdminHome />;
  const notification = matchRoute('/admin/notifications/:id', location);
  if (notification?.id) {
    return (
      <NotificationDetail
        key={notification.id}
        id={notification.id}
        justCreated={searchParam(location, 'created') === '1'}
      />
    );
  }
  const conference = matchRoute('/admin/conferences/:conferenceId/:section', location);
  const id = conference?.conferenceId;
  const section = conference?.section as Section | undefined;
  const pages: Record<Section, (conferenceId: string) => ReactNode> = {
    attendees: (c) => <Attendees key={c} conferenceId={c} />,
    // A copy or another draft is a new editor; the draft id it gets while typing is not.
    compose: (c) => (
      <Compose
        key={`${c}:${searchParam(location, 'from') ?? ''}`}
        conferenceId={c}
        draftId={searchParam(location, 'draft')}
        fromId={searchParam(location, 'from')}
      />
    ),
    notifications: (c) => <Notifications key={c} conferenceId={c} />,
  };
  if (id && section && section in pages) {
    return (
      <>
        <ConferenceNav conferenceId={id} section={section} />
        {pages[section](id)}
      </>
    );
  }
  return <NotFound />;
}

function NotFound() {
  return (
    <>
      <PageHeading>Page not found</PageHeading>
      <p>
        Nothing lives at this address. <Link to="/">See the conferences</Link>.
      </p>
    </>
  );
}
