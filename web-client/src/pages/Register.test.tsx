import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Provider } from 'urql';
import { describe, expect, it } from 'vitest';
import { graphQLError, mockClient } from '../test/mockClient';
import { RegistrationFormView } from './Register';

/** Renders the form against `client`, fills it in by label, and submits it. */
function submit(client: ReturnType<typeof mockClient>, values: Record<string, string>) {
  render(
    <Provider value={client}>
      <RegistrationFormView conferenceId="c1" conferenceName="TechConf" />
    </Provider>,
  );
  for (const [label, value] of Object.entries(values)) {
    fireEvent.change(screen.getByLabelText(new RegExp(`^${label}`)), { target: { value } });
  }
  fireEvent.click(screen.getByRole('button', { name: 'Register' }));
}

const complete = {
  'First name': 'Ada',
  'Last name': 'Lovelace',
  Email: 'ada@example.org',
  'Job position': 'Engineer',
  Company: 'Analytical Engines',
  City: 'London',
  State: 'LDN',
};

describe('registration form', () => {
  it('shows client-side errors next to their fields and does not call the server', async () => {
    const client = mockClient(() => undefined);
    submit(client, { ...complete, Email: 'ada@localhost', City: '  ' });
    const email = screen.getByLabelText(/^Email/);
    await waitFor(() => expect(email.getAttribute('aria-invalid')).toBe('true'));
    expect(document.getElementById('email-error')?.textContent).toMatch(/needs a dot/);
    expect(document.getElementById('city-error')?.textContent).toMatch(/required/);
    expect(email.getAttribute('aria-describedby')).toContain('email-error');
    // One alert for the form: a summary that takes focus and links to each field.
    const summary = screen.getByTestId('error-summary');
    expect(screen.getAllByRole('alert')).toEqual([summary]);
    expect(document.activeElement).toBe(summary);
    const links = within(summary).getAllByRole('link');
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['#email', '#city']);
    expect(links[0]?.textContent).toMatch(/^Email: .*needs a dot/);
    fireEvent.click(links[0] as HTMLElement);
    expect(document.activeElement).toBe(email);
    expect(client.executeMutation).not.toHaveBeenCalled();
  });

  it('shows a duplicate email from the server next to the email field', async () => {
    const client = mockClient((name) =>
      name === 'RegisterAttendee'
        ? { error: graphQLError('ada@example.org is already registered for TechConf', { code: 'CONFLICT' }) }
        : undefined,
    );
    submit(client, complete);
    await waitFor(() => expect(document.getElementById('email-error')?.textContent).toMatch(/already registered/));
    expect(screen.getByLabelText(/^Email/).getAttribute('aria-invalid')).toBe('true');
  });

  it('sends trimmed input and confirms the registration', async () => {
    const client = mockClient((name) =>
      name === 'RegisterAttendee' ? { data: { registerAttendee: { id: 'a1', firstName: 'Ada', lastName: 'Lovelace' } } } : undefined,
    );
    submit(client, { ...complete, 'First name': '  Ada ' });
    await screen.findByRole('heading', { name: /You’re registered, Ada!/ });
    expect(screen.getByText('ada@example.org')).toBeTruthy();
    const operation = client.executeMutation.mock.calls[0]?.[0] as { variables: { input: Record<string, unknown> } };
    expect(operation.variables.input).toMatchObject({ conferenceId: 'c1', firstName: 'Ada', interests: null });
  });

  it('maps a server VALIDATION error to the field it names', async () => {
    const client = mockClient((name) =>
      name === 'RegisterAttendee'
        ? { error: graphQLError('company: must not contain control characters', { code: 'VALIDATION', field: 'company' }) }
        : undefined,
    );
    submit(client, complete);
    await waitFor(() =>
      expect(document.getElementById('company-error')?.textContent).toBe('Must not contain control characters'),
    );
  });
});
