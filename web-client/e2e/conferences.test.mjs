// End to end: managing conferences from the admin console (create with a currency and no
// region, edit, close and reopen registration), at desktop and phone widths with axe-core,
// and the registration page that follows.
import assert from 'node:assert/strict';
import { after, before, describe, it as test } from 'node:test';
import { checkAccessibility, graphql, launchBrowser, reportingIt, signIn, startServer } from './harness.mjs';

describe('managing conferences', () => {
  let server;
  let browser;
  let page;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const it = reportingIt(test, () => ({ page, server }));

  const conferenceNamed = async (name) =>
    (await graphql(server.baseUrl, null, '{ conferences { nodes { id name price currency region active } } }')).conferences.nodes.find(
      (c) => c.name === name,
    );

  it('creates a conference with a currency and no region, after checking the form', async () => {
    await signIn(page, server);
    assert.equal(await page.getByRole('link', { name: /GraphiQL/ }).getAttribute('href'), '/graphql');
    await checkAccessibility(page, 'the conferences (desktop)');

    await page.getByRole('button', { name: 'New conference' }).click();
    await page.getByRole('button', { name: 'Create conference' }).click();
    await page.locator('#new-conference-name-error').getByText('This field is required.').waitFor();
    // One summary, focused, linking to each field at fault.
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'error-summary');
    await page.getByTestId('error-summary').getByRole('link', { name: /^Name:/ }).click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'new-conference-name');
    await checkAccessibility(page, 'the new conference form with errors');

    await page.getByLabel('Name').fill('Seattle Systems Summit');
    await page.getByLabel('Starts on').fill('2027-06-01');
    await page.getByLabel('Address').fill('705 Pike St, Seattle');
    await page.getByLabel('Ticket price').fill('99');
    await page.getByLabel('Currency').fill('usd');
    await page.getByRole('button', { name: 'Create conference' }).click();
    await page.getByTestId('conference-notice').getByText('Conference created.').waitFor();
    const created = await conferenceNamed('Seattle Systems Summit');
    assert.deepEqual({ ...created, id: undefined }, {
      id: undefined, name: 'Seattle Systems Summit', price: 99, currency: 'USD', region: null, active: true,
    });
    await page.getByText('US$99.00').waitFor();
  });

  it('edits a conference and closes and reopens its registration', async () => {
    await page.getByRole('button', { name: 'Edit Seattle Systems Summit' }).click();
    await page.getByLabel('State or region').fill('WA');
    await page.getByLabel('Name').fill('Seattle Systems Summit 2027');
    await page.getByRole('button', { name: 'Save conference' }).click();
    await page.getByTestId('conference-notice').getByText('Saved Seattle Systems Summit.').waitFor();
    const edited = await conferenceNamed('Seattle Systems Summit 2027');
    assert.equal(edited.region, 'WA');

    await page.getByRole('button', { name: 'Close registration for Seattle Systems Summit 2027' }).click();
    await page.getByTestId('conference-notice').getByText('Registration for Seattle Systems Summit 2027 is closed.').waitFor();
    assert.equal((await conferenceNamed('Seattle Systems Summit 2027')).active, false);
    await page.goto(`${server.baseUrl}/register/${edited.id}`);
    await page.getByText('Registration is closed').waitFor();

    await page.goto(`${server.baseUrl}/admin`);
    await page.getByRole('button', { name: 'Reopen registration for Seattle Systems Summit 2027' }).click();
    await page.getByTestId('conference-notice').getByText('is open again').waitFor();
    await page.goto(`${server.baseUrl}/register/${edited.id}`);
    await page.getByText('US$99.00').waitFor();
    await page.getByText('705 Pike St, Seattle, WA').waitFor();
  });

  it('shows the not-found page for an unknown or malformed conference id', async () => {
    for (const id of ['nope', '01a27e14-7680-7f7f-b9bc-000000000000']) {
      await page.goto(`${server.baseUrl}/register/${id}`);
      await page.getByRole('heading', { name: 'Conference not found' }).waitFor();
    }
    await checkAccessibility(page, 'the not-found page');
  });

  it('shares the session with a new tab, and signing out in one signs out every tab', async () => {
    await page.goto(`${server.baseUrl}/admin`);
    await page.getByTestId('viewer').waitFor();
    const other = await browser.context.newPage();
    try {
      await other.goto(`${server.baseUrl}/admin/conferences`);
      await other.goto(`${server.baseUrl}/admin`);
      await other.getByTestId('viewer').waitFor();
      await other.getByRole('button', { name: 'Sign out' }).click();
      await other.getByLabel('API token').waitFor();
      await page.getByText('You signed out in another tab.').waitFor();
      await page.getByLabel('API token').waitFor();
      // Signing in again in one tab signs the other in too.
      await page.getByLabel('API token').fill(server.token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await other.getByTestId('viewer').waitFor();
    } finally {
      await other.close();
    }
  });

  it('fits and passes axe on a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.baseUrl}/admin`);
    await page.getByRole('button', { name: 'New conference' }).click();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    await checkAccessibility(page, 'the conferences (phone)');
    await page.setViewportSize({ width: 1200, height: 900 });
  });
});
