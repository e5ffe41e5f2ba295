// "Send later": a date and time in the admin's time zone, sent to the server as a UTC
// instant. Unchecked, the notification goes out as soon as it is created.
import { useId, useState } from 'react';
import { formatDateTime } from '../lib/format';
import { fromLocalInput, localTimeZone, toLocalInput } from '../lib/campaign';

export function SendLater({
  value,
  onChange,
  error,
}: {
  /** The chosen instant (RFC 3339, UTC), or null to send now. */
  value: string | null;
  onChange(value: string | null): void;
  error?: string | undefined;
}) {
  const id = useId();
  const [enabled, setEnabled] = useState(value !== null);
  const [local, setLocal] = useState(() => toLocalInput(value ? new Date(value) : new Date(Date.now() + 3600_000)));
  const zone = localTimeZone();

  const toggle = (on: boolean) => {
    setEnabled(on);
    onChange(on ? fromLocalInput(local) : null);
  };
  const change = (text: string) => {
    setLocal(text);
    onChange(fromLocalInput(text));
  };

  return (
    <fieldset className="campaign-box" data-testid="send-later">
      <legend>When</legend>
      <label className="checkbox">
        <input type="checkbox" checked={enabled} onChange={(e) => toggle(e.target.checked)} /> Send later
      </label>
      {enabled && (
        <div className={`field${error ? ' field--invalid' : ''}`}>
          <label htmlFor={`${id}-at`}>Send at ({zone})</label>
          <input
            id={`${id}-at`}
            type="datetime-local"
            step={1}
            value={local}
            min={toLocalInput(new Date())}
            onChange={(e) => change(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={`${id}-hint${error ? ` ${id}-error` : ''}`}
          />
          <p id={`${id}-hint`} className="hint">
            {value ? <>Planned {formatDateTime(value)}. Recipients are counted then.</> : 'Pick a date and time.'}
          </p>
          <p id={`${id}-error`} className="field__error" role={error ? 'alert' : undefined} hidden={!error}>
            {error}
          </p>
        </div>
      )}
    </fieldset>
  );
}
