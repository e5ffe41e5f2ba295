// End to end: the built web client served by a real `techconf serve`, driven in Chromium.
// Needs ../target/debug/techconf (cargo build --bin techconf), dist/ (npm run build) and
// /usr/bin/chromium (apt-get install chromium), and Postfix's smtp-sink. The server runs
// without a worker until the notification is queued, then restarts with the in-process
// worker, which sends through smtp-sink.
import assert from 'node:assert/strict';
import { after, before, describe, it as test } from 'node:test';
import {
  checkAccessibility,
  graphql,
  launchBrowser,
  publishScreenshot,
  resetScreenshots,
  screenshot,
  startServer,
} from './harness.mjs';
import { waitFor } from './wait.mjs';

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
  // What the page said and heard on /graphql/ws (graphql-transport-ws messages), and the
  // operations it POSTed to /graphql: the live views must be fed by subscriptions.
  const wsMessages = [];
  const httpOperations = [];

  before(async () => {
    resetScreenshots();
    server = await startServer();
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('websocket', (ws) => {
      const record = (sent) => (frame) => {
        try {
          wsMessages.push({ sent, at: Date.now(), ...JSON.parse(frame.payload) });
        } catch {
          // Not JSON: not a graphql-ws message.
        }
      };
      ws.on('framesent', record(true));
      ws.on('framereceived', record(false));
    });
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/graphql') {
        httpOperations.push({ at: Date.now(), name: request.postDataJSON()?.operationName ?? '?' });
      }
    });
    const data = await graphql(server.baseUrl, null, '{ conferences { nodes { id name } } }');
    conference = data.conferences.nodes[0];
    assert.ok(conference, `seeding made no conference: ${server.seedOutput}`);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  // On failure: a screenshot, the URL, the page's text and the server's log tail, so a
  // failure in CI can be understood without a rerun.
  const it = (name, fn) =>
    test(name, async () => {
      try {
        await fn();
      } catch (error) {
        const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
        const shot = await screenshot(page, `failure-${slug}`).catch(() => 'none');
        const text = await page.locator('main').innerText().catch(() => '');
        error.message += `\n  url: ${page?.url()}\n  screenshot: ${shot}\n  page text: ${text.slice(0, 800)}\n  server log tail:\n${server?.serverLog().slice(-1500)}`;
        throw error;
      }
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
  const attendeeEmails = async () => {
    const emails = [];
    for (let after = null; ; ) {
      const { attendees } = await graphql(
        server.baseUrl,
        server.token,
        'query($c: ID!, $after: String) { attendees(conferenceId: $c, first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { email } } }',
        { c: conference.id, after },
      );
      emails.push(...attendees.nodes.map((a) => a.email));
      if (!attendees.pageInfo.hasNextPage) return emails;
      after = attendees.pageInfo.endCursor;
    }
  };

  it('lists the open conference on the landing page and links to its registration form', async () => {
    await page.goto(server.baseUrl);
    await page.getByRole('link', { name: `Register for ${conference.name}` }).waitFor();
    await checkAccessibility(page, 'the landing page');
    await page.getByRole('link', { name: `Register for ${conference.name}` }).click();
    await page.getByRole('heading', { level: 1, name: `Register for ${conference.name}` }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/register/${conference.id}`);
    await checkAccessibility(page, 'the registration form');
  });

  it('fits a phone-width screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    await page.reload();
    await byLabel('First name').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    await screenshot(page, 'registration-phone');
    await checkAccessibility(page, 'the registration form (phone)');
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  it('checks the form in the browser before sending it', async () => {
    await page.getByRole('button', { name: 'Register' }).click();
    await page.locator('#firstName-error').getByText('This field is required.').waitFor();
    // One alert: a summary that takes focus and links to each field at fault.
    const summary = page.getByTestId('error-summary');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'error-summary');
    assert.equal(await page.getByRole('alert').count(), 1);
    assert.equal(await summary.getByRole('link').count(), 7, 'the seven required fields');
    await checkAccessibility(page, 'the registration form with errors');
    await summary.getByRole('link', { name: /^First name:/ }).click();
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
    await checkAccessibility(page, 'the registration confirmation');
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
    await checkAccessibility(page, 'the sign-in page with an error');

    await byLabel('API token').fill(server.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('viewer').getByText('TECHCONF_ADMIN_TOKEN').waitFor();
    assert.ok(!page.url().includes(server.token));
    const stored = JSON.parse(await page.evaluate(() => localStorage.getItem('techconf.adminToken')));
    assert.equal(stored.token, server.token);
    assert.ok(stored.expiresAt > Date.now(), 'the session has an expiry');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    // The graphql-ws connection authenticates with the same token.
    await page.locator('.connection[data-state="connected"]').waitFor();
    // The "Connected" indicator among the rest, at 4.5:1 or more.
    await checkAccessibility(page, 'the conferences, connected');
  });

  it('stays signed in across a reload of the tab', async () => {
    await page.reload();
    await page.getByTestId('viewer').waitFor();
    await page.locator('.connection[data-state="connected"]').waitFor();
  });

  it('shows the live connection dropping and coming back when the server restarts', async () => {
    await server.halt();
    await page.locator('.connection[data-state="reconnecting"]').waitFor();
    await checkAccessibility(page, 'the conferences, reconnecting');
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
    await page.getByTestId('pager-range').getByText(`26–50 of ${total}`).waitFor();
    await page.getByRole('button', { name: '← Previous' }).click();
    await page.getByTestId('pager-range').getByText(`1–25 of ${total}`).waitFor();

    await page.getByRole('searchbox', { name: 'Search' }).fill(person.lastName.toLowerCase());
    await page.getByTestId('search-result').getByText(`1 match for “${person.lastName.toLowerCase()}”`).waitFor();
    const rows = page.locator('table tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().innerText(), new RegExp(`${person.firstName} ${person.lastName}[\\s\\S]*${person.email}`));
    await screenshot(page, 'admin-attendees');
    await checkAccessibility(page, 'the attendees');
  });

  it('counts a registration made elsewhere as it happens', async () => {
    const before = await attendeeCount();
    await page.getByTestId('attendee-count').getByText(`${before} attendees registered`).waitFor();
    // The page has asked for attendeeRegistered on its live connection.
    await waitFor(() => wsMessages.some((m) => m.sent && m.type === 'subscribe' && m.payload?.query?.includes('attendeeRegistered')), {
      what: 'the attendeeRegistered subscription',
    });
    await graphql(server.baseUrl, null, 'mutation ($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id } }', {
      input: { ...person, conferenceId: conference.id, firstName: 'Grace', lastName: 'Hopper', email: 'grace.hopper@example.org' },
    });
    await page.getByTestId('attendee-count').getByText(`${before + 1} attendees registered · newest: Grace Hopper`).waitFor();
  });

  it('shows template errors from the server next to the field', async () => {
    await page.getByRole('link', { name: 'Compose' }).click();
    // An unknown filter passes the browser's checks; the server refuses it.
    await byLabel('Subject').fill('Hello {{ first_name | nosuchfilter }}');
    await byLabel('Message').fill('Hi');
    await page.getByText('The template has a problem').waitFor();
    await page.getByRole('button', { name: 'Review and send…' }).click();
    await page.locator('#subject-error').getByText(/filter `nosuchfilter` is not allowed/i).waitFor();
    assert.equal(await byLabel('Subject').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByTestId('confirm-step').count(), 0);
    await checkAccessibility(page, 'compose with a template error');
  });

  let notificationPath;
  const subject = 'See you in Lisbon, {{ first_name }}';
  // Unnamed: it is listed as the subject reads for the sample attendee.
  const name = 'See you in Lisbon, Ada';

  it('composes a notification with a server-rendered preview, confirms the recipient count and queues it', async () => {
    await byLabel('Subject').fill(subject);
    await byLabel('Message').fill('{{ conference.name }} starts on {{ conference.starts_on }} at {{ conference.address }}.');
    // The preview is rendered by the server for the first attendee in the list.
    const first = (await graphql(server.baseUrl, server.token, 'query($c: ID!) { attendees(conferenceId: $c, first: 1) { nodes { firstName } } }', { c: conference.id }))
      .attendees.nodes[0];
    await page.getByTestId('preview-subject').getByText(`See you in Lisbon, ${first.firstName}`, { exact: true }).waitFor();
    // The HTML part in its sandboxed frame, and the text part behind its disclosure.
    await page.frameLocator('[data-testid="preview-html"]').getByText(`${conference.name} starts on`).waitFor();
    await page.getByText('Plain-text part').click();
    await page.getByTestId('preview-body').getByText(`${conference.name} starts on`).waitFor();
    await screenshot(page, 'compose');
    await checkAccessibility(page, 'compose with a preview');

    await page.getByRole('button', { name: 'Review and send…' }).click();
    const total = await attendeeCount();
    await page.getByTestId('recipient-count').getByText(`${total} attendees`).waitFor();
    await page.getByTestId('sample-subject').getByText(name, { exact: true }).waitFor();
    await screenshot(page, 'compose-confirm');
    await checkAccessibility(page, 'the confirm step');
    await page.getByRole('button', { name: `Send to ${total} attendees` }).click();

    await page.getByRole('heading', { level: 1, name }).waitFor();
    notificationPath = new URL(page.url()).pathname;
    await page.getByText('Notification queued').waitFor();
    await page.locator('.progress [data-status="QUEUED"]').waitFor();
    // Queued: it can be paused or cancelled, not resumed.
    assert.equal(await page.getByRole('button', { name: 'Pause' }).isEnabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Resume' }).isDisabled(), true);
    await screenshot(page, 'notification-queued');
    await checkAccessibility(page, 'the queued notification');

    await page.getByRole('link', { name: 'Notifications', exact: true }).click();
    const row = page.locator('[data-testid="notifications"] tbody tr', { hasText: name });
    await row.locator('[data-status="QUEUED"]').waitFor();
    await screenshot(page, 'notifications');
    await checkAccessibility(page, 'the notifications');
  });

  it('watches the worker send it, pausing and resuming mid-send, until every attendee has it', async () => {
    // Restart with the worker, slowed down so that there is time to pause mid-send.
    await server.halt();
    await server.start({ worker: true, env: { WORKER_RATE_LIMIT: '25', WORKER_BATCH_SIZE: '10', WORKER_POLL_MS: '200' } });
    // The list, still open, follows the change live (notificationsChanged).
    const row = page.locator('[data-testid="notifications"] tbody tr', { hasText: name });
    await row.locator('[data-status="SENDING"]').waitFor({ timeout: 30_000 });
    await waitFor(() => wsMessages.some((m) => !m.sent && m.type === 'next' && m.payload?.data?.notificationsChanged), {
      what: 'a notificationsChanged event',
    });
    await row.getByRole('link').click();
    assert.equal(new URL(page.url()).pathname, notificationPath);
    const notificationId = decodeURIComponent(notificationPath.split('/').pop());
    const total = await attendeeCount();

    const count = async (id) => Number((await page.getByTestId(id).innerText()).replace(/[^\d]/g, ''));
    // smtp-sink's messages of this notification carry the Message-ID
    // `<notification.attendee@domain>` (UUIDs without hyphens).
    const prefix = `<${notificationId.replaceAll('-', '')}.`;
    const ofThisNotification = (m) => m.messageId?.startsWith(prefix);
    const received = () => server.smtp.messages().filter(ofThisNotification).length;

    const watchedFrom = Date.now();
    await page.locator('.progress [data-status="SENDING"]').waitFor({ timeout: 30_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="count-sent"]')?.textContent?.replace(/\D/g, '')) > 0);
    await page.getByTestId('rate').getByText(/\/s|\/min/).waitFor();
    await page.getByTestId('eta').getByText(/\d+ (s|min|h)/).waitFor();
    const shot = await screenshot(page, 'progress');
    publishScreenshot(shot, 'progress.png');
    await checkAccessibility(page, 'the progress page, sending');
    assert.equal(await page.getByRole('button', { name: 'Resume' }).isDisabled(), true);

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('.progress [data-status="PAUSED"]').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Pause' }).isDisabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Resume' }).isEnabled(), true);
    // The batch in flight may still land. Then the page and smtp-sink agree on what was
    // sent, and over a few seconds of watching neither moves.
    // (Watching for nothing to happen is the one place a fixed wait is the condition.)
    let settled = null;
    let quietSeconds = 0;
    const deadline = Date.now() + 30_000;
    while (quietSeconds < 3) {
      assert.ok(Date.now() < deadline, 'sending did not stop after the pause');
      await page.waitForTimeout(1000);
      const shown = await count('count-sent');
      const sunk = received();
      quietSeconds = shown === sunk && shown === settled ? quietSeconds + 1 : 0;
      settled = shown === sunk ? shown : null;
    }
    assert.ok(settled > 0 && settled < total, `paused mid-send (${settled} of ${total} sent)`);
    assert.equal(await count('count-pending'), total - settled);
    await screenshot(page, 'progress-paused');
    // Said politely to screen readers, once.
    await page.getByTestId('progress-announcer').getByText(/^Sending paused at \d+%/).waitFor({ state: 'attached' });

    // By keyboard this time.
    await page.getByRole('button', { name: 'Resume' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('.progress [data-status="SENDING"]').waitFor();
    await page.waitForFunction(
      (from) => Number(document.querySelector('[data-testid="count-sent"]')?.textContent?.replace(/\D/g, '')) > from,
      settled,
    );

    // The server restarts mid-send: the card says its figures are stale until the page is
    // connected again, and the first event on the new connection is a fresh snapshot.
    await server.halt();
    await page.locator('.progress[data-live="false"]').getByText('Live updates are interrupted').waitFor();
    await screenshot(page, 'progress-interrupted');
    await checkAccessibility(page, 'the progress page, interrupted');
    const snapshotsBefore = wsMessages.filter((m) => !m.sent && m.type === 'next' && m.payload?.data?.notificationProgress).length;
    await server.start({ worker: true, env: { WORKER_RATE_LIMIT: '25', WORKER_BATCH_SIZE: '10', WORKER_POLL_MS: '200' } });
    await page.locator('.progress[data-live="true"]').waitFor({ timeout: 30_000 });
    await waitFor(
      () => wsMessages.filter((m) => !m.sent && m.type === 'next' && m.payload?.data?.notificationProgress).length > snapshotsBefore,
      { what: 'a snapshot on the new connection' },
    );

    await page.locator('.progress [data-status="COMPLETED"]').waitFor({ timeout: 60_000 });
    assert.equal(await page.getByTestId('progress-percent').innerText(), '100%');
    assert.equal(await count('count-sent'), total);
    assert.equal(await count('count-failed'), 0);
    assert.equal(await count('count-pending'), 0);
    for (const name of ['Pause', 'Resume', 'Cancel sending', 'Retry failed']) {
      assert.equal(await page.getByRole('button', { name }).isDisabled(), true, `${name} no longer applies`);
    }
    await page.getByText('No delivery has failed.').waitFor();
    await page.getByTestId('progress-announcer').getByText(`Sending complete: ${total} sent of ${total}.`).waitFor({ state: 'attached' });
    await screenshot(page, 'progress-completed');
    await checkAccessibility(page, 'the progress page, completed');

    // All of that came over the notificationProgress subscription: a stream of events for
    // this notification that ended with the final state, and no polling over HTTP.
    const progressEvents = wsMessages
      .filter((m) => !m.sent && m.type === 'next' && m.payload?.data?.notificationProgress?.notificationId === notificationId)
      .map((m) => m.payload.data.notificationProgress);
    assert.ok(progressEvents.length >= 5, `progress arrived as events (${progressEvents.length})`);
    assert.deepEqual(
      (({ status, sent, pending }) => ({ status, sent, pending }))(progressEvents.at(-1)),
      { status: 'COMPLETED', sent: total, pending: 0 },
    );
    const asked = httpOperations.filter((o) => o.at >= watchedFrom).map((o) => o.name);
    // The delivery log's page is read again when the progress moves (at most once a second).
    const allowed = new Set([
      'Notification',
      'NotificationCampaign',
      'PauseNotification',
      'ResumeNotification',
      'Conferences',
      'FailedDeliveries',
      'DeliveryLog',
    ]);
    assert.deepEqual(asked.filter((name) => !allowed.has(name)), [], `no progress queries over HTTP: ${asked.join(', ')}`);
    // The page reads the notification on load, after each control and after a reconnect
    // (pause now passes through PAUSING, so one more read than before); polling over the
    // send's 15+ seconds would be many more.
    assert.ok(asked.filter((name) => name === 'Notification').length <= 8, `no polling: ${asked.join(', ')}`);
    // The campaign details are read with it, once per status.
    assert.ok(asked.filter((name) => name === 'NotificationCampaign').length <= 8, `no polling: ${asked.join(', ')}`);
    await page.setViewportSize({ width: 375, height: 812 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the progress page is ${overflow}px wider than a phone`);
    await screenshot(page, 'progress-phone');
    await checkAccessibility(page, 'the progress page (phone)');
    await page.setViewportSize({ width: 1200, height: 900 });

    // smtp-sink received one message per recipient, and the page counted them all.
    const messages = await server.smtp.waitForMessages(total, { filter: ofThisNotification });
    assert.equal(messages.length, total, 'smtp-sink received one message per attendee');
    const recipients = new Set(messages.flatMap((m) => m.recipients));
    assert.equal(recipients.size, total, 'each message went to a different attendee');
    assert.deepEqual([...recipients].sort(), (await attendeeEmails()).sort());
  });

  it('finds a recipient: every delivery to one address, with its outcome and Message-ID', async () => {
    const [email] = await attendeeEmails();
    await page.getByRole('link', { name: 'Admin console' }).click();
    await byLabel('Recipient’s email').fill(email.toUpperCase());
    await page.getByRole('button', { name: 'Find' }).click();
    const table = page.getByTestId('recipient-deliveries');
    await table.getByRole('cell', { name: 'Sent', exact: true }).waitFor();
    assert.match(await table.locator('code').first().innerText(), /^<.+@.+>$/);
    assert.equal(await page.getByTestId('recipient-summary').innerText(), `1 delivery to ${email.toUpperCase()}.`);
  });

  it('signs out and forgets the token', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await byLabel('API token').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('techconf.adminToken')), null);
    await checkAccessibility(page, 'the sign-in page');
  });

  it('raised no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
