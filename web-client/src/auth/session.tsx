// The admin session: the token, the viewer it belongs to, and the urql client and
// graphql-ws connection built from it. Public pages use the same client.
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from 'react';
import { Provider as UrqlProvider } from 'urql';
import { createApiClient, createWsHolder } from '../api/client';
import { apiErrors } from '../api/errors';
import { ViewerQuery } from '../api/operations';
import { createConnectionMonitor, createWsClient, type ConnectionMonitor, type ConnectionSnapshot } from '../api/ws';
import type { Role } from '../gql/graphql';
import { TOKEN_KEY, clearToken, loadToken, saveToken, tokenExpiry } from './token';

export interface Viewer {
  name: string;
  role: Role;
}

export type SessionState =
  | { status: 'signedOut'; notice?: string }
  | { status: 'checking'; token: string }
  | { status: 'signedIn'; token: string; viewer: Viewer }
  | { status: 'unreachable'; token: string; message: string };

interface SessionContextValue {
  session: SessionState;
  /** Checks the token with the `viewer` query; resolves to an error message, or null when signed in. */
  signIn(token: string): Promise<string | null>;
  signOut(notice?: string): void;
  retry(): void;
  connection: ConnectionMonitor;
}

const SessionContext = createContext<SessionContextValue | null>(null);

const OFF_MONITOR = createConnectionMonitor();

/** The live connection's monitor, apart from the session so that views can be tested with one of their own. */
export const ConnectionContext = createContext<ConnectionMonitor>(OFF_MONITOR);

/** Asks the server who a token belongs to. */
export async function checkToken(token: string): Promise<{ viewer: Viewer } | { error: string; refused: boolean }> {
  const client = createApiClient({ token });
  const result = await client.query(ViewerQuery, {}, { requestPolicy: 'network-only' }).toPromise();
  if (result.data?.viewer) return { viewer: result.data.viewer };
  const errors = apiErrors(result.error);
  if (errors.some((e) => e.code === 'UNAUTHENTICATED')) {
    return { error: 'That token was not accepted. Check it and try again.', refused: true };
  }
  return { error: errors[0]?.message ?? 'Could not check the token.', refused: false };
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<SessionState>(() => {
    const token = loadToken();
    return token ? { status: 'checking', token } : { status: 'signedOut' };
  });

  const signOut = useCallback((notice?: string) => {
    clearToken();
    setSession(notice ? { status: 'signedOut', notice } : { status: 'signedOut' });
  }, []);

  const verify = useCallback(
    async (token: string) => {
      const outcome = await checkToken(token);
      if ('viewer' in outcome) {
        saveToken(token);
        setSession({ status: 'signedIn', token, viewer: outcome.viewer });
        return null;
      }
      if (outcome.refused) {
        clearToken();
        setSession({ status: 'signedOut' });
      } else {
        setSession({ status: 'unreachable', token, message: outcome.error });
      }
      return outcome.error;
    },
    [],
  );

  // One session for every tab: a sign-in or sign-out in another tab reaches this one through
  // the `storage` event, and the session ends by itself when it expires.
  useEffect(() => {
    const onStorage = (event: StorageEvent) => {
      if (event.key !== TOKEN_KEY && event.key !== null) return;
      const token = loadToken();
      setSession((current) => {
        if (!token) {
          return current.status === 'signedOut' ? current : { status: 'signedOut', notice: 'You signed out in another tab.' };
        }
        if (current.status !== 'signedOut' && current.token === token) return current;
        return { status: 'checking', token };
      });
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);
  const signedInToken = session.status === 'signedIn' ? session.token : null;
  useEffect(() => {
    if (!signedInToken) return;
    const expiry = tokenExpiry();
    if (expiry === null) return;
    const id = setTimeout(() => signOut('Your session has ended. Sign in again.'), Math.max(0, expiry - Date.now()));
    return () => clearTimeout(id);
  }, [signedInToken, signOut]);

  // A token restored from storage is checked again before it is used.
  const checkingToken = session.status === 'checking' ? session.token : null;
  useEffect(() => {
    if (checkingToken) void verify(checkingToken);
  }, [checkingToken, verify]);

  const token = session.status === 'signedIn' ? session.token : null;

  // The WebSocket exists only while signed in: the server refuses anonymous connections.
  // It is made in an effect (not during render) so that it is disposed exactly once; the
  // urql client, made per token, reaches it through a holder.
  const wsHolder = useMemo(() => (token ? createWsHolder() : null), [token]);
  const [monitor, setMonitor] = useState<ConnectionMonitor>(OFF_MONITOR);
  useEffect(() => {
    if (!token || !wsHolder) return;
    const next = createConnectionMonitor({ state: 'connecting', retries: 0 });
    const ws = createWsClient(token, next);
    wsHolder.set(ws);
    setMonitor(next);
    return () => {
      wsHolder.set(null);
      void ws.dispose();
      next.set({ state: 'off', retries: 0 });
      setMonitor(OFF_MONITOR);
    };
  }, [token, wsHolder]);

  const client = useMemo(
    () =>
      createApiClient({
        token,
        ws: wsHolder,
        onUnauthenticated: () => signOut('The server no longer accepts your token. Sign in again.'),
      }),
    [token, wsHolder, signOut],
  );

  const value = useMemo<SessionContextValue>(
    () => ({
      session,
      signIn: verify,
      signOut,
      retry: () => {
        if (session.status === 'unreachable') setSession({ status: 'checking', token: session.token });
      },
      connection: monitor,
    }),
    [session, verify, signOut, monitor],
  );

  return (
    <SessionContext.Provider value={value}>
      <ConnectionContext.Provider value={monitor}>
        <UrqlProvider value={client}>{children}</UrqlProvider>
      </ConnectionContext.Provider>
    </SessionContext.Provider>
  );
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

/** The signed-in admin's token, for requests made outside urql (CSV downloads); null elsewhere. */
export function useToken(): string | null {
  const value = useContext(SessionContext);
  return value?.session.status === 'signedIn' ? value.session.token : null;
}

/** The signed-in viewer; null outside a session or before sign-in. */
export function useViewer(): Viewer | null {
  const value = useContext(SessionContext);
  return value?.session.status === 'signedIn' ? value.session.viewer : null;
}

/** The live connection's monitor; outside a session (public pages) one that stays off. */
export function useConnectionMonitor(): ConnectionMonitor {
  return useContext(ConnectionContext);
}

export function useConnectionState(): ConnectionSnapshot {
  const connection = useConnectionMonitor();
  return useSyncExternalStore(connection.subscribe, connection.get, connection.get);
}
