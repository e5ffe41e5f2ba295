// End to end: notifications in the admin console, at desktop and phone widths, with axe-core
// on every view: a draft saved as it is typed that survives a reload and opens on another
// device, the date and money filters in the server's preview, one error summary, the confirm
// step's rendered sample, the name in the list (newest first, with failed and cancelled
// counts) and on the progress page, the queued banner gone once sent, the live region's
// completion, "Duplicate as new", and deleting a draft.
import assert from 'node:assert/strict';
import { after, before, describe, it as test } from 'node:test';
import {
  assertNoSidewaysScroll,
  checkAccessibility,
  graphql,
  launchBrowser,
  publishScreenshot,
  reportingIt,
  screenshot,
  signIn,
  startServer,
} from './harness.mjs';

const SUBJECT = 'Your badge for {{ conference.name }}';
const MESSAGE =
  'Hello {{ first_name }},\n\n{{ conference.name }} opens on {{ conference.starts_on | date("long") }}. ' +
  'Your ticket: {{ conference.price | money }}.';

describe('notifications in the console', () => {
  let server;
  let browser;
  let page;
  let conference;

  before(async () => {
    // With the worker: a notification sent here is delivered (to smtp-sink) while we watch.
    server = await startServer({ worker: true });
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    conference = (await graphql(server.baseUrl, null, '{ conferences { nodes { id name startsOn price currency } } }')).conferences
      .nodes[0];
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const it = reportingIt(test, () => ({ page, server }));
  const api = (query, variables) => graphql(server.baseUrl, server.token, query, variables);
  const compose = () => `${server.baseUrl}/admin/conferences/${conference.id}/compose`;
  const list = () => `${server.baseUrl}/admin/conferences/${conference.id}/notifications`;
  const draftSaved = () => page.locator('[data-testid="draft-status"][data-state="saved"]').waitFor();
  let draftId;

  it('saves a draft as it is typed, and the draft survives a reload', async () => {
    await signIn(page, server);
    await page.goto(compose());
    await page.getByLabel(/^Subject/).fill(SUBJECT);
    await page.getByLabel(/^Message/).fill(MESSAGE);
    await draftSaved();
    draftId = new URL(page.url()).searchParams.get('draft');
    assert.ok(draftId, `the address names the draft: ${page.url()}`);
    const { notificationDrafts } = await api('query($c: ID!) { notificationDrafts(conferenceId: $c) { id subject message } }', {
      c: conference.id,
    });
    assert.deepEqual(notificationDrafts, [{ id: draftId, subject: SUBJECT, message: MESSAGE }]);

    await page.reload();
    await page.waitForFunction(() => document.querySelector('#message')?.value.includes('date("long")'));
    assert.equal(await page.getByLabel(/^Subject/).inputValue(), SUBJECT);
    assert.equal(await page.getByLabel(/^Message/).inputValue(), MESSAGE);
  });

  it('renders dates and prices with the template filters in the server preview', async () => {
    await page.getByLabel('As received by').selectOption({ label: 'Sample values' });
    await page.getByText('Plain-text part').click();
    const body = page.getByTestId('preview-body');
    await body.getByText('opens on Tuesday 12 October 2027. Your ticket: €349.00.').waitFor();
    assert.equal(conference.startsOn, '2027-10-12');
    await page.getByTestId('preview-subject').getByText(`Your badge for ${conference.name}`, { exact: true }).waitFor();
    await checkAccessibility(page, 'compose with a draft and its preview');
  });

  it('opens the same draft on another device signed in with the token', async () => {
    const other = await launchBrowser();
    try {
      const phone = other.context.pages()[0] ?? (await other.context.newPage());
      await phone.setViewportSize({ width: 390, height: 844 });
      await signIn(phone, server);
      await phone.goto(list());
      const drafts = phone.getByTestId('drafts');
      await drafts.getByText(`Your badge for {{ conference.name }}`).waitFor();
      await assertNoSidewaysScroll(phone, 'the notifications with a draft (phone)');
      await checkAccessibility(phone, 'the notifications with a draft (phone)');
      await drafts.getByRole('link', { name: /^Continue/ }).click();
      await phone.waitForFunction(() => document.querySelector('#message')?.value.length > 0);
      assert.equal(await phone.getByLabel(/^Message/).inputValue(), MESSAGE);
      assert.equal(new URL(phone.url()).searchParams.get('draft'), draftId);
      await assertNoSidewaysScroll(phone, 'compose (phone)');
      await checkAccessibility(phone, 'compose (phone)');
    } finally {
      await other.close();
    }
  });

  it('puts every problem in one error summary linking to the field', async () => {
    await page.getByLabel(/^Subject/).fill('');
    await page.getByRole('button', { name: 'Review and send…' }).click();
    const summary = page.getByTestId('error-summary');
    await summary.getByRole('link', { name: /^Subject: This field is required/ }).waitFor();
    assert.equal(await page.getByRole('alert').count(), 1, 'one alert, not one per field');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'error-summary');
    await checkAccessibility(page, 'compose with the error summary');
    await summary.getByRole('link', { name: /^Subject:/ }).click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'subject');
    await page.getByLabel(/^Subject/).fill(SUBJECT);
  });

  it('shows the email as the sample attendee reads it before sending, then names the notification by it', async () => {
    await page.getByRole('button', { name: 'Review and send…' }).click();
    const sample = page.getByTestId('confirm-sample');
    await sample.getByTestId('sample-subject').getByText(`Your badge for ${conference.name}`, { exact: true }).waitFor();
    await sample.getByText('Hello Ada,').waitFor();
    await sample.getByText('opens on Tuesday 12 October 2027. Your ticket: €349.00.').waitFor();
    await page.getByTestId('confirm-name').getByText(`Your badge for ${conference.name}`).waitFor();
    const { attendees } = await api('query($c: ID!) { attendees(conferenceId: $c, first: 0) { totalCount } }', { c: conference.id });
    await page.getByRole('button', { name: `Send to ${attendees.totalCount} attendees` }).waitFor();
    const shot = await screenshot(page, 'notifications-confirm');
    publishScreenshot(shot, 'compose-confirm.png');
    await checkAccessibility(page, 'the confirm step with its sample');
    await page.setViewportSize({ width: 390, height: 844 });
    await assertNoSidewaysScroll(page, 'the confirm step (phone)');
    await checkAccessibility(page, 'the confirm step (phone)');
    await page.setViewportSize({ width: 1200, height: 900 });

    await page.getByRole('button', { name: `Send to ${attendees.totalCount} attendees` }).click();
    await page.getByRole('heading', { level: 1, name: `Your badge for ${conference.name}` }).waitFor();
    assert.equal(new URL(page.url()).searchParams.get('created'), '1');
    // Sent: the draft is gone.
    const { notificationDrafts } = await api('query($c: ID!) { notificationDrafts(conferenceId: $c) { id } }', { c: conference.id });
    assert.deepEqual(notificationDrafts, []);
  });

  it('drops the queued banner once the send is done, and says so in the live region', async () => {
    await page.locator('.progress [data-status="COMPLETED"]').waitFor({ timeout: 60_000 });
    await page.getByTestId('progress-announcer').getByText(/^Sending complete: \d+ sent of \d+\.$/).waitFor({ state: 'attached' });
    assert.equal(await page.getByText('Notification queued').count(), 0, 'no banner outlives the send');
    assert.equal(await page.getByTestId('progress-announcer').getAttribute('aria-live'), 'polite');
    await checkAccessibility(page, 'the progress page, completed');
  });

  it('lists notifications by name, newest first, with failed and cancelled counts', async () => {
    // An older one, named, cancelled before it was planned.
    const { createNotification: older } = await api(
      'mutation($input: CreateNotificationInput!) { createNotification(input: $input) { id } }',
      { input: { conferenceId: conference.id, name: 'Programme update', subject: 'Programme', message: 'See the site.' } },
    );
    await api('mutation($id: ID!) { cancelNotification(id: $id) { id } }', { id: older.id });
    await page.goto(list());
    const table = page.getByTestId('notifications');
    await table.getByRole('link', { name: 'Programme update' }).waitFor();
    await page.getByText('2 notifications, newest first').waitFor();
    const names = await table.locator('tbody th').allInnerTexts();
    assert.deepEqual(names, ['Programme update', `Your badge for ${conference.name}`]);
    assert.equal(await table.locator('th', { hasText: /\{\{/ }).count(), 0, 'no raw templates in the list');
    const sent = table.locator('tbody tr', { hasText: `Your badge for ${conference.name}` });
    assert.equal(await sent.getByTestId('row-failed').innerText(), '0');
    assert.equal(await sent.getByTestId('row-cancelled').innerText(), '0');
    const shot = await screenshot(page, 'notifications-list');
    publishScreenshot(shot, 'notifications.png');
    await checkAccessibility(page, 'the notifications');
    await page.setViewportSize({ width: 390, height: 844 });
    await assertNoSidewaysScroll(page, 'the notifications (phone)');
    await checkAccessibility(page, 'the notifications (phone)');
    const phoneShot = await screenshot(page, 'notifications-list-phone');
    publishScreenshot(phoneShot, 'notifications-phone.png');
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  it('duplicates a past notification as a new draft, and deletes a draft after asking', async () => {
    await page.getByTestId('notifications').getByRole('link', { name: `Your badge for ${conference.name}` }).click();
    await page.getByRole('link', { name: 'Duplicate as new' }).click();
    await page.waitForFunction(() => document.querySelector('#notification-name')?.value.startsWith('Copy of'));
    assert.equal(await page.getByLabel(/^Name/).inputValue(), `Copy of Your badge for ${conference.name}`);
    assert.equal(await page.getByLabel(/^Message/).inputValue(), MESSAGE);
    await draftSaved();
    const copyId = new URL(page.url()).searchParams.get('draft');
    assert.ok(copyId, 'the copy is a draft of its own');
    await checkAccessibility(page, 'compose with a copy');

    await page.goto(list());
    const drafts = page.getByTestId('drafts');
    await drafts.getByRole('button', { name: `Delete Copy of Your badge for ${conference.name}` }).click();
    await drafts.getByRole('button', { name: 'Delete for good' }).click();
    await drafts.waitFor({ state: 'detached' });
    const { notificationDrafts } = await api('query($c: ID!) { notificationDrafts(conferenceId: $c) { id } }', { c: conference.id });
    assert.deepEqual(notificationDrafts, []);
  });
});
