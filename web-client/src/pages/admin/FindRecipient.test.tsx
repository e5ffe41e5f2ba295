import { fireEvent, render, screen, within } from '@testing-library/react';
import { Provider } from 'urql';
import { describe, expect, it } from 'vitest';
import { mockClient } from '../../test/mockClient';
import { FindRecipient } from './FindRecipient';

const delivery = {
  id: '7',
  email: 'ada@example.org',
  status: 'FAILED' as const,
  attempts: 3,
  lastError: '550 5.1.1 mailbox unavailable',
  messageId: '<n1.a1@techconf.example>',
  sentAt: null,
  nextAttemptAt: null,
  notification: {
    id: 'n1',
    subject: 'See you soon',
    submittedAt: '2027-01-01T10:00:00Z',
    conference: { id: 'c1', name: 'TechConf' },
  },
};

function find(email: string) {
  fireEvent.change(screen.getByLabelText('Recipient’s email'), { target: { value: email } });
  fireEvent.click(screen.getByRole('button', { name: 'Find' }));
}

describe('find a recipient', () => {
  it('looks nothing up until asked, then lists every delivery with its outcome', async () => {
    const client = mockClient((name, variables) =>
      name === 'DeliveriesByEmail' && variables.email === 'ada@example.org'
        ? {
            data: {
              deliveriesByEmail: {
                totalCount: 1,
                pageInfo: { hasNextPage: false, endCursor: '7' },
                nodes: [delivery],
              },
            },
          }
        : undefined,
    );
    render(
      <Provider value={client}>
        <FindRecipient />
      </Provider>,
    );
    expect(client.executeQuery).not.toHaveBeenCalled();
    find('  ada@example.org ');
    const table = await screen.findByTestId('recipient-deliveries');
    expect(within(table).getByText('See you soon')).toBeTruthy();
    expect(within(table).getByText('Failed')).toBeTruthy();
    expect(within(table).getByText('550 5.1.1 mailbox unavailable')).toBeTruthy();
    expect(within(table).getByText('<n1.a1@techconf.example>')).toBeTruthy();
    expect(screen.getByTestId('recipient-summary').textContent).toBe('1 delivery to ada@example.org.');
  });

  it('says so when nobody was emailed at that address', async () => {
    const client = mockClient((name) =>
      name === 'DeliveriesByEmail'
        ? { data: { deliveriesByEmail: { totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, nodes: [] } } }
        : undefined,
    );
    render(
      <Provider value={client}>
        <FindRecipient />
      </Provider>,
    );
    find('nobody@example.org');
    expect((await screen.findByTestId('recipient-summary')).textContent).toBe(
      'No notification was addressed to nobody@example.org.',
    );
    expect(screen.queryByTestId('recipient-deliveries')).toBeNull();
  });
});
