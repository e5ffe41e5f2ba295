// Sample data shared by tests.

/** The required registration fields of one valid attendee. */
export const adaRegistration = {
  firstName: 'Ada',
  lastName: 'Lovelace',
  email: 'ada@example.org',
  jobPosition: 'Engineer',
  company: 'Analytical Engines',
  city: 'London',
  state: 'LDN',
};
