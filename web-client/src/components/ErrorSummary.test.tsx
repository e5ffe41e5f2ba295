import { fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ErrorSummary, summaryItems } from './ErrorSummary';

describe('error summary', () => {
  it('lists field errors in the form order as links, then general ones', () => {
    const items = summaryItems(
      { message: 'This field is required.', subject: 'Too long.' },
      ['name', 'subject', 'message'] as const,
      (f) => f.toUpperCase(),
      (f) => `f-${f}`,
      ['The server is away.'],
    );
    expect(items).toEqual([
      { id: 'f-subject', field: 'subject', message: 'SUBJECT: Too long.' },
      { id: 'f-message', field: 'message', message: 'MESSAGE: This field is required.' },
      { message: 'The server is away.' },
    ]);
  });

  it('drops a field once it is put right, and goes when nothing is left', () => {
    const items = [
      { id: 'f-subject', field: 'subject', message: 'Subject: Too long.' },
      { id: 'f-message', field: 'message', message: 'Message: Required.' },
    ];
    const { rerender } = render(
      <ErrorSummary title="Not sent" items={items} attempt={1} fieldErrors={{ subject: 'Too long.', message: 'Required.' }} />,
    );
    expect(within(screen.getByRole('alert')).getAllByRole('link')).toHaveLength(2);
    rerender(<ErrorSummary title="Not sent" items={items} attempt={1} fieldErrors={{ message: 'Required.' }} />);
    expect(within(screen.getByRole('alert')).getAllByRole('link').map((a) => a.textContent)).toEqual(['Message: Required.']);
    rerender(<ErrorSummary title="Not sent" items={items} attempt={1} fieldErrors={{}} />);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('is one alert that takes focus, and its links focus the field', () => {
    const { rerender } = render(
      <>
        <input id="f-subject" aria-label="Subject" />
        <ErrorSummary title="Not sent" items={[{ id: 'f-subject', message: 'Subject: Too long.' }, { message: 'Other' }]} attempt={1} />
      </>,
    );
    const summary = screen.getByRole('alert');
    expect(document.activeElement).toBe(summary);
    expect(within(summary).getByRole('heading', { name: 'Not sent' })).toBeTruthy();
    expect(summary.getAttribute('aria-labelledby')).toBe(within(summary).getByRole('heading').id);
    fireEvent.click(within(summary).getByRole('link', { name: 'Subject: Too long.' }));
    expect(document.activeElement).toBe(screen.getByLabelText('Subject'));
    expect(within(summary).getByText('Other').tagName).toBe('LI');
    rerender(<ErrorSummary title="Not sent" items={[]} attempt={1} />);
    expect(screen.queryByRole('alert')).toBeNull();
  });
});
