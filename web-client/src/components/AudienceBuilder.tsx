// The audience builder: criteria over attendee fields (AND between fields, OR between the
// comma-separated values of one), with the server's live count of who matches now.
import { useEffect, useId, useRef, useState } from 'react';
import { useQuery } from 'urql';
import { AudiencePreviewQuery } from '../api/campaigns';
import { errorSummary } from '../api/errors';
import { useDebounced } from '../hooks/common';
import { EMPTY_AUDIENCE, audienceFromForm, type AudienceForm, type AudienceInput } from '../lib/campaign';
import { plural } from '../lib/format';

const TEXT_FIELDS: { key: keyof AudienceForm; label: string; hint?: string }[] = [
  { key: 'company', label: 'Company', hint: 'Comma-separated; any of them.' },
  { key: 'jobPosition', label: 'Job position', hint: 'Comma-separated; any of them.' },
  { key: 'city', label: 'City', hint: 'Comma-separated; any of them.' },
  { key: 'state', label: 'State', hint: 'Comma-separated; any of them.' },
  { key: 'interestsContain', label: 'Interests contain' },
];

const DATE_FIELDS: { key: keyof AudienceForm; label: string }[] = [
  { key: 'registeredAfter', label: 'Registered from' },
  { key: 'registeredBefore', label: 'Registered before' },
];

export function AudienceBuilder({
  conferenceId,
  onChange,
}: {
  conferenceId: string;
  onChange(audience: AudienceInput | null): void;
}) {
  const id = useId();
  const [form, setForm] = useState<AudienceForm>(EMPTY_AUDIENCE);
  const audience = audienceFromForm(form);
  const key = JSON.stringify(audience);
  const debounced = useDebounced(key, 300);
  // `key` stands for `audience`, a new object on every render.
  const report = useRef(onChange);
  report.current = onChange;
  useEffect(() => {
    report.current(JSON.parse(key) as AudienceInput | null);
  }, [key]);
  const [{ data, error, fetching }] = useQuery({
    query: AudiencePreviewQuery,
    variables: { conferenceId, audience: JSON.parse(debounced) as AudienceInput | null, first: 5 },
    requestPolicy: 'cache-and-network',
  });
  const preview = data?.audiencePreview;
  const set = (field: keyof AudienceForm, value: string) => setForm((f) => ({ ...f, [field]: value }));

  return (
    <fieldset className="campaign-box audience" data-testid="audience-builder">
      <legend>Who</legend>
      <p className="muted small">
        Leave every field empty to send to everyone registered when it is sent. Fields combine: all must match.
      </p>
      <div className="audience__grid">
        {TEXT_FIELDS.map(({ key: field, label, hint }) => (
          <div className="field" key={field}>
            <label htmlFor={`${id}-${field}`}>{label}</label>
            <input
              id={`${id}-${field}`}
              value={form[field]}
              onChange={(e) => set(field, e.target.value)}
              autoComplete="off"
              aria-describedby={hint ? `${id}-${field}-hint` : undefined}
            />
            {hint && (
              <span id={`${id}-${field}-hint`} className="hint">
                {hint}
              </span>
            )}
          </div>
        ))}
        {DATE_FIELDS.map(({ key: field, label }) => (
          <div className="field" key={field}>
            <label htmlFor={`${id}-${field}`}>{label}</label>
            <input
              id={`${id}-${field}`}
              type="datetime-local"
              value={form[field]}
              onChange={(e) => set(field, e.target.value)}
            />
          </div>
        ))}
      </div>
      <div className="audience__count" aria-live="polite" data-testid="audience-count">
        {error ? (
          <span className="error-text">{errorSummary(error)}</span>
        ) : preview ? (
          <>
            <strong>{plural(preview.count, 'attendee')}</strong> match now
            {preview.attendees.nodes.length > 0 && (
              <span className="muted">
                {' '}
                ({preview.attendees.nodes.map((a) => `${a.firstName} ${a.lastName}`).join(', ')}
                {preview.count > preview.attendees.nodes.length ? ', …' : ''})
              </span>
            )}
          </>
        ) : fetching ? (
          'Counting…'
        ) : null}
      </div>
    </fieldset>
  );
}
