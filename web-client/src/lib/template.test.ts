import { describe, expect, it } from 'vitest';
import { TEMPLATE_VARIABLES, insertVariable } from './template';

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
      'conference.starts_on | date("long")',
      'conference.price | money',
    ]);
  });

  it('inserts a variable at the caret, replacing a selection', () => {
    expect(insertVariable('Hello !', 6, 6, 'first_name')).toEqual({ value: 'Hello {{ first_name }}!', caret: 22 });
    expect(insertVariable('Hello you!', 6, 9, 'city')).toEqual({ value: 'Hello {{ city }}!', caret: 16 });
    expect(insertVariable('', 99, 99, 'city').value).toBe('{{ city }}');
  });
});
