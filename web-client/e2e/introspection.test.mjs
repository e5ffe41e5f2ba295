// Standard introspection passes the server's request limits: graphql-js's
// `getIntrospectionQuery()` (plain, and with the options GraphiQL asks for) against a served
// `techconf serve` gives back exactly the schema in schema.graphql.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildClientSchema,
  buildSchema,
  GraphQLSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';
import { repoRoot, startServer } from './harness.mjs';

/** The schema printed in one canonical form: sorted, so only content counts. */
const normalised = (schema) => printSchema(lexicographicSortSchema(schema));

describe('introspection', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  const introspect = async (options) => {
    const response = await fetch(`${server.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: getIntrospectionQuery(options), operationName: 'IntrospectionQuery' }),
    });
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
  };

  const committed = normalised(buildSchema(readFileSync(join(repoRoot, 'schema.graphql'), 'utf8')));

  it('getIntrospectionQuery() rebuilds the committed schema', async () => {
    const schema = buildClientSchema(await introspect());
    assert.equal(normalised(schema), committed);
  });

  it('the richest introspection query (every option GraphiQL may ask for) passes too', async () => {
    const data = await introspect({
      descriptions: true,
      inputValueDeprecation: true,
      schemaDescription: true,
      directiveIsRepeatable: true,
      specifiedByUrl: true,
      oneOf: true,
    });
    // async-graphql answers `__schema { description }` with graphql-js's stock sentence and
    // gives DateTime a `specifiedByURL`, neither of which its SDL prints: compare without.
    const schema = buildClientSchema(data);
    const printed = normalised(new GraphQLSchema({ ...schema.toConfig(), description: undefined }));
    assert.equal(printed.replace(/ @specifiedBy\(url: "[^"]*"\)/g, ''), committed);
  });

  it('a deeply nested introspection is refused with a typed error', async () => {
    const response = await fetch(`${server.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }',
      }),
    });
    const body = await response.json();
    assert.equal(body.errors?.[0]?.extensions?.code, 'LIMIT_EXCEEDED', JSON.stringify(body));
    assert.equal(body.errors[0].extensions.limit, 'introspectionDepth');
  });
});
