//! `FakeSmtp`: an in-process ESMTP server on tokio for fault injection.
//!
//! It speaks enough ESMTP for lettre 0.11's async client: `220` greeting,
//! `EHLO` (advertising `PIPELINING`, `8BITMIME`, `SMTPUTF8`,
//! `ENHANCEDSTATUSCODES` and `SIZE`), `HELO`, `MAIL FROM`, `RCPT TO`, `DATA`
//! (dot-unstuffing, terminated by `CRLF.CRLF`), `RSET`, `NOOP`, `VRFY`,
//! `QUIT`. Commands are answered strictly in order, so pipelined clients work.
//! Every connection runs in its own task; any number of messages can be sent
//! over one connection.
//!
//! Fault injection (set with [`FakeSmtpBuilder`], changeable at run time via
//! [`FakeSmtpHandle`], which [`FakeSmtp`] derefs to):
//!
//! * **Permanent recipient rejection**: `RCPT TO` for an address matching a
//!   rule is answered `550 5.1.1 <addr>: Recipient address rejected: ...`.
//! * **Transient failure**: applied at the **end of DATA** (after the final
//!   `.`), answered `451 4.3.0 ...`; the message is *not* recorded. Either for
//!   the first N messages ([`FakeSmtpBuilder::tempfail_first`],
//!   [`FakeSmtpHandle::tempfail_next`]) or while a switch is on
//!   ([`FakeSmtpHandle::set_tempfail`]). Only transactions that reached the
//!   end of DATA consume the counter. The switch takes precedence and does
//!   not consume the counter.
//! * **Outage**: [`FakeSmtpHandle::down`] closes the listener *and* drops
//!   every open session without a reply (like a crashed server; new
//!   connections get `ECONNREFUSED`); [`FakeSmtpHandle::up`] listens again on
//!   the same port.
//!
//! * **No PIPELINING**: [`FakeSmtpBuilder::pipelining`]`(false)` leaves
//!   `PIPELINING` out of the `EHLO` reply and then enforces it, as Postfix
//!   does: a command that arrives while more input is already waiting behind
//!   it (the client did not wait for the reply) is answered `554 5.5.0 Error:
//!   SMTP protocol synchronization` and the session is closed. With
//!   PIPELINING advertised, such commands are only counted
//!   ([`FakeSmtpStats::pipelined_commands`]), so a test can tell that a client
//!   really pipelined.
//!
//! * **Slowness**: [`FakeSmtpBuilder::data_reply_delay`] (or
//!   [`FakeSmtpHandle::set_data_reply_delay`]) holds back the reply to the end
//!   of DATA, like a server that takes its time to queue a message; the
//!   message is recorded after the delay, just before the `250`. This keeps a
//!   client mid-send for long enough to kill or stop it there, without a huge
//!   number of messages.
//!
//! Every recorded message carries the [`Instant`] it was accepted
//! ([`ReceivedMessage::received_at`]), for measuring send rates.
//!
//! Note that lettre closes a connection after any error reply (it sends
//! `QUIT`), so a rejected message costs a new connection for the next send.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::{Transport, WaitTimeout, plain_transport};
use crate::message::{ReceivedMessage, parse_path};

/// Predicate deciding whether a recipient address (without angle brackets)
/// is rejected with `550 5.1.1`.
pub type RecipientPredicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Default maximum message size (advertised with `SIZE`): 32 MiB.
const DEFAULT_MAX_MESSAGE_SIZE: usize = 32 * 1024 * 1024;
/// Longest accepted command line (RFC 5321 says 512; be generous).
const MAX_COMMAND_LINE: u64 = 64 * 1024;
/// Read chunk limit for DATA lines (longer lines are accepted in pieces).
const MAX_DATA_CHUNK: u64 = 64 * 1024;
/// How long [`FakeSmtpHandle::up`] retries binding the old port.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counters of what the server did, for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FakeSmtpStats {
    /// TCP connections accepted (over all up/down cycles).
    pub connections: usize,
    /// Messages accepted and recorded.
    pub accepted: usize,
    /// `RCPT TO` commands answered with `550`.
    pub rejected_recipients: usize,
    /// Messages answered with `451` at the end of DATA.
    pub tempfailed: usize,
    /// Commands that arrived with more input already waiting behind them,
    /// i.e. sent without waiting for their reply (RFC 2920 pipelining).
    pub pipelined_commands: usize,
    /// Sessions closed with `554 5.5.0 ... SMTP protocol synchronization`
    /// for pipelining when PIPELINING was not advertised.
    pub synchronization_errors: usize,
}

struct Behaviour {
    reject_rules: Vec<RecipientPredicate>,
    tempfail_remaining: usize,
    tempfail_switch: bool,
    max_message_size: usize,
    data_reply_delay: Duration,
    pipelining: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            reject_rules: Vec::new(),
            tempfail_remaining: 0,
            tempfail_switch: false,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            data_reply_delay: Duration::ZERO,
            pipelining: true,
        }
    }
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

struct Shared {
    addr: SocketAddr,
    hostname: String,
    behaviour: Mutex<Behaviour>,
    messages: Mutex<Vec<ReceivedMessage>>,
    /// Number of recorded messages; waiters subscribe to it.
    count_tx: watch::Sender<usize>,
    running: Mutex<Option<Running>>,
    closed: AtomicBool,
    connections: AtomicUsize,
    accepted: AtomicUsize,
    rejected_recipients: AtomicUsize,
    tempfailed: AtomicUsize,
    pipelined_commands: AtomicUsize,
    synchronization_errors: AtomicUsize,
}

/// Builder for [`FakeSmtp`]; obtained from [`FakeSmtp::builder`].
pub struct FakeSmtpBuilder {
    behaviour: Behaviour,
    hostname: String,
}

impl FakeSmtpBuilder {
    /// Reject (`550 5.1.1`) every recipient whose address contains `needle`
    /// (case-insensitive).
    pub fn reject_recipients_containing(mut self, needle: impl Into<String>) -> Self {
        self.behaviour
            .reject_rules
            .push(contains_rule(needle.into()));
        self
    }

    /// Reject (`550 5.1.1`) every recipient for which `predicate` returns
    /// true. The address is passed without angle brackets.
    pub fn reject_recipients_matching(
        mut self,
        predicate: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.behaviour.reject_rules.push(Arc::new(predicate));
        self
    }

    /// Answer `451 4.3.0` at the end of DATA for the first `n` messages.
    pub fn tempfail_first(mut self, n: usize) -> Self {
        self.behaviour.tempfail_remaining = n;
        self
    }

    /// Start with the "always answer 451 at end of DATA" switch on or off.
    pub fn tempfail(mut self, on: bool) -> Self {
        self.behaviour.tempfail_switch = on;
        self
    }

    /// Maximum message size: advertised in `EHLO` (`SIZE n`), enforced with
    /// `552 5.3.4` at `MAIL FROM ... SIZE=` and at the end of DATA.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.behaviour.max_message_size = bytes;
        self
    }

    /// Wait `delay` after the end of DATA before recording the message and
    /// answering (`250`, or `451` for a tempfail). Each session waits on its
    /// own, so concurrent connections are slowed down, not serialised.
    pub fn data_reply_delay(mut self, delay: Duration) -> Self {
        self.behaviour.data_reply_delay = delay;
        self
    }

    /// Advertise `PIPELINING` (the default) or not. Without it, a client
    /// that pipelines anyway gets `554 5.5.0` and the session is closed.
    pub fn pipelining(mut self, on: bool) -> Self {
        self.behaviour.pipelining = on;
        self
    }

    /// Host name used in the greeting and EHLO reply (default
    /// `fake-smtp.test`).
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = hostname.into();
        self
    }

    /// Binds `127.0.0.1:0` and starts serving. Must be called inside a tokio
    /// runtime. Panics if the socket cannot be bound.
    pub async fn start(self) -> FakeSmtp {
        let listener = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .unwrap_or_else(|e| panic!("FakeSmtp: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("FakeSmtp: local_addr failed: {e}"));
        let shared = Arc::new(Shared {
            addr,
            hostname: self.hostname,
            behaviour: Mutex::new(self.behaviour),
            messages: Mutex::new(Vec::new()),
            count_tx: watch::Sender::new(0),
            running: Mutex::new(None),
            closed: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            rejected_recipients: AtomicUsize::new(0),
            tempfailed: AtomicUsize::new(0),
            pipelined_commands: AtomicUsize::new(0),
            synchronization_errors: AtomicUsize::new(0),
        });
        let handle = FakeSmtpHandle { shared };
        handle.spawn_accept_loop(listener);
        FakeSmtp { handle }
    }
}

fn contains_rule(needle: String) -> RecipientPredicate {
    let needle = needle.to_lowercase();
    Arc::new(move |addr: &str| addr.to_lowercase().contains(&needle))
}

/// The running fake server. Stops serving when dropped.
///
/// Derefs to [`FakeSmtpHandle`], so all control and inspection methods are
/// available directly; use [`FakeSmtp::handle`] to get a cloneable handle
/// that can be moved into other tasks.
pub struct FakeSmtp {
    handle: FakeSmtpHandle,
}

impl FakeSmtp {
    /// Starts a server with default behaviour (accept everything).
    pub async fn start() -> FakeSmtp {
        Self::builder().start().await
    }

    /// Builder for a server with programmed faults.
    pub fn builder() -> FakeSmtpBuilder {
        FakeSmtpBuilder {
            behaviour: Behaviour::default(),
            hostname: "fake-smtp.test".to_owned(),
        }
    }

    /// A cloneable, `Send + Sync` handle to control and inspect the server.
    pub fn handle(&self) -> FakeSmtpHandle {
        self.handle.clone()
    }
}

impl Deref for FakeSmtp {
    type Target = FakeSmtpHandle;

    fn deref(&self) -> &FakeSmtpHandle {
        &self.handle
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.handle.shared.closed.store(true, Ordering::SeqCst);
        if let Some(running) = lock(&self.handle.shared.running).take() {
            // The accept loop closes the listener and aborts all sessions.
            let _ = running.stop.send(());
        }
    }
}

/// Shared control/inspection handle of a [`FakeSmtp`].
#[derive(Clone)]
pub struct FakeSmtpHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeSmtpHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSmtpHandle")
            .field("addr", &self.shared.addr)
            .field("up", &self.is_up())
            .field("stats", &self.stats())
            .finish()
    }
}

impl std::fmt::Debug for FakeSmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}

impl FakeSmtpHandle {
    /// Listening address (`127.0.0.1:PORT`); stays the same across down/up.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Listening port.
    pub fn port(&self) -> u16 {
        self.shared.addr.port()
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port())
    }

    /// A plain lettre transport to this server (no TLS, pooled).
    pub fn transport(&self) -> Transport {
        plain_transport(self.port())
    }

    /// Adds a rule rejecting recipients that contain `needle`
    /// (case-insensitive) with `550 5.1.1`.
    pub fn reject_recipients_containing(&self, needle: impl Into<String>) {
        lock(&self.shared.behaviour)
            .reject_rules
            .push(contains_rule(needle.into()));
    }

    /// Adds a rule rejecting recipients for which `predicate` is true.
    pub fn reject_recipients_matching(
        &self,
        predicate: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) {
        lock(&self.shared.behaviour)
            .reject_rules
            .push(Arc::new(predicate));
    }

    /// Removes all recipient rejection rules.
    pub fn clear_recipient_rejections(&self) {
        lock(&self.shared.behaviour).reject_rules.clear();
    }

    /// Answer `451 4.3.0` at the end of DATA for the next `n` messages
    /// (replaces any remaining count).
    pub fn tempfail_next(&self, n: usize) {
        lock(&self.shared.behaviour).tempfail_remaining = n;
    }

    /// Changes the delay before the reply to the end of DATA (see
    /// [`FakeSmtpBuilder::data_reply_delay`]); `Duration::ZERO` turns it off.
    pub fn set_data_reply_delay(&self, delay: Duration) {
        lock(&self.shared.behaviour).data_reply_delay = delay;
    }

    /// Number of messages that will still be answered `451` by the counter.
    pub fn tempfail_remaining(&self) -> usize {
        lock(&self.shared.behaviour).tempfail_remaining
    }

    /// Turns the "answer every message with 451 at end of DATA" switch on or
    /// off.
    pub fn set_tempfail(&self, on: bool) {
        lock(&self.shared.behaviour).tempfail_switch = on;
    }

    /// Whether the listener is currently open.
    pub fn is_up(&self) -> bool {
        lock(&self.shared.running).is_some()
    }

    /// Simulates an outage: closes the listening socket and drops every open
    /// session without a reply. When this returns, new connections are
    /// refused and old ones are closed. No-op if already down.
    pub async fn down(&self) {
        let running = lock(&self.shared.running).take();
        if let Some(running) = running {
            let _ = running.stop.send(());
            let _ = running.task.await;
        }
    }

    /// Ends an outage: listens again on the same port (retrying for a few
    /// seconds if the port is momentarily busy). No-op if already up. Do not
    /// race `up` and `down` against each other.
    pub async fn up(&self) -> io::Result<()> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(io::Error::other("FakeSmtp was dropped"));
        }
        if self.is_up() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + REBIND_TIMEOUT;
        let listener = loop {
            match bind(self.shared.addr) {
                Ok(listener) => break listener,
                Err(e)
                    if e.kind() == io::ErrorKind::AddrInUse
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.spawn_accept_loop(listener);
        Ok(())
    }

    /// Snapshot of all recorded (accepted) messages, in acceptance order.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.shared.messages).clone()
    }

    /// Number of recorded messages.
    pub fn message_count(&self) -> usize {
        lock(&self.shared.messages).len()
    }

    /// Forgets all recorded messages (the count restarts at 0).
    pub fn clear_messages(&self) {
        let mut messages = lock(&self.shared.messages);
        messages.clear();
        self.shared.count_tx.send_replace(0);
    }

    /// Waits (event-driven, via a `tokio::sync::watch` channel) until at
    /// least `n` messages are recorded, then returns all of them. Returns
    /// [`WaitTimeout`] if that does not happen within `timeout`.
    pub async fn wait_for_count(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, WaitTimeout> {
        let mut rx = self.shared.count_tx.subscribe();
        // The guard `wait_for` returns is a read lock on the count, and a session takes the
        // messages lock before updating the count: drop the guard before `messages()`, or a
        // message arriving just then deadlocks both (they are blocking locks).
        let reached = tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|seen| seen.is_ok());
        if reached {
            Ok(self.messages())
        } else {
            Err(WaitTimeout {
                expected: n,
                received: self.message_count(),
                timeout,
            })
        }
    }

    /// Counters of connections, accepted/rejected/tempfailed messages.
    pub fn stats(&self) -> FakeSmtpStats {
        FakeSmtpStats {
            connections: self.shared.connections.load(Ordering::SeqCst),
            accepted: self.shared.accepted.load(Ordering::SeqCst),
            rejected_recipients: self.shared.rejected_recipients.load(Ordering::SeqCst),
            tempfailed: self.shared.tempfailed.load(Ordering::SeqCst),
            pipelined_commands: self.shared.pipelined_commands.load(Ordering::SeqCst),
            synchronization_errors: self.shared.synchronization_errors.load(Ordering::SeqCst),
        }
    }

    /// Number of TCP connections accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    fn spawn_accept_loop(&self, listener: TcpListener) {
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&self.shared), stop_rx));
        *lock(&self.shared.running) = Some(Running {
            stop: stop_tx,
            task,
        });
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // Allows re-binding the same port after `down()` while old connections
    // are still in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            // Fires on an explicit stop and when the sender is dropped.
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let session = shared.connections.fetch_add(1, Ordering::SeqCst) as u64 + 1;
                    sessions.spawn(run_session(stream, Arc::clone(&shared), session));
                }
                Err(_) => {
                    // E.g. EMFILE under extreme load: back off briefly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reap finished sessions so the set does not grow forever.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    sessions.shutdown().await;
}

async fn run_session(stream: TcpStream, shared: Arc<Shared>, session_id: u64) {
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    // I/O errors just end the session.
    let _ = session(&mut reader, &mut writer, &shared, session_id).await;
}

struct Transaction {
    from: String,
    recipients: Vec<String>,
}

async fn reply<W: AsyncWrite + Unpin>(w: &mut W, text: &str) -> io::Result<()> {
    w.write_all(text.as_bytes()).await?;
    w.flush().await
}

async fn session<R, W>(
    r: &mut BufReader<R>,
    w: &mut W,
    shared: &Shared,
    session_id: u64,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    reply(
        w,
        &format!("220 {} ESMTP testkit FakeSmtp\r\n", shared.hostname),
    )
    .await?;
    let mut helo: Option<String> = None;
    let mut tx: Option<Transaction> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut *r)
            .take(MAX_COMMAND_LINE)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            if n as u64 >= MAX_COMMAND_LINE {
                reply(w, "500 5.5.2 Error: line too long\r\n").await?;
            }
            return Ok(());
        }
        if !r.buffer().is_empty() {
            // The client sent more before reading this command's reply.
            if lock(&shared.behaviour).pipelining {
                shared.pipelined_commands.fetch_add(1, Ordering::SeqCst);
            } else {
                shared.synchronization_errors.fetch_add(1, Ordering::SeqCst);
                reply(w, "554 5.5.0 Error: SMTP protocol synchronization\r\n").await?;
                return Ok(());
            }
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, args) = text.split_once(' ').unwrap_or((text, ""));
        let args = args.trim();
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                tx = None;
                helo = Some(args.to_owned());
                let (max, pipelining) = {
                    let behaviour = lock(&shared.behaviour);
                    (behaviour.max_message_size, behaviour.pipelining)
                };
                let host = &shared.hostname;
                let pipelining = if pipelining { "250-PIPELINING\r\n" } else { "" };
                reply(
                    w,
                    &format!(
                        "250-{host} greets {args}\r\n{pipelining}250-8BITMIME\r\n\
                         250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE {max}\r\n"
                    ),
                )
                .await?;
            }
            "HELO" => {
                tx = None;
                helo = Some(args.to_owned());
                reply(w, &format!("250 {}\r\n", shared.hostname)).await?;
            }
            "MAIL" => {
                if helo.is_none() {
                    reply(w, "503 5.5.1 Error: send HELO/EHLO first\r\n").await?;
                } else if tx.is_some() {
                    reply(w, "503 5.5.1 Error: nested MAIL command\r\n").await?;
                } else {
                    match strip_keyword(args, "FROM:").and_then(parse_path) {
                        None => reply(w, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n").await?,
                        Some((from, params)) => {
                            let max = lock(&shared.behaviour).max_message_size;
                            if declared_size(params).is_some_and(|size| size > max) {
                                reply(w, "552 5.3.4 Message size exceeds fixed limit\r\n").await?;
                            } else {
                                tx = Some(Transaction {
                                    from,
                                    recipients: Vec::new(),
                                });
                                reply(w, "250 2.1.0 Ok\r\n").await?;
                            }
                        }
                    }
                }
            }
            "RCPT" => match tx.as_mut() {
                None => reply(w, "503 5.5.1 Error: need MAIL command\r\n").await?,
                Some(tx) => match strip_keyword(args, "TO:").and_then(parse_path) {
                    Some((rcpt, _)) if !rcpt.is_empty() => {
                        let rejected = lock(&shared.behaviour)
                            .reject_rules
                            .iter()
                            .any(|rule| rule(&rcpt));
                        if rejected {
                            shared.rejected_recipients.fetch_add(1, Ordering::SeqCst);
                            reply(
                                w,
                                &format!(
                                    "550 5.1.1 <{rcpt}>: Recipient address rejected: \
                                     User unknown (testkit FakeSmtp)\r\n"
                                ),
                            )
                            .await?;
                        } else {
                            tx.recipients.push(rcpt);
                            reply(w, "250 2.1.5 Ok\r\n").await?;
                        }
                    }
                    _ => reply(w, "501 5.5.4 Syntax: RCPT TO:<address>\r\n").await?,
                },
            },
            "DATA" => {
                let ready = tx.as_ref().is_some_and(|tx| !tx.recipients.is_empty());
                if !ready {
                    reply(w, "503 5.5.1 Error: need RCPT command\r\n").await?;
                    continue;
                }
                reply(w, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let max = lock(&shared.behaviour).max_message_size;
                let data = read_data(r, max).await?;
                let Some(Transaction { from, recipients }) = tx.take() else {
                    continue;
                };
                let Some(data) = data else {
                    reply(w, "552 5.3.4 Message size exceeds fixed limit\r\n").await?;
                    continue;
                };
                let delay = lock(&shared.behaviour).data_reply_delay;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let tempfail = {
                    let mut behaviour = lock(&shared.behaviour);
                    if behaviour.tempfail_switch {
                        true
                    } else if behaviour.tempfail_remaining > 0 {
                        behaviour.tempfail_remaining -= 1;
                        true
                    } else {
                        false
                    }
                };
                if tempfail {
                    shared.tempfailed.fetch_add(1, Ordering::SeqCst);
                    reply(
                        w,
                        "451 4.3.0 Error: temporary failure, try again later (testkit FakeSmtp)\r\n",
                    )
                    .await?;
                    continue;
                }
                let mut message = ReceivedMessage::new(helo.clone(), from, recipients, data);
                message.session = Some(session_id);
                message.received_at = Some(Instant::now());
                let id = {
                    // Record before replying, so a client that saw `250`
                    // always finds the message.
                    let mut messages = lock(&shared.messages);
                    messages.push(message);
                    shared.count_tx.send_replace(messages.len());
                    shared.accepted.fetch_add(1, Ordering::SeqCst) + 1
                };
                reply(w, &format!("250 2.0.0 Ok: queued as FAKE{id:06}\r\n")).await?;
            }
            "RSET" => {
                tx = None;
                reply(w, "250 2.0.0 Ok\r\n").await?;
            }
            "NOOP" => reply(w, "250 2.0.0 Ok\r\n").await?,
            "VRFY" => reply(w, "252 2.0.0 Cannot VRFY user\r\n").await?,
            "QUIT" => {
                reply(w, "221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => reply(w, "502 5.5.2 Error: command not recognized\r\n").await?,
        }
    }
}

/// Strips a case-insensitive keyword such as `FROM:` from the start of `args`.
fn strip_keyword<'a>(args: &'a str, keyword: &str) -> Option<&'a str> {
    let head = args.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| &args[keyword.len()..])
}

/// Value of a `SIZE=n` ESMTP parameter, if present.
fn declared_size(params: &str) -> Option<usize> {
    params.split_whitespace().find_map(|p| {
        let (key, value) = p.split_once('=')?;
        if key.eq_ignore_ascii_case("SIZE") {
            value.parse().ok()
        } else {
            None
        }
    })
}

/// Reads message data up to the terminating `.` line, undoing dot-stuffing.
/// Returns `None` (after consuming everything) if the data exceeds `max`.
async fn read_data<R: AsyncBufRead + Unpin>(r: &mut R, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut oversize = false;
    let mut at_line_start = true;
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        let n = (&mut *r)
            .take(MAX_DATA_CHUNK)
            .read_until(b'\n', &mut chunk)
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut piece: &[u8] = &chunk;
        if at_line_start {
            if chunk == b".\r\n" || chunk == b".\n" {
                break;
            }
            if let Some(rest) = chunk.strip_prefix(b".") {
                piece = rest;
            }
        }
        at_line_start = chunk.ends_with(b"\n");
        if !oversize {
            if data.len() + piece.len() > max {
                oversize = true;
                data = Vec::new();
            } else {
                data.extend_from_slice(piece);
            }
        }
    }
    Ok((!oversize).then_some(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_data_unstuffs_and_stops_at_dot() {
        let input: &[u8] = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nNOOP\r\n";
        let mut r = BufReader::new(input);
        let data = read_data(&mut r, 1024).await.unwrap().unwrap();
        assert_eq!(data, b"Subject: x\r\n\r\n.leading dot\r\n");
        // The next command is left unread.
        let mut rest = String::new();
        r.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "NOOP\r\n");
    }

    #[tokio::test]
    async fn read_data_reports_oversize_and_eof() {
        let input: &[u8] = b"0123456789\r\n.\r\n";
        let mut r = BufReader::new(input);
        assert_eq!(read_data(&mut r, 4).await.unwrap(), None);
        let mut r = BufReader::new(&b"no terminator\r\n"[..]);
        assert!(read_data(&mut r, 1024).await.is_err());
    }

    #[test]
    fn parses_keywords_and_size() {
        assert_eq!(strip_keyword("from:<a@b>", "FROM:"), Some("<a@b>"));
        assert_eq!(strip_keyword("TO:<a@b>", "FROM:"), None);
        assert_eq!(declared_size("BODY=8BITMIME size=42"), Some(42));
        assert_eq!(declared_size("BODY=8BITMIME"), None);
    }
}
