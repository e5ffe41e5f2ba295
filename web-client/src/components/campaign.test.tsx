import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { Provider } from 'urql';
import { describe, expect, it, vi } from 'vitest';
import { graphQLError, mockClient } from '../test/mockClient';
import { AudienceBuilder } from './AudienceBuilder';
import { AutoPauseNotice, Countdown } from './CampaignNotices';
import { SendTest } from './SendTest';

describe('AudienceBuilder', () => {
  it('asks the server who matches as the criteria change, and reports them', async () => {
    const client = mockClient((name, variables) => {
      if (name !== 'AudiencePreview') return undefined;
      const audience = variables.audience as { city?: string[] } | null;
      const count = audience?.city ? 2 : 320;
      return {
        data: {
          audiencePreview: {
            count,
            attendees: { nodes: [{ id: 'a1', firstName: 'Ada', lastName: 'Lovelace' }] },
          },
        },
      };
    });
    const changes: unknown[] = [];
    render(
      <Provider value={client}>
        <AudienceBuilder conferenceId="c1" onChange={(a) => changes.push(a)} />
      </Provider>,
    );
    await screen.findByText('320 attendees');
    fireEvent.change(screen.getByLabelText('City'), { target: { value: 'Porto, Lisbon' } });
    await screen.findByText('2 attendees', {}, { timeout: 2000 });
    expect(changes.at(-1)).toEqual({ city: ['Porto', 'Lisbon'] });
  });
});

describe('SendTest', () => {
  it('refuses more than five addresses locally and reports what the server sent', async () => {
    const client = mockClient((name, variables) => {
      if (name !== 'SendTestNotification') return undefined;
      const input = variables.input as { to: string[] };
      return {
        data: {
          sendTestNotification: {
            subject: '[TEST] Hi',
            recipients: input.to.map((address) => ({ address, sent: true, error: null })),
          },
        },
      };
    });
    render(
      <Provider value={client}>
        <SendTest conferenceId="c1" subject="Hi" message="Body" />
      </Provider>,
    );
    const to = screen.getByLabelText('Send a test to');
    fireEvent.change(to, { target: { value: 'a@x.org, b@x.org, c@x.org, d@x.org, e@x.org, f@x.org' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send me a test' }));
    await screen.findByText('At most 5 addresses.');
    expect(client.executeMutation).not.toHaveBeenCalled();
    fireEvent.change(to, { target: { value: 'me@x.org' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send me a test' }));
    await screen.findByText('Test sent to me@x.org: “[TEST] Hi”.');
  });
});

describe('AutoPauseNotice', () => {
  it('says why the send paused itself and resumes it', async () => {
    const client = mockClient((name) =>
      name === 'ResumeNotification'
        ? { error: graphQLError('notification n1 is SENDING and cannot be resumed', { code: 'CONFLICT' }) }
        : undefined,
    );
    const onChanged = vi.fn();
    const { rerender } = render(
      <Provider value={client}>
        <AutoPauseNotice id="n1" status="PAUSED" reason="auto-paused: 12 of the last 50 deliveries failed (more than 20%)" onChanged={onChanged} />
      </Provider>,
    );
    expect(screen.getByText(/12 of the last 50 deliveries failed/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Resume sending' }));
    await waitFor(() => expect(onChanged).toHaveBeenCalled());
    await screen.findByText(/cannot be resumed/);
    rerender(
      <Provider value={client}>
        <AutoPauseNotice id="n1" status="SENDING" reason={null} onChanged={onChanged} />
      </Provider>,
    );
    expect(screen.queryByTestId('auto-pause')).toBeNull();
  });
});

describe('Countdown', () => {
  it('ticks every second until the time comes', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2027-01-01T10:00:00Z'));
    try {
      render(<Countdown sendAt="2027-01-01T10:00:03Z" />);
      expect(screen.getByTestId('countdown').textContent).toBe('Sends in 3 s');
      act(() => vi.advanceTimersByTime(1000));
      expect(screen.getByTestId('countdown').textContent).toBe('Sends in 2 s');
      act(() => vi.advanceTimersByTime(3000));
      expect(screen.getByTestId('countdown').textContent).toBe('Starting…');
    } finally {
      vi.useRealTimers();
    }
  });
});
