// The admin API token lives in localStorage with an expiry, so every tab of the console
// shares one session: a link opened in a new tab is signed in, and signing out in one tab
// signs out all of them (see the `storage` listener in session.tsx). It never appears in a
// URL. Storage can be unavailable (privacy modes), so every access is guarded and the app
// then keeps the token in memory only, for this tab.

export const TOKEN_KEY = 'techconf.adminToken';
/** How long a sign-in lasts without signing in again. */
export const SESSION_MS = 12 * 60 * 60 * 1000;

interface Stored {
  token: string;
  expiresAt: number;
}

let memoryFallback: Stored | null = null;

function storage(): Storage | null {
  try {
    return typeof window !== 'undefined' ? window.localStorage : null;
  } catch {
    return null;
  }
}

/** Reads a stored value; anything malformed, blank or expired is no token. */
export function parseStored(raw: string | null, now = Date.now()): Stored | null {
  if (!raw) return null;
  try {
    const value = JSON.parse(raw) as Partial<Stored>;
    if (typeof value.token !== 'string' || value.token.trim() === '' || typeof value.expiresAt !== 'number') return null;
    return value.expiresAt > now ? { token: value.token, expiresAt: value.expiresAt } : null;
  } catch {
    return null;
  }
}

/** Set when storage refused the last write: this tab then keeps its session in memory. */
let memoryOnly = false;

function load(): Stored | null {
  const fromMemory = () => (memoryFallback && memoryFallback.expiresAt > Date.now() ? memoryFallback : null);
  const s = storage();
  if (!s || memoryOnly) return fromMemory();
  try {
    const raw = s.getItem(TOKEN_KEY);
    const stored = parseStored(raw);
    if (raw !== null && !stored) s.removeItem(TOKEN_KEY);
    // Storage is the truth: another tab may have signed out.
    return stored;
  } catch {
    return fromMemory();
  }
}

export function loadToken(): string | null {
  return load()?.token ?? null;
}

/** When the stored session ends (ms since the epoch), or null without one. */
export function tokenExpiry(): number | null {
  return load()?.expiresAt ?? null;
}

export function saveToken(token: string, now = Date.now()): void {
  const value: Stored = { token: token.trim(), expiresAt: now + SESSION_MS };
  memoryFallback = value;
  try {
    storage()?.setItem(TOKEN_KEY, JSON.stringify(value));
    memoryOnly = false;
  } catch {
    memoryOnly = true;
  }
}

export function clearToken(): void {
  memoryFallback = null;
  memoryOnly = false;
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
