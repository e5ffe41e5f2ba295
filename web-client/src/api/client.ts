// The urql client: queries and mutations over HTTP POST, subscriptions over graphql-ws.
import {
  Client,
  cacheExchange,
  fetchExchange,
  mapExchange,
  subscriptionExchange,
  type Exchange,
} from '@urql/core';
import type { Client as WsClient } from 'graphql-ws';
import { authorizationHeader } from '../auth/token';
import { apiErrors } from './errors';

export interface ApiClientOptions {
  token: string | null;
  /** Present once signed in: the server only accepts subscriptions with a token. */
  ws?: WsClient | null;
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
    fetchExchange,
  ];
  if (ws) {
    exchanges.push(
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
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
