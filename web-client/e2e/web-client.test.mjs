// End to end: the built web client served by a real `techconf serve`, driven in Chromium.
// Needs ../target/debug/techconf (cargo build --bin techconf), dist/ (npm run build) and
// /usr/bin/chromium (apt-get install chromium).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { graphql, launchBrowser, publishScreenshot, screenshot, startServer } from './harness.mjs';

// Each run has a fresh database, so fixed values are unique; this name is not in the demo data.
const person = {
  firstName: 'Hedwig',
  lastName: 'Featherstonehaugh',
  email: 'hedwig.featherstonehaugh@example.org',
  jobPosition: 'Staff Engineer',
  company: 'Analytical Engines',
  city: 'Lisbon',
  state: 'Lisboa',
  interests: 'Compilers, distributed systems',
};

describe('TechConf web client', () => {
  let server;
  let browser;
  let page;
  let conference;
  const pageErrors = [];

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
    const data = await graphql(server.baseUrl, null, '{ conferences { nodes { id name } } }');
    conference = data.conferences.nodes[0];
    assert.ok(conference, `seeding made no conference: ${server.seedOutput}`);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const byLabel = (label) => page.getByLabel(label, { exact: false });
  const fillRegistration = async (values) => {
    await byLabel('First name').fill(values.firstName);
    await byLabel('Last name').fill(values.lastName);
    await page.getByRole('textbox', { name: /^Email/ }).fill(values.email);
    await byLabel('Job position').fill(values.jobPosition);
    await byLabel('Company').fill(values.company);
    await byLabel('City').fill(values.city);
    await byLabel('State').fill(values.state);
    await byLabel('Interests').fill(values.interests);
  };
  const attendeeCount = async () =>
    (await graphql(server.baseUrl, server.token, 'query($c: ID!) { attendees(conferenceId: $c, first: 0) { totalCount } }', { c: conference.id }))
      .attendees.totalCount;

  it('lists the open conference on the landing page and links to its registration form', async () => {
    await page.goto(server.baseUrl);
    await page.getByRole('link', { name: `Register for ${conference.name}` }).click();
    await page.getByRole('heading', { level: 1, name: `Register for ${conference.name}` }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/register/${conference.id}`);
  });

  it('fits a phone-width screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    await page.reload();
    await byLabel('First name').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    await screenshot(page, 'registration-phone');
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  it('checks the form in the browser before sending it', async () => {
    await page.getByRole('button', { name: 'Register' }).click();
    await page.locator('#firstName-error').getByText('This field is required.').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'firstName');
    await page.getByRole('textbox', { name: /^Email/ }).fill('grace@localhost');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.locator('#email-error').getByText(/domain needs a dot/).waitFor();
  });

  it('registers an attendee through the form and confirms it', async () => {
    await fillRegistration(person);
    await page.evaluate(() => document.activeElement?.blur());
    const shot = await screenshot(page, 'registration');
    publishScreenshot(shot, 'registration.png');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByRole('heading', { name: `You’re registered, ${person.firstName}!` }).waitFor();
    await page.getByText(person.email).waitFor();
    await screenshot(page, 'registration-confirmation');
  });

  it('shows a duplicate email next to the email field', async () => {
    await page.getByRole('button', { name: 'Register someone else' }).click();
    // The same address in another letter case is the same registration.
    await fillRegistration({ ...person, firstName: 'Another', email: person.email.toUpperCase() });
    await page.getByRole('button', { name: 'Register' }).click();
    const error = page.locator('#email-error');
    await error.getByText(/already registered/).waitFor();
    const email = page.getByRole('textbox', { name: /^Email/ });
    assert.equal(await email.getAttribute('aria-invalid'), 'true');
    assert.match(await email.getAttribute('aria-describedby'), /email-error/);
    await screenshot(page, 'registration-duplicate-email');
  });

  it('signs in to the admin console with an API token kept out of the URL', async () => {
    await page.getByRole('link', { name: 'Admin' }).click();
    await byLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token was not accepted').waitFor();

    await byLabel('API token').fill(server.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('viewer').getByText('TECHCONF_ADMIN_TOKEN').waitFor();
    assert.ok(!page.url().includes(server.token));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('techconf.adminToken')), server.token);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    // The graphql-ws connection authenticates with the same token.
    await page.locator('.connection[data-state="connected"]').waitFor();
  });

  it('stays signed in across a reload of the tab', async () => {
    await page.reload();
    await page.getByTestId('viewer').waitFor();
  });

  it('shows the live connection dropping and coming back when the server restarts', async () => {
    await server.halt();
    await page.locator('.connection[data-state="reconnecting"]').waitFor();
    await server.start();
    await page.locator('.connection[data-state="connected"]').waitFor({ timeout: 30_000 });
  });

  it('searches and pages through the attendees', async () => {
    await page.getByRole('link', { name: conference.name }).click();
    await page.getByRole('heading', { level: 1, name: 'Attendees' }).waitFor();
    const total = await attendeeCount();
    assert.equal(total, 321, 'the 320 seeded attendees and the one registered above');
    await page.getByTestId('attendee-count').getByText(`${total} attendees registered`).waitFor();

    await page.getByRole('button', { name: 'Next →' }).click();
    await page.locator('.pager__page').getByText('Page 2').waitFor();
    await page.getByRole('button', { name: '← Previous' }).click();
    await page.locator('.pager__page').getByText('Page 1').waitFor();

    await page.getByRole('searchbox', { name: 'Search' }).fill(person.lastName.toLowerCase());
    await page.getByTestId('search-result').getByText(`1 match for “${person.lastName.toLowerCase()}”`).waitFor();
    const rows = page.locator('table tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().innerText(), new RegExp(`${person.firstName} ${person.lastName}[\\s\\S]*${person.email}`));
    await screenshot(page, 'admin-attendees');
  });

  it('shows template errors from the server next to the field', async () => {
    await page.getByRole('link', { name: 'Compose' }).click();
    // An unknown filter passes the browser's checks; the server refuses it.
    await byLabel('Subject').fill('Hello {{ first_name | nosuchfilter }}');
    await byLabel('Message').fill('Hi');
    await page.getByRole('button', { name: 'Review and send…' }).click();
    await page.getByRole('button', { name: /^Send to \d+ attendees$/ }).click();
    await page.locator('#subject-error').getByText(/unknown filter/i).waitFor();
    assert.equal(await byLabel('Subject').getAttribute('aria-invalid'), 'true');
  });

  it('composes a notification, confirms the recipient count and queues it', async () => {
    const subject = 'See you in Lisbon, {{ first_name }}';
    await byLabel('Subject').fill(subject);
    await byLabel('Message').fill('{{ conference.name }} starts on {{ conference.starts_on }} at {{ conference.address }}.');
    const preview = page.getByTestId('preview-subject');
    await preview.getByText(/^See you in Lisbon, \S+/).waitFor();
    assert.ok(!(await preview.innerText()).includes('{{'), 'the preview fills in the variables');
    await screenshot(page, 'compose');

    await page.getByRole('button', { name: 'Review and send…' }).click();
    const total = await attendeeCount();
    await page.getByTestId('recipient-count').getByText(`${total} attendees`).waitFor();
    await screenshot(page, 'compose-confirm');
    await page.getByRole('button', { name: `Send to ${total} attendees` }).click();

    await page.getByRole('heading', { level: 1, name: subject }).waitFor();
    await page.getByText('Notification queued').waitFor();
    await page.locator('.progress [data-status="QUEUED"]').waitFor();
    // Controls wait for the server's control mutations.
    assert.equal(await page.getByRole('button', { name: 'Pause' }).isDisabled(), true);
    await screenshot(page, 'notification');

    await page.getByRole('link', { name: 'Notifications', exact: true }).click();
    const row = page.locator('[data-testid="notifications"] tbody tr', { hasText: subject });
    await row.locator('[data-status="QUEUED"]').waitFor();
    await screenshot(page, 'notifications');
  });

  it('signs out and forgets the token', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await byLabel('API token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('techconf.adminToken')), null);
  });

  it('raised no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
