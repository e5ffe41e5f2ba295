// The urql client: queries and mutations over HTTP POST, subscriptions over graphql-ws.
import {
  Client,
  cacheExchange,
  fetchExchange,
  mapExchange,
  subscriptionExchange,
  type Exchange,
} from '@urql/core';
import { retryExchange } from '@urql/exchange-retry';
import type { Client as WsClient } from 'graphql-ws';
import { authorizationHeader } from '../auth/token';
import { apiErrors } from './errors';

/**
 * Holds the graphql-ws client, which is made (and disposed) by the session outside render,
 * so that the urql client depends on the token alone. Subscriptions that start before it
 * exists wait for it.
 */
export interface WsHolder {
  set(ws: WsClient | null): void;
  whenReady(callback: (ws: WsClient) => void): () => void;
}

export function createWsHolder(): WsHolder {
  let current: WsClient | null = null;
  const waiting = new Set<(ws: WsClient) => void>();
  return {
    set(ws) {
      current = ws;
      if (ws) {
        for (const callback of [...waiting]) callback(ws);
        waiting.clear();
      }
    },
    whenReady(callback) {
      if (current) {
        callback(current);
        return () => {};
      }
      waiting.add(callback);
      return () => waiting.delete(callback);
    },
  };
}

/** Tries of a query that cannot reach the server: about two seconds in all. */
export const QUERY_ATTEMPTS = 3;

export interface ApiClientOptions {
  token: string | null;
  /** Present once signed in: the server only accepts subscriptions with a token. */
  ws?: WsHolder | null;
  /** Called when the server refuses the token (revoked, or the server restarted with another). */
  onUnauthenticated?: () => void;
  url?: string;
}

export function createApiClient({ token, ws, onUnauthenticated, url = '/graphql' }: ApiClientOptions): Client {
  const exchanges: Exchange[] = [
    mapExchange({
      onError(error) {
        if (token && apiErrors(error).some((e) => e.code === 'UNAUTHENTICATED')) onUnauthenticated?.();
      },
    }),
    cacheExchange,
    // Queries that could not reach the server are tried again (a restart, a flaky network),
    // briefly: a view says the server is away within a few seconds, keeps what it showed,
    // and offers Retry. Mutations are not retried, since the first attempt may have been applied.
    retryExchange({
      initialDelayMs: 500,
      maxDelayMs: 1500,
      maxNumberAttempts: QUERY_ATTEMPTS,
      retryIf: (error, operation) => Boolean(error.networkError) && operation.kind === 'query',
    }),
    fetchExchange,
  ];
  if (ws) {
    exchanges.push(
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' };
          return {
            subscribe(sink) {
              let unsubscribe: (() => void) | null = null;
              const cancelWait = ws.whenReady((client) => {
                unsubscribe = client.subscribe(input, sink);
              });
              return {
                unsubscribe() {
                  cancelWait();
                  unsubscribe?.();
                },
              };
            },
          };
        },
      }),
    );
  }
  return new Client({
    url,
    exchanges,
    // GET /graphql serves GraphiQL, so every operation is a POST.
    preferGetMethod: false,
    fetchOptions: () => ({ headers: authorizationHeader(token) }),
  });
}
