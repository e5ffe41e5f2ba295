// A stand-in urql client for component tests: each operation answers from a function.
import { CombinedError, type Client, type OperationResult } from '@urql/core';
import { fromValue, map, never, pipe, type Source } from 'wonka';
import { vi } from 'vitest';

type Answer = (operationName: string, variables: Record<string, unknown>) => Partial<OperationResult> | undefined;

function operationName(request: { query: { definitions: readonly unknown[] } }): string {
  for (const d of request.query.definitions as { kind: string; name?: { value: string } }[]) {
    if (d.kind === 'OperationDefinition') return d.name?.value ?? '';
  }
  return '';
}

/** Subscriptions answer with a source, e.g. a wonka `makeSubject()` the test pushes events into. */
type Subscribe = (operationName: string, variables: Record<string, unknown>) => Source<Partial<OperationResult>> | undefined;

export function mockClient(answer: Answer, subscribe?: Subscribe) {
  const respond = (request: { query: { definitions: readonly unknown[] }; variables?: unknown }) => {
    const result = answer(operationName(request), (request.variables ?? {}) as Record<string, unknown>);
    return result ? fromValue({ stale: false, hasNext: false, ...result }) : never;
  };
  // `client.query(...).toPromise()`, for one-off queries outside hooks.
  const query = (document: { definitions: readonly unknown[] }, variables?: Record<string, unknown>) => ({
    toPromise: async () => ({
      stale: false,
      hasNext: false,
      ...answer(operationName({ query: document }), variables ?? {}),
    }),
  });
  return {
    executeQuery: vi.fn(respond),
    executeMutation: vi.fn(respond),
    executeSubscription: vi.fn((request: { query: { definitions: readonly unknown[] }; variables?: unknown }) => {
      const source = subscribe?.(operationName(request), (request.variables ?? {}) as Record<string, unknown>);
      return source ? pipe(source, map((result) => ({ stale: false, hasNext: true, ...result }))) : never;
    }),
    query: vi.fn(query),
    // `client.mutation(...).toPromise()`, e.g. the draft autosave.
    mutation: vi.fn(query),
  } as unknown as Client & {
    executeQuery: ReturnType<typeof vi.fn>;
    executeMutation: ReturnType<typeof vi.fn>;
    executeSubscription: ReturnType<typeof vi.fn>;
    query: ReturnType<typeof vi.fn>;
    mutation: ReturnType<typeof vi.fn>;
  };
}

export function graphQLError(message: string, extensions: Record<string, unknown>): CombinedError {
  return new CombinedError({ graphQLErrors: [{ message, extensions }] });
}
