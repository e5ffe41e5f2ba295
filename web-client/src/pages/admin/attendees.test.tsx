import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Provider } from 'urql';
import { describe, expect, it } from 'vitest';
import { adaRegistration } from '../../test/fixtures';
import { graphQLError, mockClient } from '../../test/mockClient';
import { AttendeeEditor } from './AttendeeEditor';
import { AttendeeImport } from './AttendeeImport';
import { Attendees } from './Attendees';

const ada = {
  id: 'a1',
  ...adaRegistration,
  interests: null,
  comments: null,
  submittedAt: '2027-01-01T10:00:00Z',
};

describe('attendees page', () => {
  it('labels the rows shown as a range of the total and asks the server to sort', async () => {
    const seen: Record<string, unknown>[] = [];
    const client = mockClient((name, variables) => {
      if (name === 'Attendees') {
        seen.push(variables);
        return {
          data: {
            attendees: { totalCount: 728, pageInfo: { hasNextPage: true, endCursor: 'c1' }, nodes: [ada] },
          },
        };
      }
      if (name === 'AttendeeCount') return { data: { attendees: { totalCount: 728 } } };
      return undefined;
    });
    render(
      <Provider value={client}>
        <Attendees conferenceId="c" />
      </Provider>,
    );
    expect((await screen.findByTestId('pager-range')).textContent).toBe('1–1 of 728');
    expect(screen.getByText('of 30')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: /City/ }));
    await waitFor(() => expect(seen.at(-1)?.orderBy).toEqual({ field: 'CITY', direction: 'ASC' }));
    const cell = screen.getByTitle('Analytical Engines');
    expect(cell.className).toBe('cell-text');
  });
});

describe('attendee editor', () => {
  it('checks fields as the registration form does and shows a taken email next to the field', async () => {
    const client = mockClient((name) =>
      name === 'UpdateAttendee'
        ? { error: graphQLError('ada@x.org is already registered for this conference', { code: 'CONFLICT' }) }
        : undefined,
    );
    render(
      <Provider value={client}>
        <AttendeeEditor attendee={ada} onDone={() => {}} />
      </Provider>,
    );
    fireEvent.change(screen.getByLabelText(/^State/), { target: { value: ' ' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(document.getElementById('edit-state-error')?.textContent).toBe('This field is required.'));
    expect(within(screen.getByTestId('error-summary')).getByRole('link').getAttribute('href')).toBe('#edit-state');
    expect(client.executeMutation).not.toHaveBeenCalled();
    fireEvent.change(screen.getByLabelText(/^State/), { target: { value: 'LDN' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(document.getElementById('edit-email-error')?.textContent).toMatch(/already registered/));
  });
});

describe('attendee import', () => {
  const file = () => new File(['first_name\n'], 'a.csv', { type: 'text/csv' });

  /** Renders the import against a server that reports `rows` and `rejected` (applied unless a dry run), and checks a file. */
  const checkFile = async ({ rows, rejected }: { rows: number; rejected: object[] }, onImported = () => {}) => {
    const client = mockClient((name, variables) =>
      name === 'ImportAttendees'
        ? {
            data: {
              importAttendees: {
                dryRun: variables.dryRun as boolean,
                applied: !variables.dryRun,
                rows,
                created: 1,
                updated: 1,
                unchanged: 0,
                rejected,
              },
            },
          }
        : undefined,
    );
    render(
      <Provider value={client}>
        <AttendeeImport conferenceId="c" onImported={onImported} />
      </Provider>,
    );
    fireEvent.change(screen.getByLabelText('CSV file'), { target: { files: [file()] } });
    await waitFor(() => expect((screen.getByRole('button', { name: 'Check file' }) as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(screen.getByRole('button', { name: 'Check file' }));
  };

  it('lists rejected rows and offers no import until the file is clean', async () => {
    await checkFile({ rows: 3, rejected: [{ line: 4, email: 'x@', field: 'email', message: 'is not a valid email address' }] });
    const table = await screen.findByTestId('import-rejections');
    expect(within(table).getByText('is not a valid email address')).toBeTruthy();
    expect(screen.getByText('1 row rejected: nothing was imported')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /^Import \d/ })).toBeNull();
  });

  it('imports after a clean dry run and says what it did', async () => {
    let imported = false;
    await checkFile({ rows: 2, rejected: [] }, () => (imported = true));
    await screen.findByText('Ready to import');
    expect(imported).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Import 2 changes' }));
    await screen.findByText('Imported');
    expect(screen.getByTestId('import-report').textContent).toContain('2 rows: 1 new attendee, 1 update, 0 unchanged');
    expect(imported).toBe(true);
  });
});
