// Client-side checks that mirror the server's (src/domain/{text,email,registration}.rs), so
// a person sees the problem before the round trip. The server stays the authority: its
// VALIDATION errors are shown the same way (see api/errors.ts).
import type { RegisterAttendeeInput } from '../gql/graphql';

export const NAME_MAX = 100;
export const LONG_TEXT_MAX = 2000;
export const EMAIL_MAX_BYTES = 254;
export const SUBJECT_MAX = 500;
export const MESSAGE_MAX = 50_000;

/**
 * The fields a person fills in: the keys of the input type generated from schema.graphql, so a
 * field added to or removed from the server's input fails the build until the form handles it.
 */
export type RegistrationField = Exclude<keyof RegisterAttendeeInput, 'conferenceId'>;
export type RegistrationForm = Record<RegistrationField, string>;
export type FieldErrors<F extends string> = Partial<Record<F, string>>;

/** Whether the schema lets the field be left out (a nullable input field). */
type IsOptional<F extends RegistrationField> = undefined extends RegisterAttendeeInput[F] ? true : false;

export interface RegistrationFieldSpec<F extends RegistrationField> {
  label: string;
  /** Must agree with the schema: the type only accepts the right value. */
  optional: IsOptional<F>;
  autoComplete?: string;
}

/** What the form needs to know of each field, in form order: exactly the generated input's fields. */
export const registrationFields: { [F in RegistrationField]: RegistrationFieldSpec<F> } = {
  firstName: { label: 'First name', optional: false, autoComplete: 'given-name' },
  lastName: { label: 'Last name', optional: false, autoComplete: 'family-name' },
  email: { label: 'Email', optional: false, autoComplete: 'email' },
  jobPosition: { label: 'Job position', optional: false, autoComplete: 'organization-title' },
  company: { label: 'Company', optional: false, autoComplete: 'organization' },
  city: { label: 'City', optional: false, autoComplete: 'address-level2' },
  state: { label: 'State', optional: false, autoComplete: 'address-level1' },
  interests: { label: 'Interests', optional: true },
  comments: { label: 'Comments', optional: true },
};

export const registrationFieldOrder = Object.keys(registrationFields) as RegistrationField[];

export const emptyRegistration = Object.fromEntries(
  registrationFieldOrder.map((field) => [field, '']),
) as RegistrationForm;

/** Length in characters (code points), as the server counts, not UTF-16 units. */
export function charCount(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

// Rust's char::is_control is the Unicode Cc category: U+0000–U+001F and U+007F–U+009F.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_EXCEPT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** A required single-line field: trimmed, not blank, at most `max` characters. */
export function checkRequiredText(value: string, max: number): string | undefined {
  const v = value.trim();
  if (v === '') return 'This field is required.';
  const n = charCount(v);
  if (n > max) return `Must be at most ${max} characters (now ${n}).`;
  if (CONTROL.test(v)) return 'Must not contain control characters or line breaks.';
  return undefined;
}

/** An optional multi-line field: blank is fine; line breaks and tabs are allowed. */
export function checkOptionalText(value: string, max: number): string | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const n = charCount(v);
  if (n > max) return `Must be at most ${max} characters (now ${n}).`;
  if (CONTROL_EXCEPT_LINES.test(v)) return 'Must not contain control characters.';
  return undefined;
}

// An approximation of the server's parser (lettre's Address plus "the domain needs a dot"):
// a dot-atom or quoted local part, and a dotted domain of letters, digits and hyphens.
const LOCAL_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/;
const LOCAL_QUOTED = /^"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
const DOMAIN_LABEL = /^[A-Za-z0-9\u0080-\uffff]([A-Za-z0-9\u0080-\uffff-]*[A-Za-z0-9\u0080-\uffff])?$/;

export function checkEmail(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return 'This field is required.';
  if (new TextEncoder().encode(v).length > EMAIL_MAX_BYTES) {
    return `Must be at most ${EMAIL_MAX_BYTES} characters.`;
  }
  const at = v.lastIndexOf('@');
  if (at <= 0 || at === v.length - 1) return 'Enter an email address like name@example.org.';
  const local = v.slice(0, at);
  const domain = v.slice(at + 1);
  if (!(LOCAL_ATOM.test(local) || LOCAL_QUOTED.test(local))) {
    return 'Enter an email address like name@example.org.';
  }
  if (!domain.includes('.') || domain.startsWith('.') || domain.endsWith('.')) {
    return 'Enter a full email address; the domain needs a dot (like example.org).';
  }
  if (!domain.split('.').every((label) => DOMAIN_LABEL.test(label))) {
    return 'Enter an email address like name@example.org.';
  }
  return undefined;
}

export function validateRegistrationField(
  field: RegistrationField,
  value: string,
): string | undefined {
  if (field === 'email') return checkEmail(value);
  return registrationFields[field].optional
    ? checkOptionalText(value, LONG_TEXT_MAX)
    : checkRequiredText(value, NAME_MAX);
}

export function validateRegistration(form: RegistrationForm): FieldErrors<RegistrationField> {
  const errors: FieldErrors<RegistrationField> = {};
  for (const field of registrationFieldOrder) {
    const error = validateRegistrationField(field, form[field]);
    if (error) errors[field] = error;
  }
  return errors;
}

/** The mutation input: trimmed, with blank optional fields sent as null. */
export function registrationInput(conferenceId: string, form: RegistrationForm): RegisterAttendeeInput {
  const fields = registrationFieldOrder.map((field) => {
    const value = form[field].trim();
    return [field, value === '' && registrationFields[field].optional ? null : value];
  });
  return { conferenceId, ...Object.fromEntries(fields) } as RegisterAttendeeInput;
}

export type NotificationField = 'name' | 'subject' | 'message';
/** The longest notification name (the server's `service::notification::NAME_MAX`). */
export const NOTIFICATION_NAME_MAX = 200;

export function validateNotification(subject: string, message: string, name = ''): FieldErrors<NotificationField> {
  const errors: FieldErrors<NotificationField> = {};
  const nameLength = charCount(name.trim());
  if (nameLength > NOTIFICATION_NAME_MAX) {
    errors.name = `Must be at most ${NOTIFICATION_NAME_MAX} characters (now ${nameLength}).`;
  }
  const check = (value: string, max: number) => {
    if (value.trim() === '') return 'This field is required.';
    const n = charCount(value);
    return n > max ? `Must be at most ${max} characters (now ${n}).` : undefined;
  };
  const s = check(subject, SUBJECT_MAX);
  if (s) errors.subject = s;
  const m = check(message, MESSAGE_MAX);
  if (m) errors.message = m;
  return errors;
}
