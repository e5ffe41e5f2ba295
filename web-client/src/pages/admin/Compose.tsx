// Compose a notification: an optional name, subject and message templates, a live preview
// rendered by the server for a chosen attendee, then a confirmation step with the email as a
// sample attendee reads it and how many attendees will receive it. Template errors from the
// server are shown next to the field they concern, under one error summary. What is written
// is saved as a server-side draft as it is typed (`?draft=<id>` continues one, on any
// device); `?from=<notificationId>` starts a copy of a past notification.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useClient, useMutation, useQuery } from 'urql';
import { errorSummary, formErrors } from '../../api/errors';
import { AudiencePreviewQuery } from '../../api/campaigns';
import {
  ConferenceQuery,
  CreateNotificationMutation,
  DeleteNotificationDraftMutation,
  NotificationDraftQuery,
  NotificationQuery,
  PreviewNotificationQuery,
  PreviewRecipientsQuery,
} from '../../api/operations';
import { useSession } from '../../auth/session';
import { AudienceBuilder } from '../../components/AudienceBuilder';
import { ErrorSummary, summaryItems, useErrorSummary } from '../../components/ErrorSummary';
import { TextAreaField, TextField } from '../../components/Field';
import { SendLater } from '../../components/SendLater';
import { SendTest } from '../../components/SendTest';
import type { AudienceInput } from '../../lib/campaign';
import { formatDateTime } from '../../lib/format';
import { Alert, FormActions, Loading, PageHeading } from '../../components/ui';
import { useDebounced, usePageTitle } from '../../hooks/common';
import { useDraftAutosave, type DraftSaveState } from '../../hooks/useDraftAutosave';
import { formatTime, newIdempotencyKey, plural } from '../../lib/format';
import { TEMPLATE_VARIABLES, insertVariable } from '../../lib/template';
import {
  MESSAGE_MAX,
  NOTIFICATION_NAME_MAX,
  SUBJECT_MAX,
  validateNotification,
  type FieldErrors,
  type NotificationField,
} from '../../lib/validation';
import { navigate } from '../../router';

const FIELDS: readonly NotificationField[] = ['name', 'subject', 'message'];
const LABELS: Record<NotificationField, string> = { name: 'Name', subject: 'Subject', message: 'Message' };

/** "Copy of …", within the name's limit. */
export function copyName(name: string): string {
  return Array.from(`Copy of ${name}`).slice(0, NOTIFICATION_NAME_MAX).join('');
}

export function Compose({
  conferenceId,
  draftId: draftParam = null,
  fromId = null,
}: {
  conferenceId: string;
  /** A saved draft to continue. */
  draftId?: string | null;
  /** A notification to start a copy of. */
  fromId?: string | null;
}) {
  usePageTitle('Compose notification');
  const { session } = useSession();
  const canSend = session.status === 'signedIn' && session.viewer.role === 'ADMIN';
  const client = useClient();

  const [name, setName] = useState('');
  const [subject, setSubject] = useState('');
  const [message, setMessage] = useState('');
  const [dirty, setDirty] = useState(false);
  const [errors, setErrors] = useState<FieldErrors<NotificationField>>({});
  const summary = useErrorSummary();
  const [step, setStep] = useState<'edit' | 'confirm'>('edit');
  const [recipients, setRecipients] = useState<number | null>(null);
  const [countError, setCountError] = useState<string | null>(null);
  const [idempotencyKey, setIdempotencyKey] = useState(newIdempotencyKey);
  const [checking, setChecking] = useState(false);
  /** The email as the sample attendee reads it, from the review's server check. */
  const [sample, setSample] = useState<{ subject: string; body: string } | null>(null);
  // Which step the general errors come from, so their title says what did not happen.
  const [failedStep, setFailedStep] = useState<'review' | 'create'>('review');
  const [created, create] = useMutation(CreateNotificationMutation);
  const [sendAt, setSendAt] = useState<string | null>(null);
  const [sendAtError, setSendAtError] = useState<string | undefined>();
  const [audience, setAudience] = useState<AudienceInput | null>(null);
  const [, deleteDraft] = useMutation(DeleteNotificationDraftMutation);
  const lastField = useRef<'subject' | 'message'>('message');
  const subjectRef = useRef<HTMLInputElement>(null);
  const messageRef = useRef<HTMLTextAreaElement>(null);
  const confirmRef = useRef<HTMLHeadingElement>(null);

  const [{ data: conferenceData }] = useQuery({ query: ConferenceQuery, variables: { id: conferenceId } });
  const conference = conferenceData?.conference;

  // Where the editor starts: a saved draft, a copy of a past notification, or empty.
  const [start] = useState(() => ({ draft: draftParam, from: draftParam ? null : fromId }));
  const [loadedDraft] = useQuery({
    query: NotificationDraftQuery,
    variables: { id: start.draft ?? '' },
    pause: !start.draft || !canSend,
  });
  const [copied] = useQuery({ query: NotificationQuery, variables: { id: start.from ?? '' }, pause: !start.from });
  const autosave = useDraftAutosave({
    conferenceId,
    content: { name, subject, message },
    dirty,
    initialId: start.draft,
    enabled: canSend,
    // The address continues this draft, after a reload or on another device.
    onCreated: (id) =>
      window.history.replaceState(window.history.state, '', `${window.location.pathname}?draft=${encodeURIComponent(id)}`),
  });
  const loaded = useRef(false);
  useEffect(() => {
    if (loaded.current) return;
    const draft = loadedDraft.data?.notificationDraft;
    if (draft && draft.conferenceId === conferenceId) {
      loaded.current = true;
      setName(draft.name);
      setSubject(draft.subject);
      setMessage(draft.message);
      autosave.markStored({ name: draft.name, subject: draft.subject, message: draft.message });
      return;
    }
    const source = copied.data?.notification;
    if (source) {
      loaded.current = true;
      setName(copyName(source.name));
      setSubject(source.subject);
      setMessage(source.message);
      // A copy is new work: it is saved as a draft of its own.
      setDirty(true);
    }
  }, [loadedDraft.data, copied.data, conferenceId, autosave]);
  const loading = (start.draft !== null && loadedDraft.fetching) || (start.from !== null && copied.fetching);
  const otherConference = loadedDraft.data?.notificationDraft.conferenceId !== undefined &&
    loadedDraft.data.notificationDraft.conferenceId !== conferenceId;
  const loadProblem =
    start.draft && (loadedDraft.error || otherConference) ? 'draft' : start.from && copied.error ? 'copy' : null;

  const showSummary = (fieldErrors: FieldErrors<NotificationField>, general: string[] = []) =>
    summary.show(
      summaryItems(fieldErrors, FIELDS, (f) => LABELS[f], (f) => (f === 'name' ? 'notification-name' : f), general),
    );

  const change = (field: NotificationField, value: string) => {
    if (field === 'name') setName(value);
    else if (field === 'subject') setSubject(value);
    else setMessage(value);
    setDirty(true);
    if (errors[field]) setErrors((e) => ({ ...e, [field]: undefined }));
  };

  const insert = (variable: string) => {
    const field = lastField.current;
    const el = field === 'subject' ? subjectRef.current : messageRef.current;
    const value = field === 'subject' ? subject : message;
    const at = insertVariable(value, el?.selectionStart ?? value.length, el?.selectionEnd ?? value.length, variable);
    change(field, at.value);
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(at.caret, at.caret);
    });
  };

  const review = async (event: FormEvent) => {
    event.preventDefault();
    summary.clear();
    const local = validateNotification(subject, message, name);
    setErrors(local);
    if (FIELDS.some((f) => local[f])) {
      setFailedStep('review');
      showSummary(local);
      return;
    }
    const past = sendAt !== null && new Date(sendAt).getTime() < Date.now();
    setSendAtError(past ? 'Pick a time in the future, or untick “Send later”.' : undefined);
    if (past) return;
    // The server checks the templates as createNotification will (syntax, variables, filters).
    setChecking(true);
    const check = await client
      .query(
        PreviewNotificationQuery,
        { conferenceId, attendeeId: null, subject, message },
        { requestPolicy: 'network-only' },
      )
      .toPromise();
    setChecking(false);
    if (!check.data) {
      const mapped = formErrors(check.error, FIELDS);
      setErrors(mapped.fields);
      setFailedStep('review');
      showSummary(mapped.fields, mapped.general);
      return;
    }
    setSample(check.data.previewNotification);
    setRecipients(null);
    setCountError(null);
    setIdempotencyKey(newIdempotencyKey());
    setStep('confirm');
    requestAnimationFrame(() => confirmRef.current?.focus());
    const count = await client
      .query(AudiencePreviewQuery, { conferenceId, audience, first: 0 }, { requestPolicy: 'network-only' })
      .toPromise();
    if (count.data) setRecipients(count.data.audiencePreview.count);
    else setCountError(errorSummary(count.error));
  };

  const send = async () => {
    const result = await create({
      input: { conferenceId, name: name.trim() || null, subject, message, idempotencyKey, sendAt, audience },
    });
    const id = result.data?.createNotification.id;
    if (id) {
      // Sent: the draft has served its purpose.
      const sentDraft = await autosave.stop();
      if (sentDraft) await deleteDraft({ id: sentDraft });
      navigate(`/admin/notifications/${encodeURIComponent(id)}?created=1`);
      return;
    }
    const mapped = formErrors(result.error, FIELDS);
    setErrors(mapped.fields);
    setFailedStep('create');
    setStep('edit');
    showSummary(mapped.fields, mapped.general);
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
              {conference ? <> of {conference.name}</> : null}
              {audience ? ' matching the audience' : ''}, each personalised
              {sendAt ? (
                <>
                  , at <strong>{formatDateTime(sendAt)}</strong> (recipients are counted again then)
                </>
              ) : null}
              .
            </p>
          )}
          {recipients === 0 && <Alert kind="warning">Nobody is registered yet, so nobody would receive it.</Alert>}
          <dl className="confirm__summary">
            <dt>Name</dt>
            <dd data-testid="confirm-name">
              {name.trim() || (
                <>
                  {sample?.subject} <span className="muted small">(the subject as the sample attendee reads it)</span>
                </>
              )}
            </dd>
          </dl>
          {sample && (
            <section className="email confirm__sample" aria-labelledby="sample-heading" data-testid="confirm-sample">
              <h3 id="sample-heading">As Ada Lovelace, a sample attendee, will read it</h3>
              <p className="email__subject">
                <span className="muted">Subject: </span>
                <strong data-testid="sample-subject">{sample.subject}</strong>
              </p>
              <pre className="email__body" data-testid="sample-body">
                {sample.body}
              </pre>
            </section>
          )}
          <details className="confirm__templates">
            <summary>Templates as written</summary>
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
          </details>
          {created.error && !created.fetching && <Alert>{errorSummary(created.error)}</Alert>}
          <div className="actions">
            <button
              type="button"
              className="button button--primary"
              onClick={() => void send()}
              disabled={created.fetching || recipients === null}
            >
              {created.fetching
                ? 'Sending…'
                : sendAt
                  ? 'Schedule'
                  : recipients === null
                    ? 'Send'
                    : `Send to ${plural(recipients, 'attendee')}`}
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
      <ErrorSummary
        title={failedStep === 'review' ? 'The notification could not be checked for review' : 'The notification was not created'}
        items={summary.items}
        attempt={summary.attempt}
        fieldErrors={errors}
      />
      {loadProblem === 'draft' && (
        <Alert kind="warning" title="The draft could not be opened">
          {otherConference
            ? 'It belongs to another conference.'
            : `It was sent or deleted, or the server is away (${errorSummary(loadedDraft.error)}).`}{' '}
          What you write now is saved as a new draft.
        </Alert>
      )}
      {loadProblem === 'copy' && (
        <Alert kind="warning" title="The notification to copy could not be opened">
          {errorSummary(copied.error)}
        </Alert>
      )}
      {loading && <Loading label="Opening…" />}
      <div className="compose">
        <form className="card form compose__form" onSubmit={review} noValidate aria-busy={loading}>
          <DraftStatus state={autosave.state} />
          <TextField
            id="notification-name"
            label="Name"
            value={name}
            max={NOTIFICATION_NAME_MAX}
            error={errors.name}
            hint="Shown in the notification list. Empty: the subject as a sample attendee reads it."
            onChange={(e) => change('name', e.target.value)}
            autoComplete="off"
          />
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
          <SendLater value={sendAt} onChange={setSendAt} error={sendAtError} />
          <AudienceBuilder conferenceId={conferenceId} onChange={setAudience} />
          <SendTest conferenceId={conferenceId} subject={subject} message={message} />
          <FormActions busy={checking} busyLabel="Checking…" submitLabel="Review and send…" />
        </form>
        <Preview conferenceId={conferenceId} subject={subject} message={message} />
      </div>
    </>
  );
}

/** Where the draft stands, in words; not a live region (it changes with every pause in typing). */
function DraftStatus({ state }: { state: DraftSaveState }) {
  const text =
    state.kind === 'saving'
      ? 'Saving draft…'
      : state.kind === 'saved'
        ? `Draft saved at ${formatTime(state.at)}`
        : state.kind === 'failed'
          ? `The draft was not saved: ${state.reason}`
          : 'Saved as a draft as you write.';
  return (
    <p className={`draft-status small${state.kind === 'failed' ? ' draft-status--failed' : ' muted'}`} data-testid="draft-status" data-state={state.kind}>
      {text}
    </p>
  );
}

const SAMPLE = '';

/**
 * The email as the chosen attendee (or sample values) will see it, rendered by the
 * server's `previewNotification` a moment after typing stops. Its template errors are
 * shown here as they appear; "Review and send" shows them next to the fields.
 */
function Preview({ conferenceId, subject, message }: { conferenceId: string; subject: string; message: string }) {
  const [{ data: recipients }] = useQuery({ query: PreviewRecipientsQuery, variables: { conferenceId } });
  const attendees = recipients?.attendees.nodes ?? [];
  const [chosen, setChosen] = useState<string | null>(null);
  const attendeeId = chosen ?? attendees[0]?.id ?? SAMPLE;

  const debouncedSubject = useDebounced(subject, 300);
  const debouncedMessage = useDebounced(message, 300);
  const blank = debouncedSubject.trim() === '' || debouncedMessage.trim() === '';
  const [preview] = useQuery({
    query: PreviewNotificationQuery,
    variables: {
      conferenceId,
      attendeeId: attendeeId === SAMPLE ? null : attendeeId,
      subject: debouncedSubject,
      message: debouncedMessage,
    },
    pause: blank,
  });
  const problems = blank ? null : formErrors(preview.error, FIELDS);
  const problemList = problems
    ? [
        problems.fields.subject && `Subject: ${problems.fields.subject}`,
        problems.fields.message && `Message: ${problems.fields.message}`,
        ...problems.general,
      ].filter((m): m is string => Boolean(m))
    : [];
  const rendered = !blank && !preview.error ? preview.data?.previewNotification : undefined;

  const [expanded, setExpanded] = useState(true);
  useEffect(() => {
    // On narrow screens the preview starts folded, below the form.
    if (window.matchMedia?.('(max-width: 48rem)').matches) setExpanded(false);
  }, []);

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
          <select id="preview-attendee" value={attendeeId} onChange={(e) => setChosen(e.target.value)}>
            {attendees.map((a) => (
              <option key={a.id} value={a.id}>
                {a.firstName} {a.lastName} &lt;{a.email}&gt;
              </option>
            ))}
            <option value={SAMPLE}>Sample values</option>
          </select>
        </div>
        {blank && <p className="muted">Write a subject and a message to see the email.</p>}
        {problemList.length > 0 && (
          <Alert kind="warning" title="The template has a problem">
            {problemList.map((m) => (
              <p key={m}>{m}</p>
            ))}
          </Alert>
        )}
        {rendered && (
          <div className="email" data-testid="preview" aria-busy={preview.fetching}>
            <p className="email__subject">
              <span className="muted">Subject: </span>
              <strong data-testid="preview-subject">{rendered.subject}</strong>
            </p>
            {/* The HTML part, as the server renders it (sanitised, attendee values escaped).
                An empty sandbox: no scripts, no forms, no same-origin access, whatever it holds. */}
            <iframe
              className="email__html"
              data-testid="preview-html"
              title="HTML part of the email"
              sandbox=""
              referrerPolicy="no-referrer"
              srcDoc={rendered.html}
            />
            <details className="email__text">
              <summary>Plain-text part</summary>
              <pre className="email__body" data-testid="preview-body">
                {rendered.body}
              </pre>
            </details>
          </div>
        )}
      </div>
    </section>
  );
}
