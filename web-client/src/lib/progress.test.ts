import { describe, expect, it } from 'vitest';
import {
  availableControls,
  formatDuration,
  formatRate,
  percent,
  progressFromNotification,
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
});

describe('progress read over HTTP', () => {
  it('has the counters and status of the notification, and no rate or ETA', () => {
    const n = { id: 'n1', status: 'SENDING' as const, total: 100, sent: 40, failed: 10, cancelled: 0, pending: 50 };
    expect(progressFromNotification(n, new Date('2027-01-01T00:00:00Z'))).toEqual({
      notificationId: 'n1',
      status: 'SENDING',
      total: 100,
      sent: 40,
      failed: 10,
      cancelled: 0,
      pending: 50,
      ratePerSecond: null,
      etaSeconds: null,
      updatedAt: '2027-01-01T00:00:00.000Z',
    });
    expect(progressFromNotification({ ...n, status: 'COMPLETED', sent: 90, pending: 0 }, new Date()).etaSeconds).toBe(0);
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
    ['PAUSING', 1, { pause: false, resume: true, cancel: true, retryFailed: true }],
    ['PAUSED', 0, { pause: false, resume: true, cancel: true, retryFailed: false }],
    ['CANCELLING', 1, { pause: false, resume: false, cancel: false, retryFailed: false }],
    ['COMPLETED', 0, { pause: false, resume: false, cancel: false, retryFailed: false }],
    ['COMPLETED_WITH_ERRORS', 2, { pause: false, resume: false, cancel: false, retryFailed: true }],
    ['CANCELLED', 2, { pause: false, resume: false, cancel: false, retryFailed: false }],
  ] as const)('%s with %i failed', (status, failed, expected) => {
    expect(availableControls({ status, failed })).toEqual(expected);
  });
});
