import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Provider } from 'urql';
import { describe, expect, it, vi } from 'vitest';
import { fromValue } from 'wonka';
import { progressFromNotification } from '../../lib/progress';
import { renderAsAdmin } from '../../test/asAdmin';
import { graphQLError, mockClient } from '../../test/mockClient';
import { Compose } from './Compose';
import { NotificationDetail } from './NotificationDetail';

const notification = {
  id: 'n1',
  name: 'Hello Ada',
  subject: 'Hello {{ first_name }}',
  message: 'Body',
  status: 'COMPLETED_WITH_ERRORS' as const,
  total: 3,
  sent: 2,
  failed: 1,
  cancelled: 0,
  pending: 0,
  submittedAt: '2027-01-01T10:00:00Z',
  startedAt: '2027-01-01T10:00:01Z',
  completedAt: '2027-01-01T10:00:05Z',
  conference: { id: 'c1', name: 'TechConf' },
};

describe('notification page', () => {
  it('shows progress and the failed deliveries with their errors', async () => {
    const client = mockClient((name) => {
      switch (name) {
        case 'Notification':
          return { data: { notification } };
        case 'FailedDeliveries':
          return {
            data: {
              notification: {
                id: 'n1',
                deliveries: {
                  totalCount: 1,
                  pageInfo: { hasNextPage: false, endCursor: 'x' },
                  nodes: [
                    {
                      id: 'd1',
                      email: 'ada@example.org',
                      attempts: 1,
                      lastError: '550 5.1.1 mailbox unavailable',
                      nextAttemptAt: null,
                      attendee: { id: 'a1', firstName: 'Ada', lastName: 'Lovelace' },
                    },
                  ],
                },
              },
            },
          };
        case 'Conferences':
          return { data: { conferences: { totalCount: 1, nodes: [{ id: 'c1', name: 'TechConf', startsOn: '2027-10-12', price: 1, address: 'x', active: true }] } } };
        default:
          return undefined;
      }
    }, (name) =>
      name === 'NotificationProgress'
        ? fromValue({ data: { notificationProgress: progressFromNotification(notification, new Date('2027-01-01T10:00:05Z')) } })
        : undefined,
    );
    render(
      <Provider value={client}>
        <NotificationDetail id="n1" justCreated={false} />
      </Provider>,
    );
    const table = await screen.findByTestId('failed-deliveries');
    expect(within(table).getByText('550 5.1.1 mailbox unavailable')).toBeTruthy();
    expect(within(table).getByText('Ada Lovelace')).toBeTruthy();
    expect(screen.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('100');
    expect((screen.getByRole('button', { name: 'Retry failed' }) as HTMLButtonElement).disabled).toBe(false);
    expect((screen.getByRole('button', { name: 'Pause' }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('failed deliveries', () => {
  it('pages through them, twenty at a time, with each error', async () => {
    const failed = Array.from({ length: 25 }, (_, i) => ({
      id: `d${i}`,
      email: `person${i}@example.org`,
      attempts: 3,
      lastError: `550 5.1.1 <person${i}@example.org>: mailbox unavailable`,
      nextAttemptAt: null,
      attendee: { id: `a${i}`, firstName: 'Person', lastName: String(i) },
    }));
    const withFailures = { ...notification, total: 100, sent: 75, failed: 25 };
    const client = mockClient(
      (name, variables) => {
        if (name === 'Notification') return { data: { notification: withFailures } };
        if (name !== 'FailedDeliveries') return undefined;
        const start = variables.after ? Number(variables.after) : 0;
        const end = Math.min(start + Number(variables.first), failed.length);
        return {
          data: {
            notification: {
              id: 'n1',
              deliveries: {
                totalCount: failed.length,
                pageInfo: { hasNextPage: end < failed.length, endCursor: String(end) },
                nodes: failed.slice(start, end),
              },
            },
          },
        };
      },
      (name) =>
        name === 'NotificationProgress'
          ? fromValue({ data: { notificationProgress: progressFromNotification(withFailures, new Date('2027-01-01T10:00:05Z')) } })
          : undefined,
    );
    render(
      <Provider value={client}>
        <NotificationDetail id="n1" justCreated={false} />
      </Provider>,
    );
    const rows = async () => within(await screen.findByTestId('failed-deliveries')).getAllByRole('row').slice(1);
    expect(await rows()).toHaveLength(20);
    expect(screen.getByText('25 recipients could not be emailed.')).toBeTruthy();
    const pager = screen.getByRole('navigation', { name: 'Failed delivery pages' });
    fireEvent.click(within(pager).getByRole('button', { name: 'Next →' }));
    await within(pager).findByText('Page 2');
    await waitFor(async () => expect(await rows()).toHaveLength(5));
    expect(screen.getByText('550 5.1.1 <person24@example.org>: mailbox unavailable')).toBeTruthy();
    expect((within(pager).getByRole('button', { name: 'Next →' }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(within(pager).getByRole('button', { name: '← Previous' }));
    await within(pager).findByText('Page 1');
    await waitFor(async () => expect(await rows()).toHaveLength(20));
  });
});

describe('bounced deliveries', () => {
  it('are listed apart, with the provider reason, when there are some', async () => {
    const withBounces = { ...notification, total: 2, sent: 2, failed: 0, suppressed: 0, bounced: 1 };
    const client = mockClient(
      (name, variables) => {
        if (name === 'Notification') return { data: { notification: withBounces } };
        if (name !== 'FailedDeliveries') return undefined;
        const nodes =
          variables.status === 'BOUNCED'
            ? [
                {
                  id: 'd1',
                  email: 'gone@example.org',
                  attempts: 1,
                  lastError: 'Bounced: 550 5.1.1 no such user',
                  nextAttemptAt: null,
                  attendee: { id: 'a1', firstName: 'Gone', lastName: 'Away' },
                },
              ]
            : [];
        return {
          data: { notification: { id: 'n1', deliveries: { totalCount: nodes.length, pageInfo: { hasNextPage: false, endCursor: null }, nodes } } },
        };
      },
      (name) =>
        name === 'NotificationProgress'
          ? fromValue({ data: { notificationProgress: progressFromNotification(withBounces, new Date('2027-01-01T10:00:05Z')) } })
          : undefined,
    );
    render(
      <Provider value={client}>
        <NotificationDetail id="n1" justCreated={false} />
      </Provider>,
    );
    const table = await screen.findByTestId('bounced-deliveries');
    expect(within(table).getByText('Bounced: 550 5.1.1 no such user')).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'Bounced deliveries' })).toBeTruthy();
    expect(screen.getByTestId('count-bounced').textContent).toBe('1');
    expect(screen.queryByTestId('failed-deliveries')).toBeNull();
  });
});

describe('compose', () => {
  const renderCompose = (client: ReturnType<typeof mockClient>) => renderAsAdmin(client, <Compose conferenceId="c1" />);

  it('shows a template error from the server next to the field before the confirmation step', async () => {
    const client = mockClient((name, variables) => {
      if (name === 'PreviewNotification') {
        return String(variables.subject).includes('nosuchfilter')
          ? { error: graphQLError('subject: unknown filter: filter nosuchfilter is unknown (line 1)', { code: 'VALIDATION', field: 'subject' }) }
          : { data: { previewNotification: { subject: 'Hi Ada', body: 'Body', html: '<!DOCTYPE html><p>Body</p>' } } };
      }
      if (name === 'AttendeeCount') return { data: { attendees: { totalCount: 321 } } };
      if (name === 'AudiencePreview') {
        return { data: { audiencePreview: { count: variables.audience ? 12 : 321, attendees: { nodes: [] } } } };
      }
      return undefined;
    });
    renderCompose(client);
    const subject = await screen.findByLabelText(/^Subject/);
    fireEvent.change(subject, { target: { value: 'Hi {{ first_name | nosuchfilter }}' } });
    fireEvent.change(screen.getByLabelText(/^Message/), { target: { value: 'Body' } });
    fireEvent.click(screen.getByRole('button', { name: 'Review and send…' }));
    await waitFor(() =>
      expect(document.getElementById('subject-error')?.textContent).toBe('Unknown filter: filter nosuchfilter is unknown (line 1)'),
    );
    expect(screen.queryByTestId('confirm-step')).toBeNull();

    fireEvent.change(subject, { target: { value: 'Hi {{ first_name }}' } });
    // The HTML part shows in a sandbox that allows nothing.
    const frame = (await screen.findByTestId('preview-html')) as HTMLIFrameElement;
    expect(frame.getAttribute('sandbox')).toBe('');
    expect(frame.getAttribute('srcdoc')).toBe('<!DOCTYPE html><p>Body</p>');
    expect(screen.getByTestId('preview-body').textContent).toBe('Body');
    fireEvent.click(screen.getByRole('button', { name: 'Review and send…' }));
    const confirm = await screen.findByTestId('confirm-step');
    await within(confirm).findByText('321 attendees');
    expect(screen.getByRole('button', { name: 'Send to 321 attendees' })).toBeTruthy();
    vi.unstubAllGlobals();
  });
});
