import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Provider } from 'urql';
import { describe, expect, it, vi } from 'vitest';
import type { NotificationProgress } from '../lib/progress';
import { graphQLError, mockClient } from '../test/mockClient';
import { NotificationControls } from './NotificationControls';
import { ProgressView } from './ProgressView';
import { ConnectionIndicator } from './ui';

const progress: NotificationProgress = {
  notificationId: 'n1',
  status: 'SENDING',
  total: 320,
  sent: 150,
  failed: 10,
  cancelled: 0,
  pending: 160,
  ratePerSecond: 40,
  etaSeconds: 4,
  updatedAt: '2027-01-01T10:00:00Z',
};

describe('ProgressView', () => {
  it('shows the bar, the counts, the rate and the time left', () => {
    render(<ProgressView progress={progress} />);
    const bar = screen.getByRole('progressbar');
    expect(bar.getAttribute('aria-valuenow')).toBe('50');
    expect(bar.getAttribute('aria-valuetext')).toBe('50%: 150 sent, 10 failed');
    expect(screen.getByTestId('count-sent').textContent).toBe('150');
    expect(screen.getByTestId('count-failed').textContent).toBe('10');
    expect(screen.getByTestId('count-pending').textContent).toBe('160');
    expect(screen.getByTestId('rate').textContent).toBe('40.0/s');
    expect(screen.getByTestId('eta').textContent).toBe('4 s');
    expect(screen.getByText('Sending')).toBeTruthy();
    expect(screen.queryByTestId('count-cancelled')).toBeNull();
  });

  it('shows suppressed and bounced recipients only when there are some, suppressed counting as done', () => {
    const { rerender } = render(<ProgressView progress={progress} />);
    expect(screen.queryByTestId('count-suppressed')).toBeNull();
    expect(screen.queryByTestId('count-bounced')).toBeNull();
    rerender(<ProgressView progress={{ ...progress, suppressed: 60, bounced: 3, pending: 100 }} />);
    expect(screen.getByTestId('count-suppressed').textContent).toBe('60');
    expect(screen.getByTestId('count-bounced').textContent).toBe('3');
    // (150 sent + 10 failed + 60 suppressed) of 320.
    expect(screen.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('68');
  });

  it('says when recipients are not planned yet, and when it is done', () => {
    const { rerender } = render(
      <ProgressView progress={{ ...progress, status: 'QUEUED', total: 0, sent: 0, failed: 0, pending: 0, ratePerSecond: null, etaSeconds: null }} />,
    );
    expect(screen.getByText(/waiting for the worker/)).toBeTruthy();
    expect(screen.getByTestId('eta').textContent).toBe('—');
    rerender(<ProgressView progress={{ ...progress, status: 'COMPLETED', sent: 310, pending: 0 }} />);
    expect(screen.getByTestId('progress-percent').textContent).toBe('100%');
    expect(screen.getByTestId('eta').textContent).toBe('Done');
  });
});

describe('NotificationControls', () => {
  const buttons = () => {
    const group = screen.getByRole('region', { name: 'Sending controls' });
    const state = (name: string) => !(within(group).getByRole('button', { name }) as HTMLButtonElement).disabled;
    return { pause: state('Pause'), resume: state('Resume'), retry: state('Retry failed'), cancel: state('Cancel sending') };
  };

  it('enables only the controls that apply to the status', () => {
    const client = mockClient(() => undefined);
    const { rerender } = render(
      <Provider value={client}>
        <NotificationControls progress={{ notificationId: 'n1', status: 'SENDING', failed: 0 }} onChanged={() => {}} />
      </Provider>,
    );
    expect(buttons()).toEqual({ pause: true, resume: false, retry: false, cancel: true });
    rerender(
      <Provider value={client}>
        <NotificationControls progress={{ notificationId: 'n1', status: 'COMPLETED_WITH_ERRORS', failed: 2 }} onChanged={() => {}} />
      </Provider>,
    );
    expect(buttons()).toEqual({ pause: false, resume: false, retry: true, cancel: false });
  });

  it('pauses with the mutation and reports a refusal from the server', async () => {
    const client = mockClient((name) =>
      name === 'PauseNotification'
        ? { error: graphQLError('notification n1 is completed and cannot be paused', { code: 'CONFLICT' }) }
        : undefined,
    );
    const onChanged = vi.fn();
    render(
      <Provider value={client}>
        <NotificationControls progress={{ notificationId: 'n1', status: 'SENDING', failed: 0 }} onChanged={onChanged} />
      </Provider>,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Pause' }));
    await screen.findByText(/cannot be paused/);
    expect(client.executeMutation).toHaveBeenCalledTimes(1);
    expect(onChanged).toHaveBeenCalled();
  });

  it('asks before cancelling', async () => {
    const client = mockClient((name) =>
      name === 'CancelNotification'
        ? { data: { cancelNotification: { id: 'n1', status: 'CANCELLED', total: 3, sent: 1, failed: 0, cancelled: 2, pending: 0 } } }
        : undefined,
    );
    render(
      <Provider value={client}>
        <NotificationControls progress={{ notificationId: 'n1', status: 'PAUSED', failed: 0 }} onChanged={() => {}} />
      </Provider>,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Cancel sending' }));
    expect(client.executeMutation).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Yes, cancel sending' }));
    await waitFor(() => expect(client.executeMutation).toHaveBeenCalledTimes(1));
  });
});

describe('ConnectionIndicator', () => {
  it('names the state in words, not only colour', () => {
    const { rerender } = render(<ConnectionIndicator snapshot={{ state: 'connected', retries: 0 }} />);
    expect(screen.getByRole('status').textContent).toContain('Connected');
    rerender(<ConnectionIndicator snapshot={{ state: 'reconnecting', retries: 3 }} />);
    expect(screen.getByRole('status').textContent).toContain('Reconnecting… (attempt 3)');
    rerender(<ConnectionIndicator snapshot={{ state: 'refused', retries: 0, reason: 'token revoked' }} />);
    expect(screen.getByRole('status').textContent).toContain('token revoked');
    fireEvent.focus(screen.getByRole('status'));
  });
});
