// Campaign helpers for the compose page and the notification views: the send-later time in
// the admin's time zone, the audience builder's form values, and countdowns.
import type { AudienceInput } from '../gql/graphql';

export type { AudienceInput };

/** The admin's time zone, as the browser names it ("Europe/Lisbon"). */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** A `datetime-local` input's value ("2027-05-12T09:30") for an instant, in local time. */
export function toLocalInput(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(
    date.getMinutes(),
  )}`;
}

/** The UTC instant (RFC 3339) of a `datetime-local` value read in local time; null if invalid. */
export function fromLocalInput(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** "in 2 h 5 min", "in 42 s", or "now" once the moment has come. */
export function countdown(until: string, now: Date): string {
  const ms = new Date(until).getTime() - now.getTime();
  if (!Number.isFinite(ms) || ms <= 0) return 'now';
  const s = Math.ceil(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `in ${d} d ${h} h`;
  if (h > 0) return `in ${h} h ${m} min`;
  if (m > 0) return `in ${m} min ${sec} s`;
  return `in ${sec} s`;
}

/** The audience builder's form: lists as comma-separated text, times as local inputs. */
export interface AudienceForm {
  company: string;
  jobPosition: string;
  city: string;
  state: string;
  interestsContain: string;
  registeredAfter: string;
  registeredBefore: string;
}

export const EMPTY_AUDIENCE: AudienceForm = {
  company: '',
  jobPosition: '',
  city: '',
  state: '',
  interestsContain: '',
  registeredAfter: '',
  registeredBefore: '',
};

/** "Acme, Globex" → ["Acme", "Globex"]; empty → null (the criterion does not filter). */
export function splitValues(text: string): string[] | null {
  const values = text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  return values.length > 0 ? values : null;
}

/** The criteria a form states, or null when it states none (every attendee). */
export function audienceFromForm(form: AudienceForm): AudienceInput | null {
  const audience: AudienceInput = {};
  const lists = ['company', 'jobPosition', 'city', 'state'] as const;
  for (const key of lists) {
    const values = splitValues(form[key]);
    if (values) audience[key] = values;
  }
  const interests = form.interestsContain.trim();
  if (interests) audience.interestsContain = interests;
  const after = form.registeredAfter ? fromLocalInput(form.registeredAfter) : null;
  if (after) audience.registeredAfter = after;
  const before = form.registeredBefore ? fromLocalInput(form.registeredBefore) : null;
  if (before) audience.registeredBefore = before;
  return Object.keys(audience).length > 0 ? audience : null;
}

/** A one-line description of stored criteria ("company Acme or Globex; city Porto"). */
export function describeAudience(audience: AudienceInput | null | undefined): string {
  if (!audience) return 'Every attendee registered when it is sent';
  const parts: string[] = [];
  const list = (label: string, values?: readonly string[] | null) => {
    if (values && values.length) parts.push(`${label} ${values.join(' or ')}`);
  };
  list('company', audience.company);
  list('job position', audience.jobPosition);
  list('city', audience.city);
  list('state', audience.state);
  if (audience.interestsContain) parts.push(`interests contain “${audience.interestsContain}”`);
  if (audience.registeredAfter) parts.push(`registered from ${new Date(audience.registeredAfter).toLocaleString('en-GB')}`);
  if (audience.registeredBefore)
    parts.push(`registered before ${new Date(audience.registeredBefore).toLocaleString('en-GB')}`);
  if (audience.attendeeIds && audience.attendeeIds.length) parts.push(`${audience.attendeeIds.length} chosen attendees`);
  return parts.join('; ');
}
