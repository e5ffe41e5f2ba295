// The web client's subscription protocol against a real `techconf serve --with-worker`:
// the `graphql-ws` npm client (graphql-transport-ws, as the browser uses it) on /graphql/ws,
// with the token in the connection_init payload. Mail goes to Postfix's smtp-sink.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it as test } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { graphql, startServer } from './harness.mjs';
import { waitFor } from './wait.mjs';

const PROGRESS = `subscription ($id: ID!) {
  notificationProgress(id: $id) {
    notificationId status total sent failed cancelled pending ratePerSecond etaSeconds updatedAt
  }
}`;
const TERMINAL = ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'CANCELLED'];

// A stream that never ends must fail the test, not hang the run.
const it = (name, fn) => test(name, { timeout: 60_000 }, fn);

describe('graphql-ws protocol', () => {
  let server;
  let conference;
  const clients = [];

  before(async () => {
    // Rate-limited, so that a send of the demo conference takes a few seconds to watch.
    server = await startServer({ worker: true, env: { WORKER_RATE_LIMIT: '100', WORKER_BATCH_SIZE: '20', WORKER_POLL_MS: '200' } });
    conference = (await graphql(server.baseUrl, null, '{ conferences { nodes { id } } }')).conferences.nodes[0];
    assert.ok(conference, `seeding made no conference: ${server.seedOutput}`);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await server?.stop();
  });

  /** A graphql-ws client as the browser makes it, without retries (a test wants the first outcome). */
  const connect = (connectionParams, on = {}) => {
    const client = createClient({
      url: `${server.baseUrl.replace(/^http/, 'ws')}/graphql/ws`,
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
      on,
    });
    clients.push(client);
    return client;
  };
  const admin = () => connect({ authorization: `Bearer ${server.token}` });

  /** Every event of a subscription until the server completes it; rejects on an error. */
  const collect = (client, query, variables, onEvent = () => {}) =>
    new Promise((resolve, reject) => {
      const events = [];
      client.subscribe(
        { query, variables },
        {
          next: (result) => {
            if (result.errors) return reject(Object.assign(new Error(JSON.stringify(result.errors)), { graphQLErrors: result.errors }));
            events.push(result.data);
            onEvent(result.data, events.length);
          },
          error: reject,
          complete: () => resolve(events),
        },
      );
    });

  /** The first event (or error) of a subscription, then it is ended. */
  const firstEvent = (client, query, variables) =>
    new Promise((resolve, reject) => {
      const unsubscribe = client.subscribe(
        { query, variables },
        {
          next: (result) => {
            unsubscribe();
            resolve(result);
          },
          error: reject,
          complete: () => {},
        },
      );
    });

  /** Repeats `act` (every quarter second, at most 40 times) until `promise` settles, and returns it. */
  const repeatUntil = async (promise, act) => {
    let settled = false;
    const done = promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let i = 0; i < 40 && !settled; i++) {
      await act(i);
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 250))]);
    }
    return promise;
  };

  const mutate = (query, variables) => graphql(server.baseUrl, server.token, query, variables);

  let notificationId;
  let total;

  it('streams notificationProgress from a snapshot through every change to the final state, then completes', async () => {
    // Paused before any send, so the whole send happens while we watch.
    const created = await mutate(
      'mutation ($input: CreateNotificationInput!) { createNotification(input: $input) { id } }',
      { input: { conferenceId: conference.id, subject: 'Protocol test for {{ first_name }}', message: 'Hello {{ first_name }}.' } },
    );
    notificationId = created.createNotification.id;
    await mutate('mutation ($id: ID!) { pauseNotification(id: $id) { id } }', { id: notificationId });
    // A pause that lands after the worker claimed a first batch passes through PAUSING until
    // those deliveries are recorded; the snapshot below is taken once it is PAUSED.
    await waitFor(
      async () =>
        (await mutate('query ($id: ID!) { notification(id: $id) { status } }', { id: notificationId })).notification
          .status === 'PAUSED',
      { what: 'the notification to be PAUSED' },
    );

    const resume = () => mutate('mutation ($id: ID!) { resumeNotification(id: $id) { id } }', { id: notificationId });
    const events = (
      await collect(admin(), PROGRESS, { id: notificationId }, (_, n) => {
        if (n === 1) void resume();
      })
    ).map((e) => e.notificationProgress);

    const [first] = events;
    assert.equal(first.notificationId, notificationId);
    assert.equal(first.status, 'PAUSED', 'the first event is the snapshot');
    const last = events.at(-1);
    assert.equal(last.status, 'COMPLETED');
    total = last.total;
    assert.ok(total >= 300, `a few hundred recipients (${total})`);
    assert.equal(last.sent, total);
    assert.equal(last.pending, 0);
    assert.ok(
      events.some((e) => e.status === 'SENDING' && e.sent > 0 && e.sent < total),
      `progress was seen mid-send: ${events.map((e) => `${e.status}:${e.sent}`).join(' ')}`,
    );
    assert.ok(events.some((e) => e.status === 'SENDING' && e.ratePerSecond > 0 && e.etaSeconds !== null), 'the rate and ETA are known while sending');

    for (const [i, e] of events.entries()) {
      assert.ok(!Number.isNaN(Date.parse(e.updatedAt)), `updatedAt is a date: ${e.updatedAt}`);
      if (e.total > 0) assert.equal(e.sent + e.failed + e.cancelled + e.pending, e.total, `event ${i} adds up`);
      assert.ok(e.sent <= e.total || e.total === 0, `event ${i} does not exceed the total`);
      if (i > 0) {
        const p = events[i - 1];
        for (const field of ['sent', 'failed', 'cancelled']) assert.ok(e[field] >= p[field], `${field} never goes backwards (event ${i})`);
        assert.ok(!TERMINAL.includes(p.status), `nothing follows the terminal event (event ${i})`);
      }
    }

    const received = await server.smtp.waitForMessages(total, {
      filter: (m) => m.messageId?.startsWith(`<${notificationId.replaceAll('-', '')}.`),
    });
    assert.equal(received.length, last.sent, 'smtp-sink received what the last event says was sent');
  });

  it('gives a late subscriber the final state at once and completes', async () => {
    const events = await collect(admin(), PROGRESS, { id: notificationId });
    assert.equal(events.length, 1);
    assert.deepEqual(
      { status: events[0].notificationProgress.status, sent: events[0].notificationProgress.sent },
      { status: 'COMPLETED', sent: total },
    );
  });

  it('reports an unknown notification as NOT_FOUND on the stream', async () => {
    const result = await firstEvent(admin(), PROGRESS, { id: randomUUID() }).catch((errors) => ({ errors }));
    const errors = Array.isArray(result.errors) ? result.errors : [result.errors];
    assert.equal(errors[0]?.extensions?.code, 'NOT_FOUND', JSON.stringify(result));
  });

  it('pushes attendeeRegistered and notificationsChanged to the conference’s subscribers', async () => {
    const client = admin();
    const registered = firstEvent(client, 'subscription ($c: ID!) { attendeeRegistered(conferenceId: $c) { id email } }', { c: conference.id });
    const changed = firstEvent(client, 'subscription ($c: ID) { notificationsChanged(conferenceId: $c) { id status } }', { c: conference.id });
    // graphql-transport-ws does not acknowledge a subscription, so the server may not be
    // listening yet when the first registration commits: register until one is pushed.
    const attendees = new Map();
    const register = async (i) => {
      const email = `protocol.${i}.${randomUUID()}@example.org`;
      const { registerAttendee } = await graphql(
        server.baseUrl,
        null,
        'mutation ($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id } }',
        { input: { conferenceId: conference.id, firstName: 'Proto', lastName: 'Col', email, jobPosition: 'Tester', company: 'TechConf', city: 'Porto', state: 'Porto' } },
      );
      attendees.set(registerAttendee.id, email);
    };
    const a = (await repeatUntil(registered, register)).data.attendeeRegistered;
    assert.equal(attendees.get(a.id), a.email, 'the pushed attendee is one just registered');

    // A notification changes many times on its way to the end; the first change seen is its.
    const { createNotification } = await mutate(
      'mutation ($input: CreateNotificationInput!) { createNotification(input: $input) { id } }',
      { input: { conferenceId: conference.id, subject: 'Second', message: 'Hi' } },
    );
    const n = await changed;
    assert.equal(n.data.notificationsChanged.id, createNotification.id);
  });

  it('accepts the token as {"token": …} too', async () => {
    let connected = false;
    const client = connect({ token: server.token }, { connected: () => (connected = true) });
    const result = await firstEvent(client, PROGRESS, { id: notificationId });
    assert.equal(result.data.notificationProgress.status, 'COMPLETED');
    assert.ok(connected);
  });

  for (const [name, params] of [
    ['without a token', undefined],
    ['with a wrong token', { authorization: 'Bearer not-the-token' }],
  ]) {
    it(`refuses a connection ${name}, saying why`, async () => {
      let connected = false;
      let closed = null;
      const client = connect(params, { connected: () => (connected = true), closed: (event) => (closed = event) });
      const outcome = await firstEvent(client, PROGRESS, { id: notificationId }).then(
        (result) => ({ result }),
        (error) => ({ error }),
      );
      assert.equal(connected, false, 'the connection was never acknowledged');
      assert.ok(outcome.error, `the subscription failed: ${JSON.stringify(outcome)}`);
      assert.ok(closed, 'the server closed the socket');
      assert.ok(closed.code >= 4000 || closed.code === 1002 || closed.code === 1008, `a refusal close code: ${closed.code}`);
      assert.match(String(closed.reason), /token|auth|forbidden|unauthori[sz]ed/i, `the reason says why: "${closed.reason}"`);
    });
  }
});
