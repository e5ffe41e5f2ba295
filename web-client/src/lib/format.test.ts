import { describe, expect, it } from 'vitest';
import { formatDateTime, formatTime } from './format';

const ZONE = '(UTC|GMT|GMT[+-]\\d{1,2}(:\\d\\d)?|[A-Z]{3,5})';

describe('times', () => {
  it('say their zone', () => {
    expect(formatDateTime('2027-01-16T12:58:00Z')).toMatch(new RegExp(`^16 Jan 2027, \\d\\d:\\d\\d ${ZONE}$`));
    expect(formatTime('2027-01-16T14:49:22Z')).toMatch(new RegExp(`^\\d\\d:49:22 ${ZONE}$`));
    expect(formatDateTime(null)).toBe('—');
  });
});
