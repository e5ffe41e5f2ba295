// One-click unsubscribe in Chromium: a notification sent by the real worker through
// smtp-sink carries a List-Unsubscribe link; opening it shows a page with one button, and
// clicking it suppresses the address (seen through the admin API).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkAccessibility, graphql, launchBrowser, screenshot, startServer } from './harness.mjs';

describe('unsubscribe page', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer({ worker: true });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('unsubscribes from one conference with the button on the page the email links to', async () => {
    const { createConference: conference } = await graphql(
      server.baseUrl,
      server.token,
      `mutation($input: CreateConferenceInput!) { createConference(input: $input) { id name } }`,
      { input: { name: 'Unsubscribe Conf', startsOn: '2027-06-01', price: 0, address: '1 Quay Street' } },
    );
    const email = 'grace.unsubscribe@example.org';
    await graphql(server.baseUrl, null, `mutation($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id } }`, {
      input: {
        conferenceId: conference.id, firstName: 'Grace', lastName: 'Hopper', email,
        jobPosition: 'Admiral', company: 'Navy', city: 'Arlington', state: 'VA',
      },
    });
    await graphql(
      server.baseUrl,
      server.token,
      `mutation($input: CreateNotificationInput!) { createNotification(input: $input) { id } }`,
      { input: { conferenceId: conference.id, subject: 'Unsubscribe test', message: 'Hello **{{ first_name }}**' } },
    );
    const [message] = await server.smtp.waitForMessages(1, { filter: (m) => m.subject === 'Unsubscribe test' });
    const link = /<(http[^>]+\/u\/[^>]+)>/.exec(message.listUnsubscribe ?? '')?.[1];
    assert.ok(link, `no List-Unsubscribe link: ${message.listUnsubscribe}`);
    assert.ok(link.startsWith(`${server.baseUrl}/u/`), link);

    const page = await browser.context.newPage();
    await page.goto(link);
    await page.getByText(email).waitFor();
    assert.equal(await page.getByRole('button').count(), 1);
    assert.equal(await page.getByLabel(/about Unsubscribe Conf/).isChecked(), true);
    await screenshot(page, 'unsubscribe');
    await checkAccessibility(page, 'the unsubscribe page');
    // Opening the page changed nothing.
    const list = `query($c: ID) { suppressions(conferenceId: $c) { nodes { email conferenceId reason } } }`;
    assert.deepEqual((await graphql(server.baseUrl, server.token, list, { c: conference.id })).suppressions.nodes, []);

    await page.getByRole('button', { name: 'Unsubscribe' }).click();
    await page.getByRole('heading', { name: 'Unsubscribed' }).waitFor();
    await page.getByText('will get no more emails about Unsubscribe Conf').waitFor();
    await checkAccessibility(page, 'the unsubscribed page');
    const { suppressions } = await graphql(server.baseUrl, server.token, list, { c: conference.id });
    assert.deepEqual(suppressions.nodes, [{ email, conferenceId: conference.id, reason: 'unsubscribed' }]);
    await page.close();
  });
});
