// Editing one attendee: the registration form's fields and checks, with the server's
// errors (a taken email, say) next to the field they concern.
import { useRef, useState, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { UpdateAttendeeMutation } from '../../api/operations';
import { AttendeeFields, useAttendeeErrors } from '../../components/AttendeeFields';
import { ErrorSummary } from '../../components/ErrorSummary';
import { FormActions } from '../../components/ui';
import { registrationFields, registrationInput, type RegistrationField, type RegistrationForm } from '../../lib/validation';

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
  const { errors, summaryProps, checkAll, recheck, refused } = useAttendeeErrors((f) => `edit-${f}`);
  const [result, update] = useMutation(UpdateAttendeeMutation);
  const formRef = useRef<HTMLFormElement>(null);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (!checkAll(form)) return;
    const { conferenceId: _, ...input } = registrationInput('', form);
    const response = await update({ id: attendee.id, input });
    if (response.data?.updateAttendee) return onDone(true);
    refused(response.error);
  };

  const field = (name: RegistrationField) => ({
    id: `edit-${name}`,
    label: registrationFields[name].label,
    value: form[name],
    error: errors[name],
    onChange: (e: { target: { value: string } }) => {
      const value = e.target.value;
      setForm((f) => ({ ...f, [name]: value }));
      if (errors[name]) recheck(name, value);
    },
  });

  return (
    <form ref={formRef} className="card form attendee-editor" onSubmit={onSubmit} noValidate aria-labelledby="edit-heading">
      <h2 id="edit-heading" tabIndex={-1}>
        Edit {attendee.firstName} {attendee.lastName}
      </h2>
      <ErrorSummary title="The changes were not saved" {...summaryProps} />
      <AttendeeFields field={field} rows={2} />
      <FormActions busy={result.fetching} busyLabel="Saving…" submitLabel="Save changes" onCancel={() => onDone(false)} />
    </form>
  );
}
