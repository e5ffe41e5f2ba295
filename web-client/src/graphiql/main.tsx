// GraphiQL on GET /graphql, built by Vite from pinned npm packages: no CDN, nothing loaded
// from another origin, no inline script (the server's Content-Security-Policy forbids both).
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/style.css';
import './a11y.css';
import { improveAccessibility } from './a11y';

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;

const fetcher = createGraphiQLFetcher({
  url: '/graphql',
  // For subscriptions the toolkit opens a graphql-ws client per operation, with the headers
  // editor's content (`{"Authorization": "Bearer …"}`) as the `connection_init` payload,
  // which is where the server looks for the token.
  subscriptionUrl: wsUrl,
});

const root = document.getElementById('graphiql');
if (root) {
  improveAccessibility(root);
  createRoot(root).render(
    <StrictMode>
      <GraphiQL fetcher={fetcher} defaultEditorToolsVisibility="headers" />
    </StrictMode>,
  );
}
