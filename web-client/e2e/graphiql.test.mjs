// GraphiQL and the web client in headless Chromium under the server's Content-Security-Policy:
// GraphiQL loads from the server alone (no CDN), shows the schema in its docs explorer, and
// neither page triggers a CSP violation or a request to another origin.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkAccessibility, launchBrowser, startServer } from './harness.mjs';

describe('GraphiQL and the Content-Security-Policy', () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A page that records CSP violations, console errors and every request it makes. */
  const watchedPage = async () => {
    const page = await browser.context.newPage();
    const requests = [];
    const consoleErrors = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    // Runs before any page script (through the browser's protocol, which CSP does not block).
    await page.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (event) => {
        window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
      });
    });
    const violations = () => page.evaluate(() => window.__cspViolations);
    return { page, requests, consoleErrors, violations };
  };

  const assertSameOrigin = (requests) => {
    const origin = new URL(server.baseUrl).origin;
    const foreign = requests.filter((url) => !url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin);
    assert.deepEqual(foreign, [], 'every request goes to the server itself');
  };

  it('GraphiQL shows the schema in its docs with no CSP violation and no external request', async () => {
    const { page, requests, consoleErrors, violations } = await watchedPage();
    const response = await page.goto(`${server.baseUrl}/graphql`);
    assert.equal(response.status(), 200);
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self'/);
    assert.equal(response.headers()['x-content-type-options'], 'nosniff');

    await page.locator('.graphiql-container').waitFor();
    await page.getByRole('button', { name: /documentation explorer/i }).click();
    const docs = page.locator('.graphiql-doc-explorer');
    await docs.getByText('Query', { exact: true }).first().click();
    // The root fields come from the schema the page introspected.
    await docs.getByText('conferences', { exact: true }).first().waitFor();
    await docs.getByText('registerAttendee', { exact: false }).count();

    assert.deepEqual(await violations(), []);
    assert.deepEqual(consoleErrors.filter((e) => /Content.Security.Policy/i.test(e)), []);
    assertSameOrigin(requests);
    assert.ok(requests.some((url) => url.includes('/assets/')), 'its scripts are the bundled assets');
    // GraphiQL's session tabs put their close button inside the tab element (upstream
    // markup, nested-interactive); everything else of GraphiQL is checked.
    await checkAccessibility(page, 'GraphiQL with its docs explorer', { exclude: ['.graphiql-tabs'] });
    await page.close();
  });

  it('the web client runs under the same policy', async () => {
    const { page, requests, consoleErrors, violations } = await watchedPage();
    const response = await page.goto(`${server.baseUrl}/admin`);
    assert.equal(response.status(), 200);
    assert.ok(response.headers()['content-security-policy']);
    await page.locator('#root *').first().waitFor();
    await checkAccessibility(page, 'the sign-in page');
    assert.deepEqual(await violations(), []);
    assert.deepEqual(consoleErrors.filter((e) => /Content.Security.Policy/i.test(e)), []);
    assertSameOrigin(requests);

    // The recorder does see a violation: an inline script is refused and reported.
    await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__ran = true';
      document.body.append(script);
    });
    await page.waitForFunction(() => window.__cspViolations.length > 0);
    assert.equal(await page.evaluate(() => window.__ran), undefined);
    await page.close();
  });
});
