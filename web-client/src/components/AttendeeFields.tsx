// The fields of an attendee, laid out as the registration form has them, and their checks:
// shared by the public form and the admin's editor, so both ask for the same things with
// the same limits.
import type { ReactNode } from 'react';
import {
  LONG_TEXT_MAX,
  NAME_MAX,
  registrationFieldOrder,
  registrationFields,
  validateRegistration,
  validateRegistrationField,
  type RegistrationField,
  type RegistrationForm,
} from '../lib/validation';
import { useFormErrors } from './ErrorSummary';
import { TextAreaField, TextField } from './Field';


/** What each field gets from its form: id, label, value, error, handlers, and extras such as a hint. */
export interface AttendeeFieldProps {
  id: string;
  label: string;
  value: string;
  error?: string | undefined;
  onChange(event: { target: { value: string } }): void;
  onBlur?(): void;
  autoComplete?: string;
  hint?: ReactNode;
}

export function AttendeeFields({ field, rows = 3 }: { field(name: RegistrationField): AttendeeFieldProps; rows?: number }) {
  return (
    <>
      <div className="grid-2">
        <TextField {...field('firstName')} required max={NAME_MAX} />
        <TextField {...field('lastName')} required max={NAME_MAX} />
      </div>
      <TextField {...field('email')} type="email" inputMode="email" spellCheck={false} required />
      <div className="grid-2">
        <TextField {...field('jobPosition')} required max={NAME_MAX} />
        <TextField {...field('company')} required max={NAME_MAX} />
      </div>
      <div className="grid-2">
        <TextField {...field('city')} required max={NAME_MAX} />
        <TextField {...field('state')} required max={NAME_MAX} />
      </div>
      <TextAreaField {...field('interests')} rows={rows} max={LONG_TEXT_MAX} />
      <TextAreaField {...field('comments')} rows={rows} max={LONG_TEXT_MAX} />
    </>
  );
}

/**
 * The errors of a form of attendee fields (see `useFormErrors`; a conflict is a taken email),
 * with `checkAll` to check every field before sending and `recheck` to check one again as
 * it changes. `id` gives each field's control.
 */
export function useAttendeeErrors(id: (field: RegistrationField) => string) {
  const form = useFormErrors(registrationFieldOrder, (f) => registrationFields[f].label, id, { conflictField: 'email' });
  return {
    ...form,
    checkAll: (values: RegistrationForm) => form.check(validateRegistration(values)),
    recheck: (field: RegistrationField, value: string) =>
      form.setErrors((e) => ({ ...e, [field]: validateRegistrationField(field, value) })),
  };
}
