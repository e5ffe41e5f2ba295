import { CombinedError } from '@urql/core';
import { describe, expect, it } from 'vitest';
import { graphQLError } from '../test/mockClient';
import { apiErrors, errorSummary, formErrors, hasCode, stripFieldPrefix } from './errors';

const fields = ['firstName', 'email', 'subject', 'message'] as const;

describe('error mapping', () => {
  it('puts a VALIDATION error next to the field the server names, without the prefix', () => {
    const error = graphQLError('email: is not a valid email address', { code: 'VALIDATION', field: 'email' });
    expect(formErrors(error, fields)).toEqual({ fields: { email: 'Is not a valid email address' }, general: [] });
  });

  it('puts a duplicate-email CONFLICT next to the email field', () => {
    const error = graphQLError('ada@example.org is already registered for TechConf', { code: 'CONFLICT' });
    const mapped = formErrors(error, fields, { conflictField: 'email' });
    expect(mapped.fields.email).toBe('ada@example.org is already registered for TechConf');
    expect(mapped.general).toEqual([]);
  });

  it('keeps errors for unknown fields and other codes general', () => {
    const error = new CombinedError({
      graphQLErrors: [
        { message: 'conference not found', extensions: { code: 'NOT_FOUND' } },
        { message: 'price: too high', extensions: { code: 'VALIDATION', field: 'price' } },
      ],
    });
    expect(formErrors(error, fields)).toEqual({ fields: {}, general: ['conference not found', 'Too high'] });
  });

  it('never shows internal error text', () => {
    const error = graphQLError('database is locked', { code: 'INTERNAL' });
    expect(errorSummary(error)).not.toContain('database');
    expect(apiErrors(error)[0]?.code).toBe('INTERNAL');
  });

  it('turns a network failure into one readable message', () => {
    const error = new CombinedError({ networkError: new Error('Failed to fetch') });
    expect(apiErrors(error)).toEqual([{ code: 'NETWORK', message: expect.stringMatching(/reach the server/) }]);
  });

  it('recognises codes and treats unknown ones as UNKNOWN', () => {
    expect(hasCode(graphQLError('x', { code: 'UNAUTHENTICATED' }), 'UNAUTHENTICATED')).toBe(true);
    expect(apiErrors(graphQLError('x', { code: 'TEAPOT' }))[0]?.code).toBe('UNKNOWN');
    expect(apiErrors(undefined)).toEqual([]);
  });

  it('strips only the prefix of the named field', () => {
    expect(stripFieldPrefix('subject: unknown variable foo', 'subject')).toBe('Unknown variable foo');
    expect(stripFieldPrefix('subject: x', 'message')).toBe('subject: x');
  });
});
