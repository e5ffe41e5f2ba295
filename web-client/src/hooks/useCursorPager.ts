import { useCallback, useEffect, useState } from 'react';

export interface CursorPager {
  /** The `after` argument for the current page (null on the first). */
  after: string | null;
  /** 1-based page number. */
  page: number;
  next(endCursor: string | null | undefined): void;
  previous(): void;
}

/**
 * Forward-only cursor connections paged both ways: the cursors of the pages seen so far
 * are kept, so "previous" goes back without a `before` argument. Changing `resetKey`
 * (e.g. the search text) starts again from the first page.
 */
export function useCursorPager(resetKey: unknown = null): CursorPager {
  const [stack, setStack] = useState<(string | null)[]>([null]);
  useEffect(() => {
    setStack([null]);
  }, [resetKey]);
  const next = useCallback((endCursor: string | null | undefined) => {
    if (endCursor) setStack((s) => [...s, endCursor]);
  }, []);
  const previous = useCallback(() => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)), []);
  return { after: stack[stack.length - 1] ?? null, page: stack.length, next, previous };
}
