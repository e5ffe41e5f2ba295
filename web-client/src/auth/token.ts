// The admin API token lives in sessionStorage: it survives a reload, not the closing of the
// tab, and never appears in a URL. Storage can be unavailable (privacy modes), so every
// access is guarded and the app then keeps the token in memory only.

export const TOKEN_KEY = 'techconf.adminToken';

let memoryFallback: string | null = null;

function storage(): Storage | null {
  try {
    return typeof window !== 'undefined' ? window.sessionStorage : null;
  } catch {
    return null;
  }
}

export function loadToken(): string | null {
  const s = storage();
  try {
    const value = (s ? s.getItem(TOKEN_KEY) : null) ?? memoryFallback;
    return value && value.trim() !== '' ? value : null;
  } catch {
    return memoryFallback;
  }
}

export function saveToken(token: string): void {
  const value = token.trim();
  memoryFallback = value;
  try {
    storage()?.setItem(TOKEN_KEY, value);
  } catch {
    // Kept in memory only.
  }
}

export function clearToken(): void {
  memoryFallback = null;
  try {
    storage()?.removeItem(TOKEN_KEY);
  } catch {
    // Nothing stored.
  }
}

/** The value of an Authorization header, or nothing for public requests. */
export function authorizationHeader(token: string | null): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}
