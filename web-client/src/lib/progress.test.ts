import { describe, expect, it } from 'vitest';
import { progressFromPoll } from '../hooks/live';
import {
  availableControls,
  etaSeconds,
  formatDuration,
  formatRate,
  percent,
  rateFromSamples,
  segments,
  type NotificationStatus,
} from './progress';

const p = (over: Partial<{ status: NotificationStatus; total: number; sent: number; failed: number; cancelled: number }>) => ({
  status: 'SENDING' as NotificationStatus,
  total: 320,
  sent: 0,
  failed: 0,
  cancelled: 0,
  ...over,
});

describe('progress arithmetic', () => {
  it('counts sent, failed and cancelled as finished, floored to whole percent', () => {
    expect(percent(p({ sent: 100, failed: 60 }))).toBe(50);
    expect(percent(p({ sent: 319 }))).toBe(99);
    expect(percent(p({ sent: 300, failed: 10, cancelled: 10 }))).toBe(100);
  });

  it('is 0% before planning and 100% for a finished notification with no recipients', () => {
    expect(percent(p({ status: 'QUEUED', total: 0 }))).toBe(0);
    expect(percent(p({ status: 'COMPLETED', total: 0 }))).toBe(100);
  });

  it('sizes the bar segments in percent of the total', () => {
    expect(segments(p({ total: 200, sent: 100, failed: 50 }))).toEqual({ sent: 50, failed: 25, cancelled: 0 });
    expect(segments(p({ total: 0 }))).toEqual({ sent: 0, failed: 0, cancelled: 0 });
  });

  it('measures the rate over the recent window of samples', () => {
    expect(rateFromSamples([])).toBeNull();
    expect(rateFromSamples([{ at: 0, done: 0 }])).toBeNull();
    expect(rateFromSamples([{ at: 0, done: 0 }, { at: 2000, done: 50 }])).toBe(25);
    // Samples older than the window are ignored.
    expect(
      rateFromSamples(
        [
          { at: 0, done: 0 },
          { at: 20_000, done: 100 },
          { at: 25_000, done: 150 },
        ],
        10_000,
      ),
    ).toBe(10);
  });

  it('estimates the time left from the pending count and the rate', () => {
    expect(etaSeconds(100, 25)).toBe(4);
    expect(etaSeconds(101, 25)).toBe(5);
    expect(etaSeconds(0, null)).toBe(0);
    expect(etaSeconds(10, 0)).toBeNull();
    expect(etaSeconds(10, null)).toBeNull();
  });

  it('builds a progress object from a polled notification', () => {
    const n = { id: 'n1', status: 'SENDING' as const, total: 100, sent: 40, failed: 10, cancelled: 0, pending: 50 };
    const progress = progressFromPoll(n, [{ at: 0, done: 0 }, { at: 5000, done: 50 }], new Date('2027-01-01T00:00:00Z'));
    expect(progress).toMatchObject({ notificationId: 'n1', ratePerSecond: 10, etaSeconds: 5, updatedAt: '2027-01-01T00:00:00.000Z' });
    const finished = progressFromPoll({ ...n, status: 'COMPLETED', pending: 0 }, [], new Date());
    expect(finished).toMatchObject({ ratePerSecond: null, etaSeconds: 0 });
  });
});

describe('progress formatting', () => {
  it('formats rates for people', () => {
    expect(formatRate(null)).toBe('—');
    expect(formatRate(250.4)).toBe('250/s');
    expect(formatRate(12.34)).toBe('12.3/s');
    expect(formatRate(2)).toBe('2.0/s');
    expect(formatRate(0.5)).toBe('30.0/min');
    expect(formatRate(0)).toBe('0.0/s');
  });

  it('formats durations for people', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(Infinity)).toBe('—');
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(45.2)).toBe('45 s');
    expect(formatDuration(120)).toBe('2 min');
    expect(formatDuration(185)).toBe('3 min 5 s');
    expect(formatDuration(3600)).toBe('1 h');
    expect(formatDuration(7440)).toBe('2 h 4 min');
  });
});

describe('controls that apply', () => {
  it.each([
    ['QUEUED', 0, { pause: true, resume: false, cancel: true, retryFailed: false }],
    ['SENDING', 3, { pause: true, resume: false, cancel: true, retryFailed: true }],
    ['PAUSED', 0, { pause: false, resume: true, cancel: true, retryFailed: false }],
    ['COMPLETED', 0, { pause: false, resume: false, cancel: false, retryFailed: false }],
    ['COMPLETED_WITH_ERRORS', 2, { pause: false, resume: false, cancel: false, retryFailed: true }],
    ['CANCELLED', 2, { pause: false, resume: false, cancel: false, retryFailed: false }],
  ] as const)('%s with %i failed', (status, failed, expected) => {
    expect(availableControls({ status, failed })).toEqual(expected);
  });
});
