import { useEffect, useMemo, useRef, useState } from 'react';
import { createThrottle } from '../lib/throttle';

export function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return debounced;
}

export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · TechConf` : 'TechConf';
  }, [title]);
}

/**
 * A stable function that runs `callback` at most once per `ms` (at once, then once more at
 * the end of the interval if asked again), and never after unmount.
 */
export function useThrottled(callback: () => void, ms: number): () => void {
  const saved = useRef(callback);
  useEffect(() => {
    saved.current = callback;
  }, [callback]);
  const throttle = useMemo(() => createThrottle(() => saved.current(), ms), [ms]);
  useEffect(() => () => throttle.cancel(), [throttle]);
  return throttle.call;
}
