// The public registration form: the fields of the original TechConf form, checked here as
// the server checks them, with the server's errors shown next to the field they concern.
import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { errorSummary, isUnknownId } from '../api/errors';
import { ANONYMOUS, PublicConferenceQuery, RegisterAttendeeMutation } from '../api/operations';
import { AttendeeFields, useAttendeeErrors } from '../components/AttendeeFields';
import { ErrorSummary } from '../components/ErrorSummary';
import { Alert, FormActions, Loading, PageHeading } from '../components/ui';
import { usePageTitle } from '../hooks/common';
import { formatDate, formatPrice } from '../lib/format';
import { emptyRegistration, registrationFields, registrationInput, type RegistrationField, type RegistrationForm } from '../lib/validation';
import { Link } from '../router';

export function Register({ conferenceId }: { conferenceId: string }) {
  const [{ data, fetching, error }] = useQuery({
    query: PublicConferenceQuery,
    variables: { id: conferenceId },
    context: ANONYMOUS,
  });
  const conference = data?.conference;
  usePageTitle(conference ? `Register for ${conference.name}` : 'Register');

  if (fetching && !data) return <Loading />;
  if (isUnknownId(error) || (!fetching && !conference && !error)) {
    return (
      <>
        <PageHeading>Conference not found</PageHeading>
        <p>
          This registration link does not match a conference. <Link to="/">See the open conferences</Link>.
        </p>
      </>
    );
  }
  if (error || !conference) return <Alert title="Could not load the conference">{errorSummary(error)}</Alert>;
  if (!conference.active) {
    return (
      <>
        <PageHeading>{conference.name}</PageHeading>
        <Alert kind="info" title="Registration is closed">
          This conference is not taking registrations. <Link to="/">See the open conferences</Link>.
        </Alert>
      </>
    );
  }
  return (
    <>
      <PageHeading
        subtitle={
          <>
            {formatDate(conference.startsOn)} · {conference.address}
            {conference.region ? `, ${conference.region}` : ''} · Ticket {formatPrice(conference.price, conference.currency)}
          </>
        }
      >
        Register for {conference.name}
      </PageHeading>
      <RegistrationFormView conferenceId={conference.id} conferenceName={conference.name} />
    </>
  );
}

const hints: Partial<Record<RegistrationField, string>> = {
  email: 'We send your confirmation here.',
  interests: 'Topics you would like to hear about.',
};

export function RegistrationFormView({ conferenceId, conferenceName }: { conferenceId: string; conferenceName: string }) {
  const [form, setForm] = useState<RegistrationForm>(emptyRegistration);
  const { errors, setErrors, summary, summaryProps, checkAll, recheck, refused } = useAttendeeErrors((f) => f);
  const [submitted, setSubmitted] = useState(false);
  const [done, setDone] = useState<{ firstName: string; email: string } | null>(null);
  const [result, register] = useMutation(RegisterAttendeeMutation);
  const formRef = useRef<HTMLFormElement>(null);
  const doneRef = useRef<HTMLHeadingElement>(null);

  const update = (field: RegistrationField, value: string) => {
    setForm((f) => ({ ...f, [field]: value }));
    // Once a field has shown an error, re-check it as the person types.
    if (errors[field] || submitted) recheck(field, value);
  };

  const onBlur = (field: RegistrationField) => {
    if (form[field].trim() !== '') recheck(field, form[field]);
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (!checkAll(form)) return;
    const response = await register({ input: registrationInput(conferenceId, form) });
    if (response.data?.registerAttendee) {
      setDone({ firstName: response.data.registerAttendee.firstName, email: form.email.trim() });
      requestAnimationFrame(() => doneRef.current?.focus());
      return;
    }
    refused(response.error);
  };

  const again = () => {
    setForm(emptyRegistration);
    setErrors({});
    summary.clear();
    setSubmitted(false);
    setDone(null);
  };

  if (done) {
    return (
      <section className="card confirmation" aria-labelledby="confirmation-heading">
        <div className="confirmation__icon" aria-hidden="true">
          ✓
        </div>
        <h2 id="confirmation-heading" ref={doneRef} tabIndex={-1}>
          You’re registered, {done.firstName}!
        </h2>
        <p>
          Your place at <strong>{conferenceName}</strong> is booked. A confirmation is on its way to{' '}
          <strong>{done.email}</strong>, with the event attached for your calendar.
        </p>
        <div className="actions">
          <button type="button" className="button button--secondary" onClick={again}>
            Register someone else
          </button>
          <Link to="/" className="button button--link">
            All conferences
          </Link>
        </div>
      </section>
    );
  }

  const text = (field: RegistrationField, extra: Record<string, unknown> = {}) => ({
    id: field,
    label: registrationFields[field].label,
    value: form[field],
    error: errors[field],
    onChange: (e: { target: { value: string } }) => update(field, e.target.value),
    onBlur: () => onBlur(field),
    autoComplete: registrationFields[field].autoComplete ?? 'off',
    ...extra,
  });

  return (
    <form ref={formRef} className="card form" onSubmit={onSubmit} noValidate aria-describedby="required-note">
      <p id="required-note" className="muted small">
        Fields marked <span aria-hidden="true">*</span>
        <span className="visually-hidden">as required</span> are required.
      </p>
      <ErrorSummary title="We could not register you" {...summaryProps} />
      <AttendeeFields field={(name) => text(name, hints[name] ? { hint: hints[name] } : {})} />
      <FormActions busy={result.fetching} busyLabel="Registering…" submitLabel="Register" />
    </form>
  );
}
