import { describe, expect, it } from 'vitest';
import { checkTemplates } from '../pages/admin/Compose';
import { TEMPLATE_VARIABLES, insertVariable, renderLocally, templateValues, unknownVariables } from './template';

const values = templateValues(
  { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.org', company: 'AE', jobPosition: 'Eng', city: 'London', state: 'LDN' },
  { name: 'TechConf', startsOn: '2027-10-12', address: 'Lisbon' },
);

describe('templates', () => {
  it('offers exactly the variables the server knows', () => {
    expect(TEMPLATE_VARIABLES.map((v) => v.name)).toEqual([
      'first_name',
      'last_name',
      'email',
      'company',
      'job_position',
      'city',
      'state',
      'conference.name',
      'conference.starts_on',
      'conference.address',
    ]);
  });

  it('renders plain variables for the preview', () => {
    expect(renderLocally('Hi {{first_name}}, {{ conference.name }} on {{- conference.starts_on -}}!', values)).toEqual({
      text: 'Hi Ada, TechConf on2027-10-12!',
      approximate: false,
    });
  });

  it('leaves filters and blocks as written and says the preview is approximate', () => {
    expect(renderLocally('{{ first_name | upper }}', values)).toEqual({ text: '{{ first_name | upper }}', approximate: true });
    expect(renderLocally('{% if city %}x{% endif %}', values).approximate).toBe(true);
  });

  it('finds unknown plain variables', () => {
    expect(unknownVariables('{{ first_name }} {{ foo }} {{ conference.nam }} {{ foo }} {{ x | upper }}')).toEqual([
      'foo',
      'conference.nam',
    ]);
  });

  it('refuses unknown variables before the round trip, as the server would', () => {
    expect(checkTemplates('Hi {{ nickname }}', 'ok').subject).toMatch(/Unknown variable nickname; known variables are first_name/);
    expect(checkTemplates('Hi {{ first_name }}', '')).toEqual({ message: expect.stringMatching(/required/) });
  });

  it('inserts a variable at the caret, replacing a selection', () => {
    expect(insertVariable('Hello !', 6, 6, 'first_name')).toEqual({ value: 'Hello {{ first_name }}!', caret: 22 });
    expect(insertVariable('Hello you!', 6, 9, 'city')).toEqual({ value: 'Hello {{ city }}!', caret: 16 });
    expect(insertVariable('', 99, 99, 'city').value).toBe('{{ city }}');
  });
});
