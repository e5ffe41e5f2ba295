// Postfix's smtp-sink(1) as the e2e tests' mail server: a real SMTP implementation that
// accepts everything and dumps each message to its own file. The same command line as
// testkit's `SmtpSink` (testkit/src/smtp/sink.rs), which documents the dump format.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, waitFor } from './wait.mjs';

const sinkPath = process.env.TESTKIT_SMTP_SINK ?? '/usr/sbin/smtp-sink';
const DUMP_PREFIX = 'msg.';

/** Reads the first line the server at `port` sends, or null if nothing answers. */
function greeting(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const done = (value) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(2000, () => done(null));
    socket.on('error', () => done(null));
    socket.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) {
        socket.end('QUIT\r\n');
        done(text.trim());
      }
    });
  });
}

/**
 * Starts smtp-sink on a free port and waits for its greeting (which carries a token of
 * ours, so another server on the port cannot pass for it). `stop()` ends it and removes
 * its messages.
 */
export async function startSmtpSink() {
  if (!existsSync(sinkPath)) {
    throw new Error(`${sinkPath} is missing: install Postfix (apt-get install -y postfix) or set TESTKIT_SMTP_SINK`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'techconf-e2e-smtp-'));
  const asRoot = process.getuid?.() === 0;
  // As root, smtp-sink runs as `nobody`, which must be able to write the dumps.
  if (asRoot) chmodSync(dir, 0o777);
  const port = await freePort();
  const token = `techconf-e2e-sink-${randomBytes(8).toString('hex')}`;
  const args = ['-c', '-h', token, '-d', join(dir, DUMP_PREFIX), ...(asRoot ? ['-u', 'nobody'] : []), `127.0.0.1:${port}`, '128'];
  const child = spawn(sinkPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited = null;
  let stderr = '';
  let completed = 0;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  process.once('exit', () => child.kill('SIGKILL'));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  // `-c` prints `sess=N quit=N mesg=N` after each session, QUIT and message.
  child.stdout.on('data', (chunk) => {
    for (const match of String(chunk).matchAll(/mesg=(\d+)/g)) completed = Math.max(completed, Number(match[1]));
  });

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      await waitFor(() => exited, { timeoutMs: 5000, what: 'smtp-sink to exit' }).catch(() => child.kill('SIGKILL'));
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`smtp-sink exited (${JSON.stringify(exited)}): ${stderr.trim()}`);
        const line = await greeting(port);
        if (line === null) return false;
        if (!line.startsWith('220 ') || !line.includes(token)) throw new Error(`port ${port} is answered by another server: ${line}`);
        return true;
      },
      { timeoutMs: 10_000, what: `smtp-sink on port ${port}` },
    );
  } catch (error) {
    await stop();
    throw error;
  }

  /** Paths of the dumps smtp-sink has finished writing (it holds unfinished ones open). */
  const finishedFiles = () => {
    // List the directory before the open files: a file closed in between is complete.
    const files = readdirSync(dir).filter((name) => name.startsWith(DUMP_PREFIX)).map((name) => join(dir, name));
    const open = new Set();
    try {
      for (const fd of readdirSync(`/proc/${child.pid}/fd`)) {
        try {
          open.add(readlinkSync(`/proc/${child.pid}/fd/${fd}`));
        } catch {
          // Closed meanwhile.
        }
      }
    } catch {
      // No /proc: fall back to the shape of a finished dump (it ends with an empty line).
      return files.filter((file) => readFileSync(file, 'utf8').endsWith('\n\n'));
    }
    return files.filter((file) => !open.has(file));
  };

  /** The messages received so far: envelope recipients and headers of each. */
  const messages = () =>
    finishedFiles().map((file) => {
      const text = readFileSync(file, 'utf8');
      const recipients = [...text.matchAll(/^X-Rcpt-Args: <([^>]*)>/gm)].map((m) => m[1]);
      const header = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(text)?.[1]?.trim() ?? null;
      return { file, recipients, messageId: header('Message-ID'), subject: header('Subject'), to: header('To'), listUnsubscribe: header('List-Unsubscribe') };
    });

  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    /** Messages completed according to smtp-sink's own counter. */
    completedCount: () => completed,
    messages,
    /**
     * Waits until at least `n` finished messages match `filter` (default: all), and
     * returns those that do.
     */
    async waitForMessages(n, { filter = () => true, timeoutMs = 60_000 } = {}) {
      let matching = [];
      await waitFor(
        () => {
          if (exited) throw new Error(`smtp-sink exited (${JSON.stringify(exited)}): ${stderr.trim()}`);
          if (completed < n) return false;
          matching = messages().filter(filter);
          return matching.length >= n;
        },
        { timeoutMs, what: () => `${n} matching messages in smtp-sink (counter ${completed}, ${matching.length} matching)` },
      );
      return matching;
    },
    stop,
  };
}
