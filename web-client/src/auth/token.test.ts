import { afterEach, describe, expect, it, vi } from 'vitest';
import { SESSION_MS, TOKEN_KEY, authorizationHeader, clearToken, loadToken, parseStored, saveToken } from './token';

describe('token storage', () => {
  afterEach(() => clearToken());

  it('keeps the token in localStorage, shared by every tab, trimmed, with an expiry', () => {
    saveToken('  secret-token-123  ', 1_000);
    const stored = JSON.parse(window.localStorage.getItem(TOKEN_KEY) ?? '{}');
    expect(stored).toEqual({ token: 'secret-token-123', expiresAt: 1_000 + SESSION_MS });
    expect(window.sessionStorage.length).toBe(0);
  });

  it('forgets an expired session', () => {
    saveToken('secret-token-123', Date.now() - SESSION_MS - 1);
    expect(loadToken()).toBeNull();
    expect(window.localStorage.getItem(TOKEN_KEY)).toBeNull();
    saveToken('secret-token-123');
    expect(loadToken()).toBe('secret-token-123');
  });

  it('forgets the token on sign-out', () => {
    saveToken('secret-token-123');
    clearToken();
    expect(loadToken()).toBeNull();
    expect(window.localStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('treats a blank or malformed stored value as no token', () => {
    expect(parseStored(JSON.stringify({ token: '  ', expiresAt: Date.now() + 1000 }))).toBeNull();
    expect(parseStored('not json')).toBeNull();
    expect(parseStored(JSON.stringify({ token: 'x' }))).toBeNull();
    window.localStorage.setItem(TOKEN_KEY, 'garbage');
    expect(loadToken()).toBeNull();
  });

  it('falls back to memory when storage refuses writes', () => {
    const setItem = vi.spyOn(Storage.prototype, 'setItem').mockImplementation(() => {
      throw new DOMException('quota', 'QuotaExceededError');
    });
    saveToken('memory-only-token');
    expect(setItem).toHaveBeenCalled();
    const getItem = vi.spyOn(Storage.prototype, 'getItem').mockImplementation(() => {
      throw new DOMException('denied', 'SecurityError');
    });
    expect(loadToken()).toBe('memory-only-token');
    getItem.mockRestore();
    setItem.mockRestore();
  });

  it('builds the Authorization header only when there is a token', () => {
    expect(authorizationHeader('abc')).toEqual({ authorization: 'Bearer abc' });
    expect(authorizationHeader(null)).toEqual({});
  });
});
