// Editing one attendee: the registration form's fields and checks, with the server's
// errors (a taken email, say) next to the field they concern.
import { useRef, useState, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { errorSummary, formErrors } from '../../api/errors';
import { UpdateAttendeeMutation } from '../../api/operations';
import { AttendeeFields } from '../../components/AttendeeFields';
import { ErrorSummary, summaryItems, useErrorSummary } from '../../components/ErrorSummary';
import {
  registrationFieldOrder,
  registrationFields,
  registrationInput,
  validateRegistration,
  validateRegistrationField,
  type FieldErrors,
  type RegistrationField,
  type RegistrationForm,
} from '../../lib/validation';

export interface EditableAttendee {
  id: string;
  firstName: string;
  lastName: string;
  email: string;
  jobPosition: string;
  company: string;
  city: string;
  state: string;
  interests?: string | null;
  comments?: string | null;
}


export function AttendeeEditor({
  attendee,
  onDone,
}: {
  attendee: EditableAttendee;
  onDone(saved: boolean): void;
}) {
  const [form, setForm] = useState<RegistrationForm>({
    ...attendee,
    interests: attendee.interests ?? '',
    comments: attendee.comments ?? '',
  });
  const [errors, setErrors] = useState<FieldErrors<RegistrationField>>({});
  const summary = useErrorSummary();
  const [result, update] = useMutation(UpdateAttendeeMutation);
  const formRef = useRef<HTMLFormElement>(null);
  const showSummary = (fieldErrors: FieldErrors<RegistrationField>, general: string[] = []) =>
    summary.show(summaryItems(fieldErrors, registrationFieldOrder, (f) => registrationFields[f].label, (f) => `edit-${f}`, general));

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    summary.clear();
    const local = validateRegistration(form);
    setErrors(local);
    if (registrationFieldOrder.some((f) => local[f])) return showSummary(local);
    const { conferenceId: _, ...input } = registrationInput('', form);
    const response = await update({ id: attendee.id, input });
    if (response.data?.updateAttendee) return onDone(true);
    const mapped = formErrors(response.error, registrationFieldOrder, { conflictField: 'email' });
    setErrors(mapped.fields);
    showSummary(
      mapped.fields,
      mapped.general.length || Object.keys(mapped.fields).length ? mapped.general : [errorSummary(response.error)],
    );
  };

  const field = (name: RegistrationField) => ({
    id: `edit-${name}`,
    label: registrationFields[name].label,
    value: form[name],
    error: errors[name],
    onChange: (e: { target: { value: string } }) => {
      const value = e.target.value;
      setForm((f) => ({ ...f, [name]: value }));
      if (errors[name]) setErrors((x) => ({ ...x, [name]: validateRegistrationField(name, value) }));
    },
  });

  return (
    <form ref={formRef} className="card form attendee-editor" onSubmit={onSubmit} noValidate aria-labelledby="edit-heading">
      <h2 id="edit-heading" tabIndex={-1}>
        Edit {attendee.firstName} {attendee.lastName}
      </h2>
      <ErrorSummary
        title="The changes were not saved"
        items={summary.items}
        attempt={summary.attempt}
        fieldErrors={errors}
      />
      <AttendeeFields field={field} rows={2} />
      <div className="actions">
        <button type="submit" className="button button--primary" disabled={result.fetching}>
          {result.fetching ? 'Saving…' : 'Save changes'}
        </button>
        <button type="button" className="button button--secondary" onClick={() => onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
