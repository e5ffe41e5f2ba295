// Paging over a cursor connection that can also jump: Next follows the server's cursor (so
// a page never repeats or skips rows however the list changes), a page number jumps by
// offset, and Previous goes back to where the reader came from.

/** Where a page starts: after a cursor, or after skipping `offset` rows; `start` is its first row (0-based). */
export interface RowPosition {
  after: string | null;
  offset: number;
  start: number;
}

export interface RowPagerState {
  current: RowPosition;
  back: RowPosition[];
}

export type RowPagerAction =
  | { type: 'next'; endCursor: string; pageSize: number }
  | { type: 'previous'; pageSize: number }
  | { type: 'jump'; page: number; pageSize: number }
  | { type: 'reset' };

export const firstPage: RowPagerState = { current: { after: null, offset: 0, start: 0 }, back: [] };

export function rowPager(state: RowPagerState, action: RowPagerAction): RowPagerState {
  switch (action.type) {
    case 'reset':
      return firstPage;
    case 'next':
      return {
        current: { after: action.endCursor, offset: 0, start: state.current.start + action.pageSize },
        back: [...state.back, state.current],
      };
    case 'previous': {
      const last = state.back[state.back.length - 1];
      if (last) return { current: last, back: state.back.slice(0, -1) };
      if (state.current.start === 0) return state;
      const start = Math.max(0, state.current.start - action.pageSize);
      return { current: { after: null, offset: start, start }, back: [] };
    }
    case 'jump': {
      const start = Math.max(0, (Math.floor(action.page) - 1) * action.pageSize);
      if (start === state.current.start) return state;
      return { current: { after: null, offset: start, start }, back: [...state.back, state.current] };
    }
  }
}

/** A key naming the request a position makes, to tell which page an answer belongs to. */
export function positionKey(after: string | null | undefined, offset: number | null | undefined): string {
  return `${after ?? ''}|${offset ?? 0}`;
}

/** "26–50 of 728", or "No rows" when there are none. */
export function rangeLabel(start: number, shown: number, total: number): string {
  if (total === 0 || shown === 0) return `0 of ${total.toLocaleString('en-US')}`;
  const f = (n: number) => n.toLocaleString('en-US');
  return `${f(start + 1)}–${f(start + shown)} of ${f(total)}`;
}

export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}
