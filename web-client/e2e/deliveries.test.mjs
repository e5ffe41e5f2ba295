// End to end: a notification's progress page during a real send (the in-process worker,
// rate-limited, mailing smtp-sink): the send-rate chart appears and the counts move in the
// worker's steps; then the delivery log (search by email and name, status filter, paging)
// and its CSV download, compared with the API. At desktop and phone widths, with axe-core.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it as test } from 'node:test';
import { checkAccessibility, graphql, launchBrowser, publishScreenshot, reportingIt, screenshot, signIn, startServer } from './harness.mjs';
import { waitFor } from './wait.mjs';

// 320 attendees at 40 emails a second, recorded ten at a time: about eight seconds of send.
const WORKER = { WORKER_RATE_LIMIT: '40', WORKER_BATCH_SIZE: '10', WORKER_POLL_MS: '200' };

describe('deliveries of a notification', () => {
  let server;
  let browser;
  let page;
  let notificationId;
  let total;

  before(async () => {
    server = await startServer({ worker: true, env: WORKER });
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const it = reportingIt(test, () => ({ page, server }));
  const api = (query, variables) => graphql(server.baseUrl, server.token, query, variables);

  it('charts the send rate while the worker sends, and the counts follow each recorded batch', async () => {
    await signIn(page, server);
    const { conferences } = await api('{ conferences { nodes { id name } } }');
    const conference = conferences.nodes.find((c) => c.name === 'TechConf Lisbon 2027');
    const created = await api(
      'mutation($input: CreateNotificationInput!) { createNotification(input: $input) { id } }',
      { input: { conferenceId: conference.id, subject: 'Your badge, {{ first_name }}', message: 'See you in Lisbon.' } },
    );
    notificationId = created.createNotification.id;
    await page.goto(`${server.baseUrl}/admin/notifications/${notificationId}`);

    const chart = page.getByRole('figure', { name: 'Send rate' });
    await chart.waitFor();
    // Drawn by uPlot (bundled, no CDN) on a canvas once events carry a rate, mid-send.
    const seen = new Set();
    await waitFor(
      async () => {
        seen.add(await page.getByTestId('count-sent').textContent());
        const percent = await page.getByTestId('progress-percent').textContent();
        const summary = await page.getByTestId('rate-summary').textContent();
        return percent !== '100%' && /now \d/.test(summary) && (await chart.locator('canvas').count()) > 0;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the chart to draw a rate mid-send' },
    );
    await checkAccessibility(page, 'the progress page mid-send (desktop)');
    // A few seconds of points for the picture, still mid-send.
    await waitFor(
      async () => {
        seen.add(await page.getByTestId('count-sent').textContent());
        return (
          /over the last ([3-9]|\d\d) s/.test(await page.getByTestId('rate-summary').textContent()) &&
          (await page.getByTestId('progress-percent').textContent()) !== '100%'
        );
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'three seconds of rate samples mid-send' },
    );
    await page.getByRole('figure', { name: 'Send rate' }).scrollIntoViewIfNeeded();
    publishScreenshot(await screenshot(page, 'deliveries-sending', { fullPage: false }), 'deliveries.png');

    // The page shows the counts as the worker records them: many steps, not one jump.
    await waitFor(
      async () => {
        seen.add(await page.getByTestId('count-sent').textContent());
        return (await page.getByTestId('progress-percent').textContent()) === '100%';
      },
      { timeoutMs: 60_000, intervalMs: 50, what: () => `the send to finish (sent values seen: ${[...seen].join(', ')})` },
    );
    const steps = [...seen].filter((s) => s !== '0' && s !== '320');
    assert.ok(steps.length >= 5, `the counts moved in at least five steps: ${[...seen].join(', ')}`);
    const { notification } = await api('query($id: ID!) { notification(id: $id) { total sent status } }', { id: notificationId });
    total = notification.total;
    assert.equal(notification.sent, total);
    assert.equal(await page.getByTestId('count-sent').textContent(), String(total));
    assert.match(await page.getByTestId('rate-summary').textContent(), /^Send rate over the last .*: now .*, peak .*, average .*\.$/);
  });

  it('searches the delivery log by email and name, filters by status and pages', async () => {
    const log = page.getByRole('region', { name: 'Delivery log' });
    const result = page.getByTestId('delivery-log-result');
    await result.getByText(`${total} recipients`).waitFor();
    const rows = log.getByTestId('delivery-log').locator('tbody tr');
    assert.equal(await rows.count(), 25);

    // "Did ana@… get it?"
    const { notification } = await api(
      'query($id: ID!) { notification(id: $id) { deliveries(first: 1, after: null) { nodes { email attendee { firstName lastName } } } } }',
      { id: notificationId },
    );
    const someone = notification.deliveries.nodes[0];
    await log.getByLabel('Recipient').fill(someone.email.toUpperCase());
    await result.getByText('1 recipient match').waitFor();
    assert.equal(await rows.count(), 1);
    await rows.first().getByText(someone.email).waitFor();
    await rows.first().getByText('Sent').waitFor();

    const { notification: byName } = await api(
      'query($id: ID!, $s: String) { notification(id: $id) { deliveries(search: $s) { totalCount } } }',
      { id: notificationId, s: someone.attendee.lastName },
    );
    await log.getByLabel('Recipient').fill(someone.attendee.lastName);
    await result.getByText(`${byName.deliveries.totalCount} recipient`).waitFor();
    await log.getByText(`${someone.attendee.firstName} ${someone.attendee.lastName}`).first().waitFor();

    await log.getByLabel('Recipient').fill('');
    await log.getByLabel('Status').selectOption('FAILED');
    await result.getByText('0 recipients match').waitFor();
    await log.getByText('No recipient matches.').waitFor();
    await log.getByLabel('Status').selectOption('SENT');
    await result.getByText(`${total} recipients match`).waitFor();
    await log.getByRole('button', { name: 'Next →' }).click();
    await log.getByText('Page 2').waitFor();
    await checkAccessibility(page, 'the delivery log (desktop)');
  });

  it('downloads the log as CSV, all or what matches, with what the API says', async () => {
    const log = page.getByRole('region', { name: 'Delivery log' });
    await log.getByLabel('Status').selectOption('');
    const download = async (name) => {
      const [file] = await Promise.all([page.waitForEvent('download'), log.getByRole('button', { name }).click()]);
      assert.equal(file.suggestedFilename(), `deliveries-${notificationId}.csv`);
      return readFileSync(await file.path(), 'utf8');
    };
    const all = (await download('Export all (CSV)')).trim().split('\n');
    assert.equal(all[0], 'email,first_name,last_name,status,attempts,sent_at,last_error,message_id');
    assert.equal(all.length, total + 1);
    assert.ok(all.slice(1).every((line) => line.includes(',sent,1,')), 'every row sent, once');

    const { notification } = await api(
      'query($id: ID!) { notification(id: $id) { deliveries(first: 1) { nodes { email messageId attendee { firstName lastName } } } } }',
      { id: notificationId },
    );
    const first = notification.deliveries.nodes[0];
    await log.getByLabel('Recipient').fill(first.email);
    await page.getByTestId('delivery-log-result').getByText('1 recipient match').waitFor();
    const matching = (await download('Export matching (CSV)')).trim().split('\n');
    assert.equal(matching.length, 2);
    assert.ok(
      matching[1].startsWith(`${first.email},${first.attendee.firstName},${first.attendee.lastName},sent,1,`),
      matching[1],
    );
    assert.ok(matching[1].endsWith(first.messageId), matching[1]);
  });

  it('fits and passes axe on a phone, the chart drawn during a send there too', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      const { notification } = await api('query($id: ID!) { notification(id: $id) { conference { id } } }', { id: notificationId });
      const created = await api(
        'mutation($input: CreateNotificationInput!) { createNotification(input: $input) { id } }',
        { input: { conferenceId: notification.conference.id, subject: 'Doors open at 9', message: 'See you soon.' } },
      );
      const second = created.createNotification.id;
      await page.goto(`${server.baseUrl}/admin/notifications/${second}`);
      const chart = page.getByRole('figure', { name: 'Send rate' });
      await waitFor(
        async () =>
          (await page.getByTestId('progress-percent').textContent()) !== '100%' &&
          (await chart.locator('canvas').count()) > 0 &&
          /now \d/.test(await page.getByTestId('rate-summary').textContent()),
        { timeoutMs: 20_000, intervalMs: 100, what: 'the chart mid-send on a phone' },
      );
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
      await page.getByTestId('delivery-log').waitFor();
      await screenshot(page, 'deliveries-phone');
      await checkAccessibility(page, 'the progress page and delivery log (phone)');
      await page.getByTestId('progress-percent').getByText('100%').waitFor({ timeout: 60_000 });
    } finally {
      await page.setViewportSize({ width: 1200, height: 900 });
    }
  });
});
