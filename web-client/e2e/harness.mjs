// Starts a real `techconf serve` on a throwaway SQLite database, mailing through Postfix's
// smtp-sink, and a headless Chromium (Debian's, via playwright-core: no browser download)
// for the end-to-end tests.
import { spawn, execFile } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { startSmtpSink } from './smtp-sink.mjs';
import { freePort } from './wait.mjs';

export const webClientDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = resolve(webClientDir, '..');
export const screenshotDir = join(webClientDir, 'e2e', 'screenshots');

const binary = process.env.TECHCONF_BIN ?? join(repoRoot, 'target', 'debug', 'techconf');
const distDir = join(webClientDir, 'dist');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const HEALTH_TRIES = 150;
const HEALTH_INTERVAL_MS = 200;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A server of our own: temp directory, free port, fresh admin token, demo data seeded,
 * email to a smtp-sink of its own. `stop()` ends both and removes everything they made.
 */
export async function startServer({ worker = false, env = {} } = {}) {
  for (const [path, hint] of [
    [binary, 'build it with `cargo build --bin techconf` in the repository root'],
    [join(distDir, 'index.html'), 'build the web client with `npm run build`'],
    [chromiumPath, 'install it with `apt-get install -y chromium`'],
  ]) {
    if (!existsSync(path)) throw new Error(`${path} is missing: ${hint}`);
  }
  const smtp = await startSmtpSink();
  const tmp = mkdtempSync(join(tmpdir(), 'techconf-e2e-'));
  const port = await freePort();
  const token = `e2e-admin-${randomBytes(16).toString('hex')}`;
  const baseEnv = {
    ...process.env,
    DATABASE_URL: `sqlite://${join(tmp, 'e2e.db')}?mode=rwc`,
    TECHCONF_ADMIN_TOKEN: token,
    TECHCONF_WEB_DIR: distDir,
    TECHCONF_LISTEN: `127.0.0.1:${port}`,
    MAIL_URL: smtp.url,
    RUST_LOG: process.env.RUST_LOG ?? 'info',
  };
  const logPath = join(tmp, 'server.log');
  const log = createWriteStream(logPath);
  const baseUrl = `http://127.0.0.1:${port}`;
  const serverLog = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-4000) : '');

  let child = null;
  let exited = null;
  /** Starts `techconf serve`; `worker: true` adds the in-process worker, `env` extra settings. */
  const launch = async ({ worker = false, env = {} } = {}) => {
    exited = null;
    const args = worker ? ['serve', '--with-worker'] : ['serve'];
    // cwd is the temp directory so that no .env of the checkout is picked up.
    child = spawn(binary, args, { cwd: tmp, env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on('exit', (code, signal) => (exited = { code, signal }));
    // Not left behind if the test run itself is stopped.
    const current = child;
    process.once('exit', () => current.kill('SIGKILL'));
    // Ready when *this* process says it listens on our port and /healthz answers: another
    // process that grabbed the port meanwhile must not pass for ours.
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    const listening = `listening on ${baseUrl}/`;
    for (let i = 0; i < HEALTH_TRIES && !exited; i++) {
      if (output.includes(listening)) {
        try {
          const response = await fetch(`${baseUrl}/healthz`);
          if (response.ok && !exited) return;
        } catch {
          // Not answering yet.
        }
      }
      await sleep(HEALTH_INTERVAL_MS);
    }
    throw new Error(
      `the server did not start on ${baseUrl}${exited ? ` (it exited: ${JSON.stringify(exited)})` : ''}\n${serverLog()}`,
    );
  };
  const halt = async () => {
    if (child && !exited) {
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
      for (let i = 0; i < 20 && !exited; i++) await sleep(100);
    }
  };
  const stop = async () => {
    await halt();
    await smtp.stop();
    log.end();
    rmSync(tmp, { recursive: true, force: true });
  };

  try {
    await launch({ worker, env });
    const { stdout } = await promisify(execFile)(binary, ['seed', '--file', join(repoRoot, 'data', 'demo.json')], {
      cwd: tmp,
      env: baseEnv,
    });
    return {
      baseUrl,
      token,
      stop,
      serverLog,
      seedOutput: stdout.trim(),
      /** The SMTP server the worker sends to. */
      smtp,
      /** Stops the process (dropping every connection); `start` brings it back on the same port and data, optionally with the worker. */
      halt,
      start: launch,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Headless Debian Chromium with a fresh profile. */
export async function launchBrowser() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'techconf-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      // Chromium renders a sandboxed srcdoc frame (the composer's email preview) in a process
      // of its own. Headless, on a loaded two-core machine, that process once never received
      // its size and left the frame blank for the whole test. In-process, the frame keeps its
      // sandbox (no scripts, an opaque origin), which is what the page relies on.
      '--disable-features=IsolateSandboxedIframes',
    ],
    viewport: { width: 1200, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
    colorScheme: 'light',
  });
  context.setDefaultTimeout(15_000);
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}

/** A GraphQL request straight to the server, to check what the UI shows. */
export async function graphql(baseUrl, token, query, variables = {}) {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** Empties the screenshot folder, so that it shows this run only. */
export function resetScreenshots() {
  rmSync(screenshotDir, { recursive: true, force: true });
  mkdirSync(screenshotDir, { recursive: true });
}

export async function screenshot(page, name, options = {}) {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled', ...options });
  return path;
}

/** The committed copy under docs/ is refreshed only on request (or when missing), so test runs leave the tree clean. */
export function publishScreenshot(path, docsName) {
  const target = join(repoRoot, 'docs', 'screenshots', docsName);
  if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(target)) {
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(path, target);
  }
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core (injected into the page) over the whole document and fails on any serious
 * or critical violation, naming the rule and the elements. `exclude` lists selectors left
 * out, for third-party markup the project cannot change (say why where it is used).
 */
export async function checkAccessibility(page, label, { exclude = [] } = {}) {
  // Evaluated through the DevTools protocol, not as a <script> tag: the server's
  // Content-Security-Policy (no inline scripts) rightly refuses an injected tag.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async (exclude) => {
    const context = exclude.length ? { include: [document], exclude: exclude.map((s) => [s]) } : document;
    const result = await window.axe.run(context, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  }, exclude);
  if (violations.length) throw new Error(`axe found problems on ${label}:\n  ${violations.join('\n  ')}`);
}

/** Fails when the page is wider than its screen (sideways scrolling). */
export async function assertNoSidewaysScroll(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) throw new Error(`${what}: the page is ${overflow}px wider than the screen`);
}

/** Signs in to the admin console with the server's admin token. */
export async function signIn(page, server) {
  await page.goto(`${server.baseUrl}/admin`);
  await page.getByLabel('API token').fill(server.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('viewer').waitFor();
}

/**
 * `it` for a suite with one page and one server: on failure it adds a screenshot, the URL
 * and the server's log tail to the error, so a CI failure can be understood without a rerun.
 */
export function reportingIt(test, context) {
  return (name, fn) =>
    test(name, async () => {
      try {
        await fn();
      } catch (error) {
        const { page, server } = context();
        const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
        const shot = await screenshot(page, `failure-${slug}`).catch(() => 'none');
        error.message += `\n  url: ${page?.url()}\n  screenshot: ${shot}\n  server log tail:\n${server?.serverLog().slice(-1500)}`;
        throw error;
      }
    });
}
