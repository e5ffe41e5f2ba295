import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SignIn } from '../pages/admin/SignIn';
import { SessionProvider, useSession } from './session';
import { TOKEN_KEY } from './token';

function Probe() {
  const { session } = useSession();
  return <p data-testid="session">{session.status === 'signedIn' ? `in:${session.viewer.name}` : session.status}</p>;
}

function respond(body: unknown) {
  return vi.fn(async () => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } }));
}

describe('admin sign-in', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('checks the token with the viewer query and keeps it in localStorage, shared by every tab', async () => {
    const fetch = respond({ data: { viewer: { name: 'ops', role: 'ADMIN' } } });
    vi.stubGlobal('fetch', fetch);
    // No WebSocket in this test: the client would connect once signed in.
    vi.stubGlobal('WebSocket', class { close() {} });
    render(
      <SessionProvider>
        <SignIn />
        <Probe />
      </SessionProvider>,
    );
    fireEvent.change(screen.getByLabelText('API token'), { target: { value: ' tok-123 ' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(screen.getByTestId('session').textContent).toBe('in:ops'));
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/graphql');
    expect(init.method).toBe('POST');
    expect(new Headers(init.headers).get('authorization')).toBe('Bearer tok-123');
    expect(JSON.parse(window.localStorage.getItem(TOKEN_KEY) ?? '{}').token).toBe('tok-123');
    expect(window.location.href).not.toContain('tok-123');
  });

  it('refuses a token the server does not accept and stores nothing', async () => {
    vi.stubGlobal(
      'fetch',
      respond({ data: null, errors: [{ message: 'the API token is invalid', extensions: { code: 'UNAUTHENTICATED' } }] }),
    );
    render(
      <SessionProvider>
        <SignIn />
        <Probe />
      </SessionProvider>,
    );
    fireEvent.change(screen.getByLabelText('API token'), { target: { value: 'wrong' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await screen.findByText(/not accepted/);
    expect(screen.getByTestId('session').textContent).toBe('signedOut');
    expect(window.localStorage.getItem(TOKEN_KEY)).toBeNull();
  });
});
