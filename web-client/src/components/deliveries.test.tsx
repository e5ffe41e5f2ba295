import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Provider } from 'urql';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { addSample, MAX_SAMPLES, rateSummary, type RateSample } from '../lib/sendRate';
import { retryMessage } from '../lib/retry';
import { mockClient } from '../test/mockClient';
import { DeliveryLog, LOG_PAGE_SIZE } from './DeliveryLog';
import { NotificationControls } from './NotificationControls';

type Vars = Record<string, unknown>;

const node = (i: number, status = 'SENT') => ({
  id: `d${i}`,
  email: `person${i}@example.org`,
  status,
  attempts: 1,
  lastError: status === 'FAILED' ? '550 5.1.1 mailbox unavailable' : null,
  sentAt: status === 'SENT' ? '2027-01-01T10:00:00Z' : null,
  attendee: { id: `a${i}`, firstName: `First${i}`, lastName: i % 10 === 0 ? 'Hopper' : `Last${i}` },
});

/** A server with 30 deliveries; every third failed; searched by email or name as the API does. */
function logServer() {
  const all = Array.from({ length: 30 }, (_, i) => node(i, i % 3 === 1 ? 'FAILED' : 'SENT'));
  const calls: Vars[] = [];
  const client = mockClient((name, vars) => {
    if (name !== 'DeliveryLog') return undefined;
    calls.push(vars);
    const search = typeof vars.search === 'string' ? vars.search.toLowerCase() : '';
    const matches = all.filter(
      (d) =>
        (!vars.status || d.status === vars.status) &&
        (!search || d.email.includes(search) || `${d.attendee.firstName} ${d.attendee.lastName}`.toLowerCase().includes(search)),
    );
    const start = vars.after ? Number(String(vars.after).slice(1)) + 1 : 0;
    const nodes = matches.filter((d) => Number(d.id.slice(1)) >= start).slice(0, Number(vars.first));
    const last = nodes[nodes.length - 1];
    return {
      data: {
        notification: {
          id: 'n1',
          deliveries: {
            totalCount: matches.length,
            pageInfo: { hasNextPage: last !== undefined && last !== matches[matches.length - 1], endCursor: last?.id ?? null },
            nodes,
          },
        },
      },
    };
  });
  return { client, calls };
}

const rows = () => within(screen.getByTestId('delivery-log')).getAllByRole('row').slice(1);

describe('DeliveryLog', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('lists every recipient with status, pages forward and back', async () => {
    const { client } = logServer();
    render(
      <Provider value={client}>
        <DeliveryLog id="n1" version="a" />
      </Provider>,
    );
    await waitFor(() => expect(screen.getByTestId('delivery-log-result').textContent).toBe('30 recipients'));
    expect(rows()).toHaveLength(LOG_PAGE_SIZE);
    const second = rows()[1]!;
    expect(within(second).getByText('First1 Last1')).toBeTruthy();
    expect(within(second).getByText('Failed')).toBeTruthy();
    expect(within(second).getByText('550 5.1.1 mailbox unavailable')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Next →' }));
    await waitFor(() => expect(rows()).toHaveLength(30 - LOG_PAGE_SIZE));
    expect(screen.getByText('Page 2')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: '← Previous' }));
    await waitFor(() => expect(rows()).toHaveLength(LOG_PAGE_SIZE));
  });

  it('asks the server to search and filter, and exports what matches', async () => {
    const { client, calls } = logServer();
    const fetchMock = vi.fn(async () => new Response('email\n', { status: 200 }));
    vi.stubGlobal('fetch', fetchMock);
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:x', revokeObjectURL: () => {} }));
    render(
      <Provider value={client}>
        <DeliveryLog id="n1" version="a" />
      </Provider>,
    );
    await waitFor(() => expect(rows()).toHaveLength(LOG_PAGE_SIZE));
    expect(screen.getByRole('button', { name: 'Export all (CSV)' })).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Recipient'), { target: { value: ' Hopper ' } });
    fireEvent.change(screen.getByLabelText('Status'), { target: { value: 'SENT' } });
    await waitFor(() => expect(screen.getByTestId('delivery-log-result').textContent).toBe('2 recipients match'));
    expect(calls[calls.length - 1]).toMatchObject({ search: 'Hopper', status: 'SENT', after: null });
    expect(rows().map((r) => within(r).getByRole('rowheader').textContent)).toEqual(['First0 Hopper', 'First20 Hopper']);

    fireEvent.click(screen.getByRole('button', { name: 'Export matching (CSV)' }));
    await waitFor(() => expect(fetchMock).toHaveBeenCalled());
    const [path] = fetchMock.mock.calls[0] as unknown as [string];
    expect(path).toBe('/admin/export/deliveries.csv?notificationId=n1&status=SENT&search=Hopper');

    fireEvent.change(screen.getByLabelText('Recipient'), { target: { value: 'nobody' } });
    await waitFor(() => expect(screen.getByText('No recipient matches.')).toBeTruthy());
  });

  it('fetches the page again when the progress moves, not before', async () => {
    const { client, calls } = logServer();
    const { rerender } = render(
      <Provider value={client}>
        <DeliveryLog id="n1" version="a" />
      </Provider>,
    );
    await waitFor(() => expect(rows()).toHaveLength(LOG_PAGE_SIZE));
    const before = calls.length;
    rerender(
      <Provider value={client}>
        <DeliveryLog id="n1" version="b" />
      </Provider>,
    );
    await waitFor(() => expect(calls.length).toBe(before + 1));
  });
});

describe('retry failed', () => {
  it('sends includeBounced when asked and says what the retry did', async () => {
    const client = mockClient((name) =>
      name === 'RetryFailedDeliveries'
        ? {
            data: {
              retryFailedDeliveries: {
                retried: 31,
                skippedBounced: 2,
                skippedSuppressed: 0,
                notification: { id: 'n1', status: 'SENDING', total: 100, sent: 60, failed: 2, cancelled: 0, pending: 31 },
              },
            },
          }
        : undefined,
    );
    const progress = { notificationId: 'n1', status: 'COMPLETED_WITH_ERRORS' as const, failed: 33, bounced: 2 };
    const { rerender } = render(
      <Provider value={client}>
        <NotificationControls progress={progress} onChanged={() => {}} />
      </Provider>,
    );
    fireEvent.click(screen.getByLabelText(/Include hard bounces \(2 bounced\)/));
    fireEvent.click(screen.getByLabelText(/Include hard bounces/));
    await act(async () => screen.getByRole('button', { name: 'Retry failed' }).click());
    const call = client.executeMutation.mock.calls[0]![0] as { variables: Vars };
    expect(call.variables).toEqual({ id: 'n1', includeBounced: false });
    rerender(
      <Provider value={client}>
        <NotificationControls progress={{ ...progress, status: 'SENDING', failed: 2 }} onChanged={() => {}} />
      </Provider>,
    );
    const report = screen.getByTestId('retry-report');
    expect(report.getAttribute('role')).toBe('status');
    expect(report.textContent).toMatch(/^Retrying 31 failed deliveries… 2 hard bounces skipped/);
    rerender(
      <Provider value={client}>
        <NotificationControls progress={{ ...progress, failed: 31 }} onChanged={() => {}} />
      </Provider>,
    );
    expect(report.textContent).toMatch(/^Retried 31: 29 failed again, 2 sent\./);
  });

  it('words each outcome', () => {
    const report = { retried: 3, skippedBounced: 0, skippedSuppressed: 1, failedAfter: 0 };
    expect(retryMessage(report, { status: 'COMPLETED', failed: 0 })).toBe('Retried 3: none failed again. 1 unsubscribed address skipped.');
    expect(retryMessage({ ...report, skippedSuppressed: 0 }, { status: 'COMPLETED_WITH_ERRORS', failed: 3 })).toBe('Retried 3: all 3 failed again.');
    expect(retryMessage({ ...report, retried: 1, skippedSuppressed: 0 }, { status: 'COMPLETED_WITH_ERRORS', failed: 1 })).toBe('Retried 1: it failed again.');
    expect(retryMessage({ ...report, skippedSuppressed: 0 }, { status: 'PAUSED', failed: 1 })).toBe('Retried 3: 1 failed again, 2 not failed so far.');
  });
});

describe('send rate samples', () => {
  const at = (s: number) => new Date(Date.UTC(2027, 0, 1, 10, 0, s)).toISOString();

  it('adds one sample per newer event with a known rate, bounded', () => {
    let h: readonly RateSample[] = [];
    h = addSample(h, { updatedAt: at(0), ratePerSecond: null, sent: 0 });
    expect(h).toHaveLength(0);
    h = addSample(h, { updatedAt: at(1), ratePerSecond: 5, sent: 5 });
    const same = addSample(h, { updatedAt: at(1), ratePerSecond: 6, sent: 6 });
    expect(same).toBe(h);
    for (let i = 0; i < MAX_SAMPLES + 10; i++) h = addSample(h, { updatedAt: new Date(Date.UTC(2027, 0, 1, 11) + i * 200).toISOString(), ratePerSecond: 1, sent: i });
    expect(h).toHaveLength(MAX_SAMPLES);
  });

  it('sums the chart up in words', () => {
    expect(rateSummary([])).toBe('No send rate measured yet.');
    const h = [
      { t: 0, rate: 2, sent: 0 },
      { t: 60, rate: 8, sent: 300 },
      { t: 90, rate: 4, sent: 360 },
    ];
    expect(rateSummary(h)).toBe('Send rate over the last 1 min 30 s: now 4.0/s, peak 8.0/s, average 4.7/s.');
  });
});
