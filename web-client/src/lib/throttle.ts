// Rate-limiting refetches that live events trigger: a send can produce several events a
// second, and a view needs at most one fresh copy per interval, but always one after the
// last event, so that it ends up current.

export interface Throttle {
  /** Asks for a run: now if none ran within the interval, else once at its end. */
  call(): void;
  /** Forgets a pending run (on unmount). */
  cancel(): void;
}

export interface Timers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Leading and trailing: the first call runs at once; calls during the interval collapse into one run at its end. */
export function createThrottle(run: () => void, intervalMs: number, timers: Timers = realTimers): Throttle {
  let lastRun = -Infinity;
  let pending: unknown = null;
  const fire = () => {
    pending = null;
    lastRun = timers.now();
    run();
  };
  return {
    call() {
      if (pending !== null) return;
      const wait = lastRun + intervalMs - timers.now();
      if (wait <= 0) fire();
      else pending = timers.setTimeout(fire, wait);
    },
    cancel() {
      if (pending !== null) timers.clearTimeout(pending);
      pending = null;
    },
  };
}
