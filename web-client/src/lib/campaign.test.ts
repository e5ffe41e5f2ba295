import { describe, expect, it } from 'vitest';
import { EMPTY_AUDIENCE, audienceFromForm, countdown, describeAudience, fromLocalInput, splitValues, toLocalInput } from './campaign';

describe('campaign helpers', () => {
  it('reads a local date and time as a UTC instant and back', () => {
    const at = fromLocalInput('2027-05-12T09:30');
    expect(at).not.toBeNull();
    expect(toLocalInput(new Date(at as string))).toBe('2027-05-12T09:30');
    expect(fromLocalInput('2027-05-12T09:30:15')).not.toBeNull();
    expect(fromLocalInput('tomorrow')).toBeNull();
    expect(fromLocalInput('')).toBeNull();
  });

  it('counts down to the second, then says now', () => {
    const now = new Date('2027-01-01T10:00:00Z');
    expect(countdown('2027-01-01T10:00:42Z', now)).toBe('in 42 s');
    expect(countdown('2027-01-01T10:05:03Z', now)).toBe('in 5 min 3 s');
    expect(countdown('2027-01-01T12:04:00Z', now)).toBe('in 2 h 4 min');
    expect(countdown('2027-01-03T13:00:00Z', now)).toBe('in 2 d 3 h');
    expect(countdown('2027-01-01T09:59:00Z', now)).toBe('now');
  });

  it('builds criteria from the form: lists split on commas, empty fields left out', () => {
    expect(splitValues(' Acme , ,Globex ')).toEqual(['Acme', 'Globex']);
    expect(splitValues(' , ')).toBeNull();
    expect(audienceFromForm(EMPTY_AUDIENCE)).toBeNull();
    expect(audienceFromForm({ ...EMPTY_AUDIENCE, company: 'Acme, Globex', interestsContain: ' rust ' })).toEqual({
      company: ['Acme', 'Globex'],
      interestsContain: 'rust',
    });
    const dated = audienceFromForm({ ...EMPTY_AUDIENCE, registeredAfter: '2027-01-01T00:00' });
    expect(dated?.registeredAfter).toBe(fromLocalInput('2027-01-01T00:00'));
  });

  it('describes an audience in words', () => {
    expect(describeAudience(null)).toBe('Every attendee registered when it is sent');
    expect(describeAudience({ company: ['Acme', 'Globex'], city: ['Porto'], attendeeIds: ['a', 'b'] })).toBe(
      'company Acme or Globex; city Porto; 2 chosen attendees',
    );
  });
});
