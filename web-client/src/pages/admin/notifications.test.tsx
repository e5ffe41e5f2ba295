// Notifications: names, newest first with failed and cancelled counts, drafts saved as one
// writes and continued, a copy of a past notification, the rendered sample on the confirm
// step, and the progress page's banner and live region.
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Provider } from 'urql';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeSubject } from 'wonka';
import type { NotificationProgress } from '../../lib/progress';
import { renderAsAdmin } from '../../test/asAdmin';
import { graphQLError, mockClient } from '../../test/mockClient';
import { Compose, copyName } from './Compose';
import { NotificationDetail } from './NotificationDetail';
import { Notifications } from './Notifications';

afterEach(() => {
  vi.unstubAllGlobals();
  window.history.replaceState(null, '', '/');
});

const row = (over: Record<string, unknown>) => ({
  id: 'n1',
  name: 'Your badge for RustConf, Ada',
  subject: 'Your badge for {{ conference.name }}, {{ first_name }}',
  status: 'COMPLETED_WITH_ERRORS',
  total: 724,
  sent: 690,
  failed: 31,
  cancelled: 3,
  pending: 0,
  submittedAt: '2027-01-02T10:00:00Z',
  completedAt: '2027-01-02T10:05:00Z',
  ...over,
});

const draft = {
  id: 'd1',
  conferenceId: 'c1',
  name: 'Reminder',
  subject: 'See you {{ first_name }}',
  message: 'Soon.',
  updatedAt: '2027-01-03T09:30:00Z',
};

const mutationsNamed = (client: ReturnType<typeof mockClient>, name: string) =>
  client.mutation.mock.calls
    .filter(([document]) => (document as { definitions: { name?: { value: string } }[] }).definitions[0]?.name?.value === name)
    .map(([, variables]) => variables as Record<string, unknown>);

describe('notification list', () => {
  it('shows each by name, newest first, with failed and cancelled counts, and the drafts to continue', async () => {
    const client = mockClient((name) => {
      if (name === 'Notifications') {
        return {
          data: {
            notifications: {
              totalCount: 2,
              pageInfo: { hasNextPage: false, endCursor: null },
              nodes: [row({ id: 'n2', name: 'Programme update', failed: 0, cancelled: 0, status: 'COMPLETED' }), row({})],
            },
          },
        };
      }
      if (name === 'NotificationDrafts') return { data: { notificationDrafts: [draft, { ...draft, id: 'd2', name: '', subject: '' }] } };
      return undefined;
    });
    renderAsAdmin(client, <Notifications conferenceId="c1" />);
    const table = await screen.findByTestId('notifications');
    expect(screen.getByText('2 notifications, newest first')).toBeTruthy();
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((r) => within(r).getByRole('link').textContent)).toEqual(['Programme update', 'Your badge for RustConf, Ada']);
    expect(within(rows[1] as HTMLElement).getByTestId('row-failed').textContent).toBe('31');
    expect(within(rows[1] as HTMLElement).getByTestId('row-cancelled').textContent).toBe('3');
    expect(within(table).queryByText(/\{\{/)).toBeNull();

    const drafts = await screen.findByTestId('drafts');
    const continueLink = within(drafts).getByRole('link', { name: 'Continue Reminder' });
    expect(continueLink.getAttribute('href')).toBe('/admin/conferences/c1/compose?draft=d1');
    expect(within(drafts).getByText('Untitled draft')).toBeTruthy();
    expect(within(drafts).getAllByText(/saved 3 Jan 2027, 09:30 UTC/)).toHaveLength(2);
  });

  it('deletes a draft only after a second, explicit click', async () => {
    let drafts = [draft];
    const client = mockClient((name) => {
      if (name === 'Notifications') return { data: { notifications: { totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, nodes: [] } } };
      if (name === 'NotificationDrafts') return { data: { notificationDrafts: drafts } };
      if (name === 'DeleteNotificationDraft') {
        drafts = [];
        return { data: { deleteNotificationDraft: true } };
      }
      return undefined;
    });
    renderAsAdmin(client, <Notifications conferenceId="c1" />);
    fireEvent.click(await screen.findByRole('button', { name: 'Delete Reminder' }));
    expect(client.executeMutation).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Delete for good' }));
    await waitFor(() => expect(client.executeMutation).toHaveBeenCalledTimes(1));
  });
});

describe('compose with drafts', () => {
  it('saves what is typed as a draft, then keeps saving the same one', async () => {
    let saved = 0;
    const client = mockClient((name, variables) => {
      if (name === 'SaveNotificationDraft') {
        saved += 1;
        const input = variables.input as Record<string, string>;
        return { data: { saveNotificationDraft: { ...draft, ...input, id: 'd9', updatedAt: `2027-01-03T09:30:0${saved}Z` } } };
      }
      return undefined;
    });
    renderAsAdmin(client, <Compose conferenceId="c1" />);
    fireEvent.change(await screen.findByLabelText(/^Subject/), { target: { value: 'Hello {{ first_name }}' } });
    await waitFor(() => expect(screen.getByTestId('draft-status').textContent).toMatch(/^Draft saved at 0?9:30:01 UTC$/), {
      timeout: 3000,
    });
    expect(mutationsNamed(client, 'SaveNotificationDraft')[0]?.input).toEqual({
      id: null,
      conferenceId: 'c1',
      name: '',
      subject: 'Hello {{ first_name }}',
      message: '',
    });
    // The address now continues this draft.
    expect(window.location.search).toBe('?draft=d9');
    fireEvent.change(screen.getByLabelText(/^Message/), { target: { value: 'Body' } });
    await waitFor(() => expect(mutationsNamed(client, 'SaveNotificationDraft')).toHaveLength(2), { timeout: 3000 });
    expect(mutationsNamed(client, 'SaveNotificationDraft')[1]?.input).toMatchObject({ id: 'd9', message: 'Body' });
  });

  it('opens a saved draft, shows the rendered sample before sending, and deletes the draft once sent', async () => {
    const client = mockClient((name) => {
      switch (name) {
        case 'NotificationDraft':
          return { data: { notificationDraft: draft } };
        case 'PreviewNotification':
          return { data: { previewNotification: { subject: 'See you Ada', body: 'Soon, on Tuesday 12 October 2027.', html: '<p>x</p>' } } };
        case 'AudiencePreview':
          return { data: { audiencePreview: { count: 724, attendees: { nodes: [] } } } };
        case 'CreateNotification':
          return { data: { createNotification: { id: 'n5', name: 'Reminder', status: 'QUEUED', subject: draft.subject, total: 0 } } };
        case 'DeleteNotificationDraft':
          return { data: { deleteNotificationDraft: true } };
        default:
          return undefined;
      }
    });
    renderAsAdmin(client, <Compose conferenceId="c1" draftId="d1" />);
    await waitFor(() => expect((screen.getByLabelText(/^Subject/) as HTMLInputElement).value).toBe('See you {{ first_name }}'));
    expect((screen.getByLabelText(/^Name/) as HTMLInputElement).value).toBe('Reminder');
    fireEvent.click(screen.getByRole('button', { name: 'Review and send…' }));
    const confirm = await screen.findByTestId('confirm-step');
    const sample = within(confirm).getByTestId('confirm-sample');
    expect(within(sample).getByTestId('sample-subject').textContent).toBe('See you Ada');
    expect(within(sample).getByTestId('sample-body').textContent).toBe('Soon, on Tuesday 12 October 2027.');
    expect(within(confirm).getByTestId('confirm-name').textContent).toBe('Reminder');
    fireEvent.click(await screen.findByRole('button', { name: 'Send to 724 attendees' }));
    await waitFor(() => expect(window.location.pathname).toBe('/admin/notifications/n5'));
    const create = client.executeMutation.mock.calls.find(([op]) => op.query.definitions[0].name.value === 'CreateNotification');
    expect(create?.[0].variables.input).toMatchObject({ name: 'Reminder', subject: draft.subject, message: 'Soon.' });
    const deleted = client.executeMutation.mock.calls.filter(([op]) => op.query.definitions[0].name.value === 'DeleteNotificationDraft');
    expect(deleted.map(([op]) => op.variables)).toEqual([{ id: 'd1' }]);
    // A loaded draft that was not changed is not saved again.
    expect(mutationsNamed(client, 'SaveNotificationDraft')).toHaveLength(0);
  });

  it('duplicates a past notification as a new draft, named as a copy', async () => {
    const client = mockClient((name, variables) => {
      if (name === 'Notification') {
        return { data: { notification: { ...row({}), message: 'Your badge is attached.', startedAt: null, suppressed: 0, bounced: 0, conference: { id: 'c1', name: 'RustConf' } } } };
      }
      if (name === 'SaveNotificationDraft') {
        return { data: { saveNotificationDraft: { ...draft, ...(variables.input as object), id: 'd7' } } };
      }
      return undefined;
    });
    renderAsAdmin(client, <Compose conferenceId="c1" fromId="n1" />);
    await waitFor(() => expect((screen.getByLabelText(/^Name/) as HTMLInputElement).value).toBe('Copy of Your badge for RustConf, Ada'));
    expect((screen.getByLabelText(/^Message/) as HTMLTextAreaElement).value).toBe('Your badge is attached.');
    await waitFor(() => expect(mutationsNamed(client, 'SaveNotificationDraft')).toHaveLength(1), { timeout: 3000 });
    expect(copyName('x'.repeat(300))).toHaveLength(200);
  });

  it('puts every problem in one summary that links to the fields', async () => {
    const client = mockClient(() => undefined);
    renderAsAdmin(client, <Compose conferenceId="c1" />);
    fireEvent.change(await screen.findByLabelText(/^Name/), { target: { value: 'n'.repeat(201) } });
    fireEvent.click(screen.getByRole('button', { name: 'Review and send…' }));
    const summary = await screen.findByTestId('error-summary');
    expect(screen.getAllByRole('alert')).toEqual([summary]);
    expect(within(summary).getAllByRole('link').map((a) => a.getAttribute('href'))).toEqual([
      '#notification-name',
      '#subject',
      '#message',
    ]);
    expect(document.activeElement).toBe(summary);
  });
});

describe('progress page', () => {
  const notification = {
    ...row({ status: 'SENDING', sent: 100, failed: 0, cancelled: 0, pending: 624, completedAt: null }),
    message: 'Body',
    startedAt: '2027-01-02T10:00:01Z',
    suppressed: 0,
    bounced: 0,
    conference: { id: 'c1', name: 'RustConf' },
  };
  const event = (over: Partial<NotificationProgress>): { data: { notificationProgress: NotificationProgress } } => ({
    data: {
      notificationProgress: {
        notificationId: 'n1',
        status: 'SENDING',
        total: 724,
        sent: 100,
        failed: 0,
        cancelled: 0,
        suppressed: 0,
        bounced: 0,
        pending: 624,
        ratePerSecond: 15,
        etaSeconds: 40,
        updatedAt: '2027-01-02T10:00:10Z',
        ...over,
      },
    },
  });

  it('names the notification, announces milestones and completion politely, and drops the queued banner when done', async () => {
    const events = makeSubject<ReturnType<typeof event>>();
    const client = mockClient(
      (name) => (name === 'Notification' ? { data: { notification } } : undefined),
      (name) => (name === 'NotificationProgress' ? events.source : undefined),
    );
    render(
      <Provider value={client}>
        <NotificationDetail id="n1" justCreated />
      </Provider>,
    );
    expect(await screen.findByRole('heading', { level: 1, name: 'Your badge for RustConf, Ada' })).toBeTruthy();
    const region = screen.getByTestId('progress-announcer');
    expect(region.getAttribute('aria-live')).toBe('polite');
    expect(screen.getByText('Notification queued')).toBeTruthy();
    act(() => events.next(event({})));
    act(() => events.next(event({ sent: 200, pending: 524 })));
    expect(region.textContent).toBe('25% done: 200 of 724 sent.');
    act(() => events.next(event({ status: 'COMPLETED_WITH_ERRORS', sent: 693, failed: 31, pending: 0, etaSeconds: 0 })));
    expect(region.textContent).toBe('Sending finished with errors: 693 sent, 31 failed of 724.');
    await waitFor(() => expect(screen.queryByText('Notification queued')).toBeNull());
  });

  it('offers an admin to duplicate it as a new notification', async () => {
    const client = mockClient(
      (name) => (name === 'Notification' ? { data: { notification } } : undefined),
      () => undefined,
    );
    renderAsAdmin(client, <NotificationDetail id="n1" justCreated={false} />);
    const link = await screen.findByRole('link', { name: 'Duplicate as new' });
    expect(link.getAttribute('href')).toBe('/admin/conferences/c1/compose?from=n1');
  });
});

describe('a draft gone elsewhere', () => {
  it('is saved again as a new draft rather than lost', async () => {
    const client = mockClient((name, variables) => {
      if (name === 'NotificationDraft') return { error: graphQLError('draft d1 does not exist', { code: 'NOT_FOUND' }) };
      if (name === 'SaveNotificationDraft') {
        const input = variables.input as Record<string, string | null>;
        return input.id === 'd1'
          ? { error: graphQLError('draft d1 does not exist', { code: 'NOT_FOUND' }) }
          : { data: { saveNotificationDraft: { ...draft, ...input, id: 'd2' } } };
      }
      return undefined;
    });
    renderAsAdmin(client, <Compose conferenceId="c1" draftId="d1" />);
    await screen.findByText('The draft could not be opened');
    fireEvent.change(screen.getByLabelText(/^Subject/), { target: { value: 'Fresh start' } });
    await waitFor(() => expect(screen.getByTestId('draft-status').getAttribute('data-state')).toBe('saved'), { timeout: 3000 });
    expect(mutationsNamed(client, 'SaveNotificationDraft').map((v) => (v.input as { id: string | null }).id)).toEqual(['d1', null]);
    expect(window.location.search).toBe('?draft=d2');
  });

  it('of another conference is not continued here', async () => {
    const client = mockClient((name, variables) => {
      if (name === 'NotificationDraft') return { data: { notificationDraft: { ...draft, conferenceId: 'c2' } } };
      if (name === 'SaveNotificationDraft') {
        const input = variables.input as Record<string, string | null>;
        return input.id === 'd1'
          ? { error: graphQLError('conferenceId: the draft belongs to another conference', { code: 'VALIDATION', field: 'conferenceId' }) }
          : { data: { saveNotificationDraft: { ...draft, ...input, id: 'd3' } } };
      }
      return undefined;
    });
    renderAsAdmin(client, <Compose conferenceId="c1" draftId="d1" />);
    await screen.findByText(/It belongs to another conference/);
    expect((screen.getByLabelText(/^Subject/) as HTMLInputElement).value).toBe('');
    fireEvent.change(screen.getByLabelText(/^Subject/), { target: { value: 'Here' } });
    await waitFor(() => expect(screen.getByTestId('draft-status').getAttribute('data-state')).toBe('saved'), { timeout: 3000 });
    expect(window.location.search).toBe('?draft=d3');
  });
});
