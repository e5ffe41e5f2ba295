// Live data for the admin views, pushed over /graphql/ws by the server's subscriptions.
// Each hook hides where updates come from, so views only see values.
import { useEffect, useRef, useState } from 'react';
import { useQuery, useSubscription, type CombinedError } from 'urql';
import {
  AttendeeCountQuery,
  AttendeeRegisteredSubscription,
  NotificationProgressSubscription,
  NotificationsChangedSubscription,
  NotificationsQuery,
} from '../api/operations';
import { onReconnected } from '../api/ws';
import { useConnectionMonitor, useConnectionState } from '../auth/session';
import { isTerminal, type NotificationProgress } from '../lib/progress';
import { useThrottled } from './common';

/** At most one refetch per this interval however many events arrive (and one after the last). */
export const LIVE_REFETCH_MS = 1000;

export interface ProgressState {
  progress: NotificationProgress | null;
  error: CombinedError | undefined;
  fetching: boolean;
  /** False while the live connection is down: `progress` is as of `progress.updatedAt`. */
  live: boolean;
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

/**
 * Live progress of one notification from `notificationProgress(id)`. Its first event is
 * the current snapshot, and graphql-ws subscribes again after a reconnection, so the view
 * is right again as soon as the connection is. The server ends the stream after a terminal
 * status; `refresh()` starts it again (e.g. after "retry failed").
 */
export function useNotificationProgress(id: string): ProgressState {
  const connection = useConnectionState();
  const [sub, resubscribe] = useSubscription({ query: NotificationProgressSubscription, variables: { id } });
  const progress = sub.data?.notificationProgress ?? null;
  return {
    progress,
    error: sub.error,
    fetching: !sub.data && !sub.error,
    // While the first connection is being made the figures are fresh from HTTP; after a
    // drop, or when the server refused the connection, they are not followed any more.
    live: connection.state === 'connected' || connection.state === 'connecting',
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
  const [changed] = useSubscription({ query: NotificationsChangedSubscription, variables: { conferenceId } });
  useEffect(() => {
    if (changed.data) refetch();
  }, [changed.data, refetch]);
  useOnReconnect(refetch);
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
  const [registered] = useSubscription({ query: AttendeeRegisteredSubscription, variables: { conferenceId } });
  useEffect(() => {
    const a = registered.data?.attendeeRegistered;
    if (!a) return;
    setLatest(`${a.firstName} ${a.lastName}`);
    refetch();
  }, [registered.data, refetch]);
  useEffect(() => setLatest(null), [conferenceId]);
  useOnReconnect(refetch);
  return { count: result.data?.attendees.totalCount ?? null, latest, error: result.error };
}
