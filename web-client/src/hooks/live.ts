// Live data for the admin views. Each hook hides where updates come from: today they poll
// over HTTP; with FEATURES.subscriptions they listen on /graphql/ws instead. Views do not
// change when the switch is made.
import { useEffect, useMemo, useRef, useState } from 'react';
import { useQuery, useSubscription, type CombinedError } from 'urql';
import { AttendeeCountQuery, NotificationProgressPollQuery, NotificationsQuery } from '../api/operations';
import {
  AttendeeRegisteredSubscription,
  NotificationProgressSubscription,
  NotificationsChangedSubscription,
} from '../api/pending';
import { FEATURES } from '../features';
import {
  done,
  etaSeconds,
  isTerminal,
  rateFromSamples,
  type NotificationProgress,
  type Sample,
} from '../lib/progress';
import { useInterval } from './common';

export const PROGRESS_POLL_MS = 1000;
export const LIST_POLL_MS = 5000;
export const COUNT_POLL_MS = 10_000;

export interface ProgressState {
  progress: NotificationProgress | null;
  error: CombinedError | undefined;
  fetching: boolean;
  /** Where updates come from, for the view to say so. */
  source: 'polling' | 'subscription';
  /** Fetch now, e.g. after a control button was used. */
  refresh(): void;
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
 * Live progress of one notification. Today: polls `notification(id)` every second until
 * a terminal status (and again if the status leaves it, e.g. after "retry failed").
 * With FEATURES.subscriptions: the `notificationProgress(id)` subscription, whose first
 * event is the current snapshot.
 */
export function useNotificationProgress(id: string): ProgressState {
  const subscribed = FEATURES.subscriptions;

  const [poll, reexecute] = useQuery({
    query: NotificationProgressPollQuery,
    variables: { id },
    requestPolicy: 'network-only',
    pause: subscribed,
  });
  const [sub] = useSubscription({
    query: NotificationProgressSubscription,
    variables: { id },
    pause: !subscribed,
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

  return {
    progress,
    error: subscribed ? sub.error : poll.error,
    fetching: subscribed ? sub.fetching && !sub.data : poll.fetching && !poll.data,
    source: subscribed ? 'subscription' : 'polling',
    refresh: () => reexecute({ requestPolicy: 'network-only' }),
  };
}

/**
 * One page of a conference's notifications, kept current: polled every few seconds today,
 * refetched on each `notificationsChanged` event once subscriptions exist.
 */
export function useLiveNotifications(conferenceId: string, first: number, after: string | null) {
  const [result, reexecute] = useQuery({
    query: NotificationsQuery,
    variables: { conferenceId, first, after },
    requestPolicy: 'cache-and-network',
  });
  const [changed] = useSubscription({
    query: NotificationsChangedSubscription,
    variables: { conferenceId },
    pause: !FEATURES.subscriptions,
  });
  useEffect(() => {
    if (changed.data) reexecute({ requestPolicy: 'network-only' });
  }, [changed.data, reexecute]);
  useInterval(() => reexecute({ requestPolicy: 'network-only' }), FEATURES.subscriptions ? null : LIST_POLL_MS);
  return [result, reexecute] as const;
}

/**
 * The number of attendees of a conference, kept current: polled today; counted up on each
 * `attendeeRegistered` event once subscriptions exist. `latest` names the newest arrival
 * seen live, for the view to announce.
 */
export function useLiveAttendeeCount(conferenceId: string) {
  const [result, reexecute] = useQuery({
    query: AttendeeCountQuery,
    variables: { conferenceId },
    requestPolicy: 'cache-and-network',
  });
  const [arrivals, setArrivals] = useState(0);
  const [latest, setLatest] = useState<string | null>(null);
  const [registered] = useSubscription({
    query: AttendeeRegisteredSubscription,
    variables: { conferenceId },
    pause: !FEATURES.subscriptions,
  });
  useEffect(() => {
    const a = registered.data?.attendeeRegistered;
    if (a) {
      setArrivals((n) => n + 1);
      setLatest(`${a.firstName} ${a.lastName}`);
    }
  }, [registered.data]);
  useEffect(() => {
    setArrivals(0);
    setLatest(null);
  }, [conferenceId, result.data]);
  useInterval(() => reexecute({ requestPolicy: 'network-only' }), FEATURES.subscriptions ? null : COUNT_POLL_MS);
  const base = result.data?.attendees.totalCount;
  return { count: base === undefined ? null : base + arrivals, latest, error: result.error };
}
