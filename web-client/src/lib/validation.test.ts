import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildSchema, isInputObjectType, isNonNullType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { adaRegistration } from '../test/fixtures';
import {
  charCount,
  checkEmail,
  emptyRegistration,
  registrationFieldOrder,
  registrationFields,
  registrationInput,
  validateNotification,
  validateRegistration,
  validateRegistrationField,
} from './validation';

const valid = { ...emptyRegistration, ...adaRegistration };

describe('registration fields', () => {
  it('are the fields of RegisterAttendeeInput in schema.graphql, optional where it is nullable', () => {
    const sdl = readFileSync(resolve(import.meta.dirname, '../../../schema.graphql'), 'utf8');
    const input = buildSchema(sdl).getType('RegisterAttendeeInput');
    if (!isInputObjectType(input)) throw new Error('RegisterAttendeeInput is not an input type');
    const fromSchema = Object.values(input.getFields())
      .filter((f) => f.name !== 'conferenceId')
      .map((f): [string, boolean] => [f.name, !isNonNullType(f.type)]);
    const fromClient = registrationFieldOrder.map((f): [string, boolean] => [f, registrationFields[f].optional]);
    expect(new Map(fromClient)).toEqual(new Map(fromSchema));
    expect(Object.keys(emptyRegistration)).toEqual(registrationFieldOrder);
  });
});

describe('registration validation', () => {
  it('accepts a complete form and leaves optional fields out', () => {
    expect(validateRegistration(valid)).toEqual({});
  });

  it('requires every required field, after trimming', () => {
    const errors = validateRegistration({ ...valid, firstName: '   ', city: '' });
    expect(Object.keys(errors)).toEqual(['firstName', 'city']);
    expect(errors.firstName).toMatch(/required/);
  });

  it('counts characters, not UTF-16 units, against the 100-character limit', () => {
    expect(validateRegistrationField('company', 'é'.repeat(100))).toBeUndefined();
    expect(validateRegistrationField('company', '😀'.repeat(100))).toBeUndefined();
    expect(charCount('😀')).toBe(1);
    expect(validateRegistrationField('company', 'x'.repeat(101))).toMatch(/at most 100 characters \(now 101\)/);
  });

  it('limits interests and comments to 2000 characters and allows line breaks there only', () => {
    expect(validateRegistrationField('comments', 'x'.repeat(2000))).toBeUndefined();
    expect(validateRegistrationField('comments', 'x'.repeat(2001))).toMatch(/2000/);
    expect(validateRegistrationField('interests', 'a\nb\tc')).toBeUndefined();
    expect(validateRegistrationField('interests', 'a\u0007b')).toMatch(/control/);
    expect(validateRegistrationField('city', 'a\nb')).toMatch(/line breaks/);
    expect(validateRegistrationField('comments', '   ')).toBeUndefined();
  });

  it('trims the mutation input and sends blank optional fields as null', () => {
    const input = registrationInput('c1', { ...valid, firstName: ' Ada ', interests: '  ', comments: ' Hi ' });
    expect(input).toEqual({
      ...valid,
      conferenceId: 'c1',
      firstName: 'Ada',
      company: 'Analytical Engines',
      interests: null,
      comments: 'Hi',
    });
  });
});

describe('email syntax, as the server checks it', () => {
  it.each(['ada@example.org', ' Ada.Lovelace+conf@Mail.Example.co.uk ', '"a b"@example.org', 'josé@exämple.pt'])(
    'accepts %s',
    (email) => expect(checkEmail(email)).toBeUndefined(),
  );

  it.each(['', 'not-an-email', 'a@', '@b.org', 'a@localhost', 'a b@c.org', 'a@b.org\r\nBcc: x@y.org', 'a@.org', 'a@b.', 'a..b@c.org', 'a@-b.org'])(
    'refuses %j',
    (email) => expect(checkEmail(email)).toBeDefined(),
  );

  it('says why a domain without a dot is refused', () => {
    expect(checkEmail('a@localhost')).toMatch(/needs a dot/);
  });

  it('refuses addresses over 254 bytes', () => {
    expect(checkEmail(`${'a'.repeat(250)}@example.org`)).toMatch(/254/);
  });
});

describe('notification validation', () => {
  it('requires a subject and a message within their limits', () => {
    expect(validateNotification('Hi', 'Body')).toEqual({});
    expect(validateNotification(' ', '')).toEqual({ subject: expect.any(String), message: expect.any(String) });
    expect(validateNotification('x'.repeat(501), 'ok').subject).toMatch(/500/);
  });
});
