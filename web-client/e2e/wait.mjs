// Waiting on conditions rather than for fixed times.
import { createServer } from 'node:net';

/**
 * Resolves with the first truthy value of `check()`, tried every `intervalMs`; rejects
 * after `timeoutMs`, naming `what` (a string or a function giving the current state).
 * For conditions only observable by looking (another process's files, a port).
 */
export async function waitFor(check, { timeoutMs = 15_000, intervalMs = 50, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}
