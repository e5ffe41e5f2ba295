import { act, render, screen, waitFor, within } from '@testing-library/react';
import type { ReactNode } from 'react';
import { Provider } from 'urql';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeSubject } from 'wonka';
import { createConnectionMonitor, type ConnectionMonitor } from '../api/ws';
import { ConnectionContext } from '../auth/session';
import type { NotificationProgress } from '../lib/progress';
import { Attendees } from '../pages/admin/Attendees';
import { NotificationDetail } from '../pages/admin/NotificationDetail';
import { Notifications } from '../pages/admin/Notifications';
import { graphQLError, mockClient } from '../test/mockClient';

const connected = () => createConnectionMonitor({ state: 'connected', retries: 0 });

function renderWith(client: ReturnType<typeof mockClient>, monitor: ConnectionMonitor, ui: ReactNode) {
  return render(
    <ConnectionContext.Provider value={monitor}>
      <Provider value={client}>{ui}</Provider>
    </ConnectionContext.Provider>,
  );
}

const snapshot = (over: Partial<NotificationProgress>): NotificationProgress => ({
  notificationId: 'n1',
  status: 'SENDING',
  total: 320,
  sent: 0,
  failed: 0,
  cancelled: 0,
  pending: 320,
  ratePerSecond: null,
  etaSeconds: null,
  updatedAt: '2027-01-01T10:00:00Z',
  ...over,
});

const notification = {
  id: 'n1',
  name: 'Hello',
  subject: 'Hello',
  message: 'Body',
  status: 'SENDING',
  total: 320,
  sent: 5,
  failed: 0,
  cancelled: 0,
  pending: 315,
  submittedAt: '2027-01-01T10:00:00Z',
  startedAt: '2027-01-01T10:00:01Z',
  completedAt: null,
  conference: null,
};

describe('notification page, live', () => {
  it('follows notificationProgress from the snapshot to the final state, with the server’s rate and ETA', async () => {
    const events = makeSubject<{ data?: { notificationProgress: NotificationProgress } }>();
    const client = mockClient(
      (name) => (name === 'Notification' ? { data: { notification } } : undefined),
      (name, variables) => (name === 'NotificationProgress' && variables.id === 'n1' ? events.source : undefined),
    );
    renderWith(client, connected(), <NotificationDetail id="n1" justCreated={false} />);
    await screen.findByRole('heading', { level: 1, name: 'Hello' });

    act(() => events.next({ data: { notificationProgress: snapshot({ sent: 100, failed: 2, pending: 218, ratePerSecond: 40, etaSeconds: 6 }) } }));
    expect(screen.getByTestId('count-sent').textContent).toBe('100');
    expect(screen.getByTestId('count-failed').textContent).toBe('2');
    expect(screen.getByTestId('count-pending').textContent).toBe('218');
    expect(screen.getByTestId('rate').textContent).toBe('40.0/s');
    expect(screen.getByTestId('eta').textContent).toBe('6 s');
    expect(screen.getByTestId('progress-freshness').textContent).toContain('Live from the server');
    const enabled = (name: string) => !(screen.getByRole('button', { name }) as HTMLButtonElement).disabled;
    expect([enabled('Pause'), enabled('Resume'), enabled('Retry failed'), enabled('Cancel sending')]).toEqual([true, false, true, true]);

    act(() => events.next({ data: { notificationProgress: snapshot({ status: 'PAUSED', sent: 150, failed: 2, pending: 168, ratePerSecond: 0 }) } }));
    expect(screen.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('47');
    expect([enabled('Pause'), enabled('Resume')]).toEqual([false, true]);

    act(() => events.next({ data: { notificationProgress: snapshot({ status: 'COMPLETED', sent: 320, pending: 0, etaSeconds: 0 }) } }));
    expect(screen.getByTestId('progress-percent').textContent).toBe('100%');
    expect(screen.getByTestId('eta').textContent).toBe('Done');
    expect([enabled('Pause'), enabled('Resume'), enabled('Retry failed'), enabled('Cancel sending')]).toEqual([false, false, false, false]);
    // The progress came from the subscription alone: no query asked for it.
    const queried = new Set(client.executeQuery.mock.calls.map(([request]) => request.query.definitions[0].name.value));
    // (The campaign details are read once per status, like the notification itself.)
    expect([...queried].sort()).toEqual(['DeliveryLog', 'FailedDeliveries', 'Notification', 'NotificationCampaign']);
  });

  it('says the figures are stale while the connection is down, and live again once it is back', async () => {
    const events = makeSubject<{ data?: { notificationProgress: NotificationProgress } }>();
    const monitor = createConnectionMonitor({ state: 'connecting', retries: 0 });
    const client = mockClient(
      (name) => (name === 'Notification' ? { data: { notification } } : undefined),
      () => events.source,
    );
    renderWith(client, monitor, <NotificationDetail id="n1" justCreated={false} />);
    await screen.findByRole('heading', { level: 1, name: 'Hello' });
    // Being connected for the first time: the figures just read are not stale.
    expect(screen.getByTestId('progress-freshness').textContent).toContain('Live from the server');
    act(() => monitor.set({ state: 'connected', retries: 0 }));
    act(() => events.next({ data: { notificationProgress: snapshot({ sent: 10, pending: 310, updatedAt: '2027-01-01T10:00:05Z' }) } }));
    act(() => monitor.set({ state: 'reconnecting', retries: 1 }));
    const stale = screen.getByTestId('progress-freshness');
    expect(stale.getAttribute('role')).toBe('status');
    expect(stale.textContent).toMatch(/interrupted.*10:00:05/);
    // graphql-ws subscribes again on the new connection; its first event is a fresh snapshot.
    act(() => monitor.set({ state: 'connected', retries: 0 }));
    act(() => events.next({ data: { notificationProgress: snapshot({ sent: 200, pending: 120 }) } }));
    expect(screen.getByTestId('progress-freshness').textContent).toContain('Live from the server');
    expect(screen.getByTestId('count-sent').textContent).toBe('200');
  });

  it('starts the finished stream again after “retry failed”, for the new snapshot', async () => {
    let events = makeSubject<{ data?: { notificationProgress: NotificationProgress } }>();
    const client = mockClient(
      (name) => {
        if (name === 'Notification') return { data: { notification } };
        if (name === 'RetryFailedDeliveries') {
          return {
            data: {
              retryFailedDeliveries: {
                retried: 2,
                skippedBounced: 0,
                skippedSuppressed: 0,
                notification: { id: 'n1', status: 'SENDING', total: 320, sent: 318, failed: 0, cancelled: 0, pending: 2 },
              },
            },
          };
        }
        return undefined;
      },
      (name) => (name === 'NotificationProgress' ? events.source : undefined),
    );
    renderWith(client, connected(), <NotificationDetail id="n1" justCreated={false} />);
    await screen.findByRole('heading', { level: 1, name: 'Hello' });
    act(() => events.next({ data: { notificationProgress: snapshot({ status: 'COMPLETED_WITH_ERRORS', sent: 318, failed: 2, pending: 0 }) } }));
    // The server ends the stream after a terminal status.
    act(() => events.complete());
    const first = events;
    events = makeSubject();
    act(() => screen.getByRole('button', { name: 'Retry failed' }).click());
    await waitFor(() => expect(client.executeSubscription).toHaveBeenCalledTimes(2));
    expect(events).not.toBe(first);
    act(() => events.next({ data: { notificationProgress: snapshot({ status: 'SENDING', sent: 318, failed: 0, pending: 2 }) } }));
    expect(screen.getByTestId('count-pending').textContent).toBe('2');
    expect((screen.getByRole('button', { name: 'Pause' }) as HTMLButtonElement).disabled).toBe(false);
    // It says what it did, and once the retry is over, how it went.
    expect(screen.getByTestId('retry-report').textContent).toBe('Retrying 2 failed deliveries…');
    act(() => events.next({ data: { notificationProgress: snapshot({ status: 'COMPLETED_WITH_ERRORS', sent: 319, failed: 1, pending: 0 }) } }));
    expect(screen.getByTestId('retry-report').textContent).toBe('Retried 2: 1 failed again, 1 sent.');
  });

  it('charts the send rate of each progress event, with a summary in words', async () => {
    const events = makeSubject<{ data?: { notificationProgress: NotificationProgress } }>();
    const client = mockClient(
      (name) => (name === 'Notification' ? { data: { notification } } : undefined),
      (name) => (name === 'NotificationProgress' ? events.source : undefined),
    );
    renderWith(client, connected(), <NotificationDetail id="n1" justCreated={false} />);
    await screen.findByRole('heading', { level: 1, name: 'Hello' });
    const chart = screen.getByRole('figure', { name: 'Send rate' });
    expect(within(chart).getByTestId('rate-summary').textContent).toBe('No send rate measured yet.');
    const rates = [10, 20, 15];
    rates.forEach((rate, i) =>
      act(() =>
        events.next({
          data: {
            notificationProgress: snapshot({ sent: 20 * (i + 1), pending: 320 - 20 * (i + 1), ratePerSecond: rate, updatedAt: `2027-01-01T10:00:0${i}Z` }),
          },
        }),
      ),
    );
    expect(screen.getByTestId('rate-chart').dataset.points).toBe('3');
    expect(screen.getByTestId('rate-summary').textContent).toBe('Send rate over the last 2 s: now 15.0/s, peak 20.0/s, average 15.0/s.');
  });

  it('shows the figures read over HTTP, marked stale, when the live connection cannot be made', async () => {
    const client = mockClient((name) => (name === 'Notification' ? { data: { notification } } : undefined));
    renderWith(client, createConnectionMonitor({ state: 'refused', retries: 0, reason: 'the API token is invalid' }), (
      <NotificationDetail id="n1" justCreated={false} />
    ));
    await screen.findByRole('heading', { level: 1, name: 'Hello' });
    expect(screen.getByTestId('count-sent').textContent).toBe('5');
    expect(screen.getByTestId('count-pending').textContent).toBe('315');
    expect(screen.getByTestId('rate').textContent).toBe('—');
    expect(screen.getByTestId('progress-freshness').textContent).toMatch(/interrupted/);
  });

  it('shows an unknown notification as an error from the stream', async () => {
    const events = makeSubject<{ error?: ReturnType<typeof graphQLError> }>();
    const client = mockClient(
      (name) => (name === 'Notification' ? { data: { notification } } : undefined),
      () => events.source,
    );
    renderWith(client, connected(), <NotificationDetail id="n1" justCreated={false} />);
    await screen.findByRole('heading', { level: 1, name: 'Hello' });
    act(() => events.next({ error: graphQLError('notification n1 does not exist', { code: 'NOT_FOUND' }) }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/does not exist|not found/i);
  });
});

describe('lists, live', () => {
  beforeEach(() => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const calls = (client: ReturnType<typeof mockClient>, operation: string) =>
    client.executeQuery.mock.calls.filter(([request]) => request.query.definitions[0].name.value === operation).length;

  it('fetches the notifications again on notificationsChanged, at most once a second, and after a reconnection', async () => {
    const events = makeSubject<{ data: unknown }>();
    const monitor = connected();
    const page = (status: string, sent: number) => ({
      data: {
        notifications: {
          totalCount: 1,
          pageInfo: { hasNextPage: false, endCursor: null },
          nodes: [{ id: 'n1', name: 'Hello', subject: 'Hello', status, total: 320, sent, failed: 0, cancelled: 0, pending: 320 - sent, submittedAt: '2027-01-01T10:00:00Z', completedAt: null }],
        },
      },
    });
    let answer = page('QUEUED', 0);
    const client = mockClient(
      (name) => (name === 'Notifications' ? answer : undefined),
      (name, variables) => (name === 'NotificationsChanged' && variables.conferenceId === 'c1' ? events.source : undefined),
    );
    renderWith(client, monitor, <Notifications conferenceId="c1" />);
    await screen.findByText('Queued');
    const before = calls(client, 'Notifications');

    // Each event is a new object, as each arrives parsed from its own message.
    const changed = () => ({ data: { notificationsChanged: { id: 'n1', status: 'SENDING', total: 320, sent: 10, failed: 0, cancelled: 0, pending: 310 } } });
    answer = page('SENDING', 10);
    act(() => events.next(changed()));
    await within(screen.getByTestId('notifications')).findByText('Sending');
    expect(calls(client, 'Notifications')).toBe(before + 1);
    // A burst within the second: one more fetch, at its end.
    act(() => {
      events.next(changed());
      events.next(changed());
    });
    expect(calls(client, 'Notifications')).toBe(before + 1);
    await act(async () => {
      vi.advanceTimersByTime(1000);
    });
    expect(calls(client, 'Notifications')).toBe(before + 2);

    answer = page('COMPLETED', 320);
    await act(async () => {
      vi.advanceTimersByTime(1000);
      monitor.set({ state: 'reconnecting', retries: 1 });
      monitor.set({ state: 'connected', retries: 0 });
    });
    await within(screen.getByTestId('notifications')).findByText('Completed');
    expect(calls(client, 'Notifications')).toBe(before + 3);
  });

  it('counts the attendees again on attendeeRegistered and names the newcomer', async () => {
    const events = makeSubject<{ data: unknown }>();
    let total = 320;
    const client = mockClient(
      (name) => {
        if (name === 'AttendeeCount') return { data: { attendees: { totalCount: total } } };
        if (name === 'Attendees') return { data: { attendees: { totalCount: total, pageInfo: { hasNextPage: false, endCursor: null }, nodes: [] } } };
        return undefined;
      },
      (name, variables) => (name === 'AttendeeRegistered' && variables.conferenceId === 'c1' ? events.source : undefined),
    );
    renderWith(client, connected(), <Attendees conferenceId="c1" />);
    await waitFor(() => expect(screen.getByTestId('attendee-count').textContent).toBe('320 attendees registered'));
    total = 321;
    act(() => events.next({ data: { attendeeRegistered: { id: 'a9', firstName: 'Ada', lastName: 'Lovelace' } } }));
    await waitFor(() => expect(screen.getByTestId('attendee-count').textContent).toBe('321 attendees registered · newest: Ada Lovelace'));
  });
});
