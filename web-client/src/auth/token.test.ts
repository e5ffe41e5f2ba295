import { afterEach, describe, expect, it, vi } from 'vitest';
import { TOKEN_KEY, authorizationHeader, clearToken, loadToken, saveToken } from './token';

describe('token storage', () => {
  afterEach(() => clearToken());

  it('keeps the token in sessionStorage, trimmed, and never in localStorage', () => {
    saveToken('  secret-token-123  ');
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBe('secret-token-123');
    expect(window.localStorage.length).toBe(0);
    expect(loadToken()).toBe('secret-token-123');
  });

  it('forgets the token on sign-out', () => {
    saveToken('secret-token-123');
    clearToken();
    expect(loadToken()).toBeNull();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('treats a blank stored value as no token', () => {
    window.sessionStorage.setItem(TOKEN_KEY, '  ');
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
  });

  it('builds the Authorization header only when there is a token', () => {
    expect(authorizationHeader('abc')).toEqual({ authorization: 'Bearer abc' });
    expect(authorizationHeader(null)).toEqual({});
  });
});
