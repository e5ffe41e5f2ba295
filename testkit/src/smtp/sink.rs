//! `SmtpSink`: Postfix's real `smtp-sink(1)` test server as a child process.
//!
//! Command line used (see `man smtp-sink`):
//!
//! ```text
//! smtp-sink -c -h <unique-token> -d <tmpdir>/msg. [-u nobody] 127.0.0.1:<port> 128
//! ```
//!
//! * `-d <tmpdir>/msg.`: dump every mail transaction into its own file
//!   `<tmpdir>/msg.<8 hex digits>` (the template is expanded with
//!   strftime(3), then a random hex id is appended).
//! * `-c`: print running counters `sess=N quit=N mesg=N` (separated by `\r`)
//!   on stdout whenever a session ends, `QUIT` is executed, or a message is
//!   completed with `.`; we read them to know how many messages completed.
//! * `-h <token>`: host name in the `220` greeting, so the readiness probe can
//!   tell *our* smtp-sink from another process that grabbed the port.
//! * `-u nobody`: only when running as root; smtp-sink refuses to run as root
//!   without it. The dump directory is then made world-writable.
//! * `127.0.0.1:<port> 128`: listen address (a free port picked by binding
//!   port 0 first; retried with a new port if smtp-sink fails to start) and
//!   listen backlog.
//!
//! Dump file format (written by smtp-sink, one file per message, LF line
//! endings, every CR of the message removed, dot-unstuffed):
//!
//! ```text
//! X-Client-Addr: 127.0.0.1
//! X-Client-Proto: ESMTP
//! X-Helo-Args: [127.0.0.1]             (only if HELO/EHLO was sent)
//! X-Mail-Args: <from@example.org> BODY=8BITMIME
//! X-Rcpt-Args: <a@example.org>         (one line per RCPT TO, in order)
//! X-Rcpt-Args: <b@example.org>
//! Received: from [127.0.0.1] ([127.0.0.1])
//! <TAB>by smtp-sink (smtp-sink) with ESMTP id 79e1ddbc;
//! <TAB>Sat, 21 Nov 2026 21:22:26 +0000 (UTC)
//! <message headers and body as received>
//! <one extra empty line: the LF of the terminating ".\r\n">
//! ```
//!
//! `<TAB>` is a tab character (the `Received:` header is folded); with our
//! `-h` option the `by` host is the unique token. No `-S` start string is used.
//!
//! The file is created at `MAIL FROM` and closed after the final `.` (it is
//! unlinked on `RSET`/abort), so a file that smtp-sink still holds open is an
//! incomplete transaction. [`SmtpSink::messages`] therefore skips files that
//! are listed in `/proc/<pid>/fd` of the smtp-sink process.
//!
//! [`SmtpSink::wait_for_count`] polls (every 20 ms): the messages are produced
//! by an external process that writes files, so there is nothing in-process
//! to be notified by (inotify would add a dependency for no real gain in a
//! test helper).

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Transport, WaitTimeout, plain_transport};
use crate::message::{ReceivedMessage, parse_path};
use crate::tempdir::TempDir;

/// Where Debian's `postfix` package installs smtp-sink.
pub const SMTP_SINK_DEFAULT_PATH: &str = "/usr/sbin/smtp-sink";
/// Environment variable overriding the smtp-sink binary path.
pub const SMTP_SINK_ENV: &str = "TESTKIT_SMTP_SINK";

const DUMP_PREFIX: &str = "msg.";
const START_ATTEMPTS: usize = 5;
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A running Postfix `smtp-sink` that dumps every message to a temp
/// directory. The process is killed and the directory removed on drop.
pub struct SmtpSink {
    child: Mutex<Child>,
    pid: u32,
    port: u16,
    dump_dir: PathBuf,
    /// Last `mesg=` counter printed by `-c`.
    completed: Arc<AtomicUsize>,
    stderr: Arc<Mutex<String>>,
    // Dropped after the process is killed (field order does not matter:
    // `Drop::drop` kills the process first).
    _dir: TempDir,
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSink")
            .field("pid", &self.pid)
            .field("port", &self.port)
            .field("dump_dir", &self.dump_dir)
            .finish()
    }
}

impl SmtpSink {
    /// Starts smtp-sink on a free port of 127.0.0.1 and waits until it
    /// answers with its `220` greeting.
    ///
    /// Panics if the binary is missing (install Postfix:
    /// `DEBIAN_FRONTEND=noninteractive apt-get install -y postfix`) or if it
    /// cannot be started.
    pub fn start() -> SmtpSink {
        let bin = find_binary();
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&bin) {
                Ok(sink) => return sink,
                Err(e) => last_error = e,
            }
        }
        panic!("SmtpSink: could not start {}: {last_error}", bin.display());
    }

    fn try_start(bin: &Path) -> Result<SmtpSink, String> {
        let dir = TempDir::new("smtp-sink").map_err(|e| format!("cannot create temp dir: {e}"))?;
        let as_root = running_as_root();
        if as_root {
            // smtp-sink drops privileges to `nobody`, which must be able to
            // create the dump files.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .map_err(|e| format!("chmod {}: {e}", dir.path().display()))?;
        }
        let port = free_port().map_err(|e| format!("cannot find a free port: {e}"))?;
        let token = format!("testkit-sink-{}", uuid::Uuid::now_v7().simple());
        let template = format!("{}/{DUMP_PREFIX}", dir.path().display());
        let mut cmd = Command::new(bin);
        cmd.arg("-c").args(["-h", &token]).args(["-d", &template]);
        if as_root {
            cmd.args(["-u", "nobody"]);
        }
        cmd.arg(format!("127.0.0.1:{port}"))
            .arg("128")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("spawn failed: {e}"))?;
        let pid = child.id();

        let completed = Arc::new(AtomicUsize::new(0));
        if let Some(stdout) = child.stdout.take() {
            let completed = Arc::clone(&completed);
            std::thread::spawn(move || read_counters(stdout, &completed));
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut s = stderr.lock().unwrap_or_else(PoisonError::into_inner);
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }

        let sink = SmtpSink {
            child: Mutex::new(child),
            pid,
            port,
            dump_dir: dir.path().to_path_buf(),
            completed,
            stderr,
            _dir: dir,
        };
        // On error `sink` is dropped, which kills the child.
        sink.wait_ready(&token)?;
        Ok(sink)
    }

    fn wait_ready(&self, token: &str) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                // Give the stderr reader a moment to collect the message.
                std::thread::sleep(Duration::from_millis(50));
                return Err(format!(
                    "smtp-sink exited with {status}: {}",
                    self.stderr_output().trim()
                ));
            }
            if let Ok(greeting) = probe(self.addr()) {
                if greeting.starts_with("220 ") && greeting.contains(token) {
                    return Ok(());
                }
                return Err(format!(
                    "port {} answered by another server: {greeting:?}",
                    self.port
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "smtp-sink did not accept connections within {READY_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        child.try_wait().ok().flatten()
    }

    /// Listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// A plain lettre transport to this server (no TLS, pooled).
    pub fn transport(&self) -> Transport {
        plain_transport(self.port)
    }

    /// Process id of smtp-sink.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Directory receiving the dump files.
    pub fn dump_dir(&self) -> &Path {
        &self.dump_dir
    }

    /// Number of completed messages according to smtp-sink's own `-c`
    /// counter (`mesg=`).
    pub fn completed_count(&self) -> usize {
        self.completed.load(Ordering::SeqCst)
    }

    /// Everything smtp-sink wrote to stderr so far (diagnostics).
    pub fn stderr_output(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// All completely received messages, ordered by dump file modification
    /// time (i.e. completion time). Files of transactions still in progress
    /// (held open by smtp-sink) are skipped.
    ///
    /// `data` has LF line endings (smtp-sink strips CRs) and does not
    /// include the smtp-sink `X-*`/`Received:` records.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        let mut files = self.completed_files();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| {
                let raw = std::fs::read(&path).ok()?;
                Some(
                    parse_dump(&raw).unwrap_or_else(|e| {
                        panic!("SmtpSink: cannot parse {}: {e}", path.display())
                    }),
                )
            })
            .collect()
    }

    /// Polls until at least `n` messages are complete (both smtp-sink's
    /// counter and the dump files agree), then returns them. Polling is used
    /// because the messages are written by an external process.
    ///
    /// Panics if smtp-sink died.
    pub async fn wait_for_count(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, WaitTimeout> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.completed_count() >= n {
                let messages = self.messages();
                if messages.len() >= n {
                    return Ok(messages);
                }
            }
            if let Some(status) = self.exit_status() {
                panic!(
                    "SmtpSink: smtp-sink exited with {status}: {}",
                    self.stderr_output().trim()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WaitTimeout {
                    expected: n,
                    received: self.messages().len(),
                    timeout,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Completed dump files with their modification time.
    fn completed_files(&self) -> Vec<(std::time::SystemTime, PathBuf)> {
        // List the directory *before* the open files: a file created later
        // is not in the listing, and a file closed in between is complete.
        let Ok(entries) = std::fs::read_dir(&self.dump_dir) else {
            return Vec::new();
        };
        let candidates: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(DUMP_PREFIX))
            })
            .collect();
        let open = open_files(self.pid);
        candidates
            .into_iter()
            .filter(|p| match &open {
                Some(open) => !open.contains(p),
                // No /proc access: fall back to the file shape (complete
                // dumps end with the extra empty line).
                None => std::fs::read(p).is_ok_and(|d| d.ends_with(b"\n\n")),
            })
            .filter_map(|p| {
                let mtime = std::fs::metadata(&p).and_then(|m| m.modified()).ok()?;
                Some((mtime, p))
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn find_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(SMTP_SINK_ENV) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SmtpSink: {SMTP_SINK_ENV}={} does not exist",
            path.display()
        );
        return path;
    }
    let default = Path::new(SMTP_SINK_DEFAULT_PATH);
    if default.is_file() {
        return default.to_path_buf();
    }
    if let Some(found) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("smtp-sink"))
        .find(|p| p.is_file())
    {
        return found;
    }
    panic!(
        "SmtpSink: Postfix's smtp-sink binary was not found at {SMTP_SINK_DEFAULT_PATH} or in PATH. \
         Install Postfix: `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postfix` \
         (or set {SMTP_SINK_ENV} to the binary). These tests never skip."
    );
}

/// Effective uid 0? (`/proc/self` is owned by the process' effective uid.)
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Connects, reads the greeting line and says QUIT.
fn probe(addr: SocketAddr) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut greeting = Vec::new();
    let mut byte = [0u8; 1];
    while !greeting.ends_with(b"\n") && greeting.len() < 1024 {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        greeting.push(byte[0]);
    }
    let _ = stream.write_all(b"QUIT\r\n");
    Ok(String::from_utf8_lossy(&greeting).trim_end().to_owned())
}

/// Reads `-c` counter updates (`sess=N quit=N mesg=N\r`) from smtp-sink's
/// stdout until EOF, keeping the latest `mesg` value.
fn read_counters(mut stdout: impl Read, completed: &AtomicUsize) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = stdout.read(&mut buf) {
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\r' || b == b'\n') {
            let record: Vec<u8> = pending.drain(..=end).collect();
            if let Some(mesg) = parse_counter(&String::from_utf8_lossy(&record)) {
                completed.fetch_max(mesg, Ordering::SeqCst);
            }
        }
    }
}

fn parse_counter(record: &str) -> Option<usize> {
    record
        .split_whitespace()
        .find_map(|field| field.strip_prefix("mesg="))
        .and_then(|v| v.parse().ok())
}

/// Files the process currently has open, from `/proc/<pid>/fd`. `None` if
/// that cannot be read.
fn open_files(pid: u32) -> Option<HashSet<PathBuf>> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .collect(),
    )
}

/// Parses one smtp-sink dump file (format in the module docs).
pub(crate) fn parse_dump(raw: &[u8]) -> Result<ReceivedMessage, String> {
    let mut helo = None;
    let mut mail_args = None;
    let mut rcpt_args = Vec::new();
    let mut pos = 0;
    // smtp-sink records, up to and including the 3-line Received: header.
    loop {
        let Some(len) = raw[pos..].iter().position(|&b| b == b'\n') else {
            return Err("no Received: record (truncated dump?)".to_owned());
        };
        let line = String::from_utf8_lossy(&raw[pos..pos + len]).into_owned();
        pos += len + 1;
        if line.starts_with("Received: ") {
            // Continuation lines of the Received: header start with a tab.
            while raw.get(pos) == Some(&b'\t') {
                let len = raw[pos..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(raw.len() - pos);
                pos = (pos + len + 1).min(raw.len());
            }
            break;
        }
        if let Some(v) = line.strip_prefix("X-Helo-Args: ") {
            helo = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("X-Mail-Args: ") {
            mail_args = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("X-Rcpt-Args: ") {
            rcpt_args.push(v.to_owned());
        }
    }
    let mail_args = mail_args.ok_or("no X-Mail-Args record")?;
    let (from, _) =
        parse_path(&mail_args).ok_or_else(|| format!("bad X-Mail-Args: {mail_args:?}"))?;
    let recipients = rcpt_args
        .iter()
        .map(|a| {
            parse_path(a)
                .map(|(addr, _)| addr)
                .ok_or_else(|| format!("bad X-Rcpt-Args: {a:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Drop the extra empty line that stands for the terminating ".\r\n".
    let mut data = raw[pos..].to_vec();
    if data.ends_with(b"\n") {
        data.pop();
    }
    Ok(ReceivedMessage::new(helo, from, recipients, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &[u8] = b"X-Client-Addr: 127.0.0.1\n\
X-Client-Proto: ESMTP\n\
X-Helo-Args: [127.0.0.1]\n\
X-Mail-Args: <from@x.org> BODY=8BITMIME\n\
X-Rcpt-Args: <a@x.org>\n\
X-Rcpt-Args: <b@y.org>\n\
Received: from [127.0.0.1] ([127.0.0.1])\n\
\tby smtp-sink (smtp-sink) with ESMTP id 79e1ddbc;\n\
\tSat, 21 Nov 2026 21:22:26 +0000 (UTC)\n\
Subject: Hi\n\
Message-ID: <abc@x>\n\
To: a@x.org, b@y.org\n\
\n\
body\n\
.dotline\n\
end\n\
\n";

    #[test]
    fn parses_dump_file() {
        let m = parse_dump(DUMP).unwrap();
        assert_eq!(m.helo.as_deref(), Some("[127.0.0.1]"));
        assert_eq!(m.envelope_from, "from@x.org");
        assert_eq!(m.recipients, vec!["a@x.org", "b@y.org"]);
        assert_eq!(m.subject.as_deref(), Some("Hi"));
        assert_eq!(m.message_id.as_deref(), Some("<abc@x>"));
        assert_eq!(m.to.as_deref(), Some("a@x.org, b@y.org"));
        assert_eq!(m.body(), b"body\n.dotline\nend\n");
        assert!(m.data.starts_with(b"Subject: Hi\n"));
    }

    #[test]
    fn rejects_truncated_dump() {
        assert!(parse_dump(b"X-Client-Addr: 127.0.0.1\nX-Mail-Args: <a@b>\n").is_err());
    }

    #[test]
    fn parses_counter_records() {
        assert_eq!(parse_counter("sess=1 quit=1 mesg=2\r"), Some(2));
        assert_eq!(parse_counter("garbage"), None);
        let completed = AtomicUsize::new(0);
        read_counters(
            &b"sess=0 quit=0 mesg=1\rsess=0 quit=0 mesg=2\rsess=1 quit=1 mesg=2\r"[..],
            &completed,
        );
        assert_eq!(completed.load(Ordering::SeqCst), 2);
    }
}
