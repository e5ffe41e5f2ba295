// The graphql-ws client for /graphql/ws, and a small store of its connection state for the
// indicator in the admin header. The token goes in the connection_init payload.
import { createClient, type Client as WsClient } from 'graphql-ws';

export type ConnectionState = 'off' | 'connecting' | 'connected' | 'reconnecting' | 'refused';

export interface ConnectionSnapshot {
  state: ConnectionState;
  /** Reconnection attempts since the last successful connection. */
  retries: number;
  /** Why the server refused or closed the connection, when it said. */
  reason?: string;
}

export interface ConnectionMonitor {
  get(): ConnectionSnapshot;
  set(next: ConnectionSnapshot): void;
  subscribe(listener: () => void): () => void;
}

export function createConnectionMonitor(initial: ConnectionSnapshot = { state: 'off', retries: 0 }): ConnectionMonitor {
  let current = initial;
  const listeners = new Set<() => void>();
  return {
    get: () => current,
    set(next) {
      if (next.state === current.state && next.retries === current.retries && next.reason === current.reason) return;
      current = next;
      for (const l of [...listeners]) l();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * Calls `callback` each time the connection comes back after a drop (not on the first
 * connection): whatever was pushed meanwhile was missed, so views fetch afresh.
 */
export function onReconnected(monitor: ConnectionMonitor, callback: () => void): () => void {
  let previous = monitor.get().state;
  return monitor.subscribe(() => {
    const state = monitor.get().state;
    if (state === 'connected' && previous === 'reconnecting') callback();
    previous = state;
  });
}

export function graphqlWsUrl(location: Pick<Location, 'protocol' | 'host'>): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql/ws`;
}

/** Backoff between reconnection attempts: 1 s, 2 s, 4 s, 8 s, then every 10 s, plus jitter. */
export function retryDelayMs(retries: number, random: () => number = Math.random): number {
  return Math.min(1000 * 2 ** retries, 10_000) + Math.floor(random() * 500);
}

// Close codes after which retrying cannot help: the server refused the connection_init
// (async-graphql closes with 1002 and the reason), or graphql-ws gave up for good.
const REFUSED_CODES = new Set([1002, 4400, 4401, 4403, 4406, 4409, 4429, 4500]);

interface CloseLike {
  code: number;
  reason: string;
}

function isCloseLike(value: unknown): value is CloseLike {
  return typeof value === 'object' && value !== null && 'code' in value && 'reason' in value;
}

const PING_INTERVAL_MS = 10_000;
const PONG_TIMEOUT_MS = 5_000;

/**
 * Connects eagerly (not lazily) so the indicator shows the state even before a view
 * subscribes, and reconnects forever with a capped backoff. A ping that gets no pong in
 * time closes the socket, which counts as a drop and is retried.
 */
export function createWsClient(token: string, monitor: ConnectionMonitor, url = graphqlWsUrl(window.location)): WsClient {
  let retries = 0;
  let socket: WebSocket | null = null;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;

  return createClient({
    url,
    lazy: false,
    connectionParams: () => ({ authorization: `Bearer ${token}` }),
    keepAlive: PING_INTERVAL_MS,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (n) => {
      retries = n + 1;
      monitor.set({ state: 'reconnecting', retries });
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(n)));
    },
    onNonLazyError: (error) => {
      const reason = isCloseLike(error) && error.reason ? error.reason : 'the connection was refused';
      monitor.set({ state: 'refused', retries, reason });
    },
    on: {
      connecting: (isRetry) => monitor.set({ state: isRetry ? 'reconnecting' : 'connecting', retries }),
      opened: (s) => {
        socket = s as WebSocket;
      },
      connected: () => {
        retries = 0;
        monitor.set({ state: 'connected', retries: 0 });
      },
      ping: (received) => {
        if (received) return;
        clearTimeout(pongTimer);
        pongTimer = setTimeout(() => {
          if (socket?.readyState === WebSocket.OPEN) socket.close(4408, 'Request Timeout');
        }, PONG_TIMEOUT_MS);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
      closed: (event) => {
        clearTimeout(pongTimer);
        socket = null;
        if (isCloseLike(event) && REFUSED_CODES.has(event.code)) {
          monitor.set({ state: 'refused', retries, reason: event.reason || `closed with code ${event.code}` });
        } else if (monitor.get().state !== 'refused') {
          monitor.set({ state: 'reconnecting', retries });
        }
      },
    },
  });
}
