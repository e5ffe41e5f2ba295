// The variables a notification template may use (the server's TemplateVariables), and
// helpers for the compose form. Rendering is the server's job (`previewNotification`).

export interface TemplateVariable {
  name: string;
  description: string;
}

export const TEMPLATE_VARIABLES: readonly TemplateVariable[] = [
  { name: 'first_name', description: 'Attendee first name' },
  { name: 'last_name', description: 'Attendee last name' },
  { name: 'email', description: 'Attendee email' },
  { name: 'company', description: 'Company' },
  { name: 'job_position', description: 'Job position' },
  { name: 'city', description: 'City' },
  { name: 'state', description: 'State' },
  { name: 'conference.name', description: 'Conference name' },
  { name: 'conference.starts_on', description: 'Start date' },
  { name: 'conference.address', description: 'Venue address' },
  { name: 'conference.starts_on | date("long")', description: 'Start date written out, e.g. Tuesday 12 October 2027' },
  { name: 'conference.price | money', description: 'Ticket price with its currency, e.g. €349.00' },
];

/** Inserts `{{ name }}` at the selection of a text field; returns the new value and caret. */
export function insertVariable(
  value: string,
  selectionStart: number,
  selectionEnd: number,
  name: string,
): { value: string; caret: number } {
  const snippet = `{{ ${name} }}`;
  const start = Math.max(0, Math.min(selectionStart, value.length));
  const end = Math.max(start, Math.min(selectionEnd, value.length));
  return { value: value.slice(0, start) + snippet + value.slice(end), caret: start + snippet.length };
}
