// Compose a notification: subject and message templates, a preview for a chosen attendee,
// then a confirmation step naming how many attendees will receive it.
import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useClient, useMutation, useQuery } from 'urql';
import { errorSummary, formErrors } from '../../api/errors';
import { AttendeeCountQuery, CreateNotificationMutation, PreviewRecipientsQuery } from '../../api/operations';
import { PreviewNotificationQuery } from '../../api/pending';
import { useSession } from '../../auth/session';
import { TextAreaField, TextField } from '../../components/Field';
import { Alert, Loading, PageHeading } from '../../components/ui';
import { FEATURES } from '../../features';
import { useDebounced, usePageTitle } from '../../hooks/common';
import { newIdempotencyKey, plural } from '../../lib/format';
import {
  TEMPLATE_VARIABLES,
  insertVariable,
  renderLocally,
  templateValues,
  unknownVariables,
} from '../../lib/template';
import {
  MESSAGE_MAX,
  SUBJECT_MAX,
  validateNotification,
  type FieldErrors,
  type NotificationField,
} from '../../lib/validation';
import { navigate } from '../../router';

const FIELDS: readonly NotificationField[] = ['subject', 'message'];

const KNOWN_LIST = TEMPLATE_VARIABLES.map((v) => v.name).join(', ');

/** Client-side checks: required, length, and unknown plain variables (as the server refuses them). */
export function checkTemplates(subject: string, message: string): FieldErrors<NotificationField> {
  const errors = validateNotification(subject, message);
  for (const [field, value] of [
    ['subject', subject],
    ['message', message],
  ] as const) {
    const unknown = unknownVariables(value);
    if (!errors[field] && unknown.length > 0) {
      errors[field] = `Unknown variable${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}; known variables are ${KNOWN_LIST}.`;
    }
  }
  return errors;
}

export function Compose({ conferenceId }: { conferenceId: string }) {
  usePageTitle('Compose notification');
  const { session } = useSession();
  const canSend = session.status === 'signedIn' && session.viewer.role === 'ADMIN';
  const client = useClient();

  const [subject, setSubject] = useState('');
  const [message, setMessage] = useState('');
  const [errors, setErrors] = useState<FieldErrors<NotificationField>>({});
  const [general, setGeneral] = useState<string[]>([]);
  const [step, setStep] = useState<'edit' | 'confirm'>('edit');
  const [recipients, setRecipients] = useState<number | null>(null);
  const [countError, setCountError] = useState<string | null>(null);
  const [idempotencyKey, setIdempotencyKey] = useState(newIdempotencyKey);
  const [created, create] = useMutation(CreateNotificationMutation);
  const lastField = useRef<NotificationField>('message');
  const subjectRef = useRef<HTMLInputElement>(null);
  const messageRef = useRef<HTMLTextAreaElement>(null);
  const confirmRef = useRef<HTMLHeadingElement>(null);

  const [{ data: recipientsData }] = useQuery({ query: PreviewRecipientsQuery, variables: { conferenceId } });
  const conference = recipientsData?.conference;
  const attendees = recipientsData?.attendees.nodes ?? [];
  const [previewId, setPreviewId] = useState<string | null>(null);
  const previewAttendee = attendees.find((a) => a.id === previewId) ?? attendees[0] ?? null;

  const focusField = (field: NotificationField) => (field === 'subject' ? subjectRef : messageRef).current?.focus();

  const change = (field: NotificationField, value: string) => {
    if (field === 'subject') setSubject(value);
    else setMessage(value);
    if (errors[field]) setErrors((e) => ({ ...e, [field]: undefined }));
  };

  const insert = (name: string) => {
    const field = lastField.current;
    const el = field === 'subject' ? subjectRef.current : messageRef.current;
    const value = field === 'subject' ? subject : message;
    const at = insertVariable(value, el?.selectionStart ?? value.length, el?.selectionEnd ?? value.length, name);
    change(field, at.value);
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(at.caret, at.caret);
    });
  };

  const review = async (event: FormEvent) => {
    event.preventDefault();
    setGeneral([]);
    const local = checkTemplates(subject, message);
    setErrors(local);
    const bad = FIELDS.find((f) => local[f]);
    if (bad) {
      focusField(bad);
      return;
    }
    setRecipients(null);
    setCountError(null);
    setIdempotencyKey(newIdempotencyKey());
    setStep('confirm');
    requestAnimationFrame(() => confirmRef.current?.focus());
    const count = await client.query(AttendeeCountQuery, { conferenceId }, { requestPolicy: 'network-only' }).toPromise();
    if (count.data) setRecipients(count.data.attendees.totalCount);
    else setCountError(errorSummary(count.error));
  };

  const send = async () => {
    const result = await create({ input: { conferenceId, subject, message, idempotencyKey } });
    const id = result.data?.createNotification.id;
    if (id) {
      navigate(`/admin/notifications/${encodeURIComponent(id)}?created=1`);
      return;
    }
    const mapped = formErrors(result.error, FIELDS);
    setErrors(mapped.fields);
    setGeneral(mapped.general);
    setStep('edit');
    const bad = FIELDS.find((f) => mapped.fields[f]);
    requestAnimationFrame(() => (bad ? focusField(bad) : subjectRef.current?.focus()));
  };

  if (!canSend) {
    return (
      <>
        <PageHeading>Compose notification</PageHeading>
        <Alert kind="info">Your token can read but not send. Sending notifications needs an admin token.</Alert>
      </>
    );
  }

  if (step === 'confirm') {
    return (
      <>
        <PageHeading>Compose notification</PageHeading>
        <section className="card confirm" aria-labelledby="confirm-heading" data-testid="confirm-step">
          <h2 id="confirm-heading" ref={confirmRef} tabIndex={-1}>
            Send this notification?
          </h2>
          {recipients === null && !countError && <Loading label="Counting recipients…" />}
          {countError && <Alert>{countError}</Alert>}
          {recipients !== null && (
            <p className="confirm__count" data-testid="recipient-count">
              It will be emailed to <strong>{plural(recipients, 'attendee')}</strong>
              {conference ? <> of {conference.name}</> : null}, each personalised.
            </p>
          )}
          {recipients === 0 && <Alert kind="warning">Nobody is registered yet, so nobody would receive it.</Alert>}
          <dl className="confirm__summary">
            <dt>Subject</dt>
            <dd>
              <pre>{subject}</pre>
            </dd>
            <dt>Message</dt>
            <dd>
              <pre>{message}</pre>
            </dd>
          </dl>
          {created.error && !created.fetching && <Alert>{errorSummary(created.error)}</Alert>}
          <div className="actions">
            <button
              type="button"
              className="button button--primary"
              onClick={() => void send()}
              disabled={created.fetching || recipients === null}
            >
              {created.fetching ? 'Sending…' : recipients === null ? 'Send' : `Send to ${plural(recipients, 'attendee')}`}
            </button>
            <button type="button" className="button button--secondary" onClick={() => setStep('edit')} disabled={created.fetching}>
              Back to editing
            </button>
          </div>
        </section>
      </>
    );
  }

  return (
    <>
      <PageHeading subtitle="Write once; each attendee gets their own copy.">Compose notification</PageHeading>
      {general.length > 0 && (
        <Alert title="The notification was not created">
          {general.map((g) => (
            <p key={g}>{g}</p>
          ))}
        </Alert>
      )}
      <div className="compose">
        <form className="card form compose__form" onSubmit={review} noValidate>
          <TextField
            id="subject"
            label="Subject"
            required
            value={subject}
            max={SUBJECT_MAX}
            error={errors.subject}
            onChange={(e) => change('subject', e.target.value)}
            onFocus={() => (lastField.current = 'subject')}
            ref={subjectRef}
            autoComplete="off"
          />
          <TextAreaField
            id="message"
            label="Message"
            required
            rows={10}
            value={message}
            max={MESSAGE_MAX}
            error={errors.message}
            onChange={(e) => change('message', e.target.value)}
            onFocus={() => (lastField.current = 'message')}
            ref={messageRef}
          />
          <div className="variables">
            <h2 id="variables-heading">Variables</h2>
            <p className="muted small">Insert one at the cursor of the field you last edited.</p>
            <ul aria-labelledby="variables-heading">
              {TEMPLATE_VARIABLES.map((v) => (
                <li key={v.name}>
                  <button
                    type="button"
                    className="chip"
                    onClick={() => insert(v.name)}
                    title={v.description}
                    aria-label={`Insert ${v.name} (${v.description})`}
                  >
                    <code>{`{{ ${v.name} }}`}</code>
                  </button>
                </li>
              ))}
            </ul>
          </div>
          <div className="actions">
            <button type="submit" className="button button--primary">
              Review and send…
            </button>
          </div>
        </form>
        <Preview
          conferenceId={conferenceId}
          subject={subject}
          message={message}
          attendees={attendees}
          attendeeId={previewAttendee?.id ?? null}
          onAttendee={setPreviewId}
          values={previewAttendee && conference ? templateValues(previewAttendee, conference) : null}
        />
      </div>
    </>
  );
}

interface PreviewProps {
  conferenceId: string;
  subject: string;
  message: string;
  attendees: readonly { id: string; firstName: string; lastName: string; email: string }[];
  attendeeId: string | null;
  onAttendee(id: string): void;
  values: Record<string, string> | null;
}

/**
 * The email as the chosen attendee will see it. Rendered by the server's
 * `previewNotification` when FEATURES.serverPreview is on; until then, locally for plain
 * `{{ variable }}` expressions.
 */
function Preview({ conferenceId, subject, message, attendees, attendeeId, onAttendee, values }: PreviewProps) {
  const debouncedSubject = useDebounced(subject, 300);
  const debouncedMessage = useDebounced(message, 300);
  const [server] = useQuery({
    query: PreviewNotificationQuery,
    variables: { conferenceId, attendeeId, subject: debouncedSubject, message: debouncedMessage },
    pause: !FEATURES.serverPreview || debouncedSubject.trim() === '' || debouncedMessage.trim() === '',
  });
  const local = useMemo(
    () => (values ? { subject: renderLocally(subject, values), body: renderLocally(message, values) } : null),
    [subject, message, values],
  );
  const serverErrors = FEATURES.serverPreview ? formErrors(server.error, FIELDS) : null;
  const [expanded, setExpanded] = useState(true);
  useEffect(() => {
    // On narrow screens the preview starts folded, below the form.
    if (window.matchMedia?.('(max-width: 48rem)').matches) setExpanded(false);
  }, []);

  const shownSubject = FEATURES.serverPreview ? server.data?.previewNotification.subject : local?.subject.text;
  const shownBody = FEATURES.serverPreview ? server.data?.previewNotification.body : local?.body.text;
  const approximate = !FEATURES.serverPreview && (local?.subject.approximate || local?.body.approximate);

  return (
    <section className="card preview" aria-labelledby="preview-heading">
      <div className="preview__head">
        <h2 id="preview-heading">Preview</h2>
        <button
          type="button"
          className="button button--secondary button--small preview__toggle"
          aria-expanded={expanded}
          aria-controls="preview-body"
          onClick={() => setExpanded((x) => !x)}
        >
          {expanded ? 'Hide' : 'Show'}
        </button>
      </div>
      <div id="preview-body" hidden={!expanded}>
        <div className="field">
          <label htmlFor="preview-attendee">As received by</label>
          <select
            id="preview-attendee"
            value={attendeeId ?? ''}
            onChange={(e) => onAttendee(e.target.value)}
            disabled={attendees.length === 0}
          >
            {attendees.length === 0 && <option value="">No attendees yet</option>}
            {attendees.map((a) => (
              <option key={a.id} value={a.id}>
                {a.firstName} {a.lastName} &lt;{a.email}&gt;
              </option>
            ))}
          </select>
        </div>
        {serverErrors && (serverErrors.fields.subject || serverErrors.fields.message || serverErrors.general.length > 0) && (
          <Alert kind="warning" title="The template has a problem">
            {[serverErrors.fields.subject, serverErrors.fields.message, ...serverErrors.general]
              .filter(Boolean)
              .map((m) => (
                <p key={m}>{m}</p>
              ))}
          </Alert>
        )}
        {!values && !FEATURES.serverPreview && <p className="muted">The preview appears once an attendee is registered.</p>}
        {(shownSubject !== undefined || shownBody !== undefined) && (
          <div className="email" data-testid="preview">
            <p className="email__subject">
              <span className="muted">Subject: </span>
              <strong data-testid="preview-subject">{shownSubject || '(empty)'}</strong>
            </p>
            <pre className="email__body" data-testid="preview-body">
              {shownBody || '(empty)'}
            </pre>
          </div>
        )}
        {approximate && (
          <p className="muted small">
            Only plain <code>{'{{ variable }}'}</code> expressions are shown filled in here; the server renders the rest
            when it sends.
          </p>
        )}
      </div>
    </section>
  );
}
