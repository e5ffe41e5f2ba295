// End to end: a campaign from the admin console, in headless Chromium against a real server
// with its worker and Postfix's smtp-sink. Build an audience and see its live count, send
// a test, schedule the send a few seconds ahead, see its countdown in the list and on its
// page, and watch it start and finish at its time; then reschedule and cancel another.
// axe-core checks every screen.
import assert from 'node:assert/strict';
import { after, before, describe, it as test } from 'node:test';
import { checkAccessibility, graphql, launchBrowser, reportingIt, screenshot, signIn, startServer } from './harness.mjs';
import { waitFor } from './wait.mjs';

describe('campaigns', () => {
  let server;
  let browser;
  let page;
  let conference;

  before(async () => {
    server = await startServer({ worker: true, env: { WORKER_POLL_MS: '200' } });
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    conference = (await graphql(server.baseUrl, null, '{ conferences { nodes { id name } } }')).conferences.nodes[0];
    assert.ok(conference, `seeding made no conference: ${server.seedOutput}`);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const it = reportingIt(test, () => ({ page, server }));
  const byLabel = (label) => page.getByLabel(label, { exact: false });
  const audience = { city: ['Porto', 'Seattle'], company: ['Acme Cloud'] };
  const subject = 'Porto and Seattle, {{ first_name }}';
  let expected;
  let notificationId;
  let sendAt;

  /** The value of a `datetime-local` input for `date` (the browser runs in UTC). */
  const localInput = (date) => date.toISOString().slice(0, 19);

  it('builds an audience with its live count and sends a test to one address', async () => {
    expected = (
      await graphql(
        server.baseUrl,
        server.token,
        'query($c: ID!, $a: AudienceInput) { audiencePreview(conferenceId: $c, audience: $a) { count } }',
        { c: conference.id, a: audience },
      )
    ).audiencePreview.count;
    assert.ok(expected > 0, 'the demo data has attendees in the audience');
    await signIn(page, server);
    await page.goto(`${server.baseUrl}/admin/conferences/${encodeURIComponent(conference.id)}/compose`);
    await byLabel('Subject').fill(subject);
    await byLabel('Message').fill('See you at {{ conference.name }}.');
    const builder = page.getByTestId('audience-builder');
    await builder.getByLabel('City').fill('Porto, Seattle');
    await builder.getByLabel('Company').fill('Acme Cloud');
    await page.getByTestId('audience-count').getByText(`${expected} attendee`).waitFor();
    await checkAccessibility(page, 'the compose page with an audience');

    await page.getByLabel('Send a test to').fill('me@example.com');
    await page.getByRole('button', { name: 'Send me a test' }).click();
    await page.getByText('Test sent to me@example.com').waitFor();
    const tests = await waitFor(
      () => {
        const found = server.smtp.messages().filter((m) => m.subject?.startsWith('[TEST]'));
        return found.length > 0 && found;
      },
      { what: 'the test email' },
    );
    assert.deepEqual(tests.map((m) => m.recipients), [['me@example.com']]);
    const notifications = await graphql(server.baseUrl, server.token, '{ notifications { totalCount } }');
    assert.equal(notifications.notifications.totalCount, 0, 'a test creates no notification');
  });

  it('schedules the send, shows its countdown, and sends it at its time', async () => {
    await page.getByLabel('Send later').check();
    sendAt = new Date(Date.now() + 25_000);
    sendAt.setMilliseconds(0);
    await page.getByLabel(/Send at/).fill(localInput(sendAt));
    await page.getByRole('button', { name: 'Review and send…' }).click();
    await page.getByTestId('recipient-count').getByText(`${expected} attendees`).waitFor();
    await checkAccessibility(page, 'the confirmation of a scheduled send');
    await page.getByRole('button', { name: 'Schedule' }).click();

    await page.getByText('Notification scheduled').waitFor();
    notificationId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
    await page.locator('.progress [data-status="SCHEDULED"]').waitFor();
    await page.getByTestId('countdown').getByText(/Sends in \d+ s/).waitFor();
    assert.match(await page.getByTestId('campaign-audience').innerText(), /company Acme Cloud; city Porto or Seattle/);
    await checkAccessibility(page, 'a scheduled notification');
    await screenshot(page, 'campaign-scheduled');
    const stored = (
      await graphql(server.baseUrl, server.token, 'query($id: ID!) { notification(id: $id) { status sendAt } }', {
        id: notificationId,
      })
    ).notification;
    assert.equal(stored.status, 'SCHEDULED');
    assert.equal(new Date(stored.sendAt).getTime(), sendAt.getTime());

    await page.getByRole('link', { name: 'Notifications', exact: true }).click();
    const row = page.locator('[data-testid="notifications"] tbody tr', { hasText: 'Porto and Seattle' });
    await row.getByTestId('countdown').getByText(/Sends in/).waitFor();
    await checkAccessibility(page, 'the list with a scheduled notification');
    await row.getByRole('link').click();

    // At sendAt the worker plans it: the page follows it live to the end.
    await page.locator('.progress [data-status="COMPLETED"]').waitFor({ timeout: 60_000 });
    const done = (
      await graphql(server.baseUrl, server.token, 'query($id: ID!) { notification(id: $id) { total sent startedAt } }', {
        id: notificationId,
      })
    ).notification;
    assert.equal(done.total, expected);
    assert.equal(done.sent, expected);
    assert.ok(new Date(done.startedAt) >= sendAt, `started ${done.startedAt}, before ${sendAt.toISOString()}`);
    const prefix = `<${notificationId.replaceAll('-', '')}.`;
    await server.smtp.waitForMessages(expected, { filter: (m) => m.messageId?.startsWith(prefix) });
    await checkAccessibility(page, 'a finished scheduled notification');
  });

  it('reschedules and cancels a scheduled notification before it starts', async () => {
    const later = new Date(Date.now() + 3_600_000);
    const created = (
      await graphql(
        server.baseUrl,
        server.token,
        'mutation($input: CreateNotificationInput!) { createNotification(input: $input) { id } }',
        { input: { conferenceId: conference.id, subject: 'Later', message: 'Later', sendAt: later.toISOString() } },
      )
    ).createNotification;
    await page.goto(`${server.baseUrl}/admin/notifications/${encodeURIComponent(created.id)}`);
    await page.getByTestId('countdown').getByText(/Sends in (1 h|59 min)/).waitFor();
    const moved = new Date(Date.now() + 7_200_000);
    moved.setMilliseconds(0);
    moved.setSeconds(0);
    await page.getByLabel(/New time/).fill(localInput(moved).slice(0, 16));
    await page.getByRole('button', { name: 'Reschedule' }).click();
    await waitFor(
      async () =>
        new Date(
          (await graphql(server.baseUrl, server.token, 'query($id: ID!) { notification(id: $id) { sendAt } }', { id: created.id }))
            .notification.sendAt,
        ).getTime() === moved.getTime(),
      { what: 'the new sendAt' },
    );
    await page.getByTestId('countdown').getByText(/Sends in (2 h|1 h 59 min)/).waitFor();
    await page.getByRole('button', { name: 'Cancel scheduled send' }).click();
    await page.locator('.progress [data-status="CANCELLED"]').waitFor();
    await checkAccessibility(page, 'a cancelled scheduled notification');
  });
});
