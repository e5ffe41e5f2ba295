import { describe, expect, it } from 'vitest';
import { progressAnnouncement } from './announce';

const base = { status: 'SENDING' as const, total: 200, sent: 0, failed: 0, cancelled: 0, suppressed: 0, pending: 200 };
const at = (sent: number, extra: Partial<typeof base> | Record<string, unknown> = {}) => ({
  ...base,
  sent,
  pending: 200 - sent,
  ...extra,
});

describe('progress announcements', () => {
  it('says nothing about the first figures, which are on screen already', () => {
    expect(progressAnnouncement(null, at(100))).toBeNull();
    expect(progressAnnouncement(null, at(200, { status: 'COMPLETED' }))).toBeNull();
  });

  it('announces each quarter once, not every count', () => {
    expect(progressAnnouncement(at(10), at(20))).toBeNull();
    expect(progressAnnouncement(at(40), at(50))).toBe('25% done: 50 of 200 sent.');
    expect(progressAnnouncement(at(50), at(60))).toBeNull();
    // A jump over two milestones names the last one.
    expect(progressAnnouncement(at(40), at(120))).toBe('50% done: 120 of 200 sent.');
    expect(progressAnnouncement(at(149), at(150))).toBe('75% done: 150 of 200 sent.');
  });

  it('announces the start, a pause, a resume and the end with the final counts', () => {
    expect(progressAnnouncement({ ...at(0), status: 'QUEUED', total: 0 }, at(0))).toBe('Sending started to 200 recipients.');
    expect(progressAnnouncement(at(80), at(80, { status: 'PAUSED' }))).toBe('Sending paused at 40%: 120 still to send.');
    expect(progressAnnouncement(at(80, { status: 'PAUSED' }), at(80))).toBe('Sending resumed: 120 still to send.');
    expect(progressAnnouncement(at(190), at(200, { status: 'COMPLETED', pending: 0 }))).toBe('Sending complete: 200 sent of 200.');
    expect(progressAnnouncement(at(160), at(169, { status: 'COMPLETED_WITH_ERRORS', failed: 31, pending: 0 }))).toBe(
      'Sending finished with errors: 169 sent, 31 failed of 200.',
    );
    expect(progressAnnouncement(at(50), at(50, { status: 'CANCELLED', cancelled: 150, pending: 0 }))).toBe(
      'Sending cancelled: 50 sent, 150 cancelled of 200.',
    );
  });
});
