// Turns a urql CombinedError into what a form shows: a message per input field (from
// `extensions.field`) and general messages for the rest.
import type { CombinedError } from '@urql/core';

export type ErrorCode =
  | 'VALIDATION'
  | 'CONFLICT'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'INTERNAL'
  | 'NETWORK'
  | 'UNKNOWN';

export interface ApiError {
  code: ErrorCode;
  field?: string;
  message: string;
}

const KNOWN: ErrorCode[] = ['VALIDATION', 'CONFLICT', 'NOT_FOUND', 'UNAUTHENTICATED', 'FORBIDDEN', 'INTERNAL'];

/** The server prefixes validation messages with the field ("email: is not valid"). */
export function stripFieldPrefix(message: string, field?: string): string {
  if (field && message.startsWith(`${field}: `)) {
    const rest = message.slice(field.length + 2);
    return rest.charAt(0).toUpperCase() + rest.slice(1);
  }
  return message;
}

export function apiErrors(error: CombinedError | undefined | null): ApiError[] {
  if (!error) return [];
  if (error.networkError && error.graphQLErrors.length === 0) {
    return [
      {
        code: 'NETWORK',
        message: 'Could not reach the server. Check your connection and try again.',
      },
    ];
  }
  return error.graphQLErrors.map((e) => {
    const ext = (e.extensions ?? {}) as { code?: unknown; field?: unknown };
    const code = KNOWN.includes(ext.code as ErrorCode) ? (ext.code as ErrorCode) : 'UNKNOWN';
    const field = typeof ext.field === 'string' ? ext.field : undefined;
    const message =
      code === 'INTERNAL' ? 'Something went wrong on our side. Please try again in a moment.' : e.message;
    return field ? { code, field, message: stripFieldPrefix(message, field) } : { code, message };
  });
}

export function hasCode(error: CombinedError | undefined | null, code: ErrorCode): boolean {
  return apiErrors(error).some((e) => e.code === code);
}

export interface FormErrors<F extends string> {
  fields: Partial<Record<F, string>>;
  general: string[];
}

/**
 * Splits errors between the form's fields and a general list. `conflictField` names the
 * field a CONFLICT without `extensions.field` belongs to (the email, for a registration).
 */
export function formErrors<F extends string>(
  error: CombinedError | undefined | null,
  fields: readonly F[],
  options: { conflictField?: F } = {},
): FormErrors<F> {
  const out: FormErrors<F> = { fields: {}, general: [] };
  for (const e of apiErrors(error)) {
    let field = e.field as F | undefined;
    if (!field && e.code === 'CONFLICT' && options.conflictField) field = options.conflictField;
    if (field && fields.includes(field) && !out.fields[field]) {
      out.fields[field] = e.message;
    } else {
      out.general.push(e.message);
    }
  }
  return out;
}

/** Whether the error says the id asked for names nothing: unknown, or not an id at all. */
export function isUnknownId(error: CombinedError | undefined | null): boolean {
  return apiErrors(error).some(
    (e) => e.code === 'NOT_FOUND' || (e.code === 'VALIDATION' && (e.field === 'id' || e.field?.endsWith('Id') === true)),
  );
}

export function errorSummary(error: CombinedError | undefined | null): string {
  return apiErrors(error)
    .map((e) => e.message)
    .join(' ');
}
