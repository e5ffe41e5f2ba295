// CSV downloads: plain HTTP GETs with the admin token in the Authorization header (never in
// the URL), saved through an object URL so the browser names the file.
import { authorizationHeader } from '../auth/token';

export class DownloadError extends Error {}

/** Fetches `path` with the token and hands the body to the browser as a file. */
export async function downloadFile(path: string, token: string | null, filename: string, timeoutMs = 60_000): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response: Response;
  try {
    response = await fetch(path, { headers: authorizationHeader(token), signal: controller.signal });
  } catch {
    throw new DownloadError('Could not reach the server. Check your connection and try again.');
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    try {
      const body = (await response.json()) as { error?: string };
      if (body.error) message = body.error;
    } catch {
      // Not JSON: keep the status.
    }
    throw new DownloadError(message);
  }
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A query string from the non-empty values of `params`. */
export function queryString(params: Record<string, string | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v && v.trim() !== '') q.set(k, v.trim());
  return q.toString();
}
