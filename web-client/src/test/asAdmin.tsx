// Renders a view inside a signed-in admin session, answering its operations from a mock
// client. The session checks the stored token with a real request, answered here.
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { Provider } from 'urql';
import { vi } from 'vitest';
import { SessionProvider } from '../auth/session';
import { TOKEN_KEY } from '../auth/token';
import type { mockClient } from './mockClient';

export function renderAsAdmin(client: ReturnType<typeof mockClient>, ui: ReactNode) {
  window.localStorage.setItem(TOKEN_KEY, JSON.stringify({ token: 'tok', expiresAt: Date.now() + 60_000 }));
  vi.stubGlobal(
    'fetch',
    vi.fn(
      async () =>
        new Response(JSON.stringify({ data: { viewer: { name: 'ops', role: 'ADMIN' } } }), {
          headers: { 'content-type': 'application/json' },
        }),
    ),
  );
  vi.stubGlobal('WebSocket', class { close() {} });
  return render(
    <SessionProvider>
      <Provider value={client}>{ui}</Provider>
    </SessionProvider>,
  );
}
