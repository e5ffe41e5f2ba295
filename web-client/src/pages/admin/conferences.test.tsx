import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Provider } from 'urql';
import { describe, expect, it } from 'vitest';
import { formatPrice } from '../../lib/format';
import { graphQLError, mockClient } from '../../test/mockClient';
import { checkConference, ConferenceForm } from './ConferenceForm';

describe('conference form', () => {
  it('checks every field before sending, and a region may be left empty', () => {
    const errors = checkConference({ name: ' ', startsOn: '', price: '-1', currency: 'euro', address: '', region: '' });
    expect(Object.keys(errors).sort()).toEqual(['address', 'currency', 'name', 'price', 'startsOn']);
    expect(checkConference({ name: 'C', startsOn: '2027-01-01', price: '0', currency: 'eur', address: 'A', region: '' })).toEqual({});
  });

  it('puts the server’s error next to its field, worded for creating', async () => {
    const client = mockClient((name) =>
      name === 'CreateConference'
        ? { error: graphQLError('currency: must be a three-letter ISO 4217 code', { code: 'VALIDATION', field: 'currency' }) }
        : undefined,
    );
    render(
      <Provider value={client}>
        <ConferenceForm onDone={() => {}} />
      </Provider>,
    );
    fireEvent.change(screen.getByLabelText(/^Name/), { target: { value: 'C' } });
    fireEvent.change(screen.getByLabelText(/^Starts on/), { target: { value: '2027-01-01' } });
    fireEvent.change(screen.getByLabelText(/^Ticket price/), { target: { value: '10' } });
    fireEvent.change(screen.getByLabelText(/^Address/), { target: { value: 'A' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create conference' }));
    await waitFor(() =>
      expect(document.getElementById('new-conference-currency-error')?.textContent).toMatch(/Must be a three-letter ISO 4217 code/),
    );
    const summary = screen.getByTestId('error-summary');
    expect(within(summary).getByRole('heading').textContent).toBe('The conference was not created');
    expect(within(summary).getByRole('link').getAttribute('href')).toBe('#new-conference-currency');
  });

  it('formats prices in their currency', () => {
    expect(formatPrice(349, 'EUR')).toBe('€349.00');
    expect(formatPrice(99, 'USD')).toBe('US$99.00');
    expect(formatPrice(5, null)).toBe('5.00');
  });
});
