import { describe, expect, it } from 'vitest';
import { firstPage, pageCount, rangeLabel, rowPager } from './rowPager';

describe('row pager', () => {
  it('follows cursors forward and comes back the same way', () => {
    let s = rowPager(firstPage, { type: 'next', endCursor: 'c1', pageSize: 25 });
    s = rowPager(s, { type: 'next', endCursor: 'c2', pageSize: 25 });
    expect(s.current).toEqual({ after: 'c2', offset: 0, start: 50 });
    s = rowPager(s, { type: 'previous', pageSize: 25 });
    expect(s.current).toEqual({ after: 'c1', offset: 0, start: 25 });
  });

  it('jumps by offset, then pages by cursor from there, and goes back before the jump by offset', () => {
    let s = rowPager(firstPage, { type: 'jump', page: 4, pageSize: 25 });
    expect(s.current).toEqual({ after: null, offset: 75, start: 75 });
    s = rowPager(s, { type: 'next', endCursor: 'c', pageSize: 25 });
    expect(s.current.start).toBe(100);
    s = rowPager({ current: s.current, back: [] }, { type: 'previous', pageSize: 25 });
    expect(s.current).toEqual({ after: null, offset: 75, start: 75 });
  });

  it('labels the rows shown', () => {
    expect(rangeLabel(25, 25, 728)).toBe('26–50 of 728');
    expect(rangeLabel(725, 3, 728)).toBe('726–728 of 728');
    expect(rangeLabel(0, 0, 0)).toBe('0 of 0');
    expect(pageCount(728, 25)).toBe(30);
    expect(pageCount(0, 25)).toBe(1);
  });
});
