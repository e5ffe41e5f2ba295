// "Send me a test": the templates rendered for the first attendee and emailed, marked
// [TEST], to a few addresses. Nothing is created and no progress counts it.
import { useId, useState } from 'react';
import { useMutation } from 'urql';
import { SendTestNotificationMutation } from '../api/campaigns';
import { errorSummary } from '../api/errors';
import { splitValues } from '../lib/campaign';
import { Alert } from './ui';

export const TEST_MAX_RECIPIENTS = 5;

export function SendTest({ conferenceId, subject, message }: { conferenceId: string; subject: string; message: string }) {
  const id = useId();
  const [to, setTo] = useState('');
  const [local, setLocal] = useState<string | null>(null);
  const [result, send] = useMutation(SendTestNotificationMutation);
  const [done, setDone] = useState<string | null>(null);

  const run = async () => {
    setDone(null);
    const addresses = splitValues(to) ?? [];
    if (addresses.length === 0) return setLocal('Enter your email address.');
    if (addresses.length > TEST_MAX_RECIPIENTS) return setLocal(`At most ${TEST_MAX_RECIPIENTS} addresses.`);
    if (!subject.trim() || !message.trim()) return setLocal('Write a subject and a message first.');
    setLocal(null);
    const answer = await send({ input: { conferenceId, subject, message, to: addresses } });
    const sent = answer.data?.sendTestNotification;
    if (sent) {
      const failed = sent.recipients.filter((r) => !r.sent);
      setDone(
        failed.length === 0
          ? `Test sent to ${sent.recipients.map((r) => r.address).join(', ')}: “${sent.subject}”.`
          : `Not sent to ${failed.map((r) => `${r.address} (${r.error ?? 'refused'})`).join(', ')}.`,
      );
    }
  };

  return (
    <fieldset className="campaign-box" data-testid="send-test">
      <legend>Test first</legend>
      <div className="field">
        <label htmlFor={`${id}-to`}>Send a test to</label>
        <input
          id={`${id}-to`}
          type="text"
          inputMode="email"
          autoComplete="email"
          value={to}
          onChange={(e) => setTo(e.target.value)}
          aria-describedby={`${id}-hint`}
        />
        <span id={`${id}-hint`} className="hint">
          Up to {TEST_MAX_RECIPIENTS} addresses, comma-separated. The subject is marked [TEST].
        </span>
      </div>
      <button type="button" className="button button--secondary" onClick={() => void run()} disabled={result.fetching}>
        {result.fetching ? 'Sending test…' : 'Send me a test'}
      </button>
      {local && <Alert>{local}</Alert>}
      {result.error && !result.fetching && <Alert>{errorSummary(result.error)}</Alert>}
      {done && <Alert kind="success">{done}</Alert>}
    </fieldset>
  );
}
