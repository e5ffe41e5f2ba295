// GraphiQL on GET /graphql, built by Vite from pinned npm packages: no CDN, nothing loaded
// from another origin, no inline script (the server's Content-Security-Policy forbids both).
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { createClient } from 'graphql-ws';
import 'graphiql/style.css';

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;

const fetcher = createGraphiQLFetcher({
  url: '/graphql',
  // Subscriptions need a token: GraphiQL's headers editor sends it as `Authorization`, and
  // graphql-ws passes the same headers in its `connection_init` payload.
  wsClient: createClient({ url: wsUrl, lazy: true }),
});

const root = document.getElementById('graphiql');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <GraphiQL fetcher={fetcher} defaultEditorToolsVisibility="headers" />
    </StrictMode>,
  );
}
