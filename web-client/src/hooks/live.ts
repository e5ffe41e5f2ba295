// Live data for the admin views, pushed over /graphql/ws. Each hook hides where updates
// come from, so views only see values; until the server ships the subscriptions
// (FEATURES.subscriptions) they poll over HTTP instead.
import { useEffect, useMemo, useRef, useState } from 'react';
import { useQuery, useSubscription, type CombinedError } from 'urql';
import { AttendeeCountQuery, NotificationProgressPollQuery, NotificationsQuery } from '../api/operations';
import {
  AttendeeRegisteredSubscription,
  NotificationProgressSubscription,
  NotificationsChangedSubscription,
} from '../api/pending';
import { onReconnected } from '../api/ws';
import { useConnectionMonitor, useConnectionState } from '../auth/session';
import { FEATURES } from '../features';
import {
  done,
  etaSeconds,
  isTerminal,
  rateFromSamples,
  type NotificationProgress,
  type Sample,
} from '../lib/progress';
import { useInterval, useThrottled } from './common';

export const PROGRESS_POLL_MS = 1000;
export const LIST_POLL_MS = 5000;
export const COUNT_POLL_MS = 10_000;
/** At most one refetch per this interval however many events arrive (and one after the last). */
export const LIVE_REFETCH_MS = 1000;

export interface ProgressState {
  progress: NotificationProgress | null;
  error: CombinedError | undefined;
  fetching: boolean;
  /** False while the live connection is down: `progress` is as of `progress.updatedAt`. */
  live: boolean;
  /** Where updates come from, for the view to say so. */
  source: 'polling' | 'subscription';
  /** Call after a control was used: a finished stream is started again for the new state. */
  refresh(): void;
}

/** Calls `callback` when the live connection is back after a drop: whatever was pushed meanwhile was missed. */
export function useOnReconnect(callback: () => void): void {
  const monitor = useConnectionMonitor();
  const saved = useRef(callback);
  useEffect(() => {
    saved.current = callback;
  }, [callback]);
  useEffect(() => onReconnected(monitor, () => saved.current()), [monitor]);
}

type PolledNotification = {
  id: string;
  status: NotificationProgress['status'];
  total: number;
  sent: number;
  failed: number;
  cancelled: number;
  pending: number;
};

/** Builds a progress object from a polled notification; rate and ETA come from recent samples. */
export function progressFromPoll(n: PolledNotification, samples: readonly Sample[], now: Date): NotificationProgress {
  const rate = isTerminal(n.status) ? null : rateFromSamples(samples);
  return {
    notificationId: n.id,
    status: n.status,
    total: n.total,
    sent: n.sent,
    failed: n.failed,
    cancelled: n.cancelled,
    pending: n.pending,
    ratePerSecond: rate,
    etaSeconds: isTerminal(n.status) ? 0 : n.status === 'SENDING' ? etaSeconds(n.pending, rate) : null,
    updatedAt: now.toISOString(),
  };
}

/**
 * Live progress of one notification from `notificationProgress(id)`. Its first event is
 * the current snapshot, and graphql-ws subscribes again after a reconnection, so the view
 * is right again as soon as the connection is. The server ends the stream after a terminal
 * status; `refresh()` starts it again (e.g. after "retry failed").
 */
export function useNotificationProgress(id: string): ProgressState {
  const subscribed = FEATURES.subscriptions;
  const connection = useConnectionState();

  const [sub, resubscribe] = useSubscription({
    query: NotificationProgressSubscription,
    variables: { id },
    pause: !subscribed,
  });

  const [poll, reexecute] = useQuery({
    query: NotificationProgressPollQuery,
    variables: { id },
    requestPolicy: 'network-only',
    pause: subscribed,
  });
  const samples = useRef<Sample[]>([]);
  const sampledId = useRef(id);
  const polled = poll.data?.notification;
  const progress = useMemo(() => {
    if (subscribed) return sub.data?.notificationProgress ?? null;
    if (!polled) return null;
    if (sampledId.current !== polled.id) {
      sampledId.current = polled.id;
      samples.current = [];
    }
    const now = Date.now();
    samples.current = [...samples.current.filter((s) => now - s.at <= 30_000), { at: now, done: done(polled) }];
    return progressFromPoll(polled, samples.current, new Date(now));
  }, [subscribed, sub.data, polled]);
  const polling = !subscribed && !(progress && isTerminal(progress.status));
  useInterval(() => reexecute({ requestPolicy: 'network-only' }), polling ? PROGRESS_POLL_MS : null);

  if (!subscribed) {
    return {
      progress,
      error: poll.error,
      fetching: poll.fetching && !poll.data,
      live: true,
      source: 'polling',
      refresh: () => reexecute({ requestPolicy: 'network-only' }),
    };
  }
  return {
    progress,
    error: sub.error,
    fetching: !sub.data && !sub.error,
    live: connection.state === 'connected',
    source: 'subscription',
    refresh: () => {
      // The server ends the stream after a terminal status; a running one reports the
      // change by itself. (urql's `fetching` stays true after a stream ends, so the
      // status is what tells.)
      if (progress && isTerminal(progress.status)) resubscribe({ requestPolicy: 'network-only' });
    },
  };
}

/**
 * One page of a conference's notifications, kept current: refetched when
 * `notificationsChanged` reports a change (at most once a second during a send), and after
 * a reconnection, since events may have been missed meanwhile.
 */
export function useLiveNotifications(conferenceId: string, first: number, after: string | null) {
  const [result, reexecute] = useQuery({
    query: NotificationsQuery,
    variables: { conferenceId, first, after },
    requestPolicy: 'cache-and-network',
  });
  const refetch = useThrottled(() => reexecute({ requestPolicy: 'network-only' }), LIVE_REFETCH_MS);
  const [changed] = useSubscription({
    query: NotificationsChangedSubscription,
    variables: { conferenceId },
    pause: !FEATURES.subscriptions,
  });
  useEffect(() => {
    if (changed.data) refetch();
  }, [changed.data, refetch]);
  useOnReconnect(refetch);
  useInterval(() => reexecute({ requestPolicy: 'network-only' }), FEATURES.subscriptions ? null : LIST_POLL_MS);
  return [result, reexecute] as const;
}

/**
 * The number of attendees of a conference, kept current: counted again by the server when
 * `attendeeRegistered` reports an arrival (at most once a second) and after a reconnection.
 * `latest` names the newest arrival seen live, for the view to announce.
 */
export function useLiveAttendeeCount(conferenceId: string) {
  const [result, reexecute] = useQuery({
    query: AttendeeCountQuery,
    variables: { conferenceId },
    requestPolicy: 'cache-and-network',
  });
  const refetch = useThrottled(() => reexecute({ requestPolicy: 'network-only' }), LIVE_REFETCH_MS);
  const [latest, setLatest] = useState<string | null>(null);
  const [registered] = useSubscription({
    query: AttendeeRegisteredSubscription,
    variables: { conferenceId },
    pause: !FEATURES.subscriptions,
  });
  useEffect(() => {
    const a = registered.data?.attendeeRegistered;
    if (!a) return;
    setLatest(`${a.firstName} ${a.lastName}`);
    refetch();
  }, [registered.data, refetch]);
  useEffect(() => setLatest(null), [conferenceId]);
  useOnReconnect(refetch);
  useInterval(() => reexecute({ requestPolicy: 'network-only' }), FEATURES.subscriptions ? null : COUNT_POLL_MS);
  return { count: result.data?.attendees.totalCount ?? null, latest, error: result.error };
}
