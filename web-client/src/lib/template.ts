// The variables a notification template may use (the server's TemplateVariables), and a
// small local renderer for the compose preview until the server's `previewNotification`
// query is available. It substitutes plain `{{ variable }}` expressions only; anything
// else (filters, `{% ... %}` blocks) is left as written and the preview says so.

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
];

export const KNOWN_VARIABLES = new Set(TEMPLATE_VARIABLES.map((v) => v.name));

export interface PreviewRecipient {
  firstName: string;
  lastName: string;
  email: string;
  company: string;
  jobPosition: string;
  city: string;
  state: string;
}

export interface PreviewConference {
  name: string;
  startsOn: string;
  address: string;
}

export function templateValues(a: PreviewRecipient, c: PreviewConference): Record<string, string> {
  return {
    first_name: a.firstName,
    last_name: a.lastName,
    email: a.email,
    company: a.company,
    job_position: a.jobPosition,
    city: a.city,
    state: a.state,
    'conference.name': c.name,
    'conference.starts_on': c.startsOn,
    'conference.address': c.address,
  };
}

const EXPRESSION = /\{\{-?\s*(.*?)\s*-?\}\}/gs;
const PLAIN_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Plain variable references (`{{ name }}`) that are not known to the server. */
export function unknownVariables(template: string): string[] {
  const unknown = new Set<string>();
  for (const m of template.matchAll(EXPRESSION)) {
    const expr = m[1] ?? '';
    if (PLAIN_PATH.test(expr) && !KNOWN_VARIABLES.has(expr)) unknown.add(expr);
  }
  return [...unknown];
}

export interface LocalRender {
  text: string;
  /** True when some of the template could not be rendered locally. */
  approximate: boolean;
}

export function renderLocally(template: string, values: Record<string, string>): LocalRender {
  let approximate = /\{%|\{#/.test(template);
  // Whitespace control: `{{-` trims the whitespace before the tag, `-}}` the whitespace after.
  const trimmed = template.replace(/\s*\{\{-/g, '{{').replace(/-\}\}\s*/g, '}}');
  const text = trimmed.replace(EXPRESSION, (whole, expr: string) => {
    if (PLAIN_PATH.test(expr) && expr in values) return values[expr] ?? '';
    approximate = true;
    return whole;
  });
  return { text, approximate };
}

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
